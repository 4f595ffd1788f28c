"""The Kafka side of the event backbone, against a real broker.

`make test` starts Tansu (a Kafka-compatible broker, in memory) through `scripts/services` and
points TMS_TEST_KAFKA_BOOTSTRAP at it; without that variable these tests skip. The broker-down test,
domain writes through a broker outage, is tms/tests/test_event_flow_kafka.py.

Topics are shared between test runs and workers: every test reads through a consumer group that
starts at the topic's current end and picks out its own events by id. Tansu reports end offsets a
little short when a batch held several messages, so such a group may also see a few older records.
"""

import dataclasses
import json
import os
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import transaction
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import OffsetSpec
from kafka.errors import KafkaConnectionError, KafkaError, RebalanceInProgressError
from kafka.structs import OffsetAndMetadata

from events import kafka, relay
from events.consumers import REGISTRY, Consumer
from events.models import DeadLetter, OutboxEvent, ProcessedEvent
from events.outbox import emit
from events.taxonomy import DEAD_LETTER_TOPIC, TOPICS, EventType
from tms.context import acting_as

BOOTSTRAP = os.environ.get("TMS_TEST_KAFKA_BOOTSTRAP", "")
needs_kafka = pytest.mark.skipif(
    not BOOTSTRAP,
    reason="TMS_TEST_KAFKA_BOOTSTRAP is not set: no Kafka broker for this test "
    "(`make test` starts Tansu with scripts/services and sets it)",
)
pytestmark = pytest.mark.django_db(transaction=True)

# Tansu completes a group join in about half the session timeout.
GROUP_TIMEOUTS = {"session_timeout_ms": 6000, "heartbeat_interval_ms": 1000}


@pytest.fixture(autouse=True)
def _relay_by_hand(settings):
    """No on-commit relay: each test relays through the transport it means to test."""
    settings.EVENTS_RELAY_ON_COMMIT = False


_groups: list[str] = []


@pytest.fixture(autouse=True)
def _delete_test_groups():
    """The shared broker keeps every group a test made: delete them, so lag tables stay readable."""
    yield
    if BOOTSTRAP and _groups:
        admin = kafka.admin_client(BOOTSTRAP)
        try:
            admin.delete_groups(list(_groups))
        except KafkaError:
            pass  # a group still closing: harmless
        finally:
            admin.close()
            _groups.clear()


@pytest.fixture
def topics():
    """The TMS topics exist (the shared broker forgets them when it restarts)."""
    return kafka.ensure_topics(BOOTSTRAP)


def start_group_at_end(
    group: str, topic_names: list[str], bootstrap: str = BOOTSTRAP, beyond: int = 0
) -> None:
    """Commits the current end offsets (plus `beyond`) for `group`, so it reads only what comes next."""
    _groups.append(group)
    admin = kafka.admin_client(bootstrap)
    try:
        partitions = [
            TopicPartition(topic["name"], partition["partition_index"])
            for topic in admin.describe_topics(topic_names)
            for partition in topic["partitions"]
        ]
        ends = admin.list_partition_offsets({tp: OffsetSpec.LATEST for tp in partitions})
        admin.alter_group_offsets(
            group, {tp: OffsetAndMetadata(end.offset + beyond, None, -1) for tp, end in ends.items()}
        )
    finally:
        admin.close()


def new_group(topic_names: list[str]) -> str:
    group = f"test-{uuid.uuid4().hex[:12]}"
    start_group_at_end(group, topic_names)
    return group


def read_back(
    group: str,
    topic_names: list[str],
    wanted: Callable[[dict], bool],
    count: int,
    timeout_s: float = 30,
) -> list[tuple]:
    """(record, value) for the records of `topic_names` that `wanted` picks, read by `group` until
    `count` of them arrived; a short extra poll catches anything delivered twice."""
    consumer = KafkaConsumer(
        *topic_names,
        bootstrap_servers=BOOTSTRAP,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=50,
        **GROUP_TIMEOUTS,
    )
    found: list[tuple] = []
    deadline = time.monotonic() + timeout_s
    extra_polls = 2
    try:
        while time.monotonic() < deadline and extra_polls:
            if len(found) >= count:
                extra_polls -= 1
            for records in consumer.poll(timeout_ms=300).values():
                for record in records:
                    value = json.loads(record.value)
                    if wanted(value):
                        found.append((record, value))
    finally:
        consumer.close(autocommit=False)
    return found


