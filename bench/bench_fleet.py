"""Benchmark the fleet plan's two engines (`routing.fleet.plan_fleet`, VROOM and OR-Tools) side by
side on the same synthetic regional fleets, in one run.

Run: python bench/bench_fleet.py [--sizes 40x120,200x1000] [--time-limits 10] [--engines vroom,ortools]
(defaults as shown: 40 trucks/120 loads and 200 trucks/1,000 loads, the request's default time
limit). Uses the local database of `scripts/services` (migrated); everything it creates is rolled
back at the end. Prints, never fails.

The world: 4 carriers, trucks and rested drivers scattered over the Midwest (a box 13 degrees by
8), loads between random points of the same box picked up within 40 hours, each due 12 hours
after a realistic drive; every tenth load is tendered to one carrier. Figures per size, time limit
and engine: the whole plan's time (reading the database, the model, the solver, writing the plan:
the request's time limit bounds all of it), the loads planned, the trucks used, the deadhead
(empty) and total distance. Every plan has passed the plan's own check (routing.fleet
.route_violations) or the run stops with PlanInvalid.
"""

import os
import random
import sys
import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tms.settings")

import django

django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.gis.geos import Point  # noqa: E402
from django.db import transaction  # noqa: E402
from django.utils import timezone  # noqa: E402

from drivers.tests.factories import DriverFactory  # noqa: E402
from fleet.tests.factories import CarrierFactory, VehicleFactory  # noqa: E402
from loads.tests.factories import FacilityFactory, LoadFactory  # noqa: E402
from routing import fleet  # noqa: E402
from routing.tests.factories import fleet_request  # noqa: E402
from tms.geo import road_distance_m  # noqa: E402


def option(name: str, default: str) -> str:
    return sys.argv[sys.argv.index(name) + 1] if name in sys.argv else default


SIZES = [tuple(map(int, size.split("x"))) for size in option("--sizes", "40x120,200x1000").split(",")]
LIMITS = [int(value) for value in option("--time-limits", "10").split(",")]
ENGINES = option("--engines", "vroom,ortools").split(",")
HOUR = timedelta(hours=1)


class Rollback(Exception):
    pass


def somewhere(rng: random.Random) -> Point:
    return Point(rng.uniform(-97, -84), rng.uniform(36, 44), srid=4326)


def build_world(rng: random.Random, trucks_wanted: int, loads_wanted: int) -> tuple[list, list]:
    """The bench's trucks and loads (their ids): the plan takes these only, whatever else the
    database holds."""
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
            shipper=FacilityFactory(location=a),
            consignee=FacilityFactory(location=b),
            pickup_datetime=pickup_datetime,
            delivery_datetime=pickup_datetime + (drive_h * 2 + 12) * HOUR,
            weight=Decimal(rng.randrange(5_000, 20_000, 500)),
            carrier=carriers[0] if index % 10 == 0 else None,
        )
        loads.append(load.pk)
    return trucks, loads


def main() -> None:
    settings.ROUTING_FLEET_MAX_LOADS = max(loads for _, loads in SIZES)
    load_average = os.getloadavg()[0]
    print(
        f"fleet plans, VROOM vs OR-Tools (load average {load_average:.2f} at the start, {os.cpu_count()} CPUs)"
    )
    print(
        f"  {'trucks/loads':>12} {'limit':>5} {'engine':>7} {'time':>7} {'planned':>9} {'trucks':>7} "
        f"{'deadhead km':>11} {'total km':>9}"
    )
    for trucks_wanted, loads_wanted in SIZES:
        rng = random.Random(7)
        try:
            with transaction.atomic():
                trucks, loads = build_world(rng, trucks_wanted, loads_wanted)
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
                        print(
                            f"  {f'{trucks_wanted}/{loads_wanted}':>12} {limit:>4}s {engine:>7} {elapsed:6.1f}s "
                            f"{summary['loads_planned']:>4}/{summary['loads_considered']:<4} "
                            f"{summary['vehicles_used']:>3}/{summary['vehicles_available']:<3} "
                            f"{summary['deadhead_m'] / 1000:>11,.0f} {summary['distance_m'] / 1000:>9,.0f}",
                            flush=True,
                        )
                raise Rollback
        except Rollback:
            pass
    print(f"  load average {os.getloadavg()[0]:.2f} at the end")


if __name__ == "__main__":
    main()
