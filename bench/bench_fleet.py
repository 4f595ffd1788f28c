"""Benchmark the fleet optimiser (`routing.fleet.plan_fleet`) on a synthetic regional fleet.

Run: python bench/bench_fleet.py [trucks] [loads] [--time-limits 1,5,10,30]  (default 40 trucks,
120 loads). Uses the local database of `scripts/services` (migrated); everything it creates is
rolled back at the end. Prints, never fails.

The world: 4 carriers, trucks and rested drivers scattered over the Midwest (a box 13 degrees by
8), loads between random points of the same box picked up within 40 hours, each due 12 hours
after a realistic drive. Figures per solver time limit: the time to read and build the model, the
loads planned, the trucks used and the deadhead (empty) distance. The 1-second run is close to
OR-Tools' first solution (cheapest insertion): the longer runs show what the search adds.
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

TRUCKS = int(sys.argv[1]) if len(sys.argv) > 1 and sys.argv[1].isdigit() else 40
LOADS = int(sys.argv[2]) if len(sys.argv) > 2 and sys.argv[2].isdigit() else 120
LIMITS = [1, 5, 10, 30]
if "--time-limits" in sys.argv:
    LIMITS = [int(value) for value in sys.argv[sys.argv.index("--time-limits") + 1].split(",")]
HOUR = timedelta(hours=1)


class Rollback(Exception):
    pass


def somewhere(rng: random.Random) -> Point:
    return Point(rng.uniform(-97, -84), rng.uniform(36, 44), srid=4326)


def build_world(rng: random.Random) -> tuple[list, list]:
    """The bench's trucks and loads (their ids): the plan takes these only, whatever else the
    database holds."""
    settings.EVENTS_RELAY_ON_COMMIT = False
    carriers = [CarrierFactory() for _ in range(4)]
    trucks, loads = [], []
    for index in range(TRUCKS):
        carrier = carriers[index % len(carriers)]
        position = somewhere(rng)
        truck = VehicleFactory(carrier=carrier, current_location=position, capacity_weight=Decimal("20000"))
        DriverFactory(carrier=carrier, current_location=position)
        trucks.append(truck.pk)
    now = timezone.now()
    for _ in range(LOADS):
        a, b = somewhere(rng), somewhere(rng)
        drive_h = fleet._drive_s(road_distance_m(a, b)) / 3600
        pickup_datetime = now + rng.uniform(2, 40) * HOUR
        load = LoadFactory(
            shipper=FacilityFactory(location=a),
            consignee=FacilityFactory(location=b),
            pickup_datetime=pickup_datetime,
            delivery_datetime=pickup_datetime + (drive_h * 2 + 12) * HOUR,
            weight=Decimal(rng.randrange(5_000, 20_000, 500)),
        )
        loads.append(load.pk)
    return trucks, loads


def main() -> None:
    rng = random.Random(7)
    print(f"fleet optimiser: {TRUCKS} trucks, {LOADS} loads (Midwest, pickups within 40 h)")
    try:
        with transaction.atomic():
            trucks, loads = build_world(rng)
            for limit in LIMITS:
                started = time.perf_counter()
                request = fleet_request(
                    time_limit_s=limit, horizon=48 * HOUR, load_ids=loads, vehicle_ids=trucks
                )
                result = fleet.plan_fleet(request)
                elapsed = time.perf_counter() - started
                summary = result["summary"]
                share = summary["deadhead_m"] / max(1, summary["distance_m"])
                print(
                    f"  time limit {limit:>3} s: {elapsed:6.1f} s in all (model built in "
                    f"{elapsed - limit:4.1f} s), "
                    f"{summary['loads_planned']}/{summary['loads_considered']} loads "
                    f"planned on {summary['vehicles_used']}/{summary['vehicles_available']} trucks, "
                    f"deadhead {summary['deadhead_m'] / 1000:,.0f} km ({share:.0%} of "
                    f"{summary['distance_m'] / 1000:,.0f} km)"
                )
            raise Rollback
    except Rollback:
        pass


if __name__ == "__main__":
    main()
