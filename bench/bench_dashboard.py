"""Benchmark GET /api/dashboard on a generated year of history: cold (cache missed) and cached.

Run: python bench/bench_dashboard.py [--loads 20000] [--fixes 1000000] [--seconds 8] [--connections 32]
Prints figures, never fails.

How it measures
- Its own database, `tms_bench_dashboard` on the local PostgreSQL, filled on the first run (or when
  --loads / --fixes ask for more than it holds): carriers, trucks, drivers and facilities with
  bulk_create, then a year of loads, GPS fixes, duty-status records and the vehicles' status
  history (the event store) by COPY, with ids and times drawn from a seeded generator.
- The server is started as `make run` starts it (bench_api.start_server: the Procfile's `web:`
  command), and the ceiling, a raw ASGI hello-world, by the same command line in the same run: only
  ratios measured in one run compare on the shared 2-core machine.
- Cold: one request at a time with a new range each time (the range's end moves by a second), so
  every request misses the cache and computes every figure: p50/p95 over --cold requests, for a
  30-day range and for a 1-day range.
- Cached: wrk at --connections on one URL (a 30-day range), warmed by one request first.
"""

import argparse
import io
import json
import random
import statistics
import sys
import time
import urllib.request
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.common import setup_django  # noqa: E402  (after the path is set)

BENCH_DB = "tms_bench_dashboard"
SEED = 14
STATES = ["IL", "IN", "TX", "OH", "MO", "TN", "GA", "KY", "WI", "MI"]


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--loads", type=int, default=20_000)
    parser.add_argument("--fixes", type=int, default=1_000_000)
    parser.add_argument("--trucks", type=int, default=300)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--cold", type=int, default=20, help="cold requests per range")
    return parser.parse_args()


def _copy(table: str, columns: list[str], rows) -> None:
    """Rows into `table` by COPY (text format), 50,000 at a time."""
    from django.db import connection

    def line(row) -> str:
        return "\t".join("\\N" if value is None else str(value) for value in row) + "\n"

    with connection.cursor() as cursor:
        buffer, count = io.StringIO(), 0
        with cursor.cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                buffer.write(line(row))
                count += 1
                if count % 50_000 == 0:
                    copy.write(buffer.getvalue())
                    buffer = io.StringIO()
            copy.write(buffer.getvalue())


