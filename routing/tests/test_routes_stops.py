"""A load's route through every stop in sequence: Google with the stops as waypoints (recorded
answer with two legs), the great-circle fallback, leg figures per stop and the stops' planned
arrival and departure."""

import datetime
import itertools
import json
import math
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
import responses
from django.contrib.gis.geos import Point
from django.utils import timezone

from events.models import AuditAction, AuditLog, OutboxEvent
from fleet.tests.factories import VehicleFactory
from loads.models import Stop
from loads.tests.factories import FacilityFactory, LoadFactory
from routing.models import Route, RouteProvider
from routing.services import StopsChanged, optimize_load_route
from routing.tests.factories import set_stops
from tms.geo import estimate_road_trip
from tms.times import rfc3339

pytestmark = pytest.mark.django_db

DIRECTIONS_URL = "https://maps.googleapis.com/maps/api/directions/json"
FIXTURES = Path(__file__).parent / "fixtures"
MINUTE, HOUR = datetime.timedelta(minutes=1), datetime.timedelta(hours=1)


def planar_fractions(coords) -> list[float]:
    lengths = [0.0, *itertools.accumulate(math.dist(a, b) for a, b in itertools.pairwise(coords))]
    return [length / lengths[-1] for length in lengths]


@pytest.fixture
def milk_run():
    """A pickup in Chicago (45 min to load), a drop in Indianapolis whose window opens long after
    the truck gets there, and a last drop in Cincinnati (20 min)."""
    start = (timezone.now() + datetime.timedelta(days=1)).replace(second=0, microsecond=0)
    chicago = FacilityFactory(name="Chicago DC")
    indianapolis = FacilityFactory(name="Indy Market", location=Point(-86.1581, 39.7684, srid=4326))
    cincinnati = FacilityFactory(name="Cincy Store", location=Point(-84.5120, 39.1031, srid=4326))
    load = LoadFactory(shipper=chicago, consignee=cincinnati)
    stops = set_stops(
        load,
        [
            dict(
                kind="PICKUP", facility=chicago, earliest_at=start, latest_at=start + HOUR, service_minutes=45
            ),
            dict(
                kind="DELIVERY",
                facility=indianapolis,
                earliest_at=start + 5 * HOUR,
                latest_at=start + 7 * HOUR,
            ),
            dict(
                kind="DELIVERY",
                facility=cincinnati,
                earliest_at=start + 8 * HOUR,
                latest_at=start + 10 * HOUR,
                service_minutes=20,
            ),
        ],
    )
    load.refresh_from_db()
    return load, stops, start


@pytest.fixture
def google(settings):
    settings.GOOGLE_MAPS_API_KEY = "AIzaTestKeyForRecordedAnswers"
    answer = json.loads((FIXTURES / "directions_two_legs.json").read_text())
    with responses.RequestsMock() as mock:
        mock.get(DIRECTIONS_URL, json=answer)
        yield mock


def planned(stop: Stop) -> tuple:
    stop.refresh_from_db()
    return stop.planned_arrival_at, stop.planned_departure_at


def test_google_routes_through_the_stops_in_order_with_a_leg_per_stop(google, milk_run):
    load, (pickup, indy, cincy), start = milk_run

    route = optimize_load_route(load, vehicle=VehicleFactory(), by=None)

    [call] = google.calls
    query = parse_qs(urlparse(call.request.url).query)
    assert query["origin"] == ["41.8781,-87.6298"]
    assert query["waypoints"] == ["39.7684,-86.1581"]  # the middle stop, a stopover
    assert query["destination"] == ["39.1031,-84.512"]
    # Google is asked for the departure after loading at the first stop.
    assert query["departure_time"] == [str(int((start + 45 * MINUTE).timestamp()))]
    route.refresh_from_db()
    assert route.provider == RouteProvider.GOOGLE_MAPS
    assert (route.distance_m, route.duration_s, route.duration_in_traffic_s) == (470_000, 16_800, None)
    assert route.origin.coords == pickup.location.coords
    assert route.destination.coords == cincy.location.coords
    assert [step["instruction"] for step in route.steps] == [
        "Head south on S State St",
        "Merge onto I-65 S",
        "Take I-74 E toward Cincinnati",
        "Turn right onto Vine St",
    ]
    # Indianapolis is the path's third vertex: the first leg ends there.
    indy_fraction = planar_fractions(route.path.coords)[2]
    assert [
        (leg["stop_id"], leg["sequence"], leg["distance_m"], leg["duration_s"], leg["end_fraction"])
        for leg in route.legs
    ] == [
        (str(pickup.pk), 1, 0, 0, 0.0),
        (str(indy.pk), 2, 290_000, 10_200, pytest.approx(indy_fraction)),
        (str(cincy.pk), 3, 180_000, 6_600, 1.0),
    ]
    assert [leg["service_s"] for leg in route.legs] == [45 * 60, 30 * 60, 20 * 60]


