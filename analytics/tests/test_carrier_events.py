"""The carrier events nothing emitted before: CARRIER_CAPACITY_CHANGED when a carrier's count of
available trucks changes, CARRIER_PERFORMANCE_UPDATED when a delivery changes its record; each
exactly once."""

import datetime

import pytest
from django.utils import timezone

from analytics import handlers  # noqa: F401 - the consumers under test
from events.consumers import REGISTRY, Outcome, deliver
from events.models import OutboxEvent
from fleet.tests.factories import CarrierFactory, VehicleFactory
from loads.models import Load
from loads.tests.factories import load_in

pytestmark = pytest.mark.django_db


def _events(event_type: str, carrier) -> list[dict]:
    return [
        event.envelope["data"]
        for event in OutboxEvent.objects.filter(type=event_type, subject=str(carrier.pk)).order_by("sequence")
    ]


def test_a_truck_leaving_or_rejoining_the_available_pool_reports_the_carrier_capacity(dispatcher):
    carrier = CarrierFactory()
    truck, _other = VehicleFactory(carrier=carrier), VehicleFactory(carrier=carrier)

    def set_status(status: str) -> None:
        response = dispatcher.post(f"/api/vehicles/{truck.pk}/status/", {"status": status}, format="json")
        assert response.status_code == 200, response.json()

    set_status("MAINTENANCE")
    set_status("OUT_OF_SERVICE")  # unavailable before and after: the count did not change
    set_status("AVAILABLE")
    assert _events("CARRIER_CAPACITY_CHANGED", carrier) == [
        {"carrier_id": str(carrier.pk), "available_vehicles": 1, "total_vehicles": 2},
        {"carrier_id": str(carrier.pk), "available_vehicles": 2, "total_vehicles": 2},
    ]


def test_adding_and_removing_an_available_truck_reports_the_carrier_capacity(dispatcher):
    carrier = CarrierFactory()
    body = {
        "carrier_id": str(carrier.pk),
        "vehicle_number": "T-NEW",
        "vin": "1XKYD49X0NJ999999",
        "make": "Volvo",
        "model": "VNL",
        "year": 2024,
        "vehicle_type": "DRY_VAN",
        "capacity_weight": 20000,
        "capacity_volume": 90,
    }
    created = dispatcher.post("/api/vehicles/", body, format="json")
    assert created.status_code == 201, created.json()
    assert dispatcher.delete(f"/api/vehicles/{created.json()['id']}/").status_code == 204
    assert [data["available_vehicles"] for data in _events("CARRIER_CAPACITY_CHANGED", carrier)] == [1, 0]


def test_a_refused_status_change_reports_nothing(dispatcher):
    truck = VehicleFactory()
    response = dispatcher.post(f"/api/vehicles/{truck.pk}/status/", {"status": "IN_TRANSIT"}, format="json")
    assert response.status_code == 400  # IN_TRANSIT follows loads only
    assert not OutboxEvent.objects.filter(type="CARRIER_CAPACITY_CHANGED").exists()


def test_a_delivery_reports_the_carrier_record_over_the_window_once(
    dispatcher, settings, django_capture_on_commit_callbacks
):
    settings.TMS_CARRIER_PERFORMANCE_WINDOW_DAYS = 30
    now_delivering = load_in("IN_TRANSIT")  # due tomorrow: on time
    carrier = now_delivering.carrier
    late = load_in("DELIVERED")
    # Delivered 10 days ago, two hours late: in the window, not on time.
    ten_days_ago = timezone.now() - datetime.timedelta(days=10)
    Load.objects.filter(pk=late.pk).update(
        carrier=carrier,
        pickup_datetime=ten_days_ago - datetime.timedelta(days=1),
        delivery_datetime=ten_days_ago,
        picked_up_at=ten_days_ago - datetime.timedelta(days=1),
        delivered_at=ten_days_ago + datetime.timedelta(hours=2),
    )
    # One delivered 40 days ago, on time: outside the window.
    old = load_in("DELIVERED")
    forty_days_ago = timezone.now() - datetime.timedelta(days=40)
    Load.objects.filter(pk=old.pk).update(
        carrier=carrier,
        pickup_datetime=forty_days_ago - datetime.timedelta(days=1),
        delivery_datetime=forty_days_ago,
        picked_up_at=forty_days_ago - datetime.timedelta(days=1),
        delivered_at=forty_days_ago,
    )
    assert not _events("CARRIER_PERFORMANCE_UPDATED", carrier)

    with django_capture_on_commit_callbacks(execute=True):
        response = dispatcher.post(f"/api/loads/{now_delivering.pk}/deliver/", {}, format="json")
    assert response.status_code == 200, response.json()
    now_delivering.refresh_from_db()
    [record] = _events("CARRIER_PERFORMANCE_UPDATED", carrier)
    until = now_delivering.delivered_at
    assert record == {
        "carrier_id": str(carrier.pk),
        "on_time_rate": 0.5,
        "loads_delivered": 2,
        "period_start": (until - datetime.timedelta(days=30)).isoformat().replace("+00:00", "Z"),
        "period_end": until.isoformat().replace("+00:00", "Z"),
    }
    # The same LOAD_DELIVERED handed over again (at-least-once relay): no second report.
    delivered = OutboxEvent.objects.get(type="LOAD_DELIVERED", subject=str(now_delivering.pk))
    assert deliver(REGISTRY["carrier-performance"], delivered.envelope) == Outcome.DUPLICATE
    assert len(_events("CARRIER_PERFORMANCE_UPDATED", carrier)) == 1
