"""A load's planned stops: booking with stops, adding, changing, removing and reordering them
through the services and the API (each valid and refused, with its audit row and event), the seed
fields derived from them, and the status machine following them through the GPS path."""

import datetime
import itertools
from decimal import Decimal

import pytest
from django.contrib.gis.geos import Point
from django.core.exceptions import ValidationError
from django.utils import timezone

from drivers.tests.factories import DriverFactory
from events.models import AuditLog, OutboxEvent
from fleet.tests.factories import VehicleFactory
from loads import services
from loads.models import Load, LoadStatus, Stop, StopEvent, StopKind
from loads.tests.factories import FacilityFactory, load_in
from loads.tests.test_geofence import RECORDED_PATH, delivery_path, send
from tms.exceptions import BusinessRuleViolation, CapacityExceeded, Conflict
from tms.geo import estimate_road_trip
from tms.times import rfc3339

pytestmark = pytest.mark.django_db

HOUR = datetime.timedelta(hours=1)
START = (timezone.now() + datetime.timedelta(days=2)).replace(microsecond=0)


@pytest.fixture
def sites():
    """Four sites far enough apart for their geofences not to touch: Chicago, Gary, Indianapolis, Columbus."""
    return [
        FacilityFactory(name="Chicago DC", location=Point(-87.6298, 41.8781, srid=4326)),
        FacilityFactory(
            name="Gary plant", city="Gary", state="IN", location=Point(-87.3464, 41.5934, srid=4326)
        ),
        FacilityFactory(
            name="Indy store", city="Indianapolis", state="IN", location=Point(-86.1581, 39.7684, srid=4326)
        ),
        FacilityFactory(
            name="Columbus store", city="Columbus", state="OH", location=Point(-82.9988, 39.9612, srid=4326)
        ),
    ]


def stop(kind, facility, opens_h, closes_h=None, **fields) -> dict:
    return {
        "kind": kind,
        "facility": facility,
        "earliest_at": START + opens_h * HOUR,
        "latest_at": START + (opens_h if closes_h is None else closes_h) * HOUR,
        **fields,
    }


def book(stops, **fields) -> Load:
    return services.create_load(
        by=None, weight=Decimal("9000"), volume=Decimal("40"), rate=Decimal("2100"), stops=stops, **fields
    )


@pytest.fixture
def two_drop(sites):
    """A pickup in Chicago and two drops, Indianapolis then Columbus."""
    chicago, _gary, indy, columbus = sites
    return book(
        [
            stop(StopKind.PICKUP, chicago, 0, 2, weight=Decimal("9000")),
            stop(StopKind.DELIVERY, indy, 4, 8, weight=Decimal("5000")),
            stop(StopKind.DELIVERY, columbus, 9, 12, weight=Decimal("4000")),
        ]
    )


def written() -> tuple[int, ...]:
    return (
        Load.objects.count(),
        Stop.objects.count(),
        AuditLog.objects.count(),
        OutboxEvent.objects.count(),
    )


def events_of(load, kind) -> list[dict]:
    return [
        e.envelope["data"]
        for e in OutboxEvent.objects.filter(subject=str(load.pk), type=kind).order_by("created_at")
    ]


def stop_ids(load) -> list[str]:
    return [str(pk) for pk in load.stops.order_by("sequence").values_list("pk", flat=True)]


# --- Booking -------------------------------------------------------------------------------------


