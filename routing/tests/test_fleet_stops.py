"""Fleet plans with stops and equipment: a load planned as a whole, its stops in sequence inside
their windows with their service times; trucks that lack the equipment a load needs never plan it.
Geography as in test_fleet (the 40th parallel: a degree of longitude ~102 km of road, ~1.16 h of
driving, ~2.1 h on the rest-aware clock of a 14-hour shift)."""

import dataclasses
import datetime
from decimal import Decimal

import pytest
from django.utils import timezone

from fleet.models import VehicleType
from loads.tests.factories import FacilityFactory
from routing import fleet, fleet_engines
from routing.tests.factories import fleet_request, set_stops
from routing.tests.test_fleet import at, idle, load, loads_of, truck, unserved
from routing.tests.test_fleet_engines import as_checked

pytestmark = pytest.mark.django_db

HOUR, MINUTE = datetime.timedelta(hours=1), datetime.timedelta(minutes=1)


@pytest.fixture(params=fleet_engines.ENGINES)
def engine(request) -> str:
    return request.param


def plan(engine: str = "vroom", **overrides) -> dict:
    return fleet.plan_fleet(fleet_request(**overrides), engine=engine)


def three_stops(
    lons, windows, *, weights=(None, None, None), kinds=("PICKUP", "DELIVERY", "DELIVERY"), **fields
):
    """A CREATED load with three stops at these longitudes, windows in hours from now."""
    now = timezone.now()
    booked = load(lons[0], lons[-1], **fields)
    set_stops(
        booked,
        [
            dict(
                kind=kind,
                facility=FacilityFactory(location=at(lon)),
                earliest_at=now + opens * HOUR,
                latest_at=now + closes * HOUR,
                weight=weight,
                service_minutes=None,
            )
            for lon, (opens, closes), weight, kind in zip(lons, windows, weights, kinds, strict=True)
        ],
    )
    return booked


def moment(value: str | None) -> datetime.datetime | None:
    return None if value is None else datetime.datetime.fromisoformat(value)


def test_a_three_stop_load_is_one_truck_s_stops_in_sequence_inside_their_windows(engine):
    vehicle, _ = truck(-95.0)
    milk_run = three_stops([-95.0, -94.0, -93.0], [(1, 3), (8, 10), (9, 14)])

    result = plan(engine)

    assert loads_of(result) == {vehicle.vehicle_number: [milk_run.load_number]}
    (route,) = result["routes"]
    assert [(stop["sequence"], stop["kind"]) for stop in route["stops"]] == [
        (1, "PICKUP"),
        (2, "DELIVERY"),
        (3, "DELIVERY"),
    ]
    for stop in route["stops"]:
        assert moment(stop["window_start"]) <= moment(stop["arrive_by"]) <= moment(stop["window_end"])
    # The second stop's window opens long after the truck could be there: it waits for it.
    assert route["stops"][1]["arrive_by"] == route["stops"][1]["window_start"]
    # Then 30 minutes of unloading and a degree of road, on the rest-aware clock.
    second, third = moment(route["stops"][1]["arrive_by"]), moment(route["stops"][2]["arrive_by"])
    pace = fleet.Pace(14 * 3600)
    leg_s = fleet._drive_s(route["stops"][2]["leg_m"])
    assert third - second == datetime.timedelta(seconds=pace.clock_s(30 * 60) + pace.clock_s(leg_s))
    assert route["loaded_m"] == route["stops"][1]["leg_m"] + route["stops"][2]["leg_m"]


@pytest.mark.parametrize(("second_closes", "served"), [(5, False), (12, True)])
def test_a_middle_stop_s_window_decides_whether_the_truck_can_take_the_load(engine, second_closes, served):
    # The truck is 1.5 degrees (~3.1 h on the clock) from the first stop, the second stop 1.5
    # degrees further: it gets there ~7 h from now.
    truck(-97.0)
    milk_run = three_stops([-95.5, -94.0, -93.0], [(0, 10), (0, second_closes), (0, 24)])

    result = plan(engine)

    assert bool(result["routes"]) is served
    if not served:
        assert unserved(result) == {milk_run.load_number: "pickup_unreachable"}


def test_stop_windows_that_cannot_all_be_kept_leave_the_load_out_with_the_reason():
    truck(-95.0)
    # The second stop closes an hour after the first opens, two degrees (4 h) away.
    milk_run = three_stops([-95.0, -93.0, -92.0], [(2, 3), (2, 3), (0, 24)])

    result = plan()

    assert unserved(result) == {milk_run.load_number: "stop_windows"}
    assert result["unserved"][0]["reason"] == (
        "Its stops' windows cannot all be kept, however early the first stop is served."
    )


