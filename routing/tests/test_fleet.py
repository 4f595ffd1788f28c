"""The fleet optimiser (routing.fleet.plan_fleet) on small fleets in the real database.

Geography: points along the 40th parallel in the Midwest. One degree of longitude there is about
85 km as the crow flies, 102 km of road (x1.2), 1.16 h at 88 km/h.
"""

import datetime
import itertools
from decimal import Decimal

import pytest
from django.contrib.gis.geos import Point
from django.utils import timezone

from drivers.tests.factories import DriverFactory, duty_log
from fleet.models import VehicleStatus
from fleet.tests.factories import CarrierFactory, VehicleFactory
from loads.tests.factories import FacilityFactory, LoadFactory
from routing.fleet import plan_fleet
from routing.tests.factories import fleet_request
from tms.geo import road_distance_m

pytestmark = pytest.mark.django_db

LAT = 40.0
HOUR = datetime.timedelta(hours=1)


def at(lon: float) -> Point:
    return Point(lon, LAT, srid=4326)


def truck(lon: float, carrier=None, **fields):
    """A truck at `lon` with a rested driver of its carrier standing next to it."""
    carrier = carrier or CarrierFactory()
    vehicle = VehicleFactory(carrier=carrier, current_location=at(lon), **fields)
    driver = DriverFactory(carrier=carrier, current_location=at(lon))
    return vehicle, driver


def load(from_lon: float, to_lon: float, *, pickup_in: float = 1, deliver_within: float = 12, **fields):
    """A CREATED load picked up `pickup_in` hours from now, due `deliver_within` hours after that."""
    pickup_datetime = timezone.now() + pickup_in * HOUR
    return LoadFactory(
        shipper=FacilityFactory(location=at(from_lon)),
        consignee=FacilityFactory(location=at(to_lon)),
        pickup_datetime=pickup_datetime,
        delivery_datetime=pickup_datetime + deliver_within * HOUR,
        **fields,
    )


def plan(**overrides) -> dict:
    return plan_fleet(fleet_request(**overrides))


def loads_of(result: dict) -> dict[str, list[str]]:
    """{unit number: [load numbers in order]}"""
    return {
        route["vehicle_number"]: [_number(result, pk) for pk in route["load_ids"]]
        for route in result["routes"]
    }


def _number(result: dict, load_id: str) -> str:
    for route in result["routes"]:
        for stop in route["stops"]:
            if stop["load_id"] == load_id:
                return stop["load_number"]
    raise AssertionError(load_id)


def unserved(result: dict) -> dict[str, str]:
    return {item["load_number"]: item["code"] for item in result["unserved"]}


def idle(result: dict) -> dict[str, str]:
    return {item["vehicle_number"]: item["code"] for item in result["idle_vehicles"]}


def test_each_truck_takes_the_load_next_to_it():
    west, _ = truck(-95.0)
    east, _ = truck(-85.0)
    near_west = load(-95.1, -93.0)
    near_east = load(-85.1, -87.0)

    result = plan()

    assert loads_of(result) == {
        west.vehicle_number: [near_west.load_number],
        east.vehicle_number: [near_east.load_number],
    }
    assert result["unserved"] == [] and result["idle_vehicles"] == []
    summary = result["summary"]
    assert (summary["loads_planned"], summary["vehicles_used"]) == (2, 2)
    # 0.1 degree of deadhead each (~10 km of road), ~2 degrees loaded each (~200 km).
    assert 15_000 < summary["deadhead_m"] < 25_000
    assert 380_000 < summary["loaded_m"] < 420_000
    assert summary["distance_m"] == summary["deadhead_m"] + summary["loaded_m"]


def test_a_route_is_pickup_then_delivery_one_load_at_a_time_inside_the_windows():
    _, driver = truck(-95.0)
    first = load(-95.0, -94.0, pickup_in=1)
    second = load(-94.0, -93.0, pickup_in=4)

    result = plan()

    (route,) = result["routes"]
    assert route["driver_id"] == str(driver.pk)
    assert [(stop["load_number"], stop["kind"]) for stop in route["stops"]] == [
        (first.load_number, "PICKUP"),
        (first.load_number, "DELIVERY"),
        (second.load_number, "PICKUP"),
        (second.load_number, "DELIVERY"),
    ]
    arrivals = [datetime.datetime.fromisoformat(stop["arrive_by"]) for stop in route["stops"]]
    assert arrivals == sorted(arrivals)
    for stop in route["stops"]:
        arrive = datetime.datetime.fromisoformat(stop["arrive_by"])
        if stop["kind"] == "PICKUP":
            assert datetime.datetime.fromisoformat(stop["window_start"]) <= arrive
        assert arrive <= datetime.datetime.fromisoformat(stop["window_end"])
    # The second pickup waits for its window: 4 h from now, not as soon as the truck is there.
    assert arrivals[2] >= second.pickup_datetime - datetime.timedelta(seconds=1)
    assert 0 < route["driving_hours"] <= route["cycle_hours_left"]


