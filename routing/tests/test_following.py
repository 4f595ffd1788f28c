"""The route follower, fed recorded paths: timestamped fixes along a route running due north on the
86th meridian West from 40°N to 41°N (the geodesic is the meridian itself, so distances have a
closed form)."""

import math
import uuid
from datetime import datetime, timedelta

import pytest
from django.contrib.gis.geos import LineString, Point

from events.consumers import REGISTRY, Outcome, deliver
from events.models import AuditLog, OutboxEvent
from events.taxonomy import EventType
from fleet.models import GpsPoint
from loads.models import LoadStatus
from loads.tests.factories import load_in
from routing import handlers  # noqa: F401 - registers the route-follower consumer
from routing.models import Route, RouteFollowing
from tms.times import rfc3339

pytestmark = pytest.mark.django_db

LON = -86.0
WGS84_A = 6_378_137.0
WGS84_E2 = 0.00669437999014
PLANNED_M = 111_000
PLANNED_S = 4_800


def parallel_arc_m(latitude: float, degrees: float) -> float:
    """Metres along the parallel at `latitude` (WGS84): the distance of an offset from a meridian."""
    phi = math.radians(latitude)
    prime_vertical = WGS84_A / math.sqrt(1 - WGS84_E2 * math.sin(phi) ** 2)
    return prime_vertical * math.cos(phi) * math.radians(degrees)


def meridian_arc_m(start: float, end: float, steps: int = 1000) -> float:
    """Metres along the meridian between two latitudes (WGS84), integrated numerically."""
    total = 0.0
    width = math.radians(end - start) / steps
    for i in range(steps):
        phi = math.radians(start) + (i + 0.5) * width
        total += WGS84_A * (1 - WGS84_E2) / (1 - WGS84_E2 * math.sin(phi) ** 2) ** 1.5 * width
    return total


@pytest.fixture
def trip():
    """A load in transit on its vehicle, with a current route, and the time the fixes start at."""
    load = load_in(LoadStatus.IN_TRANSIT)
    route = Route.objects.create(
        load=load,
        vehicle=load.vehicle,
        origin=Point(LON, 40.0, srid=4326),
        destination=Point(LON, 41.0, srid=4326),
        path=LineString((LON, 40.0), (LON, 41.0), srid=4326),
        distance_m=PLANNED_M,
        duration_s=PLANNED_S,
        provider="GREAT_CIRCLE",
    )
    return load, route, load.in_transit_at + timedelta(seconds=60)


def fix_envelope(load, *, longitude: float, latitude: float, at: datetime, speed_kmh: float | None) -> dict:
    return {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "type": EventType.VEHICLE_LOCATION_UPDATED.value,
        "source": "/tms",
        "subject": str(load.vehicle_id),
        "time": at.isoformat(),
        "datacontenttype": "application/json",
        "data": {
            "vehicle_id": str(load.vehicle_id),
            "carrier_id": str(load.vehicle.carrier_id),
            "longitude": longitude,
            "latitude": latitude,
            "recorded_at": at.isoformat(),
            "speed_kmh": speed_kmh,
            "heading": 0.0,
        },
    }


def drive(load, fixes: list[tuple[float, float, float, float | None]], start: datetime) -> list[str]:
    """Stores each fix (seconds after `start`, longitude, latitude, speed) as tracking does, then
    delivers its event to the route follower."""
    outcomes = []
    for seconds, longitude, latitude, speed_kmh in fixes:
        at = start + timedelta(seconds=seconds)
        GpsPoint.objects.create(
            vehicle_id=load.vehicle_id,
            recorded_at=at,
            location=Point(longitude, latitude, srid=4326),
            speed_kmh=speed_kmh,
            received_at=at,
        )
        envelope = fix_envelope(load, longitude=longitude, latitude=latitude, at=at, speed_kmh=speed_kmh)
        outcomes.append(deliver(REGISTRY["route-follower"], envelope))
    return outcomes


def due_two_hours_after(load, start: datetime) -> None:
    """Reschedules the load: picked up an hour before the fixes start, due two hours after."""
    load.pickup_datetime = start - timedelta(hours=1)
    load.delivery_datetime = start + timedelta(hours=2)
    load.save(update_fields=["pickup_datetime", "delivery_datetime"])


def emitted(event_type: EventType) -> list[dict]:
    return [
        e.envelope["data"] for e in OutboxEvent.objects.filter(type=event_type.value).order_by("created_at")
    ]


def audited(route) -> list[dict]:
    """What the audit rows of the route's following record, oldest first."""
    rows = AuditLog.objects.filter(table_name="route_followings", record_id=str(route.pk)).order_by(
        "created_at"
    )
    assert {row.action for row in rows} <= {"UPDATE"}
    return [row.changed_data for row in rows]


