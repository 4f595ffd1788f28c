"""`manage.py simulate_fleet`: its path generation as pure functions, and one short run against a
live server through the public API."""

import math
import random
from io import StringIO

import pytest
from django.contrib.auth.models import Group
from django.contrib.gis.geos import LineString, Point
from django.core.management import call_command
from django.core.management.base import CommandError
from rest_framework.authtoken.models import Token

from fleet.models import Vehicle
from fleet.tests.factories import VehicleFactory
from loads.management.commands.simulate_fleet import (
    APPROACH_KMH,
    APPROACH_M,
    Api,
    Command,
    Leg,
    LonLat,
    SimulatedVehicle,
    along,
    bearing_deg,
    distance_m,
    interpolate,
    path_length_m,
    plan_path,
    with_noise,
)
from loads.models import StopEvent, StopKind
from loads.tests.factories import load_in
from routing.tests.factories import straight_route
from tms.api_defaults import ROLES
from tms.geo import great_circle_m
from tms.tests.served import served

CHICAGO = LonLat(-87.6298, 41.8781)
INDIANAPOLIS = LonLat(-86.1581, 39.7684)


def east_of(point: LonLat, metres: float) -> LonLat:
    return LonLat(point.lon + metres / (111_320.0 * math.cos(math.radians(point.lat))), point.lat)


# --- Geometry ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (CHICAGO, INDIANAPOLIS),
        (LonLat(-118.24, 34.05), LonLat(-74.0, 40.71)),
        (LonLat(0, 0), LonLat(0, 0)),
        (LonLat(179.9, 10), LonLat(-179.9, 10)),
    ],
)
def test_distance_matches_the_projects_great_circle(a, b):
    assert distance_m(a, b) == pytest.approx(great_circle_m(Point(*a), Point(*b)), abs=1e-6)


@pytest.mark.parametrize(
    ("b", "expected"),
    [
        (LonLat(0, 1), 0.0),
        (LonLat(1, 0), 90.0),
        (LonLat(0, -1), 180.0),
        (LonLat(-1, 0), 270.0),
        (LonLat(1, 1), 45.0),
    ],
)
def test_bearing_is_clockwise_from_north(b, expected):
    assert bearing_deg(LonLat(0, 0), b) == pytest.approx(expected, abs=0.01)


@pytest.mark.parametrize(
    ("a", "b", "fraction", "expected"),
    [
        (CHICAGO, INDIANAPOLIS, 0.0, CHICAGO),
        (CHICAGO, INDIANAPOLIS, 1.0, INDIANAPOLIS),
        (LonLat(0, 0), LonLat(10, 0), 0.5, LonLat(5, 0)),
        (LonLat(0, 0), LonLat(0, 10), 0.25, LonLat(0, 2.5)),
        # The great circle between two points on the 45th parallel, half a world apart, crosses the pole.
        (LonLat(-90, 45), LonLat(90, 45), 0.5, LonLat(0, 90)),
    ],
)
def test_interpolation_follows_the_great_circle(a, b, fraction, expected):
    point = interpolate(a, b, fraction)
    assert distance_m(point, expected) < 0.01


def test_the_midpoint_is_halfway_by_distance():
    mid = interpolate(CHICAGO, INDIANAPOLIS, 0.5)
    half = distance_m(CHICAGO, INDIANAPOLIS) / 2
    assert distance_m(CHICAGO, mid) == pytest.approx(half, abs=0.01)
    assert distance_m(mid, INDIANAPOLIS) == pytest.approx(half, abs=0.01)


def test_along_walks_a_polyline_and_clamps_at_its_ends():
    path = [LonLat(0, 0), LonLat(0, 1), LonLat(1, 1)]
    first = distance_m(path[0], path[1])

    assert along(path, -5) == (LonLat(0, 0), 0.0)
    position, heading = along(path, first / 2)
    assert distance_m(position, LonLat(0, 0.5)) < 0.01 and heading == pytest.approx(0.0)
    position, heading = along(path, first + 1000)
    assert distance_m(position, path[1]) == pytest.approx(1000, abs=0.01)
    assert heading == pytest.approx(90.0, abs=0.01)
    assert along(path, path_length_m(path) + 5)[0] == LonLat(1, 1)


