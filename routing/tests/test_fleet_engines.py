"""Both fleet-plan engines (routing.fleet_engines: VROOM and OR-Tools) on small fleets whose best
plan is known, and the plan's own check (routing.fleet.route_violations) that every route of
either engine passes before it is proposed.

Geography as in test_fleet: points along the 40th parallel, one degree of longitude ~102 km of
road, ~1.16 h of driving.
"""

import dataclasses
import datetime
from decimal import Decimal

import pytest
from django.utils import timezone

from routing import fleet, fleet_engines
from routing.fleet_engines import TruckRoute, Visit
from routing.models import FleetPlan, FleetPlanStatus
from routing.tests.factories import fleet_request
from routing.tests.test_fleet import _brute_force_distance, drove_today, idle, load, loads_of, truck, unserved

pytestmark = pytest.mark.django_db

HOUR = datetime.timedelta(hours=1)


@pytest.fixture(params=fleet_engines.ENGINES)
def engine(request) -> str:
    return request.param


def plan(engine: str, **overrides) -> dict:
    return fleet.plan_fleet(fleet_request(**overrides), engine=engine)


def test_a_load_only_one_truck_reaches_in_its_window_goes_to_it(engine):
    # The clock runs at the rest-aware pace (x1.78 in 14-hour stretches): a degree of driving
    # takes ~2.1 h. The urgent load, whose pickup closes in 2 hours, is within reach of the east
    # truck only (0.6 degree; the west one is 1.4 away). The other load is nearer the east truck
    # too, but it cannot do both (the urgent one goes 3.6 degrees further east), so the west
    # truck takes it.
    west, _ = truck(-95.0)
    east, _ = truck(-93.0)
    urgent = load(-93.6, -90.0, pickup_in=0)
    other = load(-93.4, -92.5, pickup_in=2)

    result = plan(engine)

    assert loads_of(result) == {
        east.vehicle_number: [urgent.load_number],
        west.vehicle_number: [other.load_number],
    }
    assert result["unserved"] == []


def test_capacity_forces_the_loads_onto_two_trucks(engine):
    # Both loads are next to the big truck, picked up within the same two hours; the heavy one
    # fits only the big truck, which cannot do both in time, so the light one goes to the small
    # truck a degree away.
    small, _ = truck(-96.0, capacity_weight=Decimal("10000"))
    big, _ = truck(-95.0, capacity_weight=Decimal("30000"))
    heavy = load(-95.0, -94.0, weight=Decimal("25000"))
    light = load(-95.1, -96.0, weight=Decimal("8000"))

    result = plan(engine)

    assert loads_of(result) == {
        big.vehicle_number: [heavy.load_number],
        small.vehicle_number: [light.load_number],
    }


def test_a_tendered_load_goes_to_its_carrier_and_the_other_truck_takes_the_rest(engine):
    ours, _ = truck(-95.0)
    theirs, _ = truck(-94.2)
    tendered = load(-95.0, -94.0, carrier=theirs.carrier)
    open_load = load(-95.1, -96.0)

    result = plan(engine)

    assert loads_of(result) == {
        theirs.vehicle_number: [tendered.load_number],
        ours.vehicle_number: [open_load.load_number],
    }


def test_one_truck_chains_loads_and_the_saturated_one_is_reported(engine):
    # One truck, three loads picked up at the same hour: it can serve one of them only.
    vehicle, _ = truck(-95.0)
    near = load(-95.0, -94.0, pickup_in=1)
    load(-95.5, -94.5, pickup_in=1)
    load(-94.5, -93.5, pickup_in=1)

    result = plan(engine)

    assert loads_of(result) == {vehicle.vehicle_number: [near.load_number]}
    assert sorted(unserved(result).values()) == ["fleet_saturated", "fleet_saturated"]


def test_a_tired_driver_departs_after_the_rest_and_keeps_every_window(engine):
    _, tired = truck(-95.0)
    drove_today(tired, 11)
    tomorrow = load(-95.0, -94.0, pickup_in=14)

    (route,) = plan(engine)["routes"]

    assert route["load_ids"] == [str(tomorrow.pk)]
    assert datetime.datetime.fromisoformat(route["depart_at"]) >= timezone.now() + 9.5 * HOUR
    for stop in route["stops"]:
        assert datetime.datetime.fromisoformat(stop["arrive_by"]) <= datetime.datetime.fromisoformat(
            stop["window_end"]
        )


def test_the_least_distance_a_brute_force_finds(engine):
    trucks = [truck(lon)[0] for lon in (-96.0, -93.2, -90.5)]
    spread = [(-95.5, -94.0), (-93.0, -96.2), (-91.0, -92.5), (-94.2, -90.8)]
    loads = [load(a, b, pickup_in=1, deliver_within=150) for a, b in spread]

    result = plan(engine, pickup_window=100 * HOUR, horizon=168 * HOUR)

    assert result["unserved"] == []
    assert result["summary"]["distance_m"] == _brute_force_distance(trucks, loads)