def test_a_heavy_load_goes_to_the_truck_that_carries_it_even_when_another_is_closer():
    small, _ = truck(-95.0, capacity_weight=Decimal("10000"))
    big, _ = truck(-94.2, capacity_weight=Decimal("30000"))
    heavy = load(-95.0, -94.0, weight=Decimal("25000"))

    result = plan()

    assert loads_of(result) == {big.vehicle_number: [heavy.load_number]}
    assert idle(result) == {small.vehicle_number: "not_needed"}


def test_a_load_heavier_than_every_truck_is_left_out_with_the_reason():
    truck(-95.0, capacity_weight=Decimal("10000"))
    heavy = load(-95.0, -94.0, weight=Decimal("25000"))

    result = plan()

    assert result["routes"] == []
    assert unserved(result) == {heavy.load_number: "over_capacity"}
    assert "25000.0 kg" in result["unserved"][0]["reason"]


def drove_today(driver, hours: float) -> None:
    """The driver came on duty `hours` + 1 ago and has driven `hours` since (with a break)."""
    start = timezone.now() - (hours + 1) * HOUR
    duty_log(
        driver, start, ("ON_DUTY", 0.5), ("DRIVING", hours / 2), ("OFF_DUTY", 0.5), ("DRIVING", hours / 2)
    )


def test_a_driver_near_the_end_of_their_hours_does_not_take_a_load_due_before_their_rest_ends():
    # The near truck's driver drove 9.5 h today: 1.5 h left, then a 10-hour rest. The load must be
    # picked up within 3 hours, so the truck a degree further, with a rested driver, takes it.
    tired_truck, tired = truck(-95.0)
    rested_truck, _ = truck(-96.0)
    drove_today(tired, 9.5)
    urgent = load(-95.0, -94.0)

    result = plan()

    assert loads_of(result) == {rested_truck.vehicle_number: [urgent.load_number]}
    assert idle(result) == {tired_truck.vehicle_number: "not_needed"}


def test_a_tired_driver_rests_first_and_then_takes_a_later_load():
    vehicle, tired = truck(-95.0)
    drove_today(tired, 11)
    urgent = load(-95.0, -94.0, pickup_in=1)
    tomorrow = load(-95.0, -94.0, pickup_in=14)

    result = plan()

    assert unserved(result) == {urgent.load_number: "pickup_unreachable"}
    assert "rests its driver needs" in result["unserved"][0]["reason"]
    (route,) = result["routes"]
    assert route["load_ids"] == [str(tomorrow.pk)]
    # The 10-hour rest comes before the drive to the pickup.
    assert datetime.datetime.fromisoformat(route["depart_at"]) >= timezone.now() + 9.5 * HOUR
    assert vehicle.vehicle_number == route["vehicle_number"]


def test_a_driver_at_the_end_of_their_cycle_gets_no_load():
    _, spent = truck(-95.0)
    # Eight days of 9 hours of driving: the 70-hour/8-day cycle is used up.
    start = timezone.now() - 8 * 24 * HOUR
    days = [entry for _ in range(8) for entry in (("DRIVING", 9), (None, 15))]
    duty_log(spent, start, *days)
    far = load(-95.0, -94.0, pickup_in=20, deliver_within=20)

    result = plan()

    assert unserved(result) == {far.load_number: "hours_of_service"}
    assert "60/70-hour cycle" in result["unserved"][0]["reason"]


def test_appointments_that_cannot_be_kept_are_reported():
    truck(-95.0)
    missed = load(-95.0, -94.0, pickup_in=-3)  # the 2-hour pickup window closed an hour ago
    too_far = load(-95.0, -90.0, pickup_in=1, deliver_within=3)  # ~5.8 h of driving in 3 h

    result = plan()

    assert unserved(result) == {
        missed.load_number: "pickup_passed",
        too_far.load_number: "delivery_unreachable",
    }


