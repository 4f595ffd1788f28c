"""VEHICLE_MAINTENANCE_DUE: the odometer follows the fixes that report it, and each time it passes a
multiple of the service interval (TMS_MAINTENANCE_INTERVAL_KM) the vehicle is due, once."""

import datetime

import pytest
from django.utils import timezone

from events.models import OutboxEvent
from fleet.tests.factories import VehicleFactory

pytestmark = pytest.mark.django_db

BATCH = "/api/tracking/batch"


def _batch(client, vehicle, *odometers: float, minute: int = 0) -> None:
    base = timezone.now().replace(microsecond=0) - datetime.timedelta(hours=1)
    points = [
        {
            "vehicle_id": str(vehicle.pk),
            "longitude": -90.0 + index / 100,
            "latitude": 35.0,
            "recorded_at": (base + datetime.timedelta(minutes=minute + index)).isoformat(),
            "odometer": odometer,
        }
        for index, odometer in enumerate(odometers)
    ]
    response = client.post(BATCH, {"points": points}, format="json")
    assert response.status_code == 200, response.json()


def _due(vehicle) -> list[dict]:
    return [
        event.envelope["data"]
        for event in OutboxEvent.objects.filter(
            type="VEHICLE_MAINTENANCE_DUE", subject=str(vehicle.pk)
        ).order_by("sequence")
    ]


def test_passing_the_service_interval_makes_the_vehicle_due_once_per_crossing(dispatcher, settings):
    settings.TMS_MAINTENANCE_INTERVAL_KM = 40_000
    truck = VehicleFactory(odometer=39_990)
    _batch(dispatcher, truck, 39_995)
    assert _due(truck) == []
    # Two fixes past 40,000 km in one batch, then one more in the next: one event.
    _batch(dispatcher, truck, 40_001, 40_050, minute=5)
    _batch(dispatcher, truck, 40_100, minute=10)
    truck.refresh_from_db()
    assert float(truck.odometer) == 40_100
    assert _due(truck) == [
        {
            "vehicle_id": str(truck.pk),
            "carrier_id": str(truck.carrier_id),
            "reason": "odometer passed 40,000 km (service every 40,000 km)",
            "odometer": 40_050.0,
            "engine_hours": 0.0,
            "due_at": None,
        }
    ]
    # The next multiple: due again.
    _batch(dispatcher, truck, 80_000.5, minute=15)
    assert [data["odometer"] for data in _due(truck)] == [40_050.0, 80_000.5]


def test_a_single_fix_through_the_put_endpoint_is_checked_too(dispatcher, settings):
    settings.TMS_MAINTENANCE_INTERVAL_KM = 10_000
    truck = VehicleFactory(odometer=9_999)
    response = dispatcher.put(
        f"/api/vehicles/{truck.pk}/location/",
        {"longitude": -90.0, "latitude": 35.0, "odometer": 10_000.2},
        format="json",
    )
    assert response.status_code == 200, response.json()
    assert [data["odometer"] for data in _due(truck)] == [10_000.2]


def test_a_first_reading_or_an_older_fix_is_not_a_crossing(dispatcher, settings):
    settings.TMS_MAINTENANCE_INTERVAL_KM = 40_000
    fresh = VehicleFactory()  # odometer 0: never reported
    _batch(dispatcher, fresh, 120_400, minute=10)
    assert _due(fresh) == []
    # A late fix (older than the vehicle's position) does not move the odometer.
    _batch(dispatcher, fresh, 160_001, minute=0)
    fresh.refresh_from_db()
    assert float(fresh.odometer) == 120_400
    assert _due(fresh) == []