def test_a_load_booked_with_stops_derives_its_seed_fields_estimates_and_events_them(two_drop, sites):
    chicago, _gary, indy, columbus = sites
    load = Load.objects.get(pk=two_drop.pk)
    stops = list(load.stops.order_by("sequence"))

    assert [(s.sequence, s.kind, s.facility_id) for s in stops] == [
        (1, "PICKUP", chicago.pk),
        (2, "DELIVERY", indy.pk),
        (3, "DELIVERY", columbus.pk),
    ]
    assert (load.shipper_id, load.consignee_id) == (chicago.pk, columbus.pk)
    assert (load.pickup_datetime, load.delivery_datetime) == (START, START + 12 * HOUR)
    assert load.pickup_location.equals(chicago.location) and load.delivery_location.equals(columbus.location)
    legs = [estimate_road_trip(a.location, b.location) for a, b in itertools.pairwise(stops)]
    assert load.estimated_distance_m == sum(m for m, _ in legs)
    assert load.estimated_distance_m > estimate_road_trip(chicago.location, columbus.location)[0]
    assert (
        AuditLog.objects.filter(
            table_name="load_stops", action="CREATE", record_id__in=stop_ids(load)
        ).count()
        == 3
    )
    [created] = events_of(load, "LOAD_CREATED")
    assert [(s["sequence"], s["kind"], s["facility_id"], s["weight"]) for s in created["stops"]] == [
        (1, "PICKUP", str(chicago.pk), 9000.0),
        (2, "DELIVERY", str(indy.pk), 5000.0),
        (3, "DELIVERY", str(columbus.pk), 4000.0),
    ]
    assert created["stops"][1]["latest_at"] == rfc3339(START + 8 * HOUR)


@pytest.mark.parametrize(
    ("plan", "message"),
    [
        (
            lambda c, g, i, o: [stop("DELIVERY", i, 4), stop("PICKUP", c, 6), stop("DELIVERY", o, 8)],
            "first stop",
        ),
        (
            lambda c, g, i, o: [stop("PICKUP", c, 0), stop("DELIVERY", i, 4), stop("PICKUP", g, 6)],
            "last stop",
        ),
        (lambda c, g, i, o: [stop("PICKUP", c, 0), stop("PICKUP", g, 4)], "one pickup and one delivery"),
        (lambda c, g, i, o: [stop("PICKUP", c, 0), stop("DELIVERY", i, 6, 4)], "closes at"),
        # Indianapolis closes at 3 h, before Gary, which comes first, opens at 5 h.
        (
            lambda c, g, i, o: [stop("PICKUP", c, 0), stop("PICKUP", g, 5, 6), stop("DELIVERY", i, 1, 3)],
            "comes first",
        ),
        (
            lambda c, g, i, o: [stop("PICKUP", c, 2, 4), stop("DELIVERY", i, 1, 2)],
            "not after the first pickup",
        ),
        (
            lambda c, g, i, o: [stop("PICKUP", c, 0, weight=100), stop("DELIVERY", i, 4, weight=200)],
            "only 100",
        ),
        (
            lambda c, g, i, o: [stop("PICKUP", c, 0), stop("DELIVERY", i, 3), stop("DELIVERY", c, 4)],
            "same facility",
        ),
    ],
    ids=[
        "delivery-first",
        "pickup-last",
        "no-delivery",
        "window-reversed",
        "window-back-in-time",
        "delivery-before-pickup",
        "unloads-more-than-loaded",
        "shipper-is-consignee",
    ],
)
def test_a_bad_list_of_stops_is_refused_and_writes_nothing(sites, plan, message):
    before = written()
    with pytest.raises(BusinessRuleViolation, match=message):
        book(plan(*sites))
    assert written() == before


def test_seed_fields_sent_with_stops_must_agree(sites):
    chicago, gary, indy, _ = sites
    before = written()
    with pytest.raises(ValidationError) as refused:
        book([stop("PICKUP", chicago, 0), stop("DELIVERY", indy, 4)], shipper=gary)
    assert "shipper" in refused.value.message_dict
    assert written() == before
    load = book(
        [stop("PICKUP", chicago, 0), stop("DELIVERY", indy, 4)], shipper=chicago, pickup_datetime=START
    )
    assert load.shipper == chicago


# --- Add, change, remove, reorder -------------------------------------------------------------------


