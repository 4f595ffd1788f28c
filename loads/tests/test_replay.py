import datetime
import io
import json

import pytest
from django.conf import settings
from django.contrib.gis.geos import Point
from django.core.management import CommandError, call_command
from django.utils import timezone

from drivers.tests.factories import DriverFactory
from events.consumers import REGISTRY, Consumer
from events.models import StoredEvent
from fleet.tests.factories import VehicleFactory
from loads.models import Load, Stop
from loads.projection import BOOKING_FIELDS
from loads.tests.factories import FacilityFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def delivered_load(dispatcher, django_capture_on_commit_callbacks):
    """A load taken through its whole life over the API, every commit relayed to the event store."""
    vehicle = VehicleFactory()
    driver = DriverFactory(carrier=vehicle.carrier)
    shipper, consignee = FacilityFactory(), FacilityFactory(city="Memphis")

    def call(method, path, body):
        with django_capture_on_commit_callbacks(execute=True):
            response = getattr(dispatcher, method)(path, body, format="json")
        assert response.status_code < 300, response.json()
        return response.json()

    pickup = timezone.now() + datetime.timedelta(days=1)
    load = call(
        "post",
        "/api/loads/",
        {
            "shipper_id": str(shipper.pk),
            "consignee_id": str(consignee.pk),
            "pickup_datetime": pickup.isoformat(),
            "delivery_datetime": (pickup + datetime.timedelta(days=1)).isoformat(),
            "weight": "15000.5",
            "volume": "70",
            "rate": "2400.10",
        },
    )
    url = f"/api/loads/{load['id']}/"
    call(
        "patch",
        url,
        {"rate": "2600.00", "delivery_datetime": (pickup + datetime.timedelta(days=2)).isoformat()},
    )
    call("post", f"{url}assign/", {"vehicle_id": str(vehicle.pk), "driver_id": str(driver.pk)})
    call("post", f"{url}delay/", {"reason": "weather"})
    for step in ("pickup", "in-transit", "deliver"):
        call("post", f"{url}{step}/", {})
    return Load.objects.get(pk=load["id"])


def replay(*args) -> dict:
    out = io.StringIO()
    call_command("replay_events", *args, stdout=out)
    return json.loads(out.getvalue())


def test_a_load_rebuilt_from_its_events_matches_the_table(delivered_load):
    report = replay("--aggregate", str(delivered_load.pk))
    # LOAD_CREATED, LOAD_UPDATED and the delivery stop's LOAD_STOP_UPDATED (the new delivery
    # time), then assign, delay, pickup, in-transit, deliver.
    assert report == {"loads": [{"load_id": str(delivered_load.pk), "events": 8, "differences": {}}]}


def test_a_table_changed_behind_the_services_back_is_reported(delivered_load):
    Load.objects.filter(pk=delivered_load.pk).update(rate=1, status="CANCELLED")
    out = io.StringIO()
    with pytest.raises(CommandError, match="differs"):
        call_command("replay_events", "--aggregate", str(delivered_load.pk), stdout=out)
    differences = json.loads(out.getvalue())["loads"][0]["differences"]
    assert differences == {"status": ["DELIVERED", "CANCELLED"], "rate": ["2600.00", "1.00"]}


def test_stored_events_replay_into_a_new_projection(delivered_load):
    seen: list[str] = []
    REGISTRY["test-projection"] = Consumer(name="test-projection", handler=lambda e: seen.append(e["type"]))
    try:
        first = replay("--aggregate", str(delivered_load.pk), "--consumer", "test-projection")
        again = replay("--aggregate", str(delivered_load.pk), "--consumer", "test-projection")
    finally:
        del REGISTRY["test-projection"]
    assert first["outcomes"] == {"processed": 8}
    assert again["outcomes"] == {"duplicate": 8}
    assert seen[0] == "LOAD_CREATED"
    assert seen[-1] == "LOAD_DELIVERED"


