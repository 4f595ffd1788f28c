"""Benchmark GPS ingestion: the batch endpoint over real HTTP, the storage layer, raw COPY; the
tracking relay's drain rate; the KNN and area plans. Prints figures, never fails. Goal: >= 50,000
fixes/s through POST /api/tracking/batch on 2 cores.

    .venv/bin/python bench/bench_gps.py [--vehicles 2000] [--batches 30] [--clients 4]

Works in its own database, `tms_bench_gps` on the server of scripts/services (created and migrated
here, its fixes truncated at the start), so the development data is untouched. The HTTP figure
comes from `uvicorn tms.asgi:application --workers 2` on a loopback port, fed 10,000-fix batches
by client threads; the server relays nothing on commit (EVENTS_RELAY_ON_COMMIT=false): the tracking
relay is measured on its own. The machine may be shared: next to wall-clock rates the bench prints
the CPU time every process spent (server, PostgreSQL backends, client), and the rate 2 cores
would sustain at that cost.
"""

import argparse
import datetime
import http.client
import os
import queue
import random
import resource
import signal
import struct
import subprocess
import sys
import threading
import time
import traceback
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.common import setup_django  # noqa: E402  (after the path is set)

BENCH_DB = "tms_bench_gps"
BATCH = 10_000
TICK = os.sysconf("SC_CLK_TCK")
TOKEN = ""


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--vehicles", type=int, default=2000)
    parser.add_argument("--batches", type=int, default=30, help="10,000-fix batches posted over HTTP")
    parser.add_argument("--clients", type=int, default=4, help="concurrent HTTP connections")
    parser.add_argument("--port", type=int, default=0, help="server port (default: a free one)")
    return parser.parse_args()


# --- CPU accounting ----------------------------------------------------------------------------------


