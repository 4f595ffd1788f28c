"""Kafka: the relay's transport, the topics, and the consumer-group runner.

The same code runs against Apache Kafka (production, `docker-compose.yml`) and against Tansu, the
in-memory Kafka-compatible broker that `scripts/services` starts for development and tests.

- `KafkaTransport` publishes a relay batch: key = the aggregate id (`subject`), so one aggregate's
  events stay in one partition and in order; value = the CloudEvent as JSON (an outbox row's
  envelope as the text PostgreSQL returns for its jsonb, sent without decoding it; other events as
  compact JSON); `ce_type` and `ce_id` headers for routers that do not parse the value. The whole
  batch is sent, then every acknowledgement awaited: the relay marks rows published only when all
  are in the broker.
- `run_consumer(name)` is the consumer group `name` (`manage.py consume NAME`): it hands each event
  to `events.consumers.deliver` (a `batched` consumer's whole polled batch to `deliver_batch`) and
  commits offsets after the batch is handled, so a crash redelivers (at least once) and the
  processed-event table makes that harmless.
"""

import functools
import json
import logging
import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from django.conf import settings
from django.db import close_old_connections
from django.utils import timezone
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic, OffsetSpec
from kafka.errors import (
    CommitFailedError,
    IllegalGenerationError,
    KafkaError,
    RebalanceInProgressError,
    TopicAlreadyExistsError,
    UnknownMemberIdError,
)
from kafka.partitioner.default import DefaultPartitioner, murmur2
from kafka.structs import OffsetAndMetadata

from events.consumers import REGISTRY, Consumer, deliver, deliver_batch
from events.models import DeadLetter
from events.relay import BrokerLogLost
from events.taxonomy import DEAD_LETTER_TOPIC, TOPICS
from tms.times import rfc3339

logger = logging.getLogger(__name__)


class KeyHashPartitioner(DefaultPartitioner):
    """kafka-python's default partitioner (murmur2 of the key, as the Java client: the same key goes
    to the same partition from any producer) with each key's hash remembered: the pure-Python
    murmur2 cost ~15 us a message, and a relay sends the same aggregates' keys again and again."""

    _hash = staticmethod(functools.lru_cache(maxsize=65_536)(murmur2))

    def partition(self, topic, key, serialized_key, value, serialized_value, cluster):
        if serialized_key is None or topic not in cluster.topics():
            return super().partition(topic, key, serialized_key, value, serialized_value, cluster)
        all_partitions = sorted(cluster.partitions_for_topic(topic))
        return all_partitions[(self._hash(serialized_key) & 0x7FFFFFFF) % len(all_partitions)]


PRODUCER_CONFIG: dict[str, Any] = {
    "acks": "all",
    # Idempotence keeps per-partition order across retries with 5 requests in flight (Tansu grants
    # a producer id, as Apache Kafka does).
    "enable_idempotence": True,
    "max_in_flight_requests_per_connection": 5,
    # The relay flushes at the end of each batch, so lingering costs no latency: it only keeps the
    # I/O thread from sending (and checksumming) small batches while the relay is still adding to them.
    "linger_ms": 100,
    "batch_size": 256 * 1024,
    "partitioner": KeyHashPartitioner(),
    "max_request_size": 4 * 1024 * 1024,
    # A relay batch fails (and stays in the outbox) within these bounds when the broker is down.
    "request_timeout_ms": 10_000,
    "delivery_timeout_ms": 30_000,
    "max_block_ms": 10_000,
    "reconnect_backoff_max_ms": 2_000,
}


def all_topics() -> list[str]:
    """Every topic the TMS writes: one per event family, and the dead-letter topic."""
    return sorted({*TOPICS.values(), DEAD_LETTER_TOPIC})


def encode(envelope: dict[str, Any]) -> bytes:
    return json.dumps(envelope, separators=(",", ":"), ensure_ascii=False).encode()


def _headers(envelope: dict[str, Any]) -> list[tuple[str, bytes]]:
    """The type and id also as headers, so a router can filter without parsing the value. Two only:
    every header costs the producer time per message."""
    return [("ce_type", str(envelope["type"]).encode()), ("ce_id", str(envelope["id"]).encode())]


@functools.cache
def _type_header(event_type: str) -> tuple[str, bytes]:
    return ("ce_type", event_type.encode())


def _message(event: Any) -> tuple[bytes, list[tuple[str, bytes]]]:
    """An event's value and headers: the envelope's JSON text as it is when the relay read it so
    (`envelope_json`), else the envelope encoded; the headers from the event's own type and id,
    which are the envelope's."""
    text = getattr(event, "envelope_json", None)
    value = text.encode() if text is not None else encode(event.envelope)
    return value, [_type_header(event.type), ("ce_id", str(event.id).encode())]