def test_driving_on_the_route_reports_nothing(trip):
    load, route, start = trip
    fixes = [(s * 60, LON + 0.002, 40.0 + s * 0.01, 80.0) for s in range(10)]

    assert drive(load, fixes, start) == [Outcome.PROCESSED] * 10

    assert emitted(EventType.ROUTE_DEVIATION) == []
    assert emitted(EventType.ROUTE_COMPLETED) == []
    assert emitted(EventType.AI_PREDICTION) == []
    state = RouteFollowing.objects.get(route=route)
    assert (state.excursion_started_at, state.excursion_reported) == (None, False)
    assert state.last_fix_at == start + timedelta(seconds=540)
    # The progress row moves on every fix without an audit row; only what is reported is audited.
    assert audited(route) == []


def test_a_detour_beyond_the_corridor_for_over_two_minutes_is_one_deviation(trip):
    load, route, start = trip
    fixes = [
        (0, LON, 40.10, 80.0),
        (30, LON + 0.01, 40.11, 60.0),  # ~848 m east: the excursion starts
        (90, LON + 0.01, 40.12, 60.0),
        (150, LON + 0.01, 40.13, 60.0),  # 120 s outside: reported
        (210, LON + 0.01, 40.14, 60.0),
        (270, LON + 0.01, 40.15, 60.0),
    ]

    drive(load, fixes, start)

    [deviation] = emitted(EventType.ROUTE_DEVIATION)
    assert deviation["route_id"] == str(route.pk)
    assert deviation["load_id"] == str(load.pk)
    assert deviation["vehicle_id"] == str(load.vehicle_id)
    assert deviation["distance_from_route_m"] == pytest.approx(parallel_arc_m(40.13, 0.01), abs=0.5)
    assert (deviation["longitude"], deviation["latitude"]) == (LON + 0.01, 40.13)
    assert datetime.fromisoformat(deviation["started_at"]) == start + timedelta(seconds=30)
    [audit] = audited(route)
    assert audit["excursion_reported"] == [False, True]
    assert datetime.fromisoformat(audit["last_fix_at"][1]) == start + timedelta(seconds=150)


def test_a_wobble_shorter_than_two_minutes_is_not_a_deviation(trip):
    load, route, start = trip
    fixes = [
        (0, LON, 40.10, 80.0),
        (30, LON + 0.01, 40.11, 60.0),
        (90, LON + 0.01, 40.12, 60.0),
        (149, LON + 0.01, 40.13, 60.0),  # 119 s outside
        (180, LON + 0.001, 40.14, 60.0),  # back within the corridor
        (240, LON + 0.01, 40.15, 60.0),  # a new excursion, too short as well
    ]

    drive(load, fixes, start)

    assert emitted(EventType.ROUTE_DEVIATION) == []
    state = RouteFollowing.objects.get(route=route)
    assert (state.excursion_started_at, state.excursion_reported) == (start + timedelta(seconds=240), False)
    assert audited(route) == []


def test_back_on_route_then_off_again_is_a_second_deviation(trip):
    load, _route, start = trip
    fixes = [
        (0, LON + 0.01, 40.10, 60.0),
        (120, LON + 0.01, 40.11, 60.0),  # first deviation
        (180, LON, 40.12, 60.0),  # back on the route
        (240, LON - 0.02, 40.13, 60.0),  # off to the west
        (300, LON - 0.02, 40.14, 60.0),
        (360, LON - 0.02, 40.15, 60.0),  # second deviation
        (420, LON - 0.02, 40.16, 60.0),
    ]

    drive(load, fixes, start)

    first, second = emitted(EventType.ROUTE_DEVIATION)
    assert datetime.fromisoformat(first["started_at"]) == start
    assert first["distance_from_route_m"] == pytest.approx(parallel_arc_m(40.11, 0.01), abs=0.5)
    assert datetime.fromisoformat(second["started_at"]) == start + timedelta(seconds=240)
    assert second["distance_from_route_m"] == pytest.approx(parallel_arc_m(40.15, 0.02), abs=0.5)


def test_replayed_and_out_of_order_fixes_do_not_report_again(trip):
    load, route, start = trip
    drive(load, [(0, LON + 0.01, 40.10, 60.0), (120, LON + 0.01, 40.11, 60.0)], start)
    late = fix_envelope(
        load, longitude=LON, latitude=40.105, at=start + timedelta(seconds=60), speed_kmh=60.0
    )
    again = fix_envelope(
        load, longitude=LON + 0.01, latitude=40.11, at=start + timedelta(seconds=120), speed_kmh=60.0
    )

    assert deliver(REGISTRY["route-follower"], late) == Outcome.PROCESSED
    assert deliver(REGISTRY["route-follower"], again) == Outcome.PROCESSED
    assert deliver(REGISTRY["route-follower"], again) == Outcome.DUPLICATE

    assert len(emitted(EventType.ROUTE_DEVIATION)) == 1
    assert len(audited(route)) == 1
    state = RouteFollowing.objects.get(route=route)
    # The late on-route fix did not end the excursion: it is older than the fixes already applied.
    assert (state.excursion_started_at, state.excursion_reported) == (start, True)