def until(condition: Callable[[], bool], timeout_s: float = 30) -> Callable[[], bool]:
    """A `stop` for run_consumer: the condition holds, or time is up (the test's asserts then say why)."""
    deadline = time.monotonic() + timeout_s
    return lambda: condition() or time.monotonic() > deadline


def alerts(subjects: list[str], count: int) -> list[OutboxEvent]:
    with transaction.atomic():
        return [
            emit(
                EventType.SYSTEM_ALERT,
                subject=subjects[i % len(subjects)],
                data={"severity": "INFO", "message": f"alert {i}", "source": "tests"},
            )
            for i in range(count)
        ]


def predictions(count: int) -> list[OutboxEvent]:
    with transaction.atomic():
        return [
            emit(
                EventType.AI_PREDICTION,
                subject=f"load-{uuid.uuid4().hex[:8]}",
                data={
                    "model": "eta",
                    "subject_type": "load",
                    "subject_id": str(i),
                    "prediction": {"eta_s": i},
                },
            )
            for i in range(count)
        ]


def relay_through_kafka(bootstrap: str = BOOTSTRAP) -> int:
    transport = kafka.KafkaTransport(bootstrap)
    try:
        return relay.relay_pending(transport)
    finally:
        transport.close()


def register(monkeypatch, name: str, handler, types: set[str], **options) -> None:
    monkeypatch.setitem(
        REGISTRY, name, Consumer(name=name, handler=handler, event_types=frozenset(types), **options)
    )


# --- topics ----------------------------------------------------------------------------------------


@needs_kafka
def test_every_taxonomy_topic_and_the_dead_letter_topic_are_created():
    status = kafka.ensure_topics(BOOTSTRAP)
    assert set(status) == {*TOPICS.values(), DEAD_LETTER_TOPIC}
    assert set(status.values()) <= {"created", "exists"}
    assert set(kafka.ensure_topics(BOOTSTRAP).values()) == {"exists"}
    described = {topic["topic"]: topic for topic in kafka.describe_topics(BOOTSTRAP)}
    assert set(described) == set(status)
    assert {topic["partitions"] for topic in described.values()} == {settings.KAFKA_TOPIC_PARTITIONS}


@needs_kafka
def test_kafka_topics_prints_a_table(topics, capsys):
    call_command("kafka_topics", "--bootstrap-servers", BOOTSTRAP)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["TOPIC", "PARTITIONS", "END", "OFFSETS", "STATUS", "LAG", "BY", "GROUP"]
    assert [line.split()[0] for line in lines[1:]] == kafka.all_topics()
    assert all(line.split()[3] == "exists" for line in lines[1:])


# --- relay -----------------------------------------------------------------------------------------


@needs_kafka
def test_the_relay_delivers_every_event_once_and_in_order_per_aggregate(topics, settings):
    settings.EVENTS_RELAY_BATCH_SIZE = 50  # several relay batches
    group = new_group(["tms.system.alerts"])
    subjects = [f"truck-{uuid.uuid4().hex[:8]}" for _ in range(7)]
    events = alerts(subjects, 210)
    ids = {str(event.id) for event in events}

    assert relay_through_kafka() == 210
    assert relay.backlog() == {"unpublished": 0, "oldest_age_s": 0}

    received = read_back(group, ["tms.system.alerts"], lambda value: value.get("id") in ids, count=210)
    assert Counter(value["id"] for _, value in received) == Counter(ids)  # every event, once
    for subject in subjects:
        mine = [
            (record.partition, record.offset, value["id"])
            for record, value in received
            if value["subject"] == subject
        ]
        assert len({partition for partition, _, _ in mine}) == 1  # one aggregate, one partition
        assert [event_id for _, _, event_id in sorted(mine)] == [
            str(e.id) for e in events if e.subject == subject
        ]
    record, value = received[0]
    assert record.key == value["subject"].encode()
    assert value == OutboxEvent.objects.get(id=value["id"]).envelope
    headers = dict(record.headers)
    assert (headers["ce_type"], headers["ce_id"]) == (b"SYSTEM_ALERT", value["id"].encode())