def test_adding_a_stop_moves_the_later_ones_audits_and_events_it(two_drop, sites):
    _chicago, gary, _indy, _columbus = sites
    old_ids = stop_ids(two_drop)

    added = services.add_stop(
        two_drop, by=None, sequence=2, **stop("PICKUP", gary, 1, 3, weight=Decimal("500"))
    )

    assert stop_ids(two_drop) == [old_ids[0], str(added.pk), *old_ids[1:]]
    assert AuditLog.objects.get(table_name="load_stops", record_id=str(added.pk)).action == "CREATE"
    moved = AuditLog.objects.filter(table_name="load_stops", action="UPDATE", record_id__in=old_ids[1:])
    assert sorted(a.changed_data["sequence"] for a in moved) == [[2, 3], [3, 4]]
    [event] = events_of(two_drop, "LOAD_STOP_ADDED")
    assert (event["stop"]["stop_id"], event["stop"]["sequence"], event["stop"]["kind"]) == (
        str(added.pk),
        2,
        "PICKUP",
    )
    assert "estimated_distance_m" in event["load_changes"]  # a detour through Gary
    assert added.address == f"{gary.address}, {gary.city}, {gary.state}"


def test_a_stop_added_at_the_end_becomes_the_consignee(two_drop, sites):
    _chicago, gary, _indy, columbus = sites
    services.add_stop(two_drop, by=None, **stop("DELIVERY", gary, 12, 14))

    two_drop.refresh_from_db()
    assert (two_drop.consignee_id, two_drop.delivery_datetime) == (gary.pk, START + 14 * HOUR)
    [event] = events_of(two_drop, "LOAD_STOP_ADDED")
    assert event["load_changes"]["consignee_id"] == [str(columbus.pk), str(gary.pk)]
    audit = AuditLog.objects.filter(table_name="loads", record_id=str(two_drop.pk), action="UPDATE").get()
    assert audit.changed_data["consignee_id"] == [str(columbus.pk), str(gary.pk)]


@pytest.mark.parametrize("status", ["DELIVERED", "CANCELLED"])
def test_no_stop_changes_on_a_delivered_or_cancelled_load(status, sites):
    load = load_in(status)
    first, last = load.stops.order_by("sequence")
    before = written()
    attempts = [
        lambda: services.add_stop(load, by=None, **stop("DELIVERY", sites[3], 48)),
        lambda: services.update_stop(last, by=None, instructions="dock 4"),
        lambda: services.remove_stop(last, by=None),
        lambda: services.reorder_stops(load, by=None, stop_ids=[last.pk, first.pk]),
    ]
    for attempt in attempts:
        with pytest.raises(Conflict, match=status):
            attempt()
    assert written() == before


def test_changing_a_window_rederives_the_pickup_time_with_audit_and_event(two_drop):
    first = two_drop.stops.get(sequence=1)

    services.update_stop(first, by=None, earliest_at=START - HOUR, instructions="Gate 3")

    two_drop.refresh_from_db()
    assert two_drop.pickup_datetime == START - HOUR
    [event] = events_of(two_drop, "LOAD_STOP_UPDATED")
    assert event["changes"] == {
        "earliest_at": [rfc3339(START), rfc3339(START - HOUR)],
        "instructions": ["", "Gate 3"],
    }
    assert event["load_changes"]["pickup_datetime"] == [rfc3339(START), rfc3339(START - HOUR)]
    audit = AuditLog.objects.get(table_name="load_stops", record_id=str(first.pk), action="UPDATE")
    assert audit.changed_data == event["changes"]


def test_changing_a_facility_moves_the_stop_there(two_drop, sites):
    _chicago, gary, _indy, _columbus = sites
    middle = two_drop.stops.get(sequence=2)
    services.update_stop(middle, by=None, facility=gary)
    middle.refresh_from_db()
    assert middle.location.equals(gary.location) and middle.address.startswith(gary.address)


@pytest.mark.parametrize(
    ("sequence", "fields", "error"),
    [
        (3, {"latest_at": START + 3 * HOUR}, BusinessRuleViolation),  # closes before drop 1 opens
        (2, {"earliest_at": START + 9 * HOUR}, BusinessRuleViolation),  # opens after it closes
        (2, {"weight": Decimal("10000")}, BusinessRuleViolation),  # unloads more than loaded
        (2, {"kind": "PICKUP"}, ValidationError),  # a kind changes by removing and adding
        (2, {"service_minutes": 24 * 60 + 1}, ValidationError),
    ],
)
def test_a_bad_stop_change_is_refused_and_writes_nothing(two_drop, sequence, fields, error):
    target = two_drop.stops.get(sequence=sequence)
    before = written()
    with pytest.raises(error):
        services.update_stop(target, by=None, **fields)
    assert written() == before


