"""Benchmark the live stream /ws: latency from event to WebSocket client, and server memory per
idle connection.

Run: python bench/bench_ws.py [--clients 1000] [--watchers 10] [--vehicles 1000] [--rate 1000]
                              [--seconds 10]
                              [--idle 10000] [--no-deflate] [--skip-pipeline] [--skip-idle]
                              [--reset-db] [--topology kafka]
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

With --topology kafka (about 60 s; instead of the phases above): the production topology. The
Procfile's `web`, `relay` and `consume-websocket-broadcast` command lines, each run as
`sh -c "exec <line>"` against the bench database, the local broker (KAFKA_BOOTSTRAP_SERVERS, else
127.0.0.1:$TMS_KAFKA_PORT, 29092) and the local Redis. The websocket-broadcast group is first moved
to the end of its topics (the shared broker keeps what earlier runs relayed); a warm-up waits until
a committed position reaches a client. Then, over the same connections, a fan-out as above (the
WebSocket path alone: the ceiling of this run), and events committed through `emit` (the outbox),
--rate a second in a transaction every 10 ms, each stamped when its commit returned; latency =
client arrival - commit. A probe process stamps each event where it passes: the relay's send (the
Kafka record's timestamp), a plain Kafka consumer's fetch, the broadcast consumer's publish to the
channel layer (a Redis subscriber of the topic's group), so the report says where the time goes.
Two things to know when reading it. With --vehicles equal to --rate every vehicle reports once a
second, exactly the live stream's coalescing limit (TMS_WS_LOCATION_MAX_PER_S): when the pipeline's
jitter puts two positions of a vehicle in one window, the second waits for the next window (up to
1 s) or is replaced, which makes the tail past p90; --vehicles 2000 measures the pipeline without
it. And Tansu's in-memory log slows fetches as it grows: the shared broker holds every position
earlier runs and benchmarks relayed; a fresh one (KAFKA_BOOTSTRAP_SERVERS) shows the difference.
"""

import argparse
import asyncio
import contextlib
import json
import os
import resource
import shutil
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

from bench.common import wait_for_port  # noqa: E402  (after the path is set)

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


def merged_arrivals(results: list[dict]) -> dict[str, list]:
    """The arrival stamps of every client process, by kind of client (follower, watcher)."""
    arrivals: dict[str, list] = {"follower": [], "watcher": []}
    for result in results:
        for kind, items in result["arrivals"].items():
            arrivals[kind].extend(items)
    return arrivals


def expected_counts(stamps: dict, followed, watchers: int) -> tuple[int, int]:
    """Messages the followers and the watchers should get for the events `stamps` (keys "vehicle|n")."""
    mine = sum(1 for key in stamps if key.split("|")[0] in followed)
    return mine, len(stamps) * watchers


def print_latencies(stamps: dict, arrivals: dict[str, list], followed, watchers: int) -> None:
    """The latency report of the followers and of the watchers for the events `stamps`."""
    for kind, count in zip(("follower", "watcher"), expected_counts(stamps, followed, watchers), strict=True):
        print(latency_report(kind + "s", stamps, arrivals[kind], count))