@needs_kafka
def test_the_shared_transport_reconnects_after_a_failure(topics, settings):
    settings.KAFKA_BOOTSTRAP_SERVERS = BOOTSTRAP
    transport = kafka.KafkaTransport.shared()
    assert kafka.KafkaTransport.shared() is transport
    assert relay.default_transport() is transport
    group = new_group(["tms.system.alerts"])
    first = alerts(["s"], 1)
    transport.publish(first)
    transport._producer.close(timeout=0)  # the connection breaks under it
    with pytest.raises(KafkaError):
        transport.publish(alerts(["s"], 1))
    second = alerts(["s"], 1)
    transport.publish(second)  # a fresh producer
    wanted = {str(first[0].id), str(second[0].id)}
    received = read_back(group, ["tms.system.alerts"], lambda value: value.get("id") in wanted, count=2)
    assert sorted(value["id"] for _, value in received) == sorted(wanted)
    transport.close()


# --- consumers -------------------------------------------------------------------------------------


@needs_kafka
@pytest.mark.parametrize("batched", [False, True], ids=["one by one", "batched"])
def test_the_consumer_group_handles_events_and_commits_its_offsets(topics, monkeypatch, batched):
    name = f"test-predictions-{uuid.uuid4().hex[:8]}"
    handled: list[str] = []
    register(
        monkeypatch, name, lambda envelope: handled.append(envelope["id"]), {"AI_PREDICTION"}, batched=batched
    )
    start_group_at_end(name, ["tms.ai.predictions"])
    ids = {str(event.id) for event in predictions(12)}
    relay_through_kafka()

    kafka.run_consumer(
        name, stop=until(lambda: ids <= set(handled)), bootstrap_servers=BOOTSTRAP, **GROUP_TIMEOUTS
    )
    assert Counter(event_id for event_id in handled if event_id in ids) == Counter(ids)
    assert ProcessedEvent.objects.filter(consumer=name, event_id__in=ids).count() == 12

    # Restarted, the group resumes after its committed offsets: only the new event comes.
    [later] = predictions(1)
    relay_through_kafka()
    handled.clear()
    outcomes = kafka.run_consumer(
        name, stop=until(lambda: str(later.id) in handled), bootstrap_servers=BOOTSTRAP, **GROUP_TIMEOUTS
    )
    assert handled == [str(later.id)]
    assert outcomes == Counter({"processed": 1})


@needs_kafka
def test_the_anomaly_detector_runs_as_a_consumer_group(topics, monkeypatch, settings):
    """`manage.py consume anomaly-detector` is the registered detector: the changes a user's
    requests emitted reach it through Kafka, and a sustained rate is flagged."""
    settings.ANOMALY_WINDOW_S = 2
    name = f"test-anomaly-{uuid.uuid4().hex[:8]}"
    # The registered detector as a group of its own on one topic: other runs share the broker.
    detector = dataclasses.replace(
        REGISTRY["anomaly-detector"], name=name, event_types=frozenset({"AI_PREDICTION"})
    )
    monkeypatch.setitem(REGISTRY, name, detector)
    start_group_at_end(name, ["tms.ai.predictions"])
    user_id = 10**9 + int(uuid.uuid4().int % 10**6)
    with acting_as(user_id):
        for _ in range(10):  # 4 a second for 2.5 s: every second of the window busy
            predictions(1)
            time.sleep(0.25)
    predictions(3)  # the system's own: no actor, not counted
    relay_through_kafka()

    flagged = OutboxEvent.objects.filter(type="ANOMALY_SUSPECTED")
    outcomes = kafka.run_consumer(
        name, stop=until(flagged.exists), bootstrap_servers=BOOTSTRAP, **GROUP_TIMEOUTS
    )
    anomaly = flagged.get()
    assert anomaly.envelope["data"]["user_id"] == user_id
    assert OutboxEvent.objects.filter(type="SYSTEM_ALERT", subject=f"user:{user_id}").count() == 1
    assert outcomes["processed"] >= 3
    assert ProcessedEvent.objects.filter(consumer=name).count() == outcomes["processed"]