@pytest.fixture
def multi_stop_load(dispatcher, django_capture_on_commit_callbacks, settings):
    """A milk run booked with its stops over the API, its stops added, changed, reordered and
    removed, then driven through the GPS path (auto-advance), every commit relayed to the store."""
    from loads.tests.test_geofence import RECORDED_PATH, delivery_path, send

    settings.TMS_GEOFENCE_AUTO_ADVANCE = True
    vehicle = VehicleFactory()
    driver = DriverFactory(carrier=vehicle.carrier)
    a, b, c, d = (
        FacilityFactory(location=Point(-87.63, 41.88, srid=4326)),
        FacilityFactory(location=Point(-87.35, 41.59, srid=4326)),
        FacilityFactory(location=Point(-86.16, 39.77, srid=4326)),
        FacilityFactory(location=Point(-83.00, 39.96, srid=4326)),
    )

    def call(method, path, body=None):
        with django_capture_on_commit_callbacks(execute=True):
            response = getattr(dispatcher, method)(path, body, format="json")
        assert response.status_code < 300, response.json()
        return response.json() if response.content else None

    start = timezone.now() - datetime.timedelta(hours=30)

    def stop(kind, facility, opens, closes=None):
        def at(hours):
            return (start + datetime.timedelta(hours=hours)).isoformat()

        return {
            "kind": kind,
            "facility_id": str(facility.pk),
            "earliest_at": at(opens),
            "latest_at": at(opens if closes is None else closes),
            "weight": "100",
        }

    load = call(
        "post",
        "/api/loads/",
        {
            "weight": "300",
            "volume": "10",
            "rate": "900",
            "stops": [stop("PICKUP", a, 0, 3), stop("PICKUP", b, 2), stop("DELIVERY", c, 8)],
        },
    )
    url = f"/api/loads/{load['id']}/stops"
    added = call("post", url, {**stop("DELIVERY", d, 12), "sequence": 4})
    call("patch", f"{url}/{load['stops'][2]['id']}", {"weight": "50", "instructions": "rear door"})
    extra = call("post", url, {**stop("PICKUP", d, 1), "sequence": 2})
    call("delete", f"{url}/{extra['id']}")
    ids = [load["stops"][1]["id"], load["stops"][0]["id"], load["stops"][2]["id"], added["id"]]
    call("post", f"{url}/reorder", {"stop_ids": ids})
    call(
        "post",
        f"/api/loads/{load['id']}/assign",
        {"vehicle_id": str(vehicle.pk), "driver_id": str(driver.pk)},
    )
    with django_capture_on_commit_callbacks(execute=True):
        send(vehicle, b, RECORDED_PATH)
        send(vehicle, a, delivery_path(5_000))
        send(vehicle, c, delivery_path(10_000))
        send(vehicle, d, delivery_path(20_000))
    return Load.objects.get(pk=load["id"])


def test_a_multi_stop_load_rebuilt_from_its_events_matches_the_table(multi_stop_load):
    assert multi_stop_load.status == "DELIVERED"
    assert all(stop.departed_at for stop in multi_stop_load.stops.all())
    report = replay("--aggregate", str(multi_stop_load.pk))

    [entry] = report["loads"]
    assert entry["differences"] == {}
    assert entry["events"] == 1 + 5 + 1 + 3 + 4 * 2  # booked, stop changes, assigned, status, stops


def test_a_stop_changed_behind_the_services_back_is_reported(multi_stop_load):
    stop = multi_stop_load.stops.get(sequence=3)
    Stop.objects.filter(pk=stop.pk).update(instructions="changed", sequence=9)
    out = io.StringIO()
    with pytest.raises(CommandError, match="differs"):
        call_command("replay_events", "--aggregate", str(multi_stop_load.pk), stdout=out)
    differences = json.loads(out.getvalue())["loads"][0]["differences"]
    assert set(differences["stops"]) == {"3", "4"}  # stop 3 is now last
    assert differences["stops"]["3"]["instructions"][0] == "rear door"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "--aggregate"),
        (("--aggregate", "nope"), "UUID"),
        (("--since", "yesterday"), "ISO"),
        (("--aggregate", "3fa85f64-5717-4562-b3fc-2c963f66afa6"), "no events"),
        (("--since", "2020-01-01T00:00:00Z", "--consumer", "nobody"), "unknown consumer"),
    ],
)
def test_bad_arguments_are_clear_errors(args, message):
    with pytest.raises(CommandError, match=message):
        call_command("replay_events", *args, stdout=io.StringIO())