def test_arrival_completes_the_route_once_with_planned_and_actual(trip):
    load, route, start = trip
    fixes = [(i * 600, LON, 40.0 + i * 0.25, 90.0) for i in range(5)]  # the last fix at the destination

    drive(load, fixes, start)
    drive(load, [(3000, LON, 41.0, 0.0)], start)  # still parked there

    [completed] = emitted(EventType.ROUTE_COMPLETED)
    assert completed["route_id"] == str(route.pk)
    assert completed["load_id"] == str(load.pk)
    assert completed["planned_distance_m"] == PLANNED_M
    assert completed["actual_distance_m"] == pytest.approx(meridian_arc_m(40.0, 41.0), abs=1)
    assert completed["planned_duration_s"] == PLANNED_S
    assert completed["actual_duration_s"] == 60 + 2400
    assert RouteFollowing.objects.get(route=route).completed_at == start + timedelta(seconds=2400)
    assert emitted(EventType.ROUTE_DEVIATION) == []
    [audit] = audited(route)
    assert audit["completed_at"][0] is None
    assert datetime.fromisoformat(audit["completed_at"][1]) == start + timedelta(seconds=2400)


def test_arrival_without_a_gps_track_reports_the_planned_distance(trip):
    load, _route, start = trip
    envelope = fix_envelope(load, longitude=LON, latitude=40.999, at=start, speed_kmh=None)

    deliver(REGISTRY["route-follower"], envelope)

    [completed] = emitted(EventType.ROUTE_COMPLETED)
    assert (completed["planned_distance_m"], completed["actual_distance_m"]) == (PLANNED_M, PLANNED_M)
    assert completed["actual_duration_s"] == 60


def test_a_slow_truck_delays_the_load_and_predicts_once(trip):
    load, _route, start = trip
    due_two_hours_after(load, start)
    fixes = [(i * 60, LON, 40.1 + i * 0.001, 10.0) for i in range(5)]

    drive(load, fixes, start)

    # First fix: 10% along, 99,900 m left at 10 km/h = 35,964 s.
    eta = start + timedelta(seconds=35_964)
    lateness_s = 35_964 - 7_200
    [delayed] = emitted(EventType.LOAD_DELAYED)
    assert delayed["load_id"] == str(load.pk)
    assert delayed["reason"] == f"ETA {rfc3339(eta)} from route following"
    assert datetime.fromisoformat(delayed["expected_delivery_at"]) == eta
    assert delayed["predicted_lateness_s"] == lateness_s
    [prediction] = emitted(EventType.AI_PREDICTION)
    assert prediction == {
        "model": "eta-linear-v1",
        "subject_type": "load",
        "subject_id": str(load.pk),
        "prediction": {
            "eta": rfc3339(eta),
            "predicted_lateness_s": lateness_s,
            "remaining_m": 99_900,
            "speed_kmh": 10.0,
        },
        "confidence": 0.8,
    }
    load.refresh_from_db()
    assert (load.status, load.expected_delivery_at) == (LoadStatus.DELAYED, eta)
    [audit] = audited(_route)
    assert (audit["last_prediction_at"][0], datetime.fromisoformat(audit["last_prediction_at"][1])) == (
        None,
        start,
    )


def test_a_delayed_load_gets_a_new_prediction_after_an_hour_but_no_second_delay(trip):
    load, _route, start = trip
    due_two_hours_after(load, start)

    drive(load, [(0, LON, 40.1, 10.0), (3599, LON, 40.2, 10.0), (3600, LON, 40.2, 10.0)], start)

    assert len(emitted(EventType.LOAD_DELAYED)) == 1
    first, second = emitted(EventType.AI_PREDICTION)
    assert first["prediction"]["remaining_m"] == 99_900
    assert second["prediction"]["remaining_m"] == 88_800
    assert second["prediction"]["predicted_lateness_s"] == 3600 + 31_968 - 7_200


def test_a_load_on_time_is_not_delayed(trip):
    load, _route, start = trip
    due_two_hours_after(load, start)

    drive(load, [(0, LON, 40.1, 80.0), (60, LON, 40.102, 80.0)], start)

    assert emitted(EventType.LOAD_DELAYED) == []
    assert emitted(EventType.AI_PREDICTION) == []
    load.refresh_from_db()
    assert load.status == LoadStatus.IN_TRANSIT
    assert audited(_route) == []


def test_a_vehicle_without_a_followed_load_is_ignored(trip):
    load, route, start = trip
    route.is_current = False
    route.save(update_fields=["is_current"])

    drive(load, [(0, LON + 0.05, 40.1, 10.0), (300, LON + 0.05, 40.2, 10.0)], start)

    assert not RouteFollowing.objects.exists()
    assert emitted(EventType.ROUTE_DEVIATION) == []
    assert emitted(EventType.LOAD_DELAYED) == []
    assert audited(route) == []