@needs_kafka
def test_a_poison_event_lands_in_the_dead_letter_topic_with_its_error(topics, monkeypatch):
    name = f"test-capacity-{uuid.uuid4().hex[:8]}"
    handled: list[str] = []
    carrier = str(uuid.uuid4())

    def handler(envelope):
        if envelope["data"] == {"carrier_id": carrier, "available_vehicles": 13, "total_vehicles": 20}:
            raise ValueError("unlucky capacity")
        handled.append(envelope["id"])

    register(monkeypatch, name, handler, {"CARRIER_CAPACITY_CHANGED"}, max_attempts=2, backoff_s=0)
    start_group_at_end(name, ["tms.carriers"])
    dead_letter_group = new_group([DEAD_LETTER_TOPIC])
    with transaction.atomic():
        fine, poison = (
            emit(
                EventType.CARRIER_CAPACITY_CHANGED,
                subject=carrier,
                data={"carrier_id": carrier, "available_vehicles": available, "total_vehicles": 20},
            )
            for available in (12, 13)
        )
    # Ahead of them in their partition (same key): a record that is not a CloudEvent at all.
    garbage = f"not a cloud event {carrier}".encode()
    producer = KafkaProducer(bootstrap_servers=BOOTSTRAP)
    producer.send("tms.carriers", key=carrier.encode(), value=garbage).get(timeout=10)
    producer.close()
    relay_through_kafka()

    outcomes = kafka.run_consumer(
        name,
        stop=until(
            lambda: str(fine.id) in handled and DeadLetter.objects.filter(event_id=poison.id).exists()
        ),
        bootstrap_servers=BOOTSTRAP,
        **GROUP_TIMEOUTS,
    )
    assert (outcomes["dead_lettered"], outcomes["unreadable"]) == (1, 1)
    letter = DeadLetter.objects.get(event_id=poison.id)
    assert (letter.consumer, letter.attempts, letter.error) == (name, 2, "ValueError: unlucky capacity")
    dead = read_back(
        dead_letter_group,
        [DEAD_LETTER_TOPIC],
        lambda value: value.get("event_id") == str(poison.id) or value.get("raw") == garbage.decode(),
        count=2,
    )
    [(record, value)] = [(record, value) for record, value in dead if "envelope" in value]
    assert record.key == carrier.encode()
    assert value["envelope"] == OutboxEvent.objects.get(pk=poison.pk).envelope == letter.envelope
    assert (value["consumer"], value["error"], value["attempts"]) == (name, "ValueError: unlucky capacity", 2)
    assert value["dead_letter_id"] == str(letter.id)
    assert dict(record.headers)["tms_consumer"] == name.encode()
    assert handled.count(str(fine.id)) == 1
    [unreadable] = [value for _, value in dead if "raw" in value]
    assert unreadable["consumer"] == name
    assert unreadable["error"].startswith("JSONDecodeError")
    assert unreadable["source"]["topic"] == "tms.carriers"


# --- commands --------------------------------------------------------------------------------------


def test_consume_lists_the_registered_consumers(capsys):
    call_command("consume", "--list")
    out = capsys.readouterr().out
    assert "event-store" in out
    assert "anomaly-detector" in out
    assert "tms.loads" in out


def test_consume_refuses_an_unknown_consumer():
    with pytest.raises(CommandError, match="unknown consumer 'no-such-consumer'"):
        call_command("consume", "no-such-consumer")


def test_consume_without_kafka_says_why(settings):
    settings.KAFKA_BOOTSTRAP_SERVERS = ""
    with pytest.raises(CommandError, match="KAFKA_BOOTSTRAP_SERVERS is not set"):
        call_command("consume", "event-store")


def test_relay_events_once_relays_what_is_pending(settings, capsys):
    settings.KAFKA_BOOTSTRAP_SERVERS = ""
    alerts(["x"], 3)
    call_command("relay_events", "--once")
    assert capsys.readouterr().out.strip() == "relayed 3 events via in-process"
    assert relay.backlog()["unpublished"] == 0