def test_removing_a_stop_closes_the_gap_with_audit_and_event(two_drop, sites):
    _chicago, _gary, indy, _columbus = sites
    last = two_drop.stops.get(sequence=3)

    services.remove_stop(last, by=None)

    assert [s.sequence for s in two_drop.stops.all()] == [1, 2]
    two_drop.refresh_from_db()
    assert (two_drop.consignee_id, two_drop.delivery_datetime) == (indy.pk, START + 8 * HOUR)
    assert AuditLog.objects.get(table_name="load_stops", record_id=str(last.pk), action="DELETE")
    [event] = events_of(two_drop, "LOAD_STOP_REMOVED")
    assert event["stop"]["stop_id"] == str(last.pk)
    assert event["load_changes"]["consignee_id"] == [str(sites[3].pk), str(indy.pk)]


def test_removing_the_only_pickup_is_refused_and_writes_nothing(two_drop):
    before = written()
    with pytest.raises(BusinessRuleViolation, match="one pickup and one delivery"):
        services.remove_stop(two_drop.stops.get(sequence=1), by=None)
    assert written() == before


def test_reordering_the_drops_swaps_the_consignee_with_audit_and_event(two_drop, sites):
    first, drop_1, drop_2 = two_drop.stops.order_by("sequence")
    services.update_stop(drop_1, by=None, latest_at=START + 12 * HOUR)
    new_order = [first.pk, drop_2.pk, drop_1.pk]

    services.reorder_stops(two_drop, by=None, stop_ids=new_order)

    assert stop_ids(two_drop) == [str(pk) for pk in new_order]
    two_drop.refresh_from_db()
    assert two_drop.consignee_id == sites[2].pk
    [event] = events_of(two_drop, "LOAD_STOPS_REORDERED")
    assert event["stop_ids"] == [str(pk) for pk in new_order]
    audits = AuditLog.objects.filter(
        table_name="load_stops",
        record_id__in=[drop_1.pk, drop_2.pk],
        action="UPDATE",
        changed_data__has_key="sequence",
    )
    assert audits.count() == 2


def test_a_bad_reorder_is_refused_and_writes_nothing(two_drop):
    first, drop_1, drop_2 = two_drop.stops.order_by("sequence")
    before = written()
    with pytest.raises(BusinessRuleViolation, match="first stop must be a pickup"):
        services.reorder_stops(two_drop, by=None, stop_ids=[drop_1.pk, first.pk, drop_2.pk])
    with pytest.raises(BusinessRuleViolation, match="comes first"):  # drop 1 closes before drop 2 opens
        services.reorder_stops(two_drop, by=None, stop_ids=[first.pk, drop_2.pk, drop_1.pk])
    with pytest.raises(ValidationError):
        services.reorder_stops(two_drop, by=None, stop_ids=[first.pk, drop_2.pk])
    assert written() == before


def test_visited_stops_cannot_be_moved_or_removed(two_drop, sites):
    first = two_drop.stops.get(sequence=1)
    Stop.objects.filter(pk=first.pk).update(arrived_at=START)  # as the geofence records it
    before = written()
    with pytest.raises(Conflict, match="visited"):
        services.remove_stop(first, by=None)
    with pytest.raises(Conflict, match="visited"):
        services.add_stop(two_drop, by=None, sequence=1, **stop("PICKUP", sites[1], 0))
    with pytest.raises(Conflict, match="visited"):
        services.update_stop(first, by=None, facility=sites[1])
    assert written() == before
    services.update_stop(first, by=None, instructions="Seal number 4411")  # not a move


def test_an_assigned_loads_stops_must_fit_its_truck(two_drop, sites):
    vehicle = VehicleFactory(capacity_weight=Decimal("10000"))
    services.assign_load(two_drop, by=None, vehicle=vehicle, driver=DriverFactory(carrier=vehicle.carrier))
    before = written()
    with pytest.raises(CapacityExceeded, match="10000"):
        services.add_stop(
            two_drop, by=None, sequence=2, **stop("PICKUP", sites[1], 1, weight=Decimal("1500"))
        )
    assert written() == before
    services.add_stop(two_drop, by=None, sequence=2, **stop("PICKUP", sites[1], 1, weight=Decimal("900")))