def test_shorter_stretches_between_rests_take_longer_and_can_miss_an_appointment():
    # ~3 degrees loaded: 3.5 h of driving. In 11-hour stretches the delivery 8 hours after the
    # pickup is kept; in 2-hour stretches the rests on the way make it late.
    vehicle, _ = truck(-95.0)
    trip = load(-95.0, -92.0, pickup_in=1, deliver_within=8)

    assert loads_of(plan()) == {vehicle.vehicle_number: [trip.load_number]}

    result = plan(shift=2 * HOUR)

    assert unserved(result) == {trip.load_number: "delivery_unreachable"}


def test_the_times_promised_include_the_rests_a_long_trip_needs():
    _, _ = truck(-95.0)
    # ~15 degrees, ~17.5 h of driving: at least one 10-hour rest on the way.
    long_haul = load(-95.0, -80.0, pickup_in=1, deliver_within=60)

    (route,) = plan()["routes"]

    pickup, delivery = (datetime.datetime.fromisoformat(stop["arrive_by"]) for stop in route["stops"])
    assert route["load_ids"] == [str(long_haul.pk)]
    assert delivery - pickup >= (17 + 10) * HOUR


def test_a_load_tendered_to_a_carrier_goes_to_one_of_its_trucks():
    ours, _ = truck(-95.0)
    theirs, _ = truck(-94.3)
    tendered = load(-95.0, -94.0, carrier=theirs.carrier)

    result = plan()

    assert loads_of(result) == {theirs.vehicle_number: [tendered.load_number]}
    assert idle(result) == {ours.vehicle_number: "not_needed"}


def test_trucks_without_a_driver_position_or_availability_are_idle_with_the_reason():
    carrier = CarrierFactory()
    lonely = VehicleFactory(carrier=carrier, current_location=at(-95.0))
    lost = VehicleFactory(current_location=None)
    busy = VehicleFactory(status=VehicleStatus.MAINTENANCE, current_location=at(-95.0))
    DriverFactory(carrier=busy.carrier)

    result = plan(vehicle_ids=[lonely.pk, lost.pk, busy.pk])

    assert idle(result) == {
        lonely.vehicle_number: "no_driver",
        lost.vehicle_number: "no_location",
        busy.vehicle_number: "not_available",
    }
    assert result["summary"]["vehicles_available"] == 0


def test_only_the_loads_and_trucks_asked_for_are_planned():
    chosen, _ = truck(-95.0)
    truck(-95.0)
    wanted = load(-95.0, -94.0)
    load(-95.0, -94.5)

    result = plan(load_ids=[wanted.pk], vehicle_ids=[chosen.pk])

    assert loads_of(result) == {chosen.vehicle_number: [wanted.load_number]}
    assert result["summary"]["loads_considered"] == 1


def _brute_force_distance(trucks, loads) -> int:
    """The least deadhead + loaded distance serving every load, over every assignment and order."""
    best = None
    for owners in itertools.product(range(len(trucks)), repeat=len(loads)):
        total = 0
        for index, vehicle in enumerate(trucks):
            mine = [load for load, owner in zip(loads, owners, strict=True) if owner == index]
            total += min(
                (_chain_m(vehicle.current_location, order) for order in itertools.permutations(mine)),
                default=0,
            )
        best = total if best is None else min(best, total)
    return best


def _chain_m(start, order) -> int:
    total, position = 0, start
    for item in order:
        total += road_distance_m(position, item.pickup_location) + road_distance_m(
            item.pickup_location, item.delivery_location
        )
        position = item.delivery_location
    return total


def test_the_plan_drives_the_least_distance_a_brute_force_finds():
    # Windows days wide: only distance decides. Three trucks, four loads scattered around them.
    trucks = [truck(lon)[0] for lon in (-96.0, -93.2, -90.5)]
    spread = [(-95.5, -94.0), (-93.0, -96.2), (-91.0, -92.5), (-94.2, -90.8)]
    loads = [load(a, b, pickup_in=1, deliver_within=150) for a, b in spread]

    result = plan(pickup_window=100 * HOUR, horizon=168 * HOUR)

    assert result["unserved"] == []
    assert result["summary"]["distance_m"] == _brute_force_distance(trucks, loads)