@needs_kafka
def test_a_broker_that_lost_its_log_gets_every_retained_event_again_and_no_consumer_misses_one(
    private_broker, monkeypatch
):
    """The in-memory broker restarts under a running consumer group and a running relay: the
    relay notices the lost topics and publishes the whole retained outbox again, the consumer
    notices its offsets went back and re-reads from the earliest; every event is handled exactly
    once, those from before the restart and after it."""
    transport = kafka.KafkaTransport(
        private_broker.bootstrap, request_timeout_ms=1000, delivery_timeout_ms=2000, max_block_ms=2000
    )
    name = f"test-reset-{uuid.uuid4().hex[:8]}"
    handled: list[str] = []
    register(monkeypatch, name, lambda envelope: handled.append(envelope["id"]), {"SYSTEM_ALERT"})
    before = alerts([f"before-{i}" for i in range(5)], 5)
    assert relay.relay_pending(transport) == 5

    consumer = threading.Thread(
        target=kafka.run_consumer,
        args=(name,),
        kwargs={
            "bootstrap_servers": private_broker.bootstrap,
            "stop": until(lambda: len(handled) >= 8, timeout_s=90),
            "retry_backoff_s": 0.2,
            **GROUP_TIMEOUTS,
        },
    )
    consumer.start()
    try:
        deadline = time.monotonic() + 30
        while len(handled) < 5 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(handled) == 5

        private_broker.stop()
        private_broker.start()  # same port, empty log
        after = alerts([f"after-{i}" for i in range(3)], 3)
        deadline = time.monotonic() + 60
        while OutboxEvent.objects.filter(published_at=None).exists() and time.monotonic() < deadline:
            try:
                relay.relay_pending(transport)
            except Exception:  # noqa: BLE001 - reconnecting to the restarted broker, as the relay does
                time.sleep(0.2)
    finally:
        consumer.join(timeout=120)
        transport.close()

    expected = {str(event.id) for event in before + after}
    assert sorted(handled) == sorted(expected)  # each once: repeats are recognised by their id
    assert ProcessedEvent.objects.filter(consumer=name).count() == 8


@needs_kafka
def test_an_idle_consumer_past_the_end_of_its_log_reads_it_from_the_start(topics, monkeypatch):
    """Positions past the end of the log: after a broker restart the new log can be shorter than
    what a consumer had read, and kafka-python keeps the positions of partitions that stay
    assigned across the rejoin (seen under the process topology). Such a consumer has nothing to
    read and nothing to commit, so the check before each commit never runs; its idle check sees
    the positions past the end and re-reads the log from the start: the new events are handled."""
    name = f"test-past-end-{uuid.uuid4().hex[:8]}"
    handled: list[str] = []
    register(monkeypatch, name, lambda envelope: handled.append(envelope["id"]), {"SYSTEM_ALERT"})
    start_group_at_end(name, ["tms.system.alerts"], beyond=5)
    wanted = {str(event.id) for event in alerts(["past-the-end"], 2)}
    relay_through_kafka()

    kafka.run_consumer(
        name,
        bootstrap_servers=BOOTSTRAP,
        stop=until(lambda: wanted <= set(handled), timeout_s=45),
        idle_check_s=0.5,
        **GROUP_TIMEOUTS,
    )

    assert wanted <= set(handled)


@needs_kafka
def test_a_member_whose_commits_stay_refused_joins_again_with_a_new_client(topics, monkeypatch):
    """After a broker restart kafka-python can keep a member REBALANCING for good while it still
    hands out records of its old assignment, every commit refused (seen under the process
    topology, tms/tests/test_topology_e2e.py). Refused for longer than the session timeout, the
    consumer closes its client and joins with a new one; no event is lost or handled twice."""
    name = f"test-wedged-{uuid.uuid4().hex[:8]}"
    handled: list[str] = []
    register(monkeypatch, name, lambda envelope: handled.append(envelope["id"]), {"AI_PREDICTION"})
    start_group_at_end(name, ["tms.ai.predictions"])
    ids = {str(event.id) for event in predictions(6)}
    relay_through_kafka()

    clients: list[KafkaConsumer] = []

    class WedgedFirst(KafkaConsumer):
        """The first client is the wedged one: it reads, but may never commit."""

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            clients.append(self)

        def commit(self, offsets=None, **kwargs):
            if self is clients[0]:
                raise RebalanceInProgressError("the member stays REBALANCING")
            return super().commit(offsets, **kwargs)

    seen_again: set[str] = set()  # what the new client read and recognised

    def deliver(consumer, envelope, **options):
        outcome = consumer_deliver(consumer, envelope, **options)
        if len(clients) > 1 and outcome == "duplicate":
            seen_again.add(envelope["id"])
        return outcome

    consumer_deliver = kafka.deliver
    monkeypatch.setattr(kafka, "KafkaConsumer", WedgedFirst)
    monkeypatch.setattr(kafka, "deliver", deliver)
    outcomes = kafka.run_consumer(
        name,
        stop=until(lambda: ids <= seen_again, timeout_s=60),
        bootstrap_servers=BOOTSTRAP,
        retry_backoff_s=0.5,
        rejoin_after_s=3,
        **GROUP_TIMEOUTS,
    )
    assert len(clients) == 2
    # The wedged client handled each event once; the new one read them again as duplicates.
    assert Counter(event_id for event_id in handled if event_id in ids) == Counter(ids)
    assert ProcessedEvent.objects.filter(consumer=name, event_id__in=ids).count() == 6
    assert outcomes["duplicate"] >= 6