# --- The seed's fields keep the end stops in sync ------------------------------------------------------


def test_editing_a_plain_loads_pickup_and_delivery_moves_its_two_stops():
    load = load_in("CREATED")
    pickup, delivery = load.stops.order_by("sequence")
    new_pickup = load.pickup_datetime + HOUR
    other = FacilityFactory(city="Memphis", location=Point(-90.049, 35.1495, srid=4326))

    services.update_load(load, by=None, pickup_datetime=new_pickup, consignee=other, weight=Decimal("8000"))

    pickup.refresh_from_db()
    delivery.refresh_from_db()
    assert (pickup.earliest_at, pickup.latest_at, pickup.weight) == (new_pickup, new_pickup, Decimal("8000"))
    assert (delivery.facility_id, delivery.weight) == (other.pk, Decimal("8000"))
    load.refresh_from_db()
    assert (load.pickup_datetime, load.consignee_id) == (new_pickup, other.pk)
    updated = events_of(load, "LOAD_STOP_UPDATED")
    assert sorted(e["stop"]["sequence"] for e in updated) == [1, 2]
    assert events_of(load, "LOAD_UPDATED")[0]["changes"]["consignee_id"][1] == str(other.pk)


# --- The API -----------------------------------------------------------------------------------------


def api_stop(kind, facility, opens_h, closes_h=None, **fields) -> dict:
    body = stop(kind, facility, opens_h, closes_h, **fields)
    body["facility_id"] = str(body.pop("facility").pk)
    body["earliest_at"], body["latest_at"] = rfc3339(body["earliest_at"]), rfc3339(body["latest_at"])
    return body


def test_api_books_a_load_with_stops_and_shows_them(dispatcher, sites):
    chicago, gary, _indy, columbus = sites
    body = {
        "weight": "9000",
        "volume": "40",
        "rate": "2100",
        "stops": [
            api_stop("PICKUP", chicago, 0, 1, weight="6000"),
            api_stop("PICKUP", gary, 2, 3, weight="3000", pieces=12, instructions="Dock 7"),
            api_stop("DELIVERY", columbus, 9, 11),
        ],
    }
    response = dispatcher.post("/api/loads/", body, format="json")

    assert response.status_code == 201, response.json()
    created = response.json()
    assert (created["shipper_id"], created["consignee_id"]) == (str(chicago.pk), str(columbus.pk))
    assert [(s["sequence"], s["kind"], s["pieces"]) for s in created["stops"]] == [
        (1, "PICKUP", None),
        (2, "PICKUP", 12),
        (3, "DELIVERY", None),
    ]
    detail = dispatcher.get(f"/api/loads/{created['id']}").json()
    assert detail["stops"] == created["stops"]
    listed = dispatcher.get(f"/api/loads/{created['id']}/stops").json()
    assert listed["count"] == 3 and listed["results"][1]["instructions"] == "Dock 7"
    assert listed["results"][0]["arrived_at"] is None


@pytest.mark.parametrize(
    "change",
    [
        lambda b, s: b["stops"][0].update(color="red"),  # unknown field in a stop
        lambda b, s: b["stops"][0].update(arrived_at=rfc3339(START)),  # the geofence's
        lambda b, s: b.update(shipper_id=str(s[1].pk)),  # disagrees with the first pickup
        lambda b, s: b["stops"].reverse(),  # delivery first: 422
        lambda b, s: b.update(stops=b["stops"][:1]),
    ],
    ids=["unknown-field", "read-only-field", "disagreeing-shipper", "delivery-first", "one-stop"],
)
def test_api_refuses_a_bad_booking_with_stops_and_writes_nothing(dispatcher, sites, change):
    chicago, _gary, indy, _ = sites
    body = {
        "weight": "9000",
        "volume": "40",
        "rate": "2100",
        "stops": [api_stop("PICKUP", chicago, 0), api_stop("DELIVERY", indy, 5)],
    }
    change(body, sites)
    before = written()
    response = dispatcher.post("/api/loads/", body, format="json")
    assert response.status_code in (400, 422), response.json()
    assert set(response.json()["error"]) == {"code", "message", "details", "correlation_id"}
    assert written() == before