@pytest.fixture
def booked_load(dispatcher, django_capture_on_commit_callbacks):
    """Refrigerated freight billed to a customer with its references, the PO corrected after
    booking, every commit relayed to the event store."""
    from customers.services import create_customer

    customer = create_customer(by=None, name="Cold Chain Foods", code="CCF", is_bill_to=True)
    shipper, consignee = FacilityFactory(), FacilityFactory(city="Memphis")
    pickup = timezone.now() + datetime.timedelta(days=1)
    with django_capture_on_commit_callbacks(execute=True):
        response = dispatcher.post(
            "/api/loads/",
            {
                "shipper_id": str(shipper.pk),
                "consignee_id": str(consignee.pk),
                "pickup_datetime": pickup.isoformat(),
                "delivery_datetime": (pickup + datetime.timedelta(days=1)).isoformat(),
                "weight": "12000",
                "volume": "60",
                "rate": "3100.00",
                "customer_id": str(customer.pk),
                "po_number": "PO-1",
                "bol_number": "BOL-77",
                "customer_reference": "CCF-2026-001",
                "required_equipment": "REEFER",
                "temperature_min_c": "-20.0",
                "temperature_max_c": "-18.0",
            },
            format="json",
        )
    assert response.status_code == 201, response.json()
    load_id = response.json()["id"]
    with django_capture_on_commit_callbacks(execute=True):
        response = dispatcher.patch(f"/api/loads/{load_id}/", {"po_number": "PO-2"}, format="json")
    assert response.status_code == 200, response.json()
    return Load.objects.get(pk=load_id)


def _created(load) -> StoredEvent:
    return StoredEvent.objects.using(settings.TIMESERIES_DATABASE_ALIAS).get(
        subject=load.pk, type="LOAD_CREATED"
    )


def test_load_created_carries_the_bill_to_references_and_equipment(booked_load):
    data = _created(booked_load).envelope["data"]
    assert {key: data[key] for key in BOOKING_FIELDS} == {
        "customer_id": str(booked_load.customer_id),
        "po_number": "PO-1",  # as booked: the correction is LOAD_UPDATED's
        "bol_number": "BOL-77",
        "customer_reference": "CCF-2026-001",
        "required_equipment": "REEFER",
        "temperature_min_c": -20.0,
        "temperature_max_c": -18.0,
    }
    assert replay("--aggregate", str(booked_load.pk))["loads"][0]["differences"] == {}


def test_a_reference_changed_behind_the_services_back_is_reported(booked_load):
    Load.objects.filter(pk=booked_load.pk).update(customer_reference="edited", po_number="PO-3")
    out = io.StringIO()
    with pytest.raises(CommandError, match="differs"):
        call_command("replay_events", "--aggregate", str(booked_load.pk), stdout=out)
    assert json.loads(out.getvalue())["loads"][0]["differences"] == {
        "po_number": ["PO-2", "PO-3"],
        "customer_reference": ["CCF-2026-001", "edited"],
    }


def test_a_load_created_stored_before_the_booking_fields_replays_without_them(booked_load):
    stored = _created(booked_load)
    for key in BOOKING_FIELDS:
        del stored.envelope["data"][key]
    stored.save(using=settings.TIMESERIES_DATABASE_ALIAS)
    Load.objects.filter(pk=booked_load.pk).update(po_number="PO-2")  # as the update event says
    assert replay("--aggregate", str(booked_load.pk))["loads"][0]["differences"] == {}
