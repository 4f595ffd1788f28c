"""Benchmark the event backbone: relay throughput, the cost of emit, commit-to-consumer latency.

Run: python bench/bench_relay.py [events]  (default 20,000; about 90 s in all). Uses the local
database of `scripts/services` (migrated) and, for the Kafka figures, a broker:
KAFKA_BOOTSTRAP_SERVERS, else TMS_TEST_KAFKA_BOOTSTRAP, else the Tansu that scripts/services starts
on 127.0.0.1:$TMS_KAFKA_PORT (29092). Creates its own rows and deletes them afterwards. Prints
figures, never fails: the goals (relay >= 10,000 events/s to Kafka on 2 cores, commit-to-consumer
p95 < 100 ms) are numbers to watch. The throughput figure splits the relay's time between the
transport (send + every acknowledgement) and the database (read the rows, mark them published,
commit); "transport alone" is the producer's own rate, the ceiling of the relay.

It relays every unpublished outbox row, not only its own: run it against a development database.
"""

import logging
import multiprocessing
import os
import queue
import socket
import statistics
import sys
import time
import traceback
import uuid
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from unittest import mock

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tms.settings")

import django

django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.gis.geos import Point  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.utils import timezone  # noqa: E402

from events import relay  # noqa: E402
from events.consumers import REGISTRY, Consumer  # noqa: E402
from events.models import AuditLog, DeadLetter, OutboxEvent, ProcessedEvent, StoredEvent  # noqa: E402
from events.outbox import emit  # noqa: E402
from events.taxonomy import EventType  # noqa: E402
from loads import services  # noqa: E402
from loads.models import Facility, Load  # noqa: E402

EVENTS = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
IN_PROCESS_EVENTS = min(EVENTS, 500)  # every consumer's work, ~15 ms an event
WRITES = 400
LATENCY_EVENTS = 1_000
LATENCY_RATE_PER_S = 200
POLL_INTERVAL_S = 1.0  # relay_events' default: woken by NOTIFY, polling only as a fallback
VEHICLES = [uuid.uuid4() for _ in range(500)]
CARRIER = uuid.uuid4()

settings.EVENTS_RELAY_ON_COMMIT = False  # the bench drives the relay itself
logging.getLogger("kafka").setLevel(logging.ERROR)
logging.getLogger("events").setLevel(logging.ERROR)
created_events: list[uuid.UUID] = []


def bootstrap_servers() -> str:
    servers = settings.KAFKA_BOOTSTRAP_SERVERS or os.environ.get("TMS_TEST_KAFKA_BOOTSTRAP", "")
    if servers:
        return servers
    port = int(os.environ.get("TMS_KAFKA_PORT") or 29092)
    with socket.socket() as probe:
        return f"127.0.0.1:{port}" if probe.connect_ex(("127.0.0.1", port)) == 0 else ""


def location_data(index: int) -> dict:
    return {
        "vehicle_id": VEHICLES[index % len(VEHICLES)],
        "carrier_id": CARRIER,
        "longitude": -87.6 + index % 100 / 1000,
        "latitude": 41.8,
        "recorded_at": timezone.now(),
        "speed_kmh": 88.0,
    }


def emit_locations(count: int, per_transaction: int = 1_000) -> float:
    """Emits `count` vehicle positions; returns the seconds it took."""
    started = time.perf_counter()
    for first in range(0, count, per_transaction):
        with transaction.atomic():
            for index in range(first, min(first + per_transaction, count)):
                event = emit(
                    EventType.VEHICLE_LOCATION_UPDATED,
                    subject=VEHICLES[index % len(VEHICLES)],
                    data=location_data(index),
                )
                created_events.append(event.id)
    return time.perf_counter() - started


class Timed:
    """A transport that adds up the time spent in another's publish."""

    def __init__(self, transport) -> None:
        self.transport, self.name, self.seconds = transport, transport.name, 0.0

    def publish(self, events) -> None:
        started = time.perf_counter()
        try:
            self.transport.publish(events)
        finally:
            self.seconds += time.perf_counter() - started