def test_noise_is_a_few_metres_and_repeatable_with_a_seed():
    rng = random.Random(1)
    offsets = [distance_m(CHICAGO, with_noise(CHICAGO, 8.0, rng)) for _ in range(2000)]

    # The distance from a 2-D Gaussian with sigma 8 m per axis is Rayleigh: mean 8 * sqrt(pi / 2).
    assert sum(offsets) / len(offsets) == pytest.approx(8.0 * math.sqrt(math.pi / 2), rel=0.05)
    assert max(offsets) < 8.0 * 6
    assert with_noise(CHICAGO, 8.0, random.Random(3)) == with_noise(CHICAGO, 8.0, random.Random(3))


def test_a_path_joins_the_route_at_its_vertex_nearest_to_the_truck():
    route = [CHICAGO, LonLat(-87.2, 41.2), LonLat(-86.8, 40.6), LonLat(-86.4, 40.1), INDIANAPOLIS]
    truck = LonLat(-86.85, 40.62)

    assert plan_path(truck, INDIANAPOLIS, route) == [truck, *route[2:], INDIANAPOLIS]
    assert plan_path(truck, INDIANAPOLIS, None) == [truck, INDIANAPOLIS]
    assert plan_path(truck, INDIANAPOLIS, []) == [truck, INDIANAPOLIS]


# --- Trucks --------------------------------------------------------------------------------------

CRUISE = 88.0
TEN_KM = east_of(CHICAGO, 10_000)
TRIP_M = distance_m(TEN_KM, CHICAGO)
# At 88 km/h, then the last kilometre at 30 km/h.
TIME_TO_ARRIVE = (TRIP_M - APPROACH_M) / (CRUISE / 3.6) + APPROACH_M / (APPROACH_KMH / 3.6)


def truck(dwell_s: float = 600) -> SimulatedVehicle:
    return SimulatedVehicle(
        id="v1", vehicle_number="T1", position=TEN_KM, legs=[Leg([TEN_KM, CHICAGO], dwell_s, "pickup")]
    )


@pytest.mark.parametrize(
    ("seconds", "travelled_m", "state", "speed_kmh"),
    [
        (0, 0, "driving", 0),
        (60, CRUISE / 3.6 * 60, "driving", CRUISE),
        (TIME_TO_ARRIVE - 60, TRIP_M - APPROACH_KMH / 3.6 * 60, "driving", APPROACH_KMH),
        (TIME_TO_ARRIVE + 1, TRIP_M, "at facility", 0),
        (TIME_TO_ARRIVE + 600, TRIP_M, "idle", 0),
    ],
)
def test_a_truck_cruises_slows_for_the_last_kilometre_and_waits(seconds, travelled_m, state, speed_kmh):
    vehicle = truck()
    vehicle.advance(seconds, CRUISE)

    assert vehicle.state == state
    assert vehicle.speed_kmh == pytest.approx(speed_kmh)
    if state != "idle":
        assert vehicle.travelled_m == pytest.approx(travelled_m, abs=0.01)
    assert distance_m(vehicle.position, CHICAGO) == pytest.approx(TRIP_M - travelled_m, abs=0.01)


def test_small_steps_and_one_big_step_end_in_the_same_place():
    stepped, jumped = truck(), truck()
    for _ in range(300):
        stepped.advance(1.0, CRUISE)
    jumped.advance(300.0, CRUISE)

    assert distance_m(stepped.position, jumped.position) < 0.01


def test_a_truck_reports_arriving_and_leaving_then_takes_the_next_leg():
    vehicle = truck(dwell_s=600)
    vehicle.legs.append(Leg([CHICAGO, INDIANAPOLIS], 0, "delivery"))

    happened = vehicle.advance(TIME_TO_ARRIVE + 600 + 3600, CRUISE)

    assert happened == ["T1 arrives at pickup", "T1 leaves pickup"]
    assert [leg.label for leg in vehicle.legs] == ["delivery"]
    assert distance_m(vehicle.position, CHICAGO) == pytest.approx(CRUISE / 3.6 * 3600, abs=1.0)
    assert 90 < vehicle.heading < 180  # south-east, towards Indianapolis


# --- A short run against a live server -----------------------------------------------------------