def test_api_seed_clients_still_book_two_stop_loads_and_need_the_seed_fields(dispatcher, sites):
    chicago = sites[0]
    body = {"weight": "9000", "volume": "40", "rate": "2100", "shipper_id": str(chicago.pk)}
    before = written()
    response = dispatcher.post("/api/loads/", body, format="json")
    assert response.status_code == 400
    assert set(response.json()["error"]["details"]) == {
        "consignee_id",
        "pickup_datetime",
        "delivery_datetime",
    }
    assert written() == before


def test_api_adds_changes_reorders_and_removes_stops(dispatcher, two_drop, sites):
    url = f"/api/loads/{two_drop.pk}/stops"
    added = dispatcher.post(url, {**api_stop("PICKUP", sites[1], 1, 3), "sequence": 2}, format="json")
    assert added.status_code == 201, added.json()
    assert added.json()["sequence"] == 2

    stop_id = added.json()["id"]
    changed = dispatcher.patch(f"{url}/{stop_id}", {"pieces": 30, "service_minutes": 45}, format="json")
    assert changed.status_code == 200, changed.json()
    assert (changed.json()["pieces"], changed.json()["service_minutes"]) == (30, 45)

    ids = stop_ids(two_drop)
    reordered = dispatcher.post(
        f"{url}/reorder", {"stop_ids": [ids[1], ids[0], ids[2], ids[3]]}, format="json"
    )
    assert reordered.status_code == 200, reordered.json()
    assert reordered.json()["shipper_id"] == str(sites[1].pk)

    assert dispatcher.delete(f"{url}/{stop_id}").status_code == 204
    assert stop_ids(two_drop) == [ids[0], ids[2], ids[3]]
    assert [e.type for e in OutboxEvent.objects.filter(subject=str(two_drop.pk)).order_by("created_at")][
        1:
    ] == [
        "LOAD_STOP_ADDED",
        "LOAD_STOP_UPDATED",
        "LOAD_STOPS_REORDERED",
        "LOAD_STOP_REMOVED",
    ]


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("patch", "{url}/{stop}", {"kind": "PICKUP"}, 400),
        ("patch", "{url}/{stop}", {"sequence": 1}, 400),
        ("patch", "{url}/{stop}", {"arrived_at": "2026-01-01T00:00:00Z"}, 400),
        ("patch", "{url}/{stop}", {"latest_at": "2020-01-01T00:00:00Z"}, 400),
        ("patch", "{url}/{stop}", {"earliest_at": "2100-06-01T00:00:00Z"}, 400),
        ("patch", "{url}/{stop}", {"weight": "-1"}, 400),
        ("post", "{url}", {"kind": "DELIVERY"}, 400),
        (
            "post",
            "{url}",
            {
                "sequence": 9,
                "kind": "DELIVERY",
                "facility_id": "{facility}",
                "earliest_at": "2099-01-01T00:00:00Z",
                "latest_at": "2099-01-01T00:00:00Z",
            },
            400,
        ),
        (
            "post",
            "{url}",
            {
                "sequence": 1,
                "kind": "DELIVERY",
                "facility_id": "{facility}",
                "earliest_at": "2099-01-01T00:00:00Z",
                "latest_at": "2099-01-01T00:00:00Z",
            },
            422,
        ),
        ("post", "{url}/reorder", {"stop_ids": ["{stop}", "{stop}", "{stop}"]}, 400),
        ("post", "{url}/reorder", {"stop_ids": "nope"}, 400),
        ("delete", "{url}/3fa85f64-5717-4562-b3fc-2c963f66afa6", None, 404),
    ],
)
def test_api_refuses_bad_stop_requests_and_writes_nothing(
    dispatcher, two_drop, sites, method, path, body, status
):
    url = f"/api/loads/{two_drop.pk}/stops"
    target = str(two_drop.stops.get(sequence=2).pk)

    def fill(value):
        if isinstance(value, str):
            return value.format(url=url, stop=target, facility=sites[1].pk)
        if isinstance(value, list):
            return [fill(v) for v in value]
        if isinstance(value, dict):
            return {k: fill(v) for k, v in value.items()}
        return value

    before = written()
    response = getattr(dispatcher, method)(fill(path), fill(body), format="json")
    assert response.status_code == status, response.json()
    assert set(response.json()["error"]) == {"code", "message", "details", "correlation_id"}
    assert written() == before


