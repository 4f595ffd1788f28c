"""optimize_load_route: the route, its costs and score, history, audit and event; the score and cost
arithmetic as tables."""

import datetime
import json
from decimal import Decimal
from pathlib import Path

import pytest
import responses
from django.utils import timezone

from drivers.tests.factories import DriverFactory
from events.models import AuditAction, AuditLog, OutboxEvent
from fleet.tests.factories import VehicleFactory
from loads.tests.factories import LoadFactory, load_in
from routing.maps import NoRoadRoute
from routing.models import Route, RouteProvider
from routing.services import SCORE_FORMULA, optimize_load_route, route_costs, route_score
from tms.exceptions import BusinessRuleViolation
from tms.geo import estimate_road_trip, great_circle_m
from tms.tests.factories import UserFactory

DIRECTIONS_URL = "https://maps.googleapis.com/maps/api/directions/json"
FIXTURES = Path(__file__).parent / "fixtures"
T0 = datetime.datetime(2026, 12, 1, 8, 0, tzinfo=datetime.UTC)


def directions(name: str) -> dict:
    return json.loads((FIXTURES / f"directions_{name}.json").read_text())


# --- The score -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("distance_m", "duration_in_traffic_s", "window_s", "score"),
    [
        # straight line, no delay, exactly the target slack (3600 s drive + 7200 s)
        (100_000, 3600, 10_800, "100.00"),
        # detour ratio 1.5 -> 0.5; no traffic figure -> 1; slack 3600 / 7200 -> 0.5
        (150_000, None, 7200, "65.00"),
        # ratio 2 -> 0; traffic doubles the time -> 0; arrives late -> 0
        (200_000, 7200, 7000, "0.00"),
        # worse than twice the straight line still 0
        (350_000, 9000, 3600, "0.00"),
        # ratio 1.2 -> 0.8; traffic 1.1 -> 0.9; slack 1800 / 7200 -> 0.25
        (120_000, 3960, 5760, "66.50"),
        # ratio 1.1 -> 0.9; traffic 1.25 -> 0.75; slack 5400 / 7200 -> 0.75
        (110_000, 4500, 9900, "81.00"),
        # shorter than the great circle and faster than free flow both clamp to 1
        (90_000, 3000, 100_000, "100.00"),
        # ratio 1.3333 -> 0.66667; traffic 1 -> 1; slack 0 (on time, no margin) -> 0
        (133_333, 3600, 3600, "56.67"),
    ],
)
def test_the_score_formula(distance_m, duration_in_traffic_s, window_s, score):
    value, explanation = route_score(
        distance_m=distance_m,
        great_circle_distance_m=100_000,
        duration_s=3600,
        duration_in_traffic_s=duration_in_traffic_s,
        departure_at=T0,
        delivery_datetime=T0 + datetime.timedelta(seconds=window_s),
        slack_target_s=7200,
    )
    assert value == Decimal(score)
    assert explanation["score"] == float(score)
    assert explanation["formula"] == SCORE_FORMULA
    assert {"weight", "value", "ratio"} <= set(explanation["detour"])
    assert (
        explanation["detour"]["weight"] + explanation["traffic"]["weight"] + explanation["slack"]["weight"]
        == 1
    )


def test_the_score_explains_its_parts():
    _, explanation = route_score(
        distance_m=120_000,
        great_circle_distance_m=100_000,
        duration_s=3600,
        duration_in_traffic_s=3960,
        departure_at=T0,
        delivery_datetime=T0 + datetime.timedelta(seconds=5760),
        slack_target_s=7200,
    )
    assert explanation["detour"] == {
        "weight": 0.4,
        "value": 0.8,
        "distance_m": 120_000,
        "great_circle_m": 100_000,
        "ratio": 1.2,
    }
    assert explanation["traffic"] == {
        "weight": 0.3,
        "value": 0.9,
        "duration_s": 3600,
        "duration_in_traffic_s": 3960,
        "ratio": 1.1,
    }
    assert explanation["slack"]["slack_s"] == 1800
    assert explanation["slack"]["value"] == 0.25


def test_a_zero_length_trip_scores_its_detour_as_perfect():
    value, explanation = route_score(
        distance_m=0,
        great_circle_distance_m=0,
        duration_s=0,
        duration_in_traffic_s=None,
        departure_at=T0,
        delivery_datetime=T0 + datetime.timedelta(hours=3),
        slack_target_s=7200,
    )
    assert value == Decimal("100.00")
    assert explanation["detour"]["ratio"] == 1.0