@pytest.fixture
def _roles(transactional_db):
    """Transactional tests empty the tables the role migration filled."""
    for role in ROLES:
        Group.objects.get_or_create(name=role)


@pytest.fixture
def demo_fleet(_roles, dispatcher_user):
    """An assigned load whose truck is 10 km east of the pickup, and one truck without a load."""
    load = load_in("ASSIGNED")
    Vehicle.objects.filter(pk=load.vehicle_id).update(current_location=Point(*TEN_KM, srid=4326))
    idle = VehicleFactory(current_location=Point(*INDIANAPOLIS, srid=4326))
    token, _ = Token.objects.get_or_create(user=dispatcher_user)
    return load, idle, token.key


def run_simulation(live_server, token: str) -> str:
    out = StringIO()
    call_command(
        "simulate_fleet",
        f"--base-url={live_server.url}",
        f"--token={token}",
        "--speedup=600",
        "--interval=0.5",
        "--duration=3",
        "--seed=1",
        stdout=out,
    )
    return out.getvalue()


def test_a_short_run_drives_the_fleet_through_the_api(live_server, demo_fleet):
    load, idle, token = demo_fleet

    output = run_simulation(live_server, token)

    assert "simulating 2 vehicles (1 on loads) at x600" in output
    ticks = [line for line in output.splitlines() if line.startswith("tick ")]
    assert ticks and all("sent 2/2" in line and line.endswith("errors 0") for line in ticks), ticks
    assert "arrives at pickup of " + load.load_number in output
    assert output.rstrip().splitlines()[-1].startswith("stopped after ")
    truck = Vehicle.objects.get(pk=load.vehicle_id)
    assert great_circle_m(truck.current_location, load.shipper.location) < 100
    idle.refresh_from_db()
    assert idle.location_updated_at is not None


def test_against_the_served_app_it_finds_the_batch_endpoint(demo_fleet):
    """uvicorn sends header names in lower case: `Allow` must be read as HTTP reads it."""
    _load, _idle, token = demo_fleet
    out = StringIO()
    with served() as address:
        call_command(
            "simulate_fleet", f"--base-url=http://{address}", f"--token={token}", "--duration=0.5", stdout=out
        )
    assert "via POST /api/tracking/batch" in out.getvalue()


def test_without_a_batch_endpoint_each_vehicle_puts_its_fix_and_the_geofence_sees_it(
    live_server, demo_fleet, monkeypatch
):
    load, _idle, token = demo_fleet
    monkeypatch.setattr(Api, "allows", lambda self, path, method: False)

    output = run_simulation(live_server, token)

    assert "via PUT /api/vehicles/{id}/location" in output
    assert all(line.endswith("errors 0") for line in output.splitlines() if line.startswith("tick ")), output
    # Each fix went through the outbox to the geofence consumer: the truck is at the pickup.
    stop = StopEvent.objects.get(load=load)
    assert (stop.kind, stop.vehicle_id, stop.departed_at) == (StopKind.PICKUP, load.vehicle_id, None)


def test_a_wrong_password_is_a_clear_error(live_server, demo_fleet):
    with pytest.raises(CommandError, match="logging in as dispatcher-user failed"):
        call_command(
            "simulate_fleet",
            f"--base-url={live_server.url}",
            "--username=dispatcher-user",
            "--password=wrong",
            "--duration=1",
        )


def test_an_unreachable_server_is_a_clear_error():
    with pytest.raises(CommandError, match=r"cannot reach http://127\.0\.0\.1:9"):
        call_command("simulate_fleet", "--base-url=http://127.0.0.1:9", "--token=x", "--duration=1")


def test_a_truck_follows_its_own_loads_route(live_server, demo_fleet):
    load, _, token = demo_fleet
    other = load_in("ASSIGNED")
    straight_route(load, vehicle=load.vehicle, driver=load.driver)
    elsewhere = straight_route(other, vehicle=other.vehicle, driver=other.driver)  # newer: listed first
    elsewhere.path = LineString(INDIANAPOLIS, CHICAGO, srid=4326)
    elsewhere.save(update_fields=["path"])
    command = Command()
    command.api = Api(live_server.url, token)

    path = command._route(str(load.pk))

    assert path == [LonLat(*load.pickup_location.coords), LonLat(*load.delivery_location.coords)]