def generate(args) -> dict:
    """A year of history up to now, once; returns what the requests need."""
    from django.contrib.auth.models import User
    from django.contrib.gis.geos import Point
    from rest_framework.authtoken.models import Token

    from drivers.models import Driver
    from fleet.models import Carrier, Vehicle
    from loads.models import Facility, Load
    from tms.api_defaults import DISPATCHER
    from tms.tests.factories import UserFactory

    user = User.objects.filter(username="bench-dashboard").first() or UserFactory(
        username="bench-dashboard", roles=[DISPATCHER]
    )
    token = Token.objects.get_or_create(user=user)[0].key
    # The generator makes about what was asked (whole trips per truck): 90% of it is a dataset.
    if Load.objects.count() >= 0.9 * args.loads and _fixes() >= 0.9 * args.fixes:
        return {"token": token}
    t = time.monotonic()
    rng = random.Random(SEED)
    now = datetime.now(UTC).replace(microsecond=0)
    year_ago = now - timedelta(days=365)
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE loads, stop_events, routes, route_followings, hos_violations, gps_points, "
            "event_store, duty_status_records CASCADE"
        )
    carriers = list(Carrier.objects.all()) or Carrier.objects.bulk_create(
        [Carrier(name=f"Bench Carrier {n}", dot_number=f"88{n:05d}") for n in range(10)]
    )
    facilities = list(Facility.objects.all()) or Facility.objects.bulk_create(
        [
            Facility(
                name=f"Bench DC {n}",
                address=f"{n} Dock Rd",
                city="Town",
                state=STATES[n % len(STATES)],
                postal_code="60601",
                location=Point(-100 + rng.random() * 20, 30 + rng.random() * 12, srid=4326),
                timezone="America/Chicago",
            )
            for n in range(60)
        ]
    )
    vehicles = list(Vehicle.objects.all())
    if len(vehicles) < args.trucks:
        vehicles += Vehicle.objects.bulk_create(
            [
                Vehicle(
                    carrier=carriers[n % len(carriers)],
                    vehicle_number=f"BD{n:05d}",
                    vin=f"BDVIN{n:012d}",
                    make="Freightliner",
                    model="Cascadia",
                    year=2022,
                    vehicle_type="DRY_VAN",
                    capacity_weight=20000,
                    capacity_volume=90,
                )
                for n in range(len(vehicles), args.trucks)
            ]
        )
    Vehicle.objects.update(created_at=year_ago - timedelta(days=1))
    drivers = list(Driver.objects.all())
    if len(drivers) < args.trucks:
        drivers += Driver.objects.bulk_create(
            [
                Driver(
                    carrier=vehicles[n].carrier,
                    employee_number=f"BDE{n:05d}",
                    name=f"Bench Driver {n}",
                    license_number=f"BDL{n:08d}",
                    license_state="IL",
                    license_expiry=(now + timedelta(days=rng.randint(-5, 400))).date(),
                )
                for n in range(len(drivers), args.trucks)
            ]
        )
    print(f"  entities in {time.monotonic() - t:.1f}s", flush=True)

    # Loads: each truck hauls one after another through the year (pickup, transit, delivery, a gap).
    per_truck = max(1, args.loads // len(vehicles))
    cycle_h = 365 * 24 / per_truck  # a truck's loads spread over the whole year
    loads, status_events = [], []
    for index, vehicle in enumerate(vehicles):
        driver = drivers[index]
        at = year_ago + timedelta(hours=rng.random() * 24)
        for n in range(per_truck * 2):
            shipper, consignee = rng.sample(facilities, 2)
            created = at - timedelta(days=rng.randint(1, 5))
            pickup = at + timedelta(hours=2)
            delivery = pickup + timedelta(hours=rng.randint(6, 40))
            picked = pickup + timedelta(minutes=rng.randint(-60, 120))
            delivered = delivery + timedelta(minutes=rng.randint(-90, 180))
            if delivered <= picked:
                delivered = picked + timedelta(hours=1)
            future = delivered > now  # the truck's active load: its last one
            status = "DELIVERED" if not future else ("IN_TRANSIT" if picked < now else "ASSIGNED")
            load_id = uuid.UUID(int=rng.getrandbits(128))
            loads.append(
                (
                    load_id, created, created, f"BD{index:04d}-{n:04d}", shipper.pk, consignee.pk,
                    vehicle.carrier_id, vehicle.pk, driver.pk, status,
                    f"SRID=4326;{shipper.location.wkt}", shipper.address, pickup,
                    f"SRID=4326;{consignee.location.wkt}", consignee.address, delivery,
                    "", 12000, 60, rng.randint(800, 4000), rng.randint(100_000, 1_500_000), 5,
                    at, picked if picked < now else None, picked if picked < now else None,
                    None if future else delivered, None, "", "", None, "",
                )
            )  # fmt: skip
            for moment, previous, status_now in (
                (at, "AVAILABLE", "ASSIGNED"),
                (picked, "ASSIGNED", "IN_TRANSIT"),
                (delivered, "IN_TRANSIT", "AVAILABLE"),
            ):
                if moment < now:
                    data = {"vehicle_id": str(vehicle.pk), "carrier_id": str(vehicle.carrier_id),
                            "previous_status": previous, "status": status_now}  # fmt: skip
                    event_id = uuid.UUID(int=rng.getrandbits(128))
                    status_events.append(
                        (
                            event_id,
                            "VEHICLE_STATUS_CHANGED",
                            vehicle.pk,
                            moment,
                            "",
                            json.dumps({"data": data}),
                        )
                    )
            at = max(delivered + timedelta(hours=1), at + timedelta(hours=cycle_h * rng.uniform(0.8, 1.2)))
            if future or at > now - timedelta(hours=3):
                break
    _copy(
        "loads",
        ["id", "created_at", "updated_at", "load_number", "shipper_id", "consignee_id", "carrier_id",
         "vehicle_id", "driver_id", "status", "pickup_location", "pickup_address", "pickup_datetime",
         "delivery_location", "delivery_address", "delivery_datetime", "commodity", "weight", "volume",
         "rate", "estimated_distance_m", "estimated_driving_hours", "assigned_at", "picked_up_at",
         "in_transit_at", "delivered_at", "cancelled_at", "cancellation_reason", "delay_reason",
         "expected_delivery_at", "notes"],
        loads,
    )  # fmt: skip
    _copy("event_store", ["event_id", "type", "subject", "time", "correlation_id", "envelope"], status_events)
    print(
        f"  {len(loads)} loads, {len(status_events)} status events in {time.monotonic() - t:.1f}s", flush=True
    )

    # Duty logs: each driver cycles on duty, driving, off duty, sleeper through the year.
    def duty_rows():
        for driver in drivers:
            at = year_ago
            while at < now - timedelta(hours=30):
                for status, hours in (("ON_DUTY", 1), ("DRIVING", rng.randint(4, 11)), ("OFF_DUTY", 10),
                                      ("SLEEPER_BERTH", rng.randint(0, 4))):  # fmt: skip
                    if hours:
                        end = at + timedelta(hours=hours)
                        yield uuid.UUID(int=rng.getrandbits(128)), driver.pk, status, at, end, "", now
                        at = end

    _copy(
        "duty_status_records",
        ["id", "driver_id", "status", "started_at", "ended_at", "note", "created_at"],
        duty_rows(),
    )
    print(f"  duty logs in {time.monotonic() - t:.1f}s", flush=True)

    # GPS: every truck reports every few minutes, wandering in small steps.
    per_vehicle = args.fixes // len(vehicles)
    step = timedelta(seconds=365 * 86400 / per_vehicle)

    def fix_rows():
        # In time order, as trackers send them (what the BRIN index on recorded_at relies on).
        positions = [[-100 + rng.random() * 20, 30 + rng.random() * 12] for _ in vehicles]
        at = year_ago
        for _ in range(per_vehicle):
            for vehicle, position in zip(vehicles, positions, strict=True):
                position[0] += (rng.random() - 0.5) * 0.02
                position[1] += (rng.random() - 0.5) * 0.02
                yield vehicle.pk, at, f"SRID=4326;POINT({position[0]:.6f} {position[1]:.6f})", 80, at
            at += step

    _copy("gps_points", ["vehicle_id", "recorded_at", "location", "speed_kmh", "received_at"], fix_rows())
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    print(f"  {per_vehicle * len(vehicles)} GPS fixes in {time.monotonic() - t:.1f}s", flush=True)
    return {"token": token}


def _fixes() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE relname = 'gps_points'")
        row = cursor.fetchone()
    return row[0] if row else 0


def cold(port: int, token: str, days: int, count: int) -> list[float]:
    """`count` requests, each for a range nobody asked for before (a cache miss)."""
    timings = []
    end = datetime.now(UTC).replace(microsecond=0)
    for n in range(count):
        to = end - timedelta(seconds=n + days * 1000)  # distinct from the cached scenario's range
        start = to - timedelta(days=days)
        url = f"http://127.0.0.1:{port}/api/dashboard?from={start:%Y-%m-%dT%H:%M:%SZ}&to={to:%Y-%m-%dT%H:%M:%SZ}"
        request = urllib.request.Request(url, headers={"Authorization": f"Token {token}"})
        began = time.perf_counter()
        with urllib.request.urlopen(request, timeout=60) as response:
            response.read()
        timings.append((time.perf_counter() - began) * 1000)
    return timings


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def main() -> None:
    args = parse_args()
    url = setup_django(BENCH_DB)
    from bench.bench_api import LUA_COMMON, run_wrk, start_server, stop, SCENARIOS  # noqa: I001

    t = time.monotonic()
    data = generate(args)
    print(f"dataset ready in {time.monotonic() - t:.0f}s", flush=True)
    end = datetime.now(UTC).replace(microsecond=0)
    cached_url = (
        f"/api/dashboard?from={end - timedelta(days=30):%Y-%m-%dT%H:%M:%SZ}&to={end:%Y-%m-%dT%H:%M:%SZ}"
    )
    SCENARIOS["dashboard"] = f"""
function request()
  return wrk.format("GET", "{cached_url}", auth())
end
"""
    assert LUA_COMMON
    wrk_data = {"tokens": [data["token"]], "read_ids": [], "carrier": "", "shipper": "", "consignee": "",
                "crews": []}  # fmt: skip
    server, port = start_server("bench.hello_asgi:application", url)
    try:
        ceiling = run_wrk(port, "hello", args.connections, args.seconds, wrk_data, {})
    finally:
        stop(server)
    server, port = start_server(None, url)
    try:
        cold_30 = cold(port, data["token"], 30, args.cold)
        cold_1 = cold(port, data["token"], 1, args.cold)
        # Cached means warm: one request computes the answer first (32 first requests at once would
        # each compute it: the cache has no single flight).
        warm = urllib.request.Request(
            f"http://127.0.0.1:{port}{cached_url}", headers={"Authorization": f"Token {data['token']}"}
        )
        urllib.request.urlopen(warm, timeout=120).read()
        cached = run_wrk(port, "dashboard", args.connections, args.seconds, wrk_data, {})
    finally:
        stop(server)
    print(f"\n{'scenario':<22}{'req/s':>8}{'p50 ms':>9}{'p95 ms':>9}  (cold: one request at a time)")
    for name, timings in (("cold, 30-day range", cold_30), ("cold, 1-day range", cold_1)):
        print(f"{name:<22}{'':>8}{statistics.median(timings):>9.1f}{percentile(timings, 0.95):>9.1f}")
    for name, result in (("cached, 30-day", cached), ("hello (ceiling)", ceiling)):
        if "error" in result:
            print(f"{name:<22}  wrk failed: {result['error']}")
        else:
            print(f"{name:<22}{result['rps']:>8.0f}{result['p50']:>9.1f}{result['p95']:>9.1f}"
                  f"  ({args.connections} connections, {result['errors']} errors)")  # fmt: skip
    if "rps" in cached and ceiling.get("rps"):
        print(f"cached / ceiling: {cached['rps'] / ceiling['rps'] * 100:.1f}% of the hello-world's req/s")


if __name__ == "__main__":
    main()