def relay_rate(transport) -> tuple[int, float, float]:
    """Relays the whole outbox; returns (events, seconds, of which in the transport)."""
    timed = Timed(transport)
    started = time.perf_counter()
    relayed = relay.relay_pending(timed)
    return relayed, time.perf_counter() - started, timed.seconds


def producer_setup(transport) -> str:
    from kafka.record import util

    config = transport.config
    crc = "C (crc32c package)" if util.crc32c_c is not None else "pure Python: install crc32c!"
    return (
        f"linger_ms {config['linger_ms']}, batch_size {config['batch_size'] // 1024} KiB, "
        f"acks {config['acks']}, CRC-32C {crc}"
    )


def bench_throughput(servers: str) -> None:
    print("\n(a) relay throughput: outbox -> transport (relay_pending, as relay_events runs it)")
    pending = relay.backlog()["unpublished"]
    if pending:
        print(f"    note: {pending} unpublished rows were already waiting; they are relayed too")
    if servers:
        from events.kafka import KafkaTransport

        transport = KafkaTransport(servers)
        emit_locations(100)
        relay.relay_pending(transport)  # connect, create topics, warm up
        print(f"    kafka ({servers}); producer: {producer_setup(transport)}")
        for batch_size in (settings.EVENTS_RELAY_BATCH_SIZE, 2_000):
            settings.EVENTS_RELAY_BATCH_SIZE, default = batch_size, settings.EVENTS_RELAY_BATCH_SIZE
            emit_s = emit_locations(EVENTS)
            relayed, seconds, in_transport = relay_rate(transport)
            settings.EVENTS_RELAY_BATCH_SIZE = default
            print(
                f"    batch {batch_size:>5}: {relayed:,} events in {seconds:.2f} s = "
                f"{relayed / seconds:>6,.0f} events/s (goal >= 10,000); transport {in_transport:.2f} s "
                f"({in_transport / seconds:.0%}), database {seconds - in_transport:.2f} s; "
                f"transport alone {relayed / in_transport:,.0f} events/s"
            )
        rate = f"{EVENTS / emit_s:,.0f}/s"
        print(f"    [emitting the last {EVENTS:,} took {emit_s:.1f} s = {rate} in transactions of 1,000]")
        transport.close()
    else:
        print("    kafka: skipped, no broker (start one with scripts/services start)")
    emit_locations(IN_PROCESS_EVENTS)
    consumers = ", ".join(REGISTRY)
    relayed, seconds, _ = relay_rate(relay.InProcessTransport())
    print(
        f"    in-process (the embedded default; every event handed to: {consumers}): "
        f"{relayed:,} events in {seconds:.2f} s = {relayed / seconds:,.0f} events/s"
    )