def percentile(sorted_values: list[float], fraction: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(fraction * (len(sorted_values) - 1))))
    return sorted_values[index]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a running process (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def process_tree(pid: int) -> list[int]:
    """`pid` and its descendants (uvicorn's workers under the web process)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(parent, []).append(int(stat.parent.name))
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(children.get(current, []))
    return tree


class CpuMeter:
    """CPU used by the given processes ({name: pids}) and this process over a phase, in cores."""

    def __init__(self, pids: dict[str, list[int]]) -> None:
        self.pids = pids
        self.start = self._now()

    def _now(self) -> dict[str, float]:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        totals = {name: sum(cpu_seconds(pid) for pid in pids) for name, pids in self.pids.items()}
        return {**totals, "publisher": usage.ru_utime + usage.ru_stime, "wall": time.monotonic()}

    def report(self) -> str:
        end = self._now()
        wall = end["wall"] - self.start["wall"]
        used = {name: (end[name] - self.start[name]) / wall for name in [*self.pids, "publisher"]}
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

    uri = config["uri"]
    auth = {"Authorization": f"Token {config['token']}"}  # never in the URL: tms/ws.py
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
                        uri,
                        additional_headers=auth,
                        ping_interval=None,
                        compression=compression,
                        open_timeout=120,
                        max_queue=None,
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

    @property
    def pids(self) -> list[int]:
        return [process.pid for process in self.processes]

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
        wait_for_port(self.port, self.check_running)
        self.uri = f"ws://127.0.0.1:{self.port}/ws"

    def check_running(self) -> None:
        if self.process.poll() is not None:
            raise RuntimeError("uvicorn exited during start-up")

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
    have = list(Vehicle.objects.filter(carrier=carrier).order_by("vehicle_number"))
    for number in range(len(have), count):
        have.append(
            services.create_vehicle(
                by=None,
                carrier=carrier,
                vehicle_number=f"WSB{number:05d}",
                vin=f"WSBENCH{number:010d}",
                make="Freightliner",
                model="Cascadia",
                year=2024,
                vehicle_type="DRY_VAN",
                capacity_weight=Decimal("20000"),
                capacity_volume=Decimal("95"),
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

        meter = CpuMeter({"server": [server.process.pid], "clients": clients.pids})
        sent, took = async_to_sync(fan_out)(pairs, args.rate, args.seconds)
        time.sleep(2)
        fan_out_cpu = meter.report()
        committed, pipeline_took = {}, 0.0
        pipeline_failure = None
        if not args.skip_pipeline:
            meter = CpuMeter({"server": [server.process.pid], "clients": clients.pids})
            try:
                committed, pipeline_took = pipeline(vehicles, args.rate, args.seconds)
            except Exception as error:  # noqa: BLE001 - reported below; the fan-out figures stand
                pipeline_failure = f"{type(error).__name__}: {error}".splitlines()[0]
            time.sleep(2)
            pipeline_cpu = meter.report()
        results = clients.stop()
        clients = None
        arrivals = merged_arrivals(results)

        print(
            f"fan-out: {len(sent)} events in {took:.1f} s ({len(sent) / took:.0f}/s) handed to the layer; "
            f"{fan_out_cpu}"
        )
        print_latencies(sent, arrivals, followed, args.watchers)
        if pipeline_failure:
            print(f"pipeline failed: {pipeline_failure} (try --reset-db)")
        elif not args.skip_pipeline:
            print(
                f"pipeline: {len(committed)} events committed in {pipeline_took:.1f} s "
                f"({len(committed) / pipeline_took:.0f}/s, target {args.rate}/s; one producer, relay on "
                f"commit); {pipeline_cpu}"
            )
            print_latencies(committed, arrivals, followed, args.watchers)
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


# --- Production topology (--topology kafka) -----------------------------------------------------

TOPOLOGY = ("relay", "consume-websocket-broadcast", "web")
BROADCAST_GROUP = "websocket-broadcast"  # `manage.py consume websocket-broadcast`: the group's name


def procfile() -> dict[str, str]:
    """The Procfile's processes: {name: command line}."""
    commands = {}
    for line in (ROOT / "Procfile").read_text().splitlines():
        name, colon, command = line.partition(":")
        if colon and name.strip() and not name.lstrip().startswith("#"):
            commands[name.strip()] = command.strip()
    return commands


def broker_servers() -> str:
    return (
        os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or f"127.0.0.1:{os.environ.get('TMS_KAFKA_PORT') or 29092}"
    )


def start_at_the_end(servers: str, group: str) -> str:
    """Moves the consumer group's committed offsets to the end of every partition it reads: the
    shared local broker keeps whatever other runs and benchmarks relayed (bench_relay sends tens of
    thousands of positions), which the group would otherwise broadcast first. Harmless for a live
    stream: those events are long gone for any client. Returns what went wrong, if anything."""
    from kafka import TopicPartition
    from kafka.admin import OffsetSpec

    from events.consumers import REGISTRY
    from events.kafka import admin_client, ensure_topics

    ensure_topics(servers)
    admin = admin_client(servers)
    try:
        described = admin.describe_topics(REGISTRY[group].topics)
        specs = {
            TopicPartition(topic["name"], partition["partition_index"]): OffsetSpec.LATEST
            for topic in described
            for partition in topic["partitions"]
        }
        result = admin.reset_group_offsets(group, specs)
    finally:
        admin.close()
    failed = sorted({outcome["error"].__name__ for outcome in result.values() if outcome["error"].errno})
    return f"could not move group {group} to the end ({', '.join(failed)}): is another one running?" * bool(
        failed
    )


class Topology:
    """The Procfile's relay, websocket-broadcast consumer and web processes, each started as
    `sh -c "exec <its command line>"` from the repository root, in a session of its own, against
    the bench database, the local broker and the local Redis."""

    def __init__(self, database_url: str, servers: str, log_dir: Path) -> None:
        commands = procfile()
        missing = [name for name in TOPOLOGY if name not in commands]
        if missing:
            raise RuntimeError(f"the Procfile has no {', '.join(missing)}")
        self.port = free_port()
        venv = ROOT / ".venv" / "bin"
        path = f"{venv if venv.is_dir() else Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
        env = {
            **os.environ,
            "PATH": path,
            "DJANGO_SETTINGS_MODULE": "tms.settings",
            "DATABASE_URL": database_url,
            "KAFKA_BOOTSTRAP_SERVERS": servers,
            "HOST": "127.0.0.1",
            "PORT": str(self.port),
            "PYTHONUNBUFFERED": "1",
            "TMS_WS_IDLE_TIMEOUT_S": "3600",  # the bench's clients never ping
            "TMS_LOG_LEVEL": "WARNING",
        }
        self.log_dir = log_dir
        self.processes: dict[str, subprocess.Popen] = {}
        try:
            for name in TOPOLOGY:
                with (log_dir / f"{name}.log").open("wb") as log:
                    self.processes[name] = subprocess.Popen(
                        ["sh", "-c", f"exec {commands[name]}"],
                        cwd=ROOT,
                        env=env,
                        stdin=subprocess.DEVNULL,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )
            wait_for_port(self.port, self.check_running)
        except BaseException:
            self.stop()
            raise
        self.uri = f"ws://127.0.0.1:{self.port}/ws"

    def check_running(self) -> None:
        dead = {
            name: process.returncode for name, process in self.processes.items() if process.poll() is not None
        }
        if dead:
            raise RuntimeError(f"processes exited: {dead}{self.logs(*dead)}")

    def logs(self, *names: str) -> str:
        parts = []
        for name in names:
            text = (self.log_dir / f"{name}.log").read_text(errors="replace").strip()
            parts.append(f"\n--- {name} (end of its log)\n{text[-2000:]}")
        return "".join(parts)

    def pids(self) -> dict[str, list[int]]:
        return {
            "web": process_tree(self.processes["web"].pid),
            "relay": [self.processes["relay"].pid],
            "consumer": [self.processes["consume-websocket-broadcast"].pid],
        }

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()


class Committer:
    """Commits VEHICLE_LOCATION_UPDATED events through `emit` (the outbox), several per transaction;
    each event's key is stamped with the moment its transaction's commit returned (an on_commit
    callback registered before the events', so before their NOTIFY)."""

    def __init__(self, vehicles: list[tuple[str, str]]) -> None:
        self.vehicles = vehicles
        self.last = [0]
        self.committed: dict[str, float] = {}
        self.event_ids: list = []

    def commit(self, indexes: range | list[int]) -> list[str]:
        from django.db import transaction

        from events.outbox import emit
        from events.taxonomy import EventType

        keys: list[str] = []
        with transaction.atomic():
            transaction.on_commit(lambda: self.committed.update(dict.fromkeys(keys, time.time())))
            for index in indexes:
                vehicle_id, carrier_id = self.vehicles[index % len(self.vehicles)]
                recorded_at = unique_now(self.last)
                data = {
                    "vehicle_id": vehicle_id,
                    "carrier_id": carrier_id,
                    "longitude": -87.6 + (index % 1000) / 10000,
                    "latitude": 41.8,
                    "recorded_at": recorded_at,
                    "speed_kmh": 88.0,
                    "heading": 90.0,
                }
                event = emit(EventType.VEHICLE_LOCATION_UPDATED, subject=vehicle_id, data=data)
                self.event_ids.append(event.id)
                keys.append(f"{vehicle_id}|{micros(recorded_at)}")
        return keys

    def run(self, rate: int, seconds: float, tick_s: float = 0.01) -> float:
        """Commits `rate` events a second for `seconds`: a transaction with the events due by then,
        every `tick_s` while on time, back to back while late; returns how long it took."""
        total = int(rate * seconds)
        start = time.monotonic()
        index = 0
        while index < total:
            due = min(total, int((time.monotonic() - start) * rate) + 1)
            if due > index:
                self.commit(range(index, due))
                index = due
            time.sleep(max(0.0, start + index / rate + tick_s - time.monotonic()))
        return time.monotonic() - start


def warm_up(uri: str, token: str, committer: Committer, vehicle_index: int, timeout_s: float = 90) -> float:
    """Commits a position of one vehicle every 1.1 s (over the 1 s coalescing window) until a client
    following it receives one within 0.5 s: the relay runs and the consumer group has joined and
    caught up. Returns the last latency in ms (inf: nothing in time)."""
    from websockets.sync.client import connect

    vehicle_id = committer.vehicles[vehicle_index][0]
    latency = float("inf")
    with connect(uri, additional_headers={"Authorization": f"Token {token}"}, open_timeout=30) as stream:
        subscribe = {"action": "subscribe", "topics": [TOPIC], "filters": {"vehicle_id": vehicle_id}}
        stream.send(json.dumps(subscribe))
        assert json.loads(stream.recv(timeout=30))["type"] == "subscribed"
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and latency > 500:
            committer.commit([vehicle_index])
            until = time.monotonic() + 1.1
            while time.monotonic() < until:
                try:
                    message = json.loads(stream.recv(timeout=max(0.01, until - time.monotonic())))
                except TimeoutError:
                    break
                if message.get("type") == "event":
                    data = message["event"]["data"]
                    arrived = f"{data['vehicle_id']}|{micros(datetime.fromisoformat(data['recorded_at']))}"
                    if arrived in committer.committed:
                        latency = min(latency, (time.time() - committer.committed[arrived]) * 1000)
            time.sleep(max(0.0, until - time.monotonic()))
    return latency


def position_key(envelope: dict) -> str:
    data = envelope["data"]
    return f"{data['vehicle_id']}|{micros(datetime.fromisoformat(data['recorded_at']))}"


def probe_main(config: str) -> None:
    """Two listeners along the way, each stamping what it sees with its arrival time: a plain Kafka
    consumer of the tracking topic (no group, every partition from its end; beside each record its
    timestamp, the relay's send) and a Redis subscriber of the topic's channel-layer group (what the
    websocket-broadcast consumer publishes). Prints READY, then the stamps as JSON after STOP."""
    import threading

    import django
    import redis
    from kafka import KafkaConsumer, TopicPartition

    options = json.loads(config)
    django.setup()
    from channels.layers import get_channel_layer

    stop = threading.Event()
    published: list[tuple[bytes, float]] = []
    subscriber = redis.Redis.from_url(options["redis_url"]).pubsub(ignore_subscribe_messages=True)
    subscriber.subscribe(options["channel"])

    def listen() -> None:
        while not stop.is_set():
            message = subscriber.get_message(timeout=0.1)
            if message is not None:
                published.append((message["data"], time.time()))

    consumer = KafkaConsumer(
        bootstrap_servers=options["servers"], enable_auto_commit=False, fetch_max_wait_ms=25
    )
    partitions = [TopicPartition(TOPIC, p) for p in sorted(consumer.partitions_for_topic(TOPIC) or [])]
    consumer.assign(partitions)
    consumer.seek_to_end()
    for partition in partitions:
        consumer.position(partition)
    listener = threading.Thread(target=listen, daemon=True)
    listener.start()
    threading.Thread(target=lambda: (sys.stdin.readline(), stop.set()), daemon=True).start()
    print("READY", flush=True)
    relayed = []
    while not stop.is_set():
        for records in consumer.poll(timeout_ms=100).values():
            arrived = time.time()
            relayed.extend((record.value, record.timestamp / 1000, arrived) for record in records)
    consumer.close()
    listener.join()
    layer = get_channel_layer()
    result: dict[str, list] = {"relayed": [], "published": []}
    for value, sent, at in relayed:
        with contextlib.suppress(ValueError, KeyError, TypeError):  # another run's events
            result["relayed"].append([position_key(json.loads(value)), sent, at])
    for data, at in published:
        with contextlib.suppress(ValueError, KeyError, TypeError):
            result["published"].append([position_key(layer.deserialize(data)["event"]), at])
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()


class Probe:
    def __init__(self, servers: str, redis_url: str, channel: str) -> None:
        config = json.dumps({"servers": servers, "redis_url": redis_url, "channel": channel})
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--probe", config],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        if self.process.stdout.readline().strip() != "READY":
            raise RuntimeError(f"the probe failed (exit {self.process.poll()})")

    def stop(self) -> dict:
        output, _ = self.process.communicate("STOP\n", timeout=60)
        return json.loads(output) if output.strip() else {"relayed": [], "published": []}

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def spread(label: str, values: list[float]) -> str:
    values = sorted(values)
    if not values:
        return f"{label}: none"
    return (
        f"{label:<58} p50 {percentile(values, 0.5):6.1f}  p95 {percentile(values, 0.95):6.1f}  "
        f"p99 {percentile(values, 0.99):6.1f}"
    )


async def group_channel(group: str) -> str:
    """The Redis channel of a channel-layer group (RedisPubSubChannelLayer's naming)."""
    from channels.layers import get_channel_layer

    return get_channel_layer()._get_layer()._get_group_channel_name(group)


def topology_phases(args, database_url: str, token: str, vehicles: list) -> None:
    """The production topology: Procfile processes, the local broker; a fan-out over the same web
    server first (the WebSocket path alone: the ceiling), then commits through the outbox."""
    from asgiref.sync import async_to_sync
    from django.conf import settings

    from events.handlers import topic_group
    from events.models import OutboxEvent, ProcessedEvent

    servers = broker_servers()
    followers = args.clients - args.watchers
    pairs = [(str(v.pk), str(v.carrier_id)) for v in vehicles]
    followed = {vehicle_id for vehicle_id, _ in pairs[:followers]}
    connections = [
        ("follower", {"action": "subscribe", "topics": [TOPIC], "filters": {"vehicle_id": pairs[i][0]}})
        for i in range(followers)
    ] + [("watcher", {"action": "subscribe", "topics": [TOPIC]})] * args.watchers
    note = start_at_the_end(servers, BROADCAST_GROUP)
    if note:
        print(f"note: {note}")
    committer = Committer(pairs)
    log_dir = Path(tempfile.mkdtemp(prefix="bench_ws_topology_"))
    topology = clients = probe = None
    # This process commits as a service would: each commit NOTIFYs the relay process.
    saved = settings.KAFKA_BOOTSTRAP_SERVERS, settings.EVENTS_RELAY_ON_COMMIT
    settings.KAFKA_BOOTSTRAP_SERVERS, settings.EVENTS_RELAY_ON_COMMIT = servers, True
    try:
        topology = Topology(database_url, servers, log_dir)
        print(
            f"topology: {', '.join(TOPOLOGY)} from the Procfile (logs in {log_dir} until it ends), "
            f"broker {servers}, web on port {topology.port}"
        )
        clients = Clients(topology.uri, token, connections, args.no_deflate)
        probe = Probe(servers, settings.REDIS_URL, async_to_sync(group_channel)(topic_group(TOPIC)))
        connected, failed, connect_s = clients.wait_ready()
        print(
            f"live: {connected} clients connected ({failed} failed) in {connect_s:.1f} s: {followers} follow "
            f"one vehicle each, {args.watchers} watch all of {TOPIC}"
        )
        started = time.monotonic()
        warm = warm_up(topology.uri, token, committer, len(pairs) - 1)
        topology.check_running()
        took = time.monotonic() - started
        print(f"warm-up: a committed position reached a client in {warm:.0f} ms, after {took:.1f} s")
        meter = CpuMeter({**topology.pids(), "clients": clients.pids})
        sent, took = async_to_sync(fan_out)(pairs, args.rate, args.seconds)
        time.sleep(2)
        fan_out_cpu = meter.report()
        meter = CpuMeter({**topology.pids(), "clients": clients.pids})
        committer.committed.clear()
        commit_took = committer.run(args.rate, args.seconds)
        time.sleep(3)
        commit_cpu = meter.report()
        topology.check_running()
        seen = probe.stop()
        probe = None
        results = clients.stop()
        clients = None
    finally:
        settings.KAFKA_BOOTSTRAP_SERVERS, settings.EVENTS_RELAY_ON_COMMIT = saved
        for party in (probe, clients, topology):
            if party is not None:
                party.kill() if not isinstance(party, Topology) else party.stop()
        for first in range(0, len(committer.event_ids), 5_000):
            chunk = committer.event_ids[first : first + 5_000]
            OutboxEvent.objects.filter(id__in=chunk).delete()
            ProcessedEvent.objects.filter(event_id__in=chunk).delete()
    shutil.rmtree(log_dir, ignore_errors=True)  # kept only when the run failed
    arrivals = merged_arrivals(results)
    committed = committer.committed

    print(
        f"ceiling, fan-out over the same web server: {len(sent)} events in {took:.1f} s "
        f"({len(sent) / took:.0f}/s) handed straight to the channel layer; {fan_out_cpu}"
    )
    print_latencies(sent, arrivals, followed, args.watchers)
    print(
        f"kafka topology: {len(committed)} events committed in {commit_took:.1f} s "
        f"({len(committed) / commit_took:.0f}/s, target {args.rate}/s; emit() in a transaction every 10 ms) "
        f"-> relay_events -> {servers} -> consume websocket-broadcast -> web; {commit_cpu}"
    )
    print_latencies(committed, arrivals, followed, args.watchers)
    first_client: dict[str, float] = {}
    for key, at in [*arrivals["follower"], *arrivals["watcher"]]:
        first_client[key] = min(at, first_client.get(key, at))
    stages = [
        ("the relay sent it (record timestamp)", {key: sent for key, sent, _ in seen["relayed"]}),
        ("a plain Kafka consumer fetched it", {key: at for key, _, at in seen["relayed"]}),
        ("websocket-broadcast published it to the layer", dict(seen["published"])),
        ("the first client had it", first_client),
    ]
    print("  where the time goes: ms from the commit until")
    for label, stamps in stages:
        delays = [(stamps[key] - at) * 1000 for key, at in committed.items() if key in stamps]
        print(f"    {spread(f'{label} ({len(delays)}/{len(committed)})', delays)}")


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
    parser.add_argument(
        "--topology",
        choices=["kafka"],
        help="instead of the in-process phases: the Procfile's web, relay and websocket-broadcast "
        "consumer against the local broker, events committed through the outbox",
    )
    parser.add_argument("--client", help=argparse.SUPPRESS)
    parser.add_argument("--probe", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        client_main(args.client)
        return
    if args.probe:
        probe_main(args.probe)
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
    if args.topology:
        phases = [("topology", lambda: topology_phases(args, database_url, token, vehicles))]
    else:
        phases = [
            ("live", lambda: live_phases(args, database_url, token, vehicles)),
            ("idle", lambda: None if args.skip_idle else idle_phase(args, database_url, token)),
        ]
    for phase, run in phases:
        try:
            run()
        except Exception as error:  # noqa: BLE001 - a benchmark reports, never fails
            print(f"{phase} phase failed: {type(error).__name__}: {error}")


if __name__ == "__main__":
    main()
