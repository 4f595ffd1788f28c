"""Benchmark the fleet plan's two engines (`routing.fleet.plan_fleet`, VROOM and OR-Tools) side by
side on the same synthetic regional fleets, in one run.

Run: python bench/bench_fleet.py [--sizes 40x120,200x1000] [--time-limits 10] [--engines vroom,ortools]
[--stops 2,3] (defaults as shown: 40 trucks/120 loads and 200 trucks/1,000 loads, the request's
default time limit, loads of two stops then the same loads with three). Uses the local database
of `scripts/services` (migrated); everything it creates is rolled back at the end. Prints, never
fails.

The world: 4 carriers, trucks and rested drivers scattered over the Midwest (a box 13 degrees by
8), loads between random points of the same box picked up within 40 hours, each due 12 hours
after a realistic drive; every tenth load is tendered to one carrier. Figures per size, time limit
and engine: the whole plan's time (reading the database, the model, the solver, writing the plan:
the request's time limit bounds all of it), the loads planned, the trucks used, the deadhead
(empty) and total distance. Every plan has passed the plan's own check (routing.fleet
.route_violations) or the run stops with PlanInvalid.

Stops: with 3, every load of the same world (same random draws: same trucks, same first pickups
and last deliveries, same weights) gets a drop on the way: a point off the straight line between
its ends (up to a degree aside), due by the time the 2-stop delivery allows for the drive there
plus 6 hours, unloading half the weight. Same count of loads, more driving and one more window per
load: the table shows what multi-drop loads cost the solver (time) and the fleet (loads served,
deadhead).

With --breaks, the experiment behind the rest-aware clock (routing/fleet.py): VROOM on the same
model with real driving times and the rests as VROOM breaks (10 hours, and a 30-minute break in
each stretch) instead of the clock bound. VROOM's break windows are times, not "after so many
hours of driving", so each cadence (a rest every C hours, S hours of slack) is tried, and each
route replayed against the rules: at most 11 h of driving and no driving past the 14th hour
after a 10-hour rest, a 30-minute break before 8 h of driving (waits long enough count).
"""

import math
import os
import random
import sys
import time
from collections import Counter
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tms.settings")

import django
import numpy as np
import vroom

django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.gis.geos import Point  # noqa: E402
from django.db import transaction  # noqa: E402
from django.utils import timezone  # noqa: E402

from drivers.tests.factories import DriverFactory  # noqa: E402
from fleet.tests.factories import CarrierFactory, VehicleFactory  # noqa: E402
from loads.tests.factories import FacilityFactory, LoadFactory  # noqa: E402
from routing import fleet, fleet_engines  # noqa: E402
from routing.tests.factories import fleet_request, set_stops  # noqa: E402
from tms.geo import road_distance_m  # noqa: E402


def option(name: str, default: str) -> str:
    return sys.argv[sys.argv.index(name) + 1] if name in sys.argv else default


SIZES = [tuple(map(int, size.split("x"))) for size in option("--sizes", "40x120,200x1000").split(",")]
LIMITS = [int(value) for value in option("--time-limits", "10").split(",")]
ENGINES = option("--engines", "vroom,ortools").split(",")
STOPS = [int(value) for value in option("--stops", "2,3").split(",")]
CADENCES = [(18, 3), (20, 1), (24, 3)] if "--breaks" in sys.argv else []
HOUR = timedelta(hours=1)


class Rollback(Exception):
    pass


def somewhere(rng: random.Random) -> Point:
    return Point(rng.uniform(-97, -84), rng.uniform(36, 44), srid=4326)


