"""Benchmark the live stream /ws: latency from event to WebSocket client, and server memory per
idle connection.

Run: python bench/bench_ws.py [--clients 1000] [--watchers 10] [--vehicles 1000] [--rate 1000]
                              [--seconds 10]
                              [--idle 10000] [--no-deflate] [--skip-pipeline] [--skip-idle]
                              [--reset-db]
Prints figures, never fails. Goals: p95 < 100 ms at 1,000 events/s with 1,000 clients connected;
10,000 idle connections in less than 2 GiB of server RSS.

How it measures
- Server: `uvicorn tms.asgi:application`, one process (the Procfile runs two workers; each holds
  its own connections and Redis subscriptions, so one process is the unit), on a free loopback
  port, the local Redis (RedisPubSubChannelLayer) and its own database `tms_bench_ws` (created
  and migrated on first run; 1,000 bench vehicles are added once).
- Clients: `websockets` connections split over two client processes; each stamps a message with
  time.time() as it arrives. Every process runs on this machine, so the clocks agree. Clients
  negotiate permessage-deflate, as browsers do, unless --no-deflate.
- Subscriptions: `--clients` minus `--watchers` connections each follow one vehicle
  (tms.vehicles.tracking filtered by vehicle_id: one entity group each); the watchers take the
  whole topic, as dispatch boards do.
- Phase "fan-out": VEHICLE_LOCATION_UPDATED envelopes handed to the channel layer exactly as the
  relay's `websocket-broadcast` consumer does (topic group + entity group), at --rate per second,
  round robin over the vehicles (each vehicle every 1 s, the coalescing limit). Latency = client
  arrival - the moment the event was handed to the layer. This is the WebSocket path only.
- Phase "pipeline": real commits through `fleet.services.update_vehicle_location` (outbox row, in
  the same transaction), relayed in-process on commit to every consumer (event store, geofences,
  broadcast), as fast as one producer goes up to --rate. Latency = client arrival - commit (an
  on_commit callback registered before the service's own).
- Phase "idle": a fresh server, --idle connections each following one vehicle and then silent;
  server RSS (VmRSS) before and after.
"""

import argparse
import asyncio
import json
import os
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BENCH_DATABASE = "tms_bench_ws"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
TOPIC = "tms.vehicles.tracking"


# --- Shared --------------------------------------------------------------------------------------


def raise_fd_limit() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def micros(moment: datetime) -> int:
    return (moment - EPOCH) // timedelta(microseconds=1)


def percentile(sorted_values: list[float], fraction: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(fraction * (len(sorted_values) - 1))))
    return sorted_values[index]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a running process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class CpuMeter:
    """CPU used by the server, the client processes and this process over a phase, in cores."""

    def __init__(self, server, clients) -> None:
        self.pids = {"server": [server.process.pid], "clients": [p.pid for p in clients.processes]}
        self.start = self._now()

    def _now(self) -> dict[str, float]:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        totals = {name: sum(cpu_seconds(pid) for pid in pids) for name, pids in self.pids.items()}
        return {**totals, "publisher": usage.ru_utime + usage.ru_stime, "wall": time.monotonic()}

    def report(self) -> str:
        end = self._now()
        wall = end["wall"] - self.start["wall"]
        used = {name: (end[name] - self.start[name]) / wall for name in ("server", "clients", "publisher")}
        load = os.getloadavg()[0]
        return (
            "CPU cores used: "
            + ", ".join(f"{name} {cores:.2f}" for name, cores in used.items())
            + f"; machine load average {load:.1f}"
        )


# --- Client process ------------------------------------------------------------------------------