def proc_cpu_s(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICK
    except (FileNotFoundError, ProcessLookupError):
        return 0.0


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            if ppid == pid:
                found.append(int(entry.name))
    return found


def backend_pids() -> list[int]:
    """PostgreSQL backends connected to the bench database (their process title names it)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                title = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if title.startswith(b"postgres: ") and f" {BENCH_DB} ".encode() in title:
                found.append(int(entry.name))
    return found


class CpuMeter:
    """CPU seconds of some processes, of the bench database's PostgreSQL backends (sampled every
    10 ms: a backend may live for one request only), and of this process, between start() and
    stop()."""

    def __init__(self, pids: list[int] = ()):
        self.pids = list(pids)

    def start(self):
        self.before = {pid: proc_cpu_s(pid) for pid in self.pids}
        self.backends: dict[int, list[float]] = {pid: [proc_cpu_s(pid)] * 2 for pid in backend_pids()}
        self.sampling = True
        self.sampler = threading.Thread(target=self._sample, daemon=True)
        self.sampler.start()
        self.self_before = resource.getrusage(resource.RUSAGE_SELF)
        self.wall = time.perf_counter()
        return self

    def _sample(self):
        while self.sampling:
            for pid in backend_pids():
                cpu = proc_cpu_s(pid)
                if cpu:
                    self.backends.setdefault(pid, [0.0, 0.0])[1] = cpu
            time.sleep(0.01)

    def stop(self) -> dict[str, float]:
        wall = time.perf_counter() - self.wall
        self.sampling = False
        self.sampler.join()
        usage = resource.getrusage(resource.RUSAGE_SELF)
        own = (usage.ru_utime - self.self_before.ru_utime) + (usage.ru_stime - self.self_before.ru_stime)
        processes = sum(proc_cpu_s(pid) - cpu for pid, cpu in self.before.items())
        database = sum(last - first for first, last in self.backends.values())
        return {"wall": wall, "others": processes + database, "self": own, "database": database}


def report(label: str, points: int, cpu: dict[str, float], *, self_is_load: bool = False) -> None:
    busy = cpu["others"] + (cpu["self"] if self_is_load else 0)
    line = f"  {label:44s} {points / cpu['wall']:>9,.0f} fixes/s wall"
    if busy:
        per_10k = busy / points * BATCH
        line += f"   CPU {per_10k * 1000:6.0f} ms per 10k -> {2 * points / busy:>9,.0f} fixes/s on 2 cores"
    print(line)


# --- Data --------------------------------------------------------------------------------------------


def fleet(count: int) -> list[uuid.UUID]:
    from django.contrib.auth.models import Group, User
    from django.contrib.gis.geos import Point
    from rest_framework.authtoken.models import Token

    from fleet.models import Carrier, Vehicle

    carrier, _ = Carrier.objects.get_or_create(dot_number="9900001", defaults={"name": "Bench Freight"})
    have = Vehicle.objects.filter(carrier=carrier).count()
    rng = random.Random(7)
    Vehicle.objects.bulk_create(
        Vehicle(
            carrier=carrier,
            vehicle_number=f"GPS{n:05d}",
            vin=f"1BENCHGPS{n:08d}",
            make="Freightliner",
            model="Cascadia",
            year=2023,
            vehicle_type="DRY_VAN",
            capacity_weight=20000,
            capacity_volume=90,
            current_location=Point(rng.uniform(-120, -75), rng.uniform(30, 48), srid=4326),
        )
        for n in range(have, count)
    )
    user, _ = User.objects.get_or_create(username="bench-gps")
    group, _ = Group.objects.get_or_create(name="DISPATCHER")
    user.groups.add(group)
    global TOKEN
    TOKEN = Token.objects.get_or_create(user=user)[0].key
    return list(
        Vehicle.objects.filter(carrier=carrier).order_by("vehicle_number").values_list("pk", flat=True)
    )


def fixes_for(vehicles: list[uuid.UUID], batch: int, base: datetime.datetime):
    """10,000 fixes over all the vehicles, a second apart per vehicle, later for each batch."""
    from fleet.ingest import GpsFix

    per_vehicle = -(-BATCH // len(vehicles))
    start = base + datetime.timedelta(seconds=batch * per_vehicle)
    rng = random.Random(batch)
    return [
        GpsFix(
            vehicles[n % len(vehicles)],
            start + datetime.timedelta(seconds=n // len(vehicles)),
            round(rng.uniform(-120, -75), 6),
            round(rng.uniform(30, 48), 6),
            round(rng.uniform(0, 110), 1),
            round(rng.uniform(0, 359), 1),
            5.0,
        )
        for n in range(BATCH)
    ]


def body_for(fixes) -> bytes:
    import orjson

    return orjson.dumps(
        {
            "points": [
                {
                    "vehicle_id": str(fix.vehicle_id),
                    "longitude": fix.longitude,
                    "latitude": fix.latitude,
                    "recorded_at": fix.recorded_at.isoformat(),
                    "speed": fix.speed_kmh,
                    "heading": fix.heading,
                    "accuracy": fix.accuracy_m,
                }
                for fix in fixes
            ]
        }
    )


# --- The measurements ----------------------------------------------------------------------------------


def python_side(vehicles, base) -> None:
    import orjson
    from django.utils import timezone

    from fleet.api.serializers import validate_points
    from fleet.selectors import known_vehicle_ids

    body = body_for(fixes_for(vehicles, 10_000, base))
    started = time.perf_counter()
    points = orjson.loads(body)["points"]
    parsed = time.perf_counter()
    _fixes, rejected = validate_points(points, now=timezone.now(), known_vehicles=known_vehicle_ids)
    validated = time.perf_counter()
    assert not rejected, rejected[:3]
    print(
        f"  request body {len(body) / 1e6:.2f} MB; orjson parse {1000 * (parsed - started):.0f} ms, "
        f"validation {1000 * (validated - parsed):.0f} ms per 10k"
    )


def storage_layer(vehicles, base, batches: int = 10) -> None:
    from fleet.ingest import ingest_without_audit

    batches_of_fixes = [fixes_for(vehicles, 1000 + n, base) for n in range(batches)]
    ingest_without_audit(fixes_for(vehicles, 999, base))  # warm
    meter = CpuMeter().start()
    for fixes in batches_of_fixes:
        result = ingest_without_audit(fixes)
        assert result.accepted == BATCH, result
    report("storage layer: ingest_without_audit()", batches * BATCH, meter.stop(), self_is_load=True)


def outbox_alternative(vehicles, base, batches: int = 5) -> None:
    """What one outbox row per fix would add, envelopes built by PostgreSQL (rolled back)."""
    from django.db import connection, transaction

    from fleet.ingest import ingest_without_audit

    sql = """
        INSERT INTO outbox_events (id, type, topic, subject, envelope, created_at, attempts, last_error)
        SELECT gen_random_uuid(), 'VEHICLE_LOCATION_UPDATED', 'tms.vehicles.tracking', p.vehicle_id::text,
               jsonb_build_object('specversion', '1.0', 'id', gen_random_uuid(),
                   'type', 'VEHICLE_LOCATION_UPDATED', 'source', '/tms', 'subject', p.vehicle_id,
                   'time', p.received_at, 'datacontenttype', 'application/json',
                   'dataschema', '/schemas/VEHICLE_LOCATION_UPDATED/v1', 'correlationid', null,
                   'data', jsonb_build_object('vehicle_id', p.vehicle_id, 'carrier_id', v.carrier_id,
                       'longitude', ST_X(p.location::geometry), 'latitude', ST_Y(p.location::geometry),
                       'recorded_at', p.recorded_at, 'speed_kmh', p.speed_kmh, 'heading', p.heading)),
               p.received_at, 0, ''
        FROM gps_points p JOIN vehicles v ON v.id = p.vehicle_id
        WHERE p.relay_txid = pg_current_xact_id()::text::bigint
    """
    without, with_outbox = [], []
    for n in range(batches):
        fixes = fixes_for(vehicles, 2000 + n, base)
        for label in ("without", "with"):
            meter = CpuMeter().start()
            with transaction.atomic():
                ingest_without_audit(fixes)
                if label == "with":
                    with connection.cursor() as cursor:
                        cursor.execute(sql)
                transaction.set_rollback(True)
            cpu = meter.stop()
            (with_outbox if label == "with" else without).append(cpu["others"] + cpu["self"])
    base_cost, outbox_cost = sorted(without)[batches // 2], sorted(with_outbox)[batches // 2]
    print(
        f"  one outbox row per fix (measured, rolled back): CPU {1000 * base_cost:.0f} -> "
        f"{1000 * outbox_cost:.0f} ms per 10k ({outbox_cost / base_cost:.1f}x)"
    )


RAW_COPY = "COPY gps_points (vehicle_id, recorded_at, location, speed_kmh, heading, received_at) FROM STDIN"


def raw_copy(vehicles, base, batches: int = 10) -> None:
    from django.db import connection, transaction

    now = datetime.datetime.now(datetime.UTC)
    rows = [
        [
            (
                fix.vehicle_id,
                fix.recorded_at,
                struct.pack("<BIIdd", 1, 0x20000001, 4326, fix.longitude, fix.latitude).hex(),
                fix.speed_kmh,
                fix.heading,
                now,
            )
            for fix in fixes_for(vehicles, 3000 + n, base)
        ]
        for n in range(batches)
    ]
    meter = CpuMeter().start()
    for batch in rows:
        with transaction.atomic(), connection.cursor() as cursor, cursor.cursor.copy(RAW_COPY) as copy:
            for row in batch:
                copy.write_row(row)
    report("raw COPY into gps_points", batches * BATCH, meter.stop(), self_is_load=True)


def http_endpoint(vehicles, base, args) -> None:
    import socket

    port = args.port
    if not port:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
    env = {
        **os.environ,
        "EVENTS_RELAY_ON_COMMIT": "false",
        "TMS_LOG_LEVEL": "WARNING",
        "TMS_THROTTLE_USER": "1000000/minute",
        "PYTHONWARNINGS": "ignore::UserWarning",
    }
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "tms.asgi:application",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "2",
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        cwd=ROOT,
        env=env,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                probe = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                probe.request("GET", "/health")
                probe.getresponse().read()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    print("  the server did not start")
                    return
                time.sleep(0.2)
        bodies = [body_for(fixes_for(vehicles, n, base)) for n in range(args.batches + args.clients)]
        warm, measured = bodies[: args.clients], bodies[args.clients :]
        post_all(port, warm, args.clients)  # connections, caches, the first chunk of each index
        meter = CpuMeter([server.pid, *children(server.pid)]).start()
        outcomes = post_all(port, measured, args.clients)
        cpu = meter.stop()
        errors = [outcome for outcome in outcomes if outcome is not True]
        points = BATCH * (len(measured) - len(errors))
        load = os.getloadavg()[0]
        print(
            f"  {len(measured)} batches of 10,000 over {args.clients} connections, 2 uvicorn workers; "
            f"load average {load:.1f} on {os.cpu_count()} CPUs"
        )
        report("POST /api/tracking/batch (uvicorn, 2 workers)", points, cpu)
        python = cpu["others"] - cpu["database"]
        print(
            f"  of which PostgreSQL {1000 * cpu['database'] / max(points, 1) * BATCH:.0f} ms, "
            f"the web workers {1000 * python / max(points, 1) * BATCH:.0f} ms per 10k"
        )
        print(
            f"  client CPU {1000 * cpu['self'] / max(points, 1) * BATCH:.0f} ms per 10k (not counted above)"
        )
        if errors:
            print(f"  {len(errors)} batches failed; first: {errors[0]}")
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()


def post_all(port: int, bodies: list[bytes], clients: int) -> list:
    work: queue.Queue = queue.Queue()
    for body in bodies:
        work.put(body)
    outcomes: list = []
    headers = {"Authorization": f"Token {TOKEN}", "Content-Type": "application/json"}

    def client():
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        while True:
            try:
                body = work.get_nowait()
            except queue.Empty:
                return
            try:
                connection.request("POST", "/api/tracking/batch", body, headers)
                response = connection.getresponse()
                payload = response.read()
                outcomes.append(
                    True if response.status == 200 and b'"accepted":10000' in payload else payload[:200]
                )
            except (OSError, http.client.HTTPException) as error:
                outcomes.append(repr(error))
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


def relay_drain() -> None:
    from events.relay import InProcessTransport
    from fleet import relay

    class Null:
        name = "null"

        def publish(self, events):
            pass

    def drain(transport, limit: int, batch_size: int = 5000) -> tuple[int, dict]:
        meter = CpuMeter().start()
        total = 0
        while total < limit and (count := relay.relay_fixes(transport, batch_size=batch_size)):
            total += count
        return total, meter.stop()

    print(f"  backlog before: {relay.relay_backlog()}")
    total, cpu = drain(Null(), 100_000)
    report("relay: read + envelopes, no transport", total, cpu, self_is_load=True)
    bootstrap = (
        os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or f"127.0.0.1:{os.environ.get('TMS_KAFKA_PORT', '29092')}"
    )
    try:
        from events.kafka import KafkaTransport

        kafka = KafkaTransport(bootstrap)
        total, cpu = drain(kafka, 100_000)
        report(f"relay to Kafka ({bootstrap})", total, cpu, self_is_load=True)
    except Exception as error:  # noqa: BLE001 - no broker: say so and go on
        print(f"  relay to Kafka: skipped ({type(error).__name__}: {error})")
    total, cpu = drain(InProcessTransport(), 2_000, batch_size=500)
    report("relay to the in-process consumers", total, cpu, self_is_load=True)
    print(f"  backlog after: {relay.relay_backlog()}")


def spatial_plans() -> None:
    from django.db import connection

    from fleet.api.filters import VehicleFilter
    from fleet.models import Vehicle

    for label, params in (("near", {"near": "-90,40"}), ("within", {"within": "-95,35,-90,40"})):
        queryset = VehicleFilter(params, queryset=Vehicle.objects.all()).qs
        if label == "near":
            queryset = queryset[:50]
        sql, sql_params = queryset.query.sql_with_params()
        with connection.cursor() as cursor:
            cursor.execute(f"EXPLAIN (ANALYZE, COSTS OFF) {sql}", sql_params)
            plan = [row[0] for row in cursor.fetchall()]
        print(f"  ?{label}= on {Vehicle.objects.count():,} vehicles:")
        for line in plan:
            if any(word in line for word in ("Scan", "Order By", "Index Cond", "Execution")):
                print(f"      {line.strip()}")


def main() -> None:
    args = parse_args()
    setup_django(BENCH_DB, EVENTS_RELAY_ON_COMMIT="false")
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE gps_points, tracking_relay_cursors, outbox_events")
    vehicles = fleet(args.vehicles)
    base = datetime.datetime.now(datetime.UTC).replace(microsecond=0) - datetime.timedelta(days=3)
    print(f"GPS ingestion: {len(vehicles):,} vehicles, PostgreSQL database {BENCH_DB}")
    for step in (python_side, storage_layer, outbox_alternative, raw_copy):
        try:
            step(vehicles, base)
        except Exception:  # noqa: BLE001 - a bench prints and goes on
            traceback.print_exc()
    for step in (lambda: http_endpoint(vehicles, base, args), relay_drain, spatial_plans):
        try:
            step()
        except Exception:  # noqa: BLE001 - a bench prints and goes on
            traceback.print_exc()


if __name__ == "__main__":
    try:
        main()
    except Exception:  # noqa: BLE001 - benchmarks never fail the run
        traceback.print_exc()