def build_world(
    rng: random.Random, trucks_wanted: int, loads_wanted: int, stops: int = 2
) -> tuple[list, list]:
    """The bench's trucks and loads (their ids): the plan takes these only, whatever else the
    database holds. With `stops` 3, each load gets a drop on the way (see the module)."""
    settings.EVENTS_RELAY_ON_COMMIT = False
    carriers = [CarrierFactory() for _ in range(4)]
    trucks, loads = [], []
    for index in range(trucks_wanted):
        carrier = carriers[index % len(carriers)]
        position = somewhere(rng)
        truck = VehicleFactory(carrier=carrier, current_location=position, capacity_weight=Decimal("20000"))
        DriverFactory(carrier=carrier, current_location=position)
        trucks.append(truck.pk)
    now = timezone.now()
    for index in range(loads_wanted):
        a, b = somewhere(rng), somewhere(rng)
        drive_h = fleet._drive_s(road_distance_m(a, b)) / 3600
        pickup_datetime = now + rng.uniform(2, 40) * HOUR
        load = LoadFactory(
            # Numbered here: 1,000 random six-hex-digit numbers of one day collide now and then.
            load_number=f"BENCH-{stops}-{index:05d}",
            shipper=FacilityFactory(location=a),
            consignee=FacilityFactory(location=b),
            pickup_datetime=pickup_datetime,
            delivery_datetime=pickup_datetime + (drive_h * 2 + 12) * HOUR,
            weight=Decimal(rng.randrange(5_000, 20_000, 500)),
            carrier=carriers[0] if index % 10 == 0 else None,
        )
        # Drawn for every world, so the 2- and 3-stop worlds share all the other draws.
        share, aside = rng.uniform(0.3, 0.7), rng.uniform(-1, 1)
        if stops == 3:
            middle = Point(
                a.x + share * (b.x - a.x) + aside * 0.5, a.y + share * (b.y - a.y) + aside * 0.5, srid=4326
            )
            to_middle_h = fleet._drive_s(road_distance_m(a, middle)) / 3600
            set_stops(
                load,
                [
                    dict(
                        kind="PICKUP", facility=load.shipper, earliest_at=pickup_datetime, weight=load.weight
                    ),
                    dict(
                        kind="DELIVERY",
                        facility=FacilityFactory(location=middle),
                        earliest_at=pickup_datetime + (to_middle_h * 2 + 6) * HOUR,
                        weight=load.weight / 2,
                    ),
                    dict(
                        kind="DELIVERY",
                        facility=load.consignee,
                        earliest_at=load.delivery_datetime,
                        weight=load.weight / 2,
                    ),
                ],
            )
        loads.append(load.pk)
    return trucks, loads


REST_S, BREAK_S = 10 * 3600, 30 * 60


def solve_with_breaks(
    model: fleet_engines.FleetModel, cadence_h: int, slack_h: int, time_limit_s: float
) -> dict:
    """VROOM with real driving times and the rests as breaks: rest k starts C x k - 10 hours after
    the truck is ready, up to S hours earlier (so at most C - 10 + S hours between rests), a
    30-minute break mid-stretch. Returns VROOM's answer."""
    problem = vroom.Input()
    distance, driving, _clock = fleet_engines._through_matrices(model)
    problem.set_durations_matrix("truck", driving.astype(np.uint32))
    problem.set_costs_matrix("truck", distance.astype(np.uint32))
    everyone = tuple(range(len(model.trucks)))
    skill_of: dict = {}
    for shipment in model.shipments:
        if shipment.trucks != everyone:
            skill_of.setdefault(shipment.trucks, len(skill_of) + 1)
    skills: list[set] = [set() for _ in model.trucks]
    for trucks, skill in skill_of.items():
        for truck in trucks:
            skills[truck].add(skill)
    for index, truck in enumerate(model.trucks):
        breaks, k = [], 1
        while (rest := truck.ready_s + (cadence_h * k - 10) * 3600) - slack_h * 3600 <= model.horizon_s:
            middle = rest - (cadence_h - 10) * 3600 // 2
            window = vroom.TimeWindow(max(truck.ready_s, middle - slack_h * 3600), middle)
            breaks.append(vroom.Break(2 * k, time_windows=[window], service=BREAK_S))
            window = vroom.TimeWindow(rest - slack_h * 3600, rest)
            breaks.append(vroom.Break(2 * k + 1, time_windows=[window], service=REST_S))
            k += 1
        problem.add_vehicle(
            vroom.Vehicle(
                index,
                start=truck.start,
                profile="truck",
                capacity=vroom.Amount([truck.weight, truck.volume, 1]),
                skills=skills[index],
                time_window=vroom.TimeWindow(truck.ready_s, model.horizon_s + 2 * cadence_h * 3600),
                max_travel_time=truck.max_driving_s,
                costs=vroom.VehicleCosts(fixed=1),
                breaks=breaks,
            )
        )
    for index, shipment in enumerate(model.shipments):
        problem.add_shipment(
            vroom.ShipmentStep(
                2 * index,
                location=shipment.pickup,
                # The model's service is on the paced clock; the breaks take real time.
                default_service=math.floor(shipment.pickup_service_s / model.pace),
                time_windows=[vroom.TimeWindow(*shipment.pickup_window)],
            ),
            vroom.ShipmentStep(
                2 * index + 1,
                location=shipment.delivery,
                default_service=math.floor(shipment.delivery_service_s / model.pace),
                time_windows=[vroom.TimeWindow(*shipment.delivery_window)],
            ),
            amount=vroom.Amount([shipment.weight, shipment.volume, 1]),
            skills=({skill_of[shipment.trucks]} if shipment.trucks in skill_of else set()),
        )
    return fleet_engines._vroom_solve(problem, searches=4, depth=5, threads=2, timeout_s=time_limit_s)