# --------------------------------------------------------------------------- the plan's own check


def as_checked(request) -> dict:
    """Plans `request` with VROOM and returns what the plan's own check (route_violations) was
    given for its last route: crew, the engine's route, the loads, request, pace."""
    captured = {}
    original = fleet.route_violations

    def spy(crew, route, feasible, request, pace):
        captured.update(crew=crew, route=route, feasible=feasible, request=request, pace=pace)
        return original(crew, route, feasible, request, pace)

    fleet.route_violations = spy
    try:
        fleet.plan_fleet(request, engine="vroom")
    finally:
        fleet.route_violations = original
    return captured


@pytest.fixture
def solved():
    """A one-truck, one-load plan as the check sees it."""
    truck(-95.0)
    load(-95.0, -94.0, pickup_in=3)
    return as_checked(fleet_request())


def _broken(route: TruckRoute, how: str) -> TruckRoute:
    pickup, delivery = route.visits
    if how == "delivered before picked up":
        return dataclasses.replace(route, visits=[delivery, pickup])
    if how == "never delivered":
        return dataclasses.replace(route, visits=[pickup])
    if how == "too soon for the drive":
        return dataclasses.replace(
            route, visits=[pickup, dataclasses.replace(delivery, at_s=pickup.at_s + 60)]
        )
    if how == "pickup before its window":
        early = pickup.at_s - 3 * 3600
        return dataclasses.replace(
            route, depart_s=0, visits=[dataclasses.replace(pickup, at_s=early), delivery]
        )
    if how == "delivered late":
        late = 100 * 3600
        return dataclasses.replace(route, visits=[pickup, dataclasses.replace(delivery, at_s=late)])
    if how == "two loads on board":
        second = Visit(shipment=pickup.shipment, pickup=True, at_s=pickup.at_s + 3600)
        return dataclasses.replace(route, visits=[pickup, second, delivery])
    raise AssertionError(how)


@pytest.mark.parametrize(
    ("how", "says"),
    [
        ("delivered before picked up", "delivered without being on board"),
        ("never delivered", "is never delivered"),
        ("too soon for the drive", "too soon after the previous stop"),
        ("pickup before its window", "pickup outside its window"),
        ("delivered late", "delivered after its appointment"),
        ("two loads on board", "on board"),
    ],
)
def test_the_check_catches_a_broken_route(solved, how, says):
    assert fleet.route_violations(**solved) == []

    problems = fleet.route_violations(**{**solved, "route": _broken(solved["route"], how)})

    assert any(says in problem for problem in problems), problems


def test_the_check_catches_a_truck_too_small_and_a_driver_out_of_cycle_hours(solved):
    crew = solved["crew"]
    crew.vehicle.capacity_weight = Decimal("1")
    spent = dataclasses.replace(crew, cycle_driving_s=60)

    problems = fleet.route_violations(**{**solved, "crew": spent})

    assert any("more than the truck carries" in problem for problem in problems)
    assert any("more than the 0.0 h left" in problem for problem in problems)
    assert fleet.route_violations(**solved) != []  # the small truck alone


def test_a_plan_that_breaks_a_rule_is_failed_not_proposed(monkeypatch):
    from routing import services

    truck(-95.0)
    load(-95.0, -94.0, pickup_in=3)
    original = fleet_engines.solve

    def early_delivery(model, *, engine, time_limit_s):
        routes = original(model, engine=engine, time_limit_s=time_limit_s)
        pickup, delivery = routes[0].visits
        return [
            dataclasses.replace(routes[0], visits=[pickup, dataclasses.replace(delivery, at_s=pickup.at_s)])
        ]

    monkeypatch.setattr(fleet_engines, "solve", early_delivery)

    requested = services.request_fleet_plan(fleet_request(), by=None)
    with pytest.raises(fleet.PlanInvalid):
        services.solve_fleet_plan(requested.pk, by=None)

    requested.refresh_from_db()
    assert requested.status == FleetPlanStatus.FAILED
    assert requested.error["code"] == "plan_invalid"
    assert FleetPlan.objects.filter(status=FleetPlanStatus.PROPOSED).count() == 0


def test_a_driver_whose_rest_outlasts_the_plan_is_simply_not_used(engine):
    # The tired driver's rest ends ~10 hours from now, after every window of this short plan.
    tired_truck, tired = truck(-95.0)
    drove_today(tired, 11)
    rested_truck, _ = truck(-95.5)
    soon = load(-95.0, -94.5, pickup_in=0.5, deliver_within=4)

    result = plan(engine, horizon=1 * HOUR)

    assert loads_of(result) == {rested_truck.vehicle_number: [soon.load_number]}
    assert idle(result) == {tired_truck.vehicle_number: "not_needed"}