# --- Costs ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("distance_m", "consumption", "price", "toll_rate", "fuel_l", "fuel_cost", "toll"),
    [
        (290_000, "32.5", "1.10", "0.07", "94.3", "103.73", "20.30"),
        (100_000, "35.0", "1.05", "0.05", "35.0", "36.75", "5.00"),
        (12_345, "33.3", "1.05", "0.05", "4.1", "4.31", "0.62"),
        (0, "35.0", "1.05", "0.05", "0.0", "0.00", "0.00"),
    ],
)
def test_fuel_and_toll_estimates(
    settings, distance_m, consumption, price, toll_rate, fuel_l, fuel_cost, toll
):
    settings.ROUTING_FUEL_PRICE_PER_L = price
    settings.ROUTING_TOLL_RATE_PER_KM = toll_rate
    vehicle = VehicleFactory.build(fuel_consumption_l_per_100km=Decimal(consumption))

    assert route_costs(distance_m=distance_m, vehicle=vehicle) == {
        "fuel_estimate_l": Decimal(fuel_l),
        "fuel_cost_estimate": Decimal(fuel_cost),
        "toll_estimate": Decimal(toll),
    }


# --- The service ---------------------------------------------------------------------------------


@pytest.fixture
def google(settings):
    settings.GOOGLE_MAPS_API_KEY = "AIzaTestKeyForRecordedAnswers"
    settings.ROUTING_FUEL_PRICE_PER_L = "1.10"
    settings.ROUTING_TOLL_RATE_PER_KM = "0.07"
    settings.ROUTING_SCORE_SLACK_TARGET_S = 7200
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.get(DIRECTIONS_URL, json=directions("ok"))
        yield mock


@pytest.fixture
def dispatcher_account(db):
    return UserFactory(username="route-planner")


def _optimize(load, vehicle, by, driver=None):
    return optimize_load_route(load=load, vehicle=vehicle, driver=driver, by=by)


def test_optimizing_a_load_stores_googles_route_with_costs_and_score(google, dispatcher_account):
    load = LoadFactory()
    vehicle = VehicleFactory(fuel_consumption_l_per_100km=Decimal("32.5"))
    driver = DriverFactory(carrier=vehicle.carrier)

    route = _optimize(load, vehicle, dispatcher_account, driver=driver)

    route.refresh_from_db()
    assert route.provider == RouteProvider.GOOGLE_MAPS
    assert (route.load, route.vehicle, route.driver, route.is_current) == (load, vehicle, driver, True)
    assert (route.distance_m, route.duration_s, route.duration_in_traffic_s) == (290_000, 10_200, 11_220)
    assert (route.fuel_estimate_l, route.fuel_cost_estimate, route.toll_estimate) == (
        Decimal("94.3"),
        Decimal("103.73"),
        Decimal("20.30"),
    )
    assert len(route.path.coords) == 5
    assert route.origin.coords == load.pickup_location.coords
    assert route.destination.coords == load.delivery_location.coords
    assert [step["instruction"] for step in route.steps] == [
        "Head south on S State St toward W Madison St",
        "Merge onto I-65 S. Toll road",
        "Turn left onto W Washington St & continue",
    ]
    assert [(step["distance_m"], step["duration_s"]) for step in route.steps] == [
        (1200, 200),
        (288_000, 9800),
        (800, 200),
    ]
    # detour from the great circle; traffic 11220 / 10200 = 1.1 -> 0.9; a day of slack -> 1
    gc = great_circle_m(load.pickup_location, load.delivery_location)
    detour = min(max(2 - Decimal(290_000) / Decimal(str(gc)), Decimal(0)), Decimal(1))
    expected = (100 * (Decimal("0.4") * detour + Decimal("0.27") + Decimal("0.3"))).quantize(Decimal("0.01"))
    assert route.score == expected
    assert route.score_explanation["traffic"]["value"] == 0.9
    assert route.score_explanation["slack"]["value"] == 1.0
    assert route.score_explanation["provider"] == RouteProvider.GOOGLE_MAPS
    assert route.score_explanation["fallback_reason"] == ""