def hours_of_service_violations(route: dict) -> list[str]:
    """The rules a route's steps break, replayed from VROOM's times (breaks may split a leg)."""
    broken = []
    steps = route["steps"]
    since_rest = since_break = travelled = 0
    window_opens = steps[0]["arrival"]
    for step in steps[1:]:
        driving, travelled = step["duration"] - travelled, step["duration"]
        if driving:
            since_rest, since_break = since_rest + driving, since_break + driving
            if since_rest > 11 * 3600:
                broken.append("11 h driving")
            if step["arrival"] > window_opens + 14 * 3600:
                broken.append("14 h window")
            if since_break > 8 * 3600:
                broken.append("30-min break")
        off = step["waiting_time"] + (step["service"] if step["type"] == "break" else 0)
        if off >= REST_S:
            since_rest = since_break = 0
            window_opens = step["arrival"] + off
        elif off >= BREAK_S:
            since_break = 0
    return broken


def breaks_experiment(request, trucks_wanted: int, loads_wanted: int, limit: int) -> None:
    """The same plan's model, solved with VROOM breaks at each cadence (see the module)."""
    captured = []
    solve = fleet_engines.solve

    def capture(model, *, engine, time_limit_s):
        captured.append((model, time_limit_s))
        return []

    fleet_engines.solve = capture
    try:
        fleet.plan_fleet(request)
    finally:
        fleet_engines.solve = solve
    model, budget = captured[0]
    for cadence_h, slack_h in CADENCES:
        started = time.perf_counter()
        answer = solve_with_breaks(model, cadence_h, slack_h, budget)
        elapsed = time.perf_counter() - started
        served = sum(1 for route in answer["routes"] for step in route["steps"] if step["type"] == "pickup")
        broken = [hours_of_service_violations(route) for route in answer["routes"]]
        rules = Counter(rule for route in broken for rule in set(route))
        print(
            f"  {f'{trucks_wanted}/{loads_wanted}':>12} {limit:>4}s {'breaks':>7} {elapsed:6.1f}s "
            f"{served:>4}/{len(model.shipments):<4} rest every {cadence_h} h (-{slack_h} h): "
            f"{sum(1 for route in broken if route)}/{len(answer['routes'])} routes break HOS "
            f"{dict(rules) or ''}",
            flush=True,
        )


def main() -> None:
    settings.ROUTING_FLEET_MAX_LOADS = max(loads for _, loads in SIZES)
    load_average = os.getloadavg()[0]
    print(
        f"fleet plans, VROOM vs OR-Tools, {' vs '.join(map(str, STOPS))}-stop loads "
        f"(load average {load_average:.2f} at the start, {os.cpu_count()} CPUs)"
    )
    print(
        f"  {'trucks/loads':>12} {'stops':>5} {'limit':>5} {'engine':>7} {'time':>7} {'planned':>9} "
        f"{'trucks':>7} {'deadhead km':>11} {'total km':>9} {'load avg':>8}"
    )
    for trucks_wanted, loads_wanted in SIZES:
        for stops in STOPS:
            rng = random.Random(7)
            try:
                with transaction.atomic():
                    trucks, loads = build_world(rng, trucks_wanted, loads_wanted, stops)
                    for limit in LIMITS:
                        for engine in ENGINES:
                            request = fleet_request(
                                time_limit_s=limit,
                                horizon=48 * HOUR,
                                shift=settings.ROUTING_FLEET_SHIFT_HOURS * HOUR,
                                load_ids=loads,
                                vehicle_ids=trucks,
                            )
                            started = time.perf_counter()
                            result = fleet.plan_fleet(request, engine=engine)
                            elapsed = time.perf_counter() - started
                            summary = result["summary"]
                            size = f"{trucks_wanted}/{loads_wanted}"
                            print(
                                f"  {size:>12} {stops:>5} {limit:>4}s {engine:>7} {elapsed:6.1f}s "
                                f"{summary['loads_planned']:>4}/{summary['loads_considered']:<4} "
                                f"{summary['vehicles_used']:>3}/{summary['vehicles_available']:<3} "
                                f"{summary['deadhead_m'] / 1000:>11,.0f} "
                                f"{summary['distance_m'] / 1000:>9,.0f} {os.getloadavg()[0]:>8.2f}",
                                flush=True,
                            )
                        if CADENCES and stops == 2:
                            breaks_experiment(request, trucks_wanted, loads_wanted, limit)
                    raise Rollback
            except Rollback:
                pass
    print(f"  load average {os.getloadavg()[0]:.2f} at the end")


if __name__ == "__main__":
    main()