def _bootstrap(bootstrap_servers: str | None) -> str:
    servers = bootstrap_servers or settings.KAFKA_BOOTSTRAP_SERVERS
    if not servers:
        raise RuntimeError("KAFKA_BOOTSTRAP_SERVERS is not set")
    return servers


class KafkaTransport:
    """The relay's transport to Kafka. One producer per process (`shared()`); after any failure the
    producer is dropped and the next batch connects afresh (and recreates missing topics, which an
    in-memory development broker loses when it restarts)."""

    name = "kafka"
    _shared: "KafkaTransport | None" = None
    _shared_lock = threading.Lock()

    def __init__(self, bootstrap_servers: str | None = None, *, create_topics: bool = True, **config: Any):
        self.bootstrap_servers = _bootstrap(bootstrap_servers)
        self.create_topics = create_topics
        self.config = {**PRODUCER_CONFIG, **config}
        self._producer: KafkaProducer | None = None
        self._published = False  # anything acknowledged by the broker since this process started
        self._lock = threading.Lock()
        self._pid = os.getpid()

    @classmethod
    def shared(cls) -> "KafkaTransport":
        """The process-wide transport for settings.KAFKA_BOOTSTRAP_SERVERS; a forked child (Celery
        prefork) gets its own, since a producer's I/O thread does not survive fork."""
        with cls._shared_lock:
            current = cls._shared
            if (
                current is None
                or current._pid != os.getpid()
                or current.bootstrap_servers != settings.KAFKA_BOOTSTRAP_SERVERS
            ):
                if current is not None and current._pid == os.getpid():
                    current.close()
                cls._shared = current = cls()
            return current

    def _connect(self) -> KafkaProducer:
        """A new producer; raises BrokerLogLost (with the producer kept) when topics this transport
        had published to had to be created again: the broker lost its log."""
        created = []
        if self.create_topics:
            topics = ensure_topics(self.bootstrap_servers, timeout_ms=self.config["max_block_ms"])
            created = [topic for topic, state in topics.items() if state == "created"]
        self._producer = KafkaProducer(
            bootstrap_servers=self.bootstrap_servers, client_id="tms-relay", **self.config
        )
        if created and self._published:
            self._published = False
            raise BrokerLogLost(f"the broker lost its topics ({', '.join(created)} created again)")
        return self._producer

    def publish(self, events: Sequence[Any]) -> None:
        """Sends the whole batch, then waits for every acknowledgement; raises if any failed."""
        with self._lock:
            try:
                producer = self._producer or self._connect()
                send = producer.send
                futures = []
                for event in events:
                    value, headers = _message(event)
                    key = event.subject.encode()
                    futures.append(send(event.topic, key=key, value=value, headers=headers))
                # One flush per batch: the batch leaves now instead of after linger_ms.
                producer.flush(timeout=self.config["delivery_timeout_ms"] / 1000)
                for future in futures:
                    future.get(timeout=0)  # raises the first failure (all are done after flush)
                self._published = True
            except BrokerLogLost:
                raise
            except Exception:
                self._reset()
                raise

    def _reset(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            try:
                producer.close(timeout=0)
            except Exception:
                logger.debug("closing a failed producer", exc_info=True)

    def close(self) -> None:
        with self._lock:
            if self._producer is not None:
                self._producer.close(timeout=5)
                self._producer = None


def admin_client(bootstrap_servers: str | None = None, *, timeout_ms: int = 10_000) -> KafkaAdminClient:
    return KafkaAdminClient(
        bootstrap_servers=_bootstrap(bootstrap_servers),
        client_id="tms-admin",
        request_timeout_ms=timeout_ms,
        bootstrap_timeout_ms=timeout_ms,
    )


def ensure_topics(
    bootstrap_servers: str | None = None,
    *,
    partitions: int | None = None,
    replication_factor: int | None = None,
    timeout_ms: int = 10_000,
) -> dict[str, str]:
    """Creates the topics that do not exist yet; returns {topic: "created" | "exists"}.
    Partitions of an existing topic are left alone (Tansu cannot add partitions anyway)."""
    partitions = partitions or settings.KAFKA_TOPIC_PARTITIONS
    replication_factor = replication_factor or settings.KAFKA_REPLICATION_FACTOR
    admin = admin_client(bootstrap_servers, timeout_ms=timeout_ms)
    try:
        existing = set(admin.list_topics())
        result = {topic: "exists" for topic in all_topics() if topic in existing}
        missing = [topic for topic in all_topics() if topic not in existing]
        if missing:
            response = admin.create_topics(
                [NewTopic(topic, partitions, replication_factor) for topic in missing],
                timeout_ms=timeout_ms,
                raise_errors=False,
            )
            for created in response["topics"]:
                if created["error_code"] == 0:
                    result[created["name"]] = "created"
                elif created["error_code"] == TopicAlreadyExistsError.errno:  # another process won
                    result[created["name"]] = "exists"
                else:
                    raise RuntimeError(
                        f"creating topic {created['name']} failed: error {created['error_code']} "
                        f"{created.get('error_message') or ''}".strip()
                    )
            admin.wait_for_topics(missing, timeout_ms=timeout_ms)
        return dict(sorted(result.items()))
    finally:
        admin.close()


def describe_topics(bootstrap_servers: str | None = None, *, timeout_ms: int = 10_000) -> list[dict]:
    """The TMS topics with their partition count, the sum of their end offsets, and each consumer
    group's lag (end offset minus committed offset, summed over partitions). On Tansu the reported
    end offset is approximate when a produce batch held several messages, so lag is too."""
    admin = admin_client(bootstrap_servers, timeout_ms=timeout_ms)
    try:
        existing = set(admin.list_topics())
        topics = [topic for topic in all_topics() if topic in existing]
        described = admin.describe_topics(topics) if topics else []
        partitions = {t["name"]: [p["partition_index"] for p in t["partitions"]] for t in described}
        specs = {
            TopicPartition(topic, index): OffsetSpec.LATEST for topic in topics for index in partitions[topic]
        }
        ends = (
            {tp: offset.offset for tp, offset in admin.list_partition_offsets(specs).items()} if specs else {}
        )
        lag: dict[str, dict[str, int]] = {topic: {} for topic in topics}
        try:
            group_ids = sorted(group["group_id"] for group in admin.list_groups())
            for group_id in group_ids:
                committed = admin.list_group_offsets({group_id: None}).get(group_id, {})
                for tp, offset in committed.items():
                    if tp in ends and offset.offset >= 0:
                        per_group = lag[tp.topic]
                        per_group[group_id] = per_group.get(group_id, 0) + max(0, ends[tp] - offset.offset)
        except Exception as error:  # noqa: BLE001 - lag is a nicety: the broker may not list groups
            logger.warning("could not read consumer group offsets: %s", error)
        return [
            {
                "topic": topic,
                "partitions": len(partitions[topic]),
                "end_offsets": sum(ends.get(TopicPartition(topic, i), 0) for i in partitions[topic]),
                "lag": lag[topic],
            }
            for topic in topics
        ]
    finally:
        admin.close()


class DeadLetterProducer:
    """Publishes what a consumer gave up on to `tms.dlq`: the original envelope, the error, the
    consumer. Waits for the acknowledgement: the batch's offsets are committed only afterwards."""

    def __init__(self, bootstrap_servers: str, *, timeout_s: float = 30.0):
        self.bootstrap_servers = bootstrap_servers
        self.timeout_s = timeout_s
        self._producer: KafkaProducer | None = None

    def _send(self, key: str, value: dict[str, Any], headers: list[tuple[str, bytes]]) -> None:
        if self._producer is None:
            self._producer = KafkaProducer(
                bootstrap_servers=self.bootstrap_servers, client_id="tms-dlq", acks="all", linger_ms=0
            )
        try:
            self._producer.send(
                DEAD_LETTER_TOPIC, key=key.encode(), value=encode(value), headers=headers
            ).get(timeout=self.timeout_s)
        except Exception:
            self._producer.close(timeout=0)
            self._producer = None
            raise

    def __call__(self, letter: DeadLetter) -> None:
        envelope = letter.envelope
        self._send(
            str(envelope.get("subject") or letter.event_id),
            {
                "consumer": letter.consumer,
                "error": letter.error,
                "attempts": letter.attempts,
                "event_id": str(letter.event_id),
                "event_type": letter.event_type,
                "dead_letter_id": str(letter.id),
                "dead_lettered_at": rfc3339(letter.created_at),
                "envelope": envelope,
            },
            [*_headers(envelope), ("tms_consumer", letter.consumer.encode())],
        )

    def unreadable(self, consumer: str, record: Any, error: Exception) -> None:
        """A record that is not a CloudEvent at all: kept raw, since no event id can be stored."""
        self._send(
            f"{record.topic}/{record.partition}",
            {
                "consumer": consumer,
                "error": f"{type(error).__name__}: {error}",
                "source": {"topic": record.topic, "partition": record.partition, "offset": record.offset},
                "raw": (record.value or b"").decode(errors="replace"),
                "dead_lettered_at": rfc3339(timezone.now()),
            },
            [("tms_consumer", consumer.encode())],
        )

    def close(self) -> None:
        if self._producer is not None:
            self._producer.close(timeout=5)
            self._producer = None


def _parse(value: bytes | None) -> dict[str, Any]:
    envelope = json.loads(value or b"")
    if not isinstance(envelope, dict) or "id" not in envelope or "type" not in envelope:
        raise ValueError("not a CloudEvent: no id or type")
    return envelope


def log_was_reset(kafka: KafkaConsumer, committed: dict[TopicPartition, int]) -> bool:
    """True when the broker's committed offset of a partition this process committed to is gone or
    lower than what was committed: the broker lost the log and the group's offsets with it."""
    mine = {tp: offset for tp, offset in committed.items() if tp in kafka.assignment()}
    if not mine:
        return False
    # One OffsetFetch for all partitions (KafkaConsumer.committed asks one partition per request).
    on_broker = kafka._coordinator.fetch_committed_offsets(set(mine), timeout_ms=5_000)
    return any(tp not in on_broker or on_broker[tp].offset < offset for tp, offset in mine.items())


def positions_past_the_end(kafka: KafkaConsumer) -> list[TopicPartition]:
    """Assigned partitions whose fetch position lies beyond the end of the partition's log: the
    broker lost its log after this client's positions were set (kafka-python keeps the position of
    a partition that stays assigned across a rebalance), so fetching from there would wait for
    offsets the new log reaches only later and skip everything before them. Empty when the
    broker cannot be asked."""
    positions = {
        tp: state.position.offset
        for tp, state in kafka._subscription.assignment.items()
        if state.position is not None
    }
    if not positions:
        return []
    try:
        ends = kafka.end_offsets(list(positions))
    except KafkaError:
        return []
    return [tp for tp, offset in positions.items() if tp in ends and offset > ends[tp]]


# A commit refused because this member is not (or no longer) in a stable group generation.
MEMBERSHIP_ERRORS = (
    CommitFailedError,
    RebalanceInProgressError,
    UnknownMemberIdError,
    IllegalGenerationError,
)


def run_consumer(
    name: str,
    *,
    stop: Callable[[], bool] | None = None,
    poll_timeout_ms: int = 500,
    bootstrap_servers: str | None = None,
    session_timeout_ms: int = 10_000,
    heartbeat_interval_ms: int = 1_000,
    auto_offset_reset: str = "earliest",
    max_poll_records: int = 500,
    fetch_max_wait_ms: int = 25,
    retry_backoff_s: float = 1.0,
    rejoin_after_s: float | None = None,
    idle_check_s: float = 5.0,
) -> Counter:
    """Runs the registered consumer `name` as the Kafka consumer group `name` until `stop()` is true;
    returns how many records ended in each outcome.

    Offsets are committed after each polled batch has been handled (dead letters included). If
    handling fails (the database is down, say), the batch's partitions are rewound and retried:
    nothing is skipped, and events already handled are recognised by their id. A poll that fails
    because the broker cannot be reached (kafka-python 3 raises from its coordinator lookup) is
    retried after the same backoff: the process outlives a broker outage.

    A broker that lost its log (the in-memory development broker after a restart; a topic deleted
    and recreated) starts its offsets again from 0 while this consumer still holds its old
    positions: fetching from there would skip the new log's first events. Before each commit the
    group's committed offsets are read back; one that went backwards, or vanished, means the log
    was reset, and every partition is re-read from the earliest (idempotency absorbs repeats).
    A member with nothing to read never commits, so every `idle_check_s` while idle it compares
    its positions with the end of each log instead: a position past the end (the log restarted
    below it while a rebalance kept the position) is re-read from the earliest too.

    Tansu completes a group join in about half of `session_timeout_ms`, and answers a fetch only
    when `fetch_max_wait_ms` has passed even if records arrived meanwhile (Apache Kafka answers at
    once): the short default keeps commit-to-consumer latency low on both, at the price of a few
    dozen empty fetches a second while idle.

    A member without a stable group generation (joining, or rebalancing) normally gets one back on
    its next polls. After a broker restart kafka-python 3.0.12 can instead stay without one for
    good: either REBALANCING while still handing out records of its old assignment, every commit
    refused, or never completing its join and polling nothing. When the member has had no stable
    generation (or its commits were refused for want of one) for `rejoin_after_s` (default: three
    session timeouts, longer than a join that waits for a dead member's session to expire), the
    client is closed and a new one joins the group afresh, from the group's committed offsets.
    """
    consumer: Consumer = REGISTRY[name]
    servers = _bootstrap(bootstrap_servers)
    outcomes: Counter = Counter()
    dead_letters = DeadLetterProducer(servers)

    def connect() -> KafkaConsumer:
        return KafkaConsumer(
            *consumer.topics,
            bootstrap_servers=servers,
            group_id=name,
            client_id=f"tms-{name}",
            enable_auto_commit=False,
            auto_offset_reset=auto_offset_reset,
            session_timeout_ms=session_timeout_ms,
            heartbeat_interval_ms=heartbeat_interval_ms,
            max_poll_records=max_poll_records,
            fetch_max_wait_ms=fetch_max_wait_ms,
        )

    kafka = connect()
    logger.info("consumer %s: group %s on %s", name, name, ", ".join(consumer.topics))
    committed: dict[TopicPartition, int] = {}  # what this process committed, per partition
    rejoin_after_s = rejoin_after_s or 3 * session_timeout_ms / 1000
    unstable_since: float | None = None  # since when the member has had no stable generation
    idle_checked = time.monotonic()  # when an idle member last compared its positions with the log
    try:
        while stop is None or not stop():
            try:
                batches = kafka.poll(timeout_ms=poll_timeout_ms)
            except KafkaError as error:  # the broker is unreachable (stopped, restarting): wait for it
                logger.warning(
                    "consumer %s: poll failed, retrying in %.1fs: %s", name, retry_backoff_s, error
                )
                time.sleep(retry_backoff_s)
                continue
            if kafka._coordinator.generation_if_stable() is None:
                unstable_since = unstable_since or time.monotonic()
            elif not batches:
                unstable_since = None  # in the group, with nothing to do
            if unstable_since is not None and time.monotonic() - unstable_since > rejoin_after_s:
                logger.warning(
                    "consumer %s: no stable group generation for %.0fs; joining again with a new client",
                    name,
                    time.monotonic() - unstable_since,
                )
                kafka.close(autocommit=False)
                kafka = connect()
                committed.clear()
                unstable_since = None
                continue
            if not batches:
                if time.monotonic() - idle_checked > idle_check_s:
                    idle_checked = time.monotonic()
                    if past := positions_past_the_end(kafka):
                        logger.warning(
                            "consumer %s: the broker's log was reset (positions past its end); "
                            "re-reading from the earliest",
                            name,
                        )
                        kafka.seek_to_beginning(*past)
                        committed.clear()
                continue
            idle_checked = time.monotonic()
            close_old_connections()
            handled: Counter = Counter()
            try:
                envelopes = []
                for records in batches.values():
                    for record in records:
                        try:
                            envelopes.append(_parse(record.value))
                        except ValueError as error:
                            logger.error("consumer %s: unreadable record at %s: %s", name, record, error)
                            dead_letters.unreadable(name, record, error)
                            handled["unreadable"] += 1
                if consumer.batched:
                    handled.update(deliver_batch(consumer, envelopes, dead_letter_sink=dead_letters))
                else:
                    for envelope in envelopes:
                        handled[deliver(consumer, envelope, dead_letter_sink=dead_letters)] += 1
                if log_was_reset(kafka, committed):
                    logger.warning(
                        "consumer %s: the broker's log was reset; re-reading from the earliest", name
                    )
                    kafka.seek_to_beginning()
                    committed.clear()
                    outcomes.update(handled)
                    continue
                offsets = {
                    tp: OffsetAndMetadata(records[-1].offset + 1, "", -1) for tp, records in batches.items()
                }
                kafka.commit(offsets)
                committed.update({tp: offset.offset for tp, offset in offsets.items()})
                unstable_since = None
            except Exception as error:  # noqa: BLE001 - rewound and retried: nothing is skipped
                if isinstance(error, MEMBERSHIP_ERRORS):  # refused for want of a stable generation
                    unstable_since = unstable_since or time.monotonic()
                logger.warning(
                    "consumer %s: batch failed, retrying in %.1fs: %s", name, retry_backoff_s, error
                )
                assigned = kafka.assignment()
                for tp, records in batches.items():
                    if tp in assigned:  # a partition lost to a rebalance restarts from its commit
                        kafka.seek(tp, records[0].offset)
                time.sleep(retry_backoff_s)
                continue
            outcomes.update(handled)
    finally:
        kafka.close(autocommit=False)
        dead_letters.close()
        close_old_connections()
    return outcomes