def test_the_stops_are_planned_from_the_route_with_waits_and_service(google, milk_run):
    load, (pickup, indy, cincy), start = milk_run

    route = optimize_load_route(load, vehicle=VehicleFactory(), by=None)

    # Loading 45 min; 2 h 50 min to Indianapolis, where the window opens at +5 h; 30 min there
    # (the default); 1 h 50 min to Cincinnati, whose window opens at +8 h; 20 min there.
    expected = [
        (start, start + 45 * MINUTE),
        (start + 3 * HOUR + 35 * MINUTE, start + 5 * HOUR + 30 * MINUTE),
        (start + 7 * HOUR + 20 * MINUTE, start + 8 * HOUR + 20 * MINUTE),
    ]
    assert [planned(stop) for stop in (pickup, indy, cincy)] == expected
    assert [(leg["planned_arrival_at"], leg["planned_departure_at"]) for leg in route.legs] == [
        (rfc3339(a), rfc3339(d)) for a, d in expected
    ]
    audits = AuditLog.objects.filter(table_name="load_stops", action=AuditAction.UPDATE).order_by(
        "created_at"
    )
    assert [(row.record_id, row.changed_data["planned_arrival_at"][1]) for row in audits] == [
        (str(stop.pk), rfc3339(arrival))
        for stop, (arrival, _) in zip((pickup, indy, cincy), expected, strict=True)
    ]
    # The score's slack is the delivery appointment (+10 h) less the planned arrival at the last
    # stop, waits and service between included: 2 h 40 min, not the bare drive's 4 h 35 min.
    assert route.score_explanation["slack"]["arrival_at"] == rfc3339(expected[-1][0])
    assert route.score_explanation["slack"]["slack_s"] == (2 * HOUR + 40 * MINUTE).total_seconds()
    event = OutboxEvent.objects.get(type="ROUTE_OPTIMIZED")
    assert event.envelope["data"]["stops"] == [
        {
            "stop_id": str(stop.pk),
            "sequence": stop.sequence,
            "leg_distance_m": leg_m,
            "leg_duration_s": leg_s,
            "planned_arrival_at": rfc3339(arrival),
            "planned_departure_at": rfc3339(departure),
        }
        for stop, leg_m, leg_s, (arrival, departure) in zip(
            (pickup, indy, cincy), (0, 290_000, 180_000), (0, 10_200, 6_600), expected, strict=True
        )
    ]


def test_routing_again_with_the_same_plan_writes_no_stop_audit_rows(google, milk_run):
    load, _stops, _start = milk_run
    optimize_load_route(load, vehicle=VehicleFactory(), by=None)
    audits = AuditLog.objects.filter(table_name="load_stops", action=AuditAction.UPDATE).count()

    optimize_load_route(load, vehicle=VehicleFactory(), by=None)  # Google's answer is cached

    assert AuditLog.objects.filter(table_name="load_stops", action=AuditAction.UPDATE).count() == audits == 3
    assert Route.objects.filter(load=load).count() == 2


def test_without_a_key_the_fallback_goes_through_every_stop(settings, milk_run):
    settings.GOOGLE_MAPS_API_KEY = None
    load, (pickup, indy, cincy), start = milk_run

    with responses.RequestsMock() as mock:
        route = optimize_load_route(load, vehicle=VehicleFactory(), by=None)
        assert len(mock.calls) == 0

    first_m, _ = estimate_road_trip(pickup.location, indy.location)
    second_m, _ = estimate_road_trip(indy.location, cincy.location)
    speed_ms = settings.ROUTING_AVERAGE_SPEED_KMH / 3.6
    first_s, second_s = round(first_m / speed_ms), round(second_m / speed_ms)
    assert route.provider == RouteProvider.GREAT_CIRCLE
    assert route.path.coords == (pickup.location.coords, indy.location.coords, cincy.location.coords)
    assert (route.distance_m, route.duration_s) == (first_m + second_m, first_s + second_s)
    assert [(leg["distance_m"], leg["duration_s"]) for leg in route.legs] == [
        (0, 0),
        (first_m, first_s),
        (second_m, second_s),
    ]
    assert [leg["end_fraction"] for leg in route.legs] == [
        0.0,
        pytest.approx(planar_fractions(route.path.coords)[1]),
        1.0,
    ]
    assert route.score_explanation["fallback_reason"] == "no_api_key"
    arrival = start + 45 * MINUTE + datetime.timedelta(seconds=first_s)
    assert planned(indy)[0] == arrival
    departure = max(arrival, start + 5 * HOUR) + 30 * MINUTE
    assert planned(cincy)[0] == departure + datetime.timedelta(seconds=second_s)


def test_stops_moved_while_google_answers_refuse_the_route_and_write_nothing(settings, milk_run):
    settings.GOOGLE_MAPS_API_KEY = "AIzaTestKeyForRecordedAnswers"
    load, (_pickup, indy, _cincy), _start = milk_run
    answer = json.loads((FIXTURES / "directions_two_legs.json").read_text())

    def reorder_meanwhile(request):
        Stop.objects.filter(pk=indy.pk).update(location=Point(-86.0, 40.0, srid=4326))
        return 200, {}, json.dumps(answer)

    with responses.RequestsMock() as mock:
        mock.add_callback(responses.GET, DIRECTIONS_URL, callback=reorder_meanwhile)
        with pytest.raises(StopsChanged):
            optimize_load_route(load, vehicle=VehicleFactory(), by=None)

    assert not Route.objects.filter(load=load).exists()
    assert not Stop.objects.filter(load=load, planned_arrival_at__isnull=False).exists()
    assert not OutboxEvent.objects.filter(type="ROUTE_OPTIMIZED").exists()
    assert not AuditLog.objects.filter(table_name__in=["routes"]).exists()
    assert not AuditLog.objects.filter(table_name="load_stops", action=AuditAction.UPDATE).exists()