def test_the_weight_on_board_after_each_stop_must_fit_the_truck():
    truck(-95.0, capacity_weight=Decimal("15000"))
    # Two pickups of 8 t each: 16 t on board before the drop, more than the truck carries.
    milk_run = three_stops(
        [-95.0, -94.5, -94.0],
        [(1, 3), (1, 6), (1, 12)],
        weights=(Decimal("8000"), Decimal("8000"), Decimal("16000")),
        kinds=("PICKUP", "PICKUP", "DELIVERY"),
        weight=Decimal("12000"),
    )

    result = plan()

    assert unserved(result) == {milk_run.load_number: "over_capacity"}
    assert result["unserved"][0]["reason"].startswith("16000.0 kg / 60.00 m³")


def test_a_reefer_load_goes_to_the_reefer_that_holds_its_temperature_not_the_nearer_dry_van(engine):
    dry_van, _ = truck(-95.0)
    cold, _ = truck(
        -96.0,
        vehicle_type=VehicleType.REEFER,
        temperature_min_c=Decimal("-25"),
        temperature_max_c=Decimal("25"),
    )
    too_warm, _ = truck(
        -95.05,
        vehicle_type=VehicleType.REEFER,
        temperature_min_c=Decimal("0"),
        temperature_max_c=Decimal("25"),
    )
    frozen = load(
        -95.0,
        -94.0,
        required_equipment=VehicleType.REEFER,
        temperature_min_c=Decimal("-20"),
        temperature_max_c=Decimal("-18"),
    )

    result = plan(engine)

    assert loads_of(result) == {cold.vehicle_number: [frozen.load_number]}
    assert idle(result) == {dry_van.vehicle_number: "not_needed", too_warm.vehicle_number: "not_needed"}


def test_a_load_no_available_truck_has_the_equipment_for_is_left_out_with_the_reason():
    truck(-95.0)
    truck(-95.5, vehicle_type=VehicleType.FLATBED)
    tanker = load(-95.0, -94.0, required_equipment=VehicleType.TANKER)
    frozen = load(
        -95.0,
        -94.0,
        required_equipment=VehicleType.REEFER,
        temperature_min_c=Decimal("-20.0"),
        temperature_max_c=Decimal("-18.0"),
    )

    result = plan()

    assert result["routes"] == []
    reasons = {item["load_number"]: (item["code"], item["reason"]) for item in result["unserved"]}
    assert reasons == {
        tanker.load_number: ("equipment", "Needs a tanker; no available truck has that equipment."),
        frozen.load_number: (
            "equipment",
            "Needs a reefer holding -20.0 to -18.0 °C; no available truck has that equipment.",
        ),
    }


@pytest.fixture
def solved_milk_run():
    """A one-truck plan of a three-stop load as the check sees it."""
    truck(-95.0)
    three_stops([-95.0, -94.0, -93.0], [(1, 3), (1, 5), (1, 24)])
    return as_checked(fleet_request())


def test_the_check_catches_a_middle_stop_served_after_its_window(solved_milk_run):
    assert fleet.route_violations(**solved_milk_run) == []
    pickup, delivery = solved_milk_run["route"].visits
    first_closes_s = solved_milk_run["feasible"][0][0].stops[0].window.end_s
    # Picked up at the end of the first window (+3 h): the second stop, closing at +5 h ~3 hours
    # of clock away, is missed.
    late = dataclasses.replace(
        solved_milk_run["route"],
        visits=[
            dataclasses.replace(pickup, at_s=first_closes_s),
            dataclasses.replace(delivery, at_s=20 * 3600),
        ],
    )

    problems = fleet.route_violations(**{**solved_milk_run, "route": late})

    assert problems == [
        f"{solved_milk_run['feasible'][0][0].load.load_number} stop 2 served after its window"
    ]


def test_the_check_catches_a_truck_without_the_equipment(solved_milk_run):
    crew = solved_milk_run["crew"]
    crew.vehicle.vehicle_type = VehicleType.FLATBED
    job = solved_milk_run["feasible"][0][0]
    job.load.required_equipment = VehicleType.DRY_VAN

    problems = fleet.route_violations(**solved_milk_run)

    assert problems == [f"{job.load.load_number}: The load needs a dry van; the truck is a flatbed."]