async def run_clients(config: dict) -> dict:
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    uri = f"{config['uri']}?token={config['token']}"
    compression = None if config["no_deflate"] else "deflate"
    arrivals: dict[str, list[tuple[str, float]]] = {"follower": [], "watcher": []}
    connections = []
    failures: list[str] = []
    gate = asyncio.Semaphore(100)

    async def read(stream, kind: str) -> None:
        sink = arrivals[kind]
        try:
            async for raw in stream:
                if raw.startswith('{"type":"event"'):
                    sink.append((raw, time.time()))
        except ConnectionClosed:
            pass

    async def open_one(kind: str, subscription: dict) -> None:
        async with gate:
            for attempt in range(5):
                try:
                    stream = await connect(
                        uri, ping_interval=None, compression=compression, open_timeout=120, max_queue=None
                    )
                    await stream.send(json.dumps(subscription))
                    reply = json.loads(await asyncio.wait_for(stream.recv(), 120))
                    assert reply["type"] == "subscribed", reply
                    break
                except Exception as error:  # noqa: BLE001 - counted and reported, then retried
                    if attempt == 4:
                        failures.append(f"{type(error).__name__}: {error}")
                        return
                    await asyncio.sleep(0.5 * (attempt + 1))
        connections.append(stream)
        readers.append(asyncio.create_task(read(stream, kind)))

    readers: list[asyncio.Task] = []
    started = time.monotonic()
    await asyncio.gather(*(open_one(kind, subscription) for kind, subscription in config["connections"]))
    connect_s = time.monotonic() - started
    print(f"READY {len(connections)} {len(failures)} {connect_s:.2f}", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)

    def key(raw: str) -> str:
        data = json.loads(raw)["event"]["data"]
        return f"{data['vehicle_id']}|{micros(datetime.fromisoformat(data['recorded_at']))}"

    return {
        "connected": len(connections),
        "failures": failures[:5],
        "failed": len(failures),
        "connect_s": connect_s,
        "arrivals": {kind: [[key(raw), at] for raw, at in items] for kind, items in arrivals.items()},
    }


def client_main(config_path: str) -> None:
    raise_fd_limit()
    config = json.loads(Path(config_path).read_text())
    result = asyncio.run(run_clients(config))
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()
    os._exit(0)  # thousands of sockets: let the kernel close them