def test_optimizing_records_the_audit_row_and_the_event(google, dispatcher_account):
    load = LoadFactory()
    vehicle = VehicleFactory()

    route = _optimize(load, vehicle, dispatcher_account)

    audit = AuditLog.objects.get(table_name="routes", record_id=str(route.pk))
    assert (audit.action, audit.user) == (AuditAction.CREATE, dispatcher_account)
    assert audit.changed_data["distance_m"] == 290_000
    event = OutboxEvent.objects.get(type="ROUTE_OPTIMIZED")
    assert (event.topic, event.subject) == ("tms.routes", str(route.pk))
    assert event.envelope["data"] == {
        "route_id": str(route.pk),
        "load_id": str(load.pk),
        "vehicle_id": str(vehicle.pk),
        "driver_id": None,
        "provider": "GOOGLE_MAPS",
        "distance_m": 290_000,
        "duration_s": 10_200,
        "score": float(route.score),
        "stops": [
            {
                "stop_id": leg["stop_id"],
                "sequence": leg["sequence"],
                "leg_distance_m": leg["distance_m"],
                "leg_duration_s": leg["duration_s"],
                "planned_arrival_at": leg["planned_arrival_at"],
                "planned_departure_at": leg["planned_departure_at"],
            }
            for leg in route.legs
        ],
    }
    assert [(stop["sequence"], stop["leg_distance_m"]) for stop in event.envelope["data"]["stops"]] == [
        (1, 0),
        (2, 290_000),
    ]


def test_re_optimizing_keeps_the_previous_route_as_history(google, dispatcher_account):
    load = LoadFactory()
    first = _optimize(load, VehicleFactory(), dispatcher_account)
    second = _optimize(load, VehicleFactory(), dispatcher_account)

    first.refresh_from_db()
    assert (first.is_current, second.is_current) == (False, True)
    assert Route.objects.filter(load=load).count() == 2
    superseded = AuditLog.objects.get(table_name="routes", record_id=str(first.pk), action=AuditAction.UPDATE)
    assert superseded.changed_data == {"is_current": [True, False]}
    assert OutboxEvent.objects.filter(type="ROUTE_OPTIMIZED").count() == 2


def test_without_a_key_the_route_is_the_great_circle_estimate(settings, dispatcher_account):
    settings.GOOGLE_MAPS_API_KEY = None
    load = LoadFactory()
    vehicle = VehicleFactory()

    with responses.RequestsMock() as mock:
        route = _optimize(load, vehicle, dispatcher_account)
        assert len(mock.calls) == 0

    distance_m, _hours = estimate_road_trip(load.pickup_location, load.delivery_location)
    assert route.provider == RouteProvider.GREAT_CIRCLE
    assert route.distance_m == distance_m
    assert route.duration_in_traffic_s is None
    assert len(route.path.coords) == 2
    assert route.score_explanation["fallback_reason"] == "no_api_key"


def test_a_past_due_load_is_scored_from_now(google, dispatcher_account):
    load = load_in("ASSIGNED", pickup_datetime=timezone.now() - datetime.timedelta(hours=2))

    route = _optimize(load, load.vehicle, dispatcher_account, driver=load.driver)

    departure = datetime.datetime.fromisoformat(route.score_explanation["slack"]["departure_at"])
    assert departure >= timezone.now() - datetime.timedelta(minutes=1)


@pytest.mark.parametrize("status", ["CANCELLED", "DELIVERED"])
def test_a_finished_load_is_not_routed(google, dispatcher_account, status):
    load = load_in(status)

    with pytest.raises(BusinessRuleViolation):
        _optimize(load, VehicleFactory(), dispatcher_account)

    assert len(google.calls) == 0
    assert not Route.objects.exists()
    assert not OutboxEvent.objects.filter(type="ROUTE_OPTIMIZED").exists()
    assert not AuditLog.objects.filter(table_name="routes").exists()


def test_no_road_route_leaves_nothing_behind(google, dispatcher_account):
    google.replace(responses.GET, DIRECTIONS_URL, json=directions("zero_results"))
    load = LoadFactory()
    previous = Route.objects.count()

    with pytest.raises(NoRoadRoute):
        _optimize(load, VehicleFactory(), dispatcher_account)

    assert Route.objects.count() == previous == 0
    assert not OutboxEvent.objects.filter(type="ROUTE_OPTIMIZED").exists()