@needs_kafka
def test_a_member_that_never_gets_a_stable_generation_joins_again_with_a_new_client(topics, monkeypatch):
    """The other form of the same wedge (seen under the process topology after a broker restart):
    the member never completes its join, and poll returns nothing, for good. Without a stable
    generation for longer than `rejoin_after_s`, the consumer joins with a new client."""
    name = f"test-unjoined-{uuid.uuid4().hex[:8]}"
    handled: list[str] = []
    register(monkeypatch, name, lambda envelope: handled.append(envelope["id"]), {"AI_PREDICTION"})
    start_group_at_end(name, ["tms.ai.predictions"])
    ids = {str(event.id) for event in predictions(4)}
    relay_through_kafka()

    clients: list[KafkaConsumer] = []

    class NeverJoinsFirst(KafkaConsumer):
        """The first client never has a stable generation and polls nothing."""

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            clients.append(self)
            if len(clients) == 1:
                self._coordinator.generation_if_stable = lambda: None

        def poll(self, timeout_ms=0, **kwargs):
            if self is clients[0]:
                time.sleep(timeout_ms / 1000)
                return {}
            return super().poll(timeout_ms, **kwargs)

    monkeypatch.setattr(kafka, "KafkaConsumer", NeverJoinsFirst)
    outcomes = kafka.run_consumer(
        name,
        stop=until(lambda: ids <= set(handled), timeout_s=40),
        bootstrap_servers=BOOTSTRAP,
        rejoin_after_s=3,
        **GROUP_TIMEOUTS,
    )
    assert len(clients) == 2
    assert Counter(event_id for event_id in handled if event_id in ids) == Counter(ids)
    assert outcomes["processed"] >= 4


@needs_kafka
def test_a_consumer_outlives_polls_that_cannot_reach_the_broker(topics, monkeypatch):
    """While the broker is down, kafka-python 3's poll raises (its coordinator lookup gets
    ECONNREFUSED) instead of returning nothing; seen under the process topology, where it ended
    `consume event-store`. The consumer waits and polls again, and handles what was published."""
    name = f"test-outage-{uuid.uuid4().hex[:8]}"
    handled: list[str] = []
    register(monkeypatch, name, lambda envelope: handled.append(envelope["id"]), {"AI_PREDICTION"})
    start_group_at_end(name, ["tms.ai.predictions"])
    ids = {str(event.id) for event in predictions(3)}
    relay_through_kafka()
    refused: list[int] = []

    class BrokerDownAtFirst(KafkaConsumer):
        def poll(self, *args, **kwargs):
            if len(refused) < 3:
                refused.append(1)
                raise KafkaConnectionError("111 ECONNREFUSED")
            return super().poll(*args, **kwargs)

    monkeypatch.setattr(kafka, "KafkaConsumer", BrokerDownAtFirst)
    kafka.run_consumer(
        name,
        stop=until(lambda: ids <= set(handled), timeout_s=60),
        bootstrap_servers=BOOTSTRAP,
        retry_backoff_s=0.1,
        **GROUP_TIMEOUTS,
    )
    assert len(refused) == 3
    assert Counter(event_id for event_id in handled if event_id in ids) == Counter(ids)