class Clients:
    """Two client processes holding `connections` [(kind, subscribe message)] between them."""

    def __init__(self, uri: str, token: str, connections: list[tuple[str, dict]], no_deflate: bool):
        self.processes = []
        self.files = []
        halves = [connections[0::2], connections[1::2]]
        for half in halves:
            config = tempfile.NamedTemporaryFile("w", suffix=".json", delete=False)  # noqa: SIM115
            json.dump({"uri": uri, "token": token, "connections": half, "no_deflate": no_deflate}, config)
            config.close()
            self.files.append(config.name)
            self.processes.append(
                subprocess.Popen(
                    [sys.executable, __file__, "--client", config.name],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    text=True,
                    cwd=ROOT,
                )
            )

    def wait_ready(self) -> tuple[int, int, float]:
        connected = failed = 0
        slowest = 0.0
        for process in self.processes:
            line = process.stdout.readline().split()
            if not line or line[0] != "READY":
                raise RuntimeError(f"client process failed (exit {process.poll()})")
            connected += int(line[1])
            failed += int(line[2])
            slowest = max(slowest, float(line[3]))
        return connected, failed, slowest

    def stop(self) -> list[dict]:
        results = []
        for process in self.processes:
            process.stdin.write("STOP\n")
            process.stdin.flush()
        for process in self.processes:
            output = process.stdout.read()
            process.wait(timeout=120)
            results.append(json.loads(output) if output.strip() else {"arrivals": {}, "connected": 0})
        for name in self.files:
            Path(name).unlink(missing_ok=True)
        return results

    def kill(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.kill()
                process.wait()


# --- Server --------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Server:
    def __init__(self, database_url: str):
        self.port = free_port()
        env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "DJANGO_SETTINGS_MODULE": "tms.settings",
            "TMS_WS_IDLE_TIMEOUT_S": "3600",
            "TMS_LOG_LEVEL": "WARNING",
        }
        profile = os.environ.get("BENCH_WS_PROFILE")  # a path: the server runs under cProfile
        profiler = ["-m", "cProfile", "-o", profile] if profile else []
        command = [sys.executable, *profiler, "-m", "uvicorn", "tms.asgi:application", "--host", "127.0.0.1"]
        self.process = subprocess.Popen(
            [*command, "--port", str(self.port), "--log-level", "warning", "--no-access-log"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while True:
            if self.process.poll() is not None:
                raise RuntimeError("uvicorn exited during start-up")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        self.uri = f"ws://127.0.0.1:{self.port}/ws"

    def rss_mib(self) -> float:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def cpu_s(self) -> float:
        return cpu_seconds(self.process.pid)

    def stop(self) -> None:
        self.process.send_signal(signal.SIGINT)  # as Ctrl-C: uvicorn (and a profiler) exit cleanly
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


# --- Orchestrator --------------------------------------------------------------------------------


def bench_database_url(reset: bool) -> str:
    """The bench database on the same server as the configured one; created (again, with
    `reset`) here and migrated by setup_django."""
    import dj_database_url
    import psycopg

    port = os.environ.get("TMS_PG_PORT", "55432")
    base = os.environ.get("DATABASE_URL") or f"postgis://tms@127.0.0.1:{port}/tms"
    parsed = dj_database_url.parse(base)
    credentials = parsed["USER"] + (f":{parsed['PASSWORD']}" if parsed.get("PASSWORD") else "")
    server = f"{credentials}@{parsed['HOST']}:{parsed['PORT']}"
    with psycopg.connect(f"postgresql://{server}/postgres", autocommit=True) as admin:
        if reset:
            admin.execute(f'drop database if exists "{BENCH_DATABASE}" with (force)')
        exists = admin.execute("select 1 from pg_database where datname = %s", [BENCH_DATABASE]).fetchone()
        if not exists:
            admin.execute(f'create database "{BENCH_DATABASE}"')
    return f"postgis://{server}/{BENCH_DATABASE}"


def setup_django(database_url: str) -> None:
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tms.settings")
    os.environ.setdefault("TMS_LOG_LEVEL", "WARNING")
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0, interactive=False)


def bench_token() -> str:
    from django.contrib.auth.models import Group, User
    from rest_framework.authtoken.models import Token

    user, _ = User.objects.get_or_create(username="bench-ws-viewer")
    user.groups.add(Group.objects.get_or_create(name="VIEWER")[0])
    return Token.objects.get_or_create(user=user)[0].key


def bench_vehicles(count: int) -> list:
    from decimal import Decimal

    from fleet import services
    from fleet.models import Carrier, Vehicle

    carrier = Carrier.objects.filter(dot_number="BENCHWS").first() or services.create_carrier(
        by=None, name="Bench WS Freight", dot_number="BENCHWS"
    )
    have = list(Vehicle.objects.filter(carrier=carrier).order_by("unit_number"))
    for number in range(len(have), count):
        have.append(
            services.create_vehicle(
                by=None,
                carrier=carrier,
                unit_number=f"WSB{number:05d}",
                vin=f"WSBENCH{number:010d}",
                make="Freightliner",
                model="Cascadia",
                year=2024,
                vehicle_type="DRY_VAN",
                capacity_weight_kg=Decimal("20000"),
                capacity_volume_m3=Decimal("95"),
            )
        )
    return have[:count]


def location_envelope(vehicle_id: str, carrier_id: str, recorded_at: datetime, index: int) -> dict:
    from events.outbox import validate_data
    from events.taxonomy import EventType

    data = validate_data(
        EventType.VEHICLE_LOCATION_UPDATED,
        {
            "vehicle_id": vehicle_id,
            "carrier_id": carrier_id,
            "longitude": -87.6 + (index % 1000) / 10000,
            "latitude": 41.8,
            "recorded_at": recorded_at,
            "speed_kmh": 88.0,
            "heading": 90.0,
        },
    )
    return {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "type": "VEHICLE_LOCATION_UPDATED",
        "source": "/tms",
        "subject": vehicle_id,
        "time": recorded_at.isoformat(),
        "datacontenttype": "application/json",
        "dataschema": "/schemas/VEHICLE_LOCATION_UPDATED/v1",
        "correlationid": None,
        "data": data,
    }


def unique_now(last: list[int]) -> datetime:
    """Now, strictly later than the previous call: recorded_at is part of the key."""
    now = max(micros(datetime.now(UTC)), last[0] + 1)
    last[0] = now
    return EPOCH + timedelta(microseconds=now)


async def fan_out(vehicles: list[tuple[str, str]], rate: int, seconds: float) -> tuple[dict, float]:
    """Publishes what events.handlers.broadcast publishes (the layer's own serialisation, on the
    group channels of the topic and of the vehicle), in one Redis pipeline every 5 ms: one
    `group_send` costs ~0.3 ms here, too slow to sustain 1,000 events/s from one loop."""
    from channels.layers import get_channel_layer
    from django.conf import settings
    from redis import asyncio as aioredis

    from events.handlers import entity_group, topic_group

    layer = get_channel_layer()
    group_channel = layer._get_layer()._get_group_channel_name  # bench only: the layer's naming
    redis = aioredis.Redis.from_url(settings.REDIS_URL)
    last = [0]
    total = int(rate * seconds)
    planned = []
    for index in range(total):  # built up front: the schema check is not what is measured
        vehicle_id, carrier_id = vehicles[index % len(vehicles)]
        recorded_at = unique_now(last)
        envelope = location_envelope(vehicle_id, carrier_id, recorded_at, index)
        payload = layer.serialize({"type": "tms.event", "event": envelope})
        key = f"{vehicle_id}|{micros(recorded_at)}"
        planned.append(
            (key, payload, group_channel(topic_group(TOPIC)), group_channel(entity_group(vehicle_id)))
        )
    sent: dict[str, float] = {}
    start = time.monotonic()
    index = 0
    while index < total:
        due = min(total, int((time.monotonic() - start) * rate) + 1)
        if due > index:
            pipe = redis.pipeline(transaction=False)
            batch = planned[index:due]
            for _, payload, topic_channel, vehicle_channel in batch:
                pipe.publish(topic_channel, payload)
                pipe.publish(vehicle_channel, payload)
            handed_at = time.time()
            await pipe.execute()
            for key, *_ in batch:
                sent[key] = handed_at
            index = due
        await asyncio.sleep(0.005)
    took = time.monotonic() - start
    await redis.aclose()
    return sent, took


def pipeline(vehicles: list, rate: int, seconds: float) -> tuple[dict, float]:
    """Real commits through the fleet service, relayed on commit."""
    from django.db import transaction

    from fleet.services import update_vehicle_location

    committed: dict[str, float] = {}
    last = [0]
    start = time.monotonic()
    index = 0
    while time.monotonic() - start < seconds:
        delay = start + index / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        vehicle = vehicles[index % len(vehicles)]
        recorded_at = unique_now(last)
        key = f"{vehicle.pk}|{micros(recorded_at)}"
        with transaction.atomic():
            transaction.on_commit(lambda key=key: committed.setdefault(key, time.time()))
            longitude = -87.6 + (index % 1000) / 10000
            update_vehicle_location(
                vehicle, by=None, longitude=longitude, latitude=41.8, recorded_at=recorded_at
            )
        index += 1
    return committed, time.monotonic() - start


def latency_report(label: str, stamps: dict[str, float], arrivals: list, expected: int) -> str:
    latencies = sorted((at - stamps[key]) * 1000 for key, at in arrivals if key in stamps)
    if not latencies:
        return f"  {label}: nothing received (expected {expected})"
    return (
        f"  {label}: {len(latencies)}/{expected} delivered; latency ms p50 {percentile(latencies, 0.5):.1f}"
        f"  p95 {percentile(latencies, 0.95):.1f}  p99 {percentile(latencies, 0.99):.1f}"
        f"  max {latencies[-1]:.1f}"
    )


def live_phases(args, database_url: str, token: str, vehicles: list) -> None:
    followers = args.clients - args.watchers
    pairs = [(str(v.pk), str(v.carrier_id)) for v in vehicles]
    followed = {vehicle_id for vehicle_id, _ in pairs[:followers]}
    connections = [
        ("follower", {"action": "subscribe", "topics": [TOPIC], "filters": {"vehicle_id": pairs[i][0]}})
        for i in range(followers)
    ] + [("watcher", {"action": "subscribe", "topics": [TOPIC]})] * args.watchers
    server = Server(database_url)
    clients = None
    try:
        clients = Clients(server.uri, token, connections, args.no_deflate)
        connected, failed, connect_s = clients.wait_ready()
        print(
            f"live: {connected} clients connected ({failed} failed) in {connect_s:.1f} s: {followers} follow "
            f"one vehicle each, {args.watchers} watch all of {TOPIC}; server RSS {server.rss_mib():.0f} MiB"
        )
        from asgiref.sync import async_to_sync

        meter = CpuMeter(server, clients)
        sent, took = async_to_sync(fan_out)(pairs, args.rate, args.seconds)
        time.sleep(2)
        fan_out_cpu = meter.report()
        committed, pipeline_took = {}, 0.0
        pipeline_failure = None
        if not args.skip_pipeline:
            meter = CpuMeter(server, clients)
            try:
                committed, pipeline_took = pipeline(vehicles, args.rate, args.seconds)
            except Exception as error:  # noqa: BLE001 - reported below; the fan-out figures stand
                pipeline_failure = f"{type(error).__name__}: {error}".splitlines()[0]
            time.sleep(2)
            pipeline_cpu = meter.report()
        results = clients.stop()
        clients = None
        arrivals = {"follower": [], "watcher": []}
        for result in results:
            for kind, items in result["arrivals"].items():
                arrivals[kind].extend(items)

        def expected(stamps: dict) -> tuple[int, int]:
            mine = sum(1 for key in stamps if key.split("|")[0] in followed)
            return mine, len(stamps) * args.watchers

        print(
            f"fan-out: {len(sent)} events in {took:.1f} s ({len(sent) / took:.0f}/s) handed to the layer; "
            f"{fan_out_cpu}"
        )
        for kind, count in zip(("follower", "watcher"), expected(sent), strict=True):
            print(latency_report(kind + "s", sent, arrivals[kind], count))
        if pipeline_failure:
            print(f"pipeline failed: {pipeline_failure} (try --reset-db)")
        elif not args.skip_pipeline:
            print(
                f"pipeline: {len(committed)} events committed in {pipeline_took:.1f} s "
                f"({len(committed) / pipeline_took:.0f}/s, target {args.rate}/s; one producer, relay on "
                f"commit); {pipeline_cpu}"
            )
            for kind, count in zip(("follower", "watcher"), expected(committed), strict=True):
                print(latency_report(kind + "s", committed, arrivals[kind], count))
    finally:
        if clients is not None:
            clients.kill()
        server.stop()


def idle_phase(args, database_url: str, token: str) -> None:
    server = Server(database_url)
    clients = None
    try:
        time.sleep(1)
        before = server.rss_mib()
        follow = {"action": "subscribe", "topics": [TOPIC]}
        connections = [
            ("follower", {**follow, "filters": {"vehicle_id": str(uuid.uuid4())}}) for _ in range(args.idle)
        ]
        clients = Clients(server.uri, token, connections, args.no_deflate)
        connected, failed, connect_s = clients.wait_ready()
        time.sleep(3)
        after = server.rss_mib()
        per_connection = (after - before) * 1024 / max(connected, 1)
        print(
            f"idle: {connected} connections ({failed} failed) opened and subscribed in {connect_s:.1f} s; "
            f"server RSS {before:.0f} MiB -> {after:.0f} MiB ({per_connection:.0f} KiB per connection; "
            f"goal < 2048 MiB for 10,000)"
        )
        clients.stop()
        clients = None
    finally:
        if clients is not None:
            clients.kill()
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--watchers", type=int, default=10)
    parser.add_argument("--vehicles", type=int, default=1000, help="events go round robin over them")
    parser.add_argument("--rate", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--idle", type=int, default=10_000)
    parser.add_argument("--no-deflate", action="store_true")
    parser.add_argument("--skip-pipeline", action="store_true")
    parser.add_argument("--skip-idle", action="store_true")
    parser.add_argument("--reset-db", action="store_true", help=f"drop and recreate {BENCH_DATABASE}")
    parser.add_argument("--client", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        client_main(args.client)
        return
    limit = raise_fd_limit()
    print(
        f"== /ws benchmark: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} "
        f"(anything else running competes with the server), open-file limit {limit}"
    )
    try:
        database_url = bench_database_url(args.reset_db)
        setup_django(database_url)
        token = bench_token()
        vehicles = bench_vehicles(max(args.vehicles, args.clients - args.watchers, 1))
    except Exception as error:  # noqa: BLE001 - a benchmark reports, never fails
        print(f"setup failed: {type(error).__name__}: {error}")
        return
    for phase, run in (
        ("live", lambda: live_phases(args, database_url, token, vehicles)),
        ("idle", lambda: None if args.skip_idle else idle_phase(args, database_url, token)),
    ):
        try:
            run()
        except Exception as error:  # noqa: BLE001 - a benchmark reports, never fails
            print(f"{phase} phase failed: {type(error).__name__}: {error}")


if __name__ == "__main__":
    main()