def bench_emit_overhead() -> None:
    print(f"\n(b) emit overhead: services.create_load, {WRITES} writes with the emit and {WRITES} without")
    shipper, consignee = (
        Facility.objects.create(
            name=f"Bench {name} {uuid.uuid4().hex[:6]}",
            address="1 Bench Rd",
            city=name,
            state="IL",
            postal_code="60601",
            location=Point(lon, lat, srid=4326),
            timezone="America/Chicago",
        )
        for name, lon, lat in (("Chicago", -87.6298, 41.8781), ("Indianapolis", -86.1581, 39.7684))
    )
    pickup_datetime = timezone.now() + timedelta(days=1)
    loads: list = []

    def write() -> float:
        started = time.perf_counter()
        load = services.create_load(
            by=None,
            shipper=shipper,
            consignee=consignee,
            pickup_datetime=pickup_datetime,
            delivery_datetime=pickup_datetime + timedelta(days=1),
            weight=Decimal("12000"),
            volume=Decimal("60"),
            rate=Decimal("1850.00"),
        )
        elapsed = time.perf_counter() - started
        loads.append(load.pk)
        return elapsed

    with_emit: list[float] = []
    without_emit: list[float] = []
    try:
        for _ in range(20):  # warm-up
            write()
        for _ in range(WRITES // 50):  # alternate blocks, so drift hits both alike
            with_emit += [write() for _ in range(50)]
            with mock.patch("loads.services.emit"):
                without_emit += [write() for _ in range(50)]
        created_events.extend(
            OutboxEvent.objects.filter(subject__in=[str(pk) for pk in loads]).values_list("id", flat=True)
        )
        with transaction.atomic():
            started = time.perf_counter()
            for index in range(WRITES):
                created_events.append(
                    emit(
                        EventType.VEHICLE_LOCATION_UPDATED, subject=VEHICLES[0], data=location_data(index)
                    ).id
                )
            bare_emit_us = (time.perf_counter() - started) / WRITES * 1e6
        median_with = statistics.median(with_emit) * 1e6
        median_without = statistics.median(without_emit) * 1e6
        print(
            f"    per write, median: {median_with:,.0f} us with the emit, {median_without:,.0f} us without "
            f"-> the emit adds {median_with - median_without:,.0f} us "
            f"({(median_with / median_without - 1) * 100:.0f}%)"
        )
        print(
            f"    emit() alone, inside an open transaction: {bare_emit_us:,.0f} us "
            "(schema check + one INSERT)"
        )
    finally:
        Load.objects.filter(pk__in=loads).delete()
        AuditLog.objects.filter(record_id__in=[str(pk) for pk in loads]).delete()
        Facility.objects.filter(pk__in=[shipper.pk, consignee.pk]).delete()


def _consumer_process(servers: str, name: str, received, stop) -> None:
    """A consumer group in its own process, as `manage.py consume` runs: reports (event id, wall time)."""
    from events.kafka import run_consumer

    REGISTRY[name] = Consumer(
        name=name,
        handler=lambda envelope: received.put((envelope["id"], time.time())),
        event_types=frozenset({"VEHICLE_LOCATION_UPDATED"}),
    )
    run_consumer(
        name,
        stop=stop.is_set,
        bootstrap_servers=servers,
        auto_offset_reset="latest",
        poll_timeout_ms=100,
        session_timeout_ms=6000,
    )
    connection.close()


def _relay_process(servers: str, stop) -> None:
    """The relay in its own process, as `manage.py relay_events` runs: woken by the NOTIFY of each
    commit, polling every POLL_INTERVAL_S only as a fallback."""
    from events.kafka import KafkaTransport

    transport = KafkaTransport(servers)
    relay.run_forever(poll_interval_s=POLL_INTERVAL_S, transport=transport, stop=stop.is_set)
    transport.close()
    connection.close()


def bench_latency(servers: str) -> None:
    print(
        f"\n(c) commit -> consumer latency: {LATENCY_EVENTS} events, one per transaction, "
        f"{LATENCY_RATE_PER_S}/s, from this process; the relay (run_forever, woken by each commit's "
        "NOTIFY) and a consumer group (run_consumer, deliver() included) each in a process of its own; "
        "wall-clock times"
    )
    if not servers:
        print("    skipped: no broker")
        return
    spawn = multiprocessing.get_context("spawn")
    name = f"bench-latency-{uuid.uuid4().hex[:8]}"
    received = spawn.Queue()
    received_at: dict[str, float] = {}
    stop_consumer = spawn.Event()
    consumer = spawn.Process(target=_consumer_process, args=(servers, name, received, stop_consumer))
    consumer.start()

    def drain(timeout_s: float = 0.0) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                event_id, at = received.get(timeout=max(0.0, deadline - time.monotonic()) or 0.01)
            except queue.Empty:
                return
            received_at[event_id] = at

    def emit_one(index: int) -> str:
        with transaction.atomic():
            event = emit(
                EventType.VEHICLE_LOCATION_UPDATED,
                subject=VEHICLES[index % len(VEHICLES)],
                data=location_data(index),
            )
        created_events.append(event.id)
        return str(event.id)

    def measure(label: str) -> None:
        stop_relay = spawn.Event()
        relay_process = spawn.Process(target=_relay_process, args=(servers, stop_relay))
        relay_process.start()
        committed_at: dict[str, float] = {}
        # Each commit NOTIFYs the relay, as in production (emit's on_commit: wake_relay).
        wake_settings = {"EVENTS_RELAY_ON_COMMIT": True, "KAFKA_BOOTSTRAP_SERVERS": servers}
        saved = {name: getattr(settings, name) for name in wake_settings}
        try:
            time.sleep(3)  # the relay process starts Django and connects
            for name, value in wake_settings.items():
                setattr(settings, name, value)
            interval = 1 / LATENCY_RATE_PER_S
            next_at = time.perf_counter()
            for index in range(LATENCY_EVENTS):
                event_id = emit_one(index)
                committed_at[event_id] = time.time()
                next_at += interval
                time.sleep(max(0.0, next_at - time.perf_counter()))
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and not committed_at.keys() <= received_at.keys():
                drain(0.1)
        finally:
            for name, value in saved.items():
                setattr(settings, name, value)
            stop_relay.set()
            relay_process.join(timeout=30)
        latencies = sorted(
            (received_at[i] - committed_at[i]) * 1000 for i in committed_at if i in received_at
        )
        if len(latencies) < 2:
            print(f"    {label}: {len(latencies)} events arrived")
            return
        q = statistics.quantiles(latencies, n=100, method="inclusive")
        print(
            f"    {label}: {len(latencies)}/{LATENCY_EVENTS} delivered; "
            f"p50 {q[49]:.1f} ms, p95 {q[94]:.1f} ms, p99 {q[98]:.1f} ms, max {latencies[-1]:.1f} ms "
            "(goal p95 < 100 ms)"
        )

    try:
        # Until the group has joined, events relayed now would pass it by ("latest").
        from events.kafka import KafkaTransport

        transport = KafkaTransport(servers)
        deadline = time.monotonic() + 60
        warmup_ids: set[str] = set()
        while time.monotonic() < deadline and not warmup_ids & received_at.keys():
            warmup_ids.add(emit_one(0))
            relay.relay_pending(transport)
            drain(1.0)
        transport.close()
        if not warmup_ids & received_at.keys():
            print("    the consumer group received nothing within 60 s; skipped")
            return
        measure("relay woken on commit (NOTIFY), as relay_events runs")
    finally:
        stop_consumer.set()
        consumer.join(timeout=30)
        ProcessedEvent.objects.filter(consumer=name).delete()
        from events.kafka import admin_client

        admin = admin_client(servers)
        try:
            admin.delete_groups([name])
        finally:
            admin.close()


def clean_up() -> None:
    ids = list(created_events)
    for first in range(0, len(ids), 5_000):
        chunk = ids[first : first + 5_000]
        OutboxEvent.objects.filter(id__in=chunk).delete()
        ProcessedEvent.objects.filter(event_id__in=chunk).delete()
        DeadLetter.objects.filter(event_id__in=chunk).delete()
        StoredEvent.objects.using(settings.TIMESERIES_DATABASE_ALIAS).filter(event_id__in=chunk).delete()


def main() -> None:
    servers = bootstrap_servers()
    print(
        f"Event backbone, {EVENTS:,} events; database {connection.settings_dict['NAME']}; "
        f"broker {servers or 'none'}; {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}"
    )
    try:
        for section in (
            lambda: bench_throughput(servers),
            bench_emit_overhead,
            lambda: bench_latency(servers),
        ):
            try:
                section()
            except Exception:  # noqa: BLE001 - a benchmark prints and goes on
                traceback.print_exc()
    finally:
        clean_up()
        print(f"\ncleaned up {len(created_events):,} events and their rows")


if __name__ == "__main__":
    main()