def test_drivers_read_the_stops_of_their_own_loads_only_and_write_none(driver_client, viewer, sites):
    load = load_in("ASSIGNED")
    url = f"/api/loads/{load.pk}/stops"
    assert driver_client.get(url).status_code == 404
    load.driver.user = driver_client.user
    load.driver.save()
    assert driver_client.get(url).json()["count"] == 2
    assert driver_client.get(f"/api/loads/{load.pk}").json()["stops"][0]["kind"] == "PICKUP"
    before = written()
    stop_id = stop_ids(load)[1]
    assert driver_client.patch(f"{url}/{stop_id}", {"instructions": "x"}, format="json").status_code == 403
    assert viewer.post(url, api_stop("DELIVERY", sites[3], 72), format="json").status_code == 403
    assert viewer.delete(f"{url}/{stop_id}").status_code == 403
    assert written() == before


# --- The status machine follows the stops through the GPS path -------------------------------------------


def test_a_three_stop_load_progresses_through_the_gps_path(sites, settings):
    """Pickup in Chicago, drop 1 in Indianapolis, drop 2 in Columbus: PICKED_UP at the pickup,
    IN_TRANSIT leaving it, only arrival and departure at drop 1, DELIVERED at drop 2."""
    settings.TMS_GEOFENCE_AUTO_ADVANCE = True
    chicago, _gary, indy, columbus = sites
    load = book(
        [
            stop(StopKind.PICKUP, chicago, -30, -20),
            stop(StopKind.DELIVERY, indy, -20, -10),
            stop(StopKind.DELIVERY, columbus, -20, 5),
        ]
    )
    vehicle = VehicleFactory()
    services.assign_load(load, by=None, vehicle=vehicle, driver=DriverFactory(carrier=vehicle.carrier))
    pickup, drop_1, drop_2 = load.stops.order_by("sequence")

    send(vehicle, chicago, RECORDED_PATH)
    load.refresh_from_db()
    assert load.status == LoadStatus.IN_TRANSIT

    send(vehicle, indy, delivery_path(10_000))
    load.refresh_from_db()
    assert load.status == LoadStatus.IN_TRANSIT  # an intermediate drop: arrival and departure only
    drop_1.refresh_from_db()
    assert drop_1.arrived_at is not None and drop_1.departed_at is not None

    send(vehicle, columbus, delivery_path(20_000))
    load.refresh_from_db()
    vehicle.refresh_from_db()
    assert load.status == LoadStatus.DELIVERED
    assert load.delivered_at == drop_2.__class__.objects.get(pk=drop_2.pk).arrived_at
    assert vehicle.status == "AVAILABLE"

    visits = StopEvent.objects.filter(load=load).order_by("arrived_at")
    assert [v.stop_id for v in visits] == [pickup.pk, drop_1.pk, drop_2.pk]
    events = [
        (e.type, e.envelope["data"].get("sequence"))
        for e in OutboxEvent.objects.filter(subject=str(load.pk)).order_by("created_at")
        if e.type.startswith("STOP_") or e.type in ("LOAD_PICKED_UP", "LOAD_IN_TRANSIT", "LOAD_DELIVERED")
    ]
    assert events == [
        ("STOP_ARRIVED", 1),
        ("LOAD_PICKED_UP", None),
        ("STOP_DEPARTED", 1),
        ("LOAD_IN_TRANSIT", None),
        ("STOP_ARRIVED", 2),
        ("STOP_DEPARTED", 2),
        ("STOP_ARRIVED", 3),
        ("LOAD_DELIVERED", None),
        ("STOP_DEPARTED", 3),
    ]
