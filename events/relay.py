"""The relay: outbox rows, in order, to Kafka (or to the in-process consumers), marked published
only once the transport has them.

One relay works at a time: each batch holds a transaction-level PostgreSQL advisory lock, so a
second relay (another process, or a request's wake-up) waits for the batch to finish. Per-aggregate
order holds because services lock the aggregate's row, so a later change to the same aggregate
commits its outbox row after the earlier one.
"""

import json
import logging
import time
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any, Protocol
from uuid import UUID

import psycopg
from django.conf import settings
from django.db import DatabaseError, connection, connections, transaction
from django.db.models import F, TextField
from django.db.models.functions import Cast
from django.utils import timezone

from events.consumers import deliver_to_all
from events.models import OutboxEvent
from tms import metrics

logger = logging.getLogger(__name__)

# pg_advisory_xact_lock key: "tmsrelay" as a 64-bit integer.
RELAY_LOCK_KEY = int.from_bytes(b"tmsrelay", "big") - 2**63
# Longest wait between attempts while the broker is down.
MAX_BACKOFF_S = 30.0


class Transport(Protocol):
    name: str

    def publish(self, events: Sequence[Any]) -> None:
        """Returns once every event is acknowledged; raises if any is not. Each event has `id`,
        `type`, `topic`, `subject` and `envelope` (a PendingEvent, an OutboxEvent, the tracking
        relay's RelayedEvent); a PendingEvent also has the envelope's JSON text, `envelope_json`."""


class PendingEvent:
    """An outbox row as the relay reads it: the envelope is the JSON text PostgreSQL returns for
    the jsonb column (`envelope_json`), which the Kafka transport sends as it is, and is decoded
    only when a transport asks for `envelope` (the in-process one)."""

    __slots__ = ("_envelope", "envelope_json", "id", "sequence", "subject", "topic", "type")

    def __init__(self, sequence: int, id: UUID, type: str, topic: str, subject: str, envelope_json: str):
        self.sequence, self.id, self.type, self.topic = sequence, id, type, topic
        self.subject, self.envelope_json = subject, envelope_json
        self._envelope: dict[str, Any] | None = None

    @property
    def envelope(self) -> dict[str, Any]:
        if self._envelope is None:
            self._envelope = json.loads(self.envelope_json)
        return self._envelope

    def __repr__(self) -> str:
        return f"<PendingEvent {self.sequence} {self.type} {self.subject}>"


class BrokerLogLost(Exception):
    """The transport found that the broker no longer has what was published to it (the in-memory
    development broker restarted; topics deleted): everything still in the outbox goes out again."""


class InProcessTransport:
    """The embedded default: events go straight to the registered consumers."""

    name = "in-process"

    def publish(self, events: Sequence[Any]) -> None:
        for event in events:
            deliver_to_all(event.envelope)


def default_transport() -> Transport:
    if settings.KAFKA_BOOTSTRAP_SERVERS:
        from events.kafka import KafkaTransport

        return KafkaTransport.shared()
    return InProcessTransport()


def pending_events(batch_size: int) -> list[PendingEvent]:
    """The oldest unpublished outbox rows, in order, with the envelope as text (not decoded)."""
    rows = (
        OutboxEvent.objects.filter(published_at=None)
        .order_by("sequence")
        .annotate(envelope_json=Cast("envelope", TextField()))
        .values_list("sequence", "id", "type", "topic", "subject", "envelope_json")[:batch_size]
    )
    return [PendingEvent(*row) for row in rows]


def _rows_of(events: Sequence[PendingEvent]):
    """The outbox rows of `events` (read in sequence order): a range when their sequences have no
    gap (no other row can lie inside it, sequence being the key), else the list of sequences. A
    range with a gap could take in a row committed after the batch was read, never published."""
    first, last = events[0].sequence, events[-1].sequence
    if last - first + 1 == len(events):
        return OutboxEvent.objects.filter(sequence__gte=first, sequence__lte=last)
    return OutboxEvent.objects.filter(sequence__in=[event.sequence for event in events])


def relay_batch(transport: Transport, batch_size: int | None = None) -> int:
    """Publishes the oldest unpublished events; returns how many. A transport failure leaves
    the rows unpublished, counts the attempt, and raises."""
    batch_size = batch_size or settings.EVENTS_RELAY_BATCH_SIZE
    failure: Exception | None = None
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("select pg_advisory_xact_lock(%s)", [RELAY_LOCK_KEY])
        events = pending_events(batch_size)
        if not events:
            return 0
        try:
            transport.publish(events)
        except Exception as error:  # noqa: BLE001 - re-raised below, after recording it
            failure = error
            transaction.set_rollback(True)
        else:
            _rows_of(events).update(published_at=timezone.now())
    if isinstance(failure, BrokerLogLost):
        # Published events that consumers had not read yet are gone with the broker's log: all
        # that is retained goes out again, oldest first (consumers ignore what they have seen).
        count = OutboxEvent.objects.exclude(published_at=None).update(published_at=None)
        logger.warning("%s; %d published events go out again, in order", failure, count)
        return 0
    if failure is not None:
        _rows_of(events).update(
            attempts=F("attempts") + 1, last_error=f"{type(failure).__name__}: {failure}"[:2000]
        )
        raise failure
    metrics.EVENTS_RELAYED.labels("outbox").inc(len(events))
    return len(events)


def relay_pending(transport: Transport | None = None, *, max_batches: int | None = None) -> int:
    """Relays until the outbox is empty (or `max_batches`); returns how many events."""
    transport = transport or default_transport()
    total = batches = 0
    while max_batches is None or batches < max_batches:
        count = relay_batch(transport)
        total += count
        batches += 1
        if count == 0:
            break
    return total


OUTBOX_CHANNEL = "tms_outbox"


def wake_relay() -> None:
    """Called on commit of every transaction that emitted: relay now.

    Embedded: the in-process relay runs here, after the commit. With Kafka: a NOTIFY on
    OUTBOX_CHANNEL, which wakes the `relay_events` process at once (one round trip to
    PostgreSQL); if it is lost, the relay still finds the rows at its next poll.
    """
    if not settings.EVENTS_RELAY_ON_COMMIT:
        return
    if settings.KAFKA_BOOTSTRAP_SERVERS:
        notify(OUTBOX_CHANNEL)
        return
    try:
        relay_pending()
    except Exception:  # the change is committed; its events wait in the outbox
        logger.exception("in-process relay failed; events stay in the outbox")


def notify(channel: str, *, using: str = "default") -> None:
    """Wakes the relay listening on `channel` of database `using` (after a commit: the rows are
    visible to it)."""
    try:
        with connections[using].cursor() as cursor:
            cursor.execute(f"NOTIFY {channel}")
    except DatabaseError as error:  # the poll is the fallback
        logger.warning("could not wake the relay (%s); it will find the rows when it polls", error)


class Wakeup:
    """A relay's idle wait: until a NOTIFY on `channel` arrives or `timeout` passes, whichever
    comes first, on a connection of its own (LISTEN needs one that stays open and out of any
    transaction). Notifications that arrive while the relay works are kept by the connection and
    end the next wait at once, so none is missed."""

    def __init__(self, channel: str, *, using: str = "default") -> None:
        self.channel, self.using = channel, using
        self._connection: psycopg.Connection | None = None

    def __call__(self, timeout: float) -> None:
        try:
            if self._connection is None or self._connection.closed:
                params = connections[self.using].get_connection_params()
                keep = ("dbname", "user", "password", "host", "port", "sslmode", "connect_timeout")
                self._connection = psycopg.connect(
                    **{key: params[key] for key in keep if key in params}, autocommit=True
                )
                self._connection.execute(f"LISTEN {self.channel}")
                return  # (re)connected: a notification may have been missed, so poll now
            for _ in self._connection.notifies(timeout=timeout, stop_after=1):
                pass
        except psycopg.Error as error:
            logger.warning("listening on %s failed (%s); polling every %.1fs", self.channel, error, timeout)
            self.close()
            time.sleep(timeout)

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


def poll_forever(
    relay_once: Callable[[], int],
    *,
    poll_interval_s: float,
    stop: Callable[[], bool] | None = None,
    name: str = "relay",
    log: logging.Logger = logger,
    after_each_poll: Callable[[], object] | None = None,
    wait: Callable[[float], object] | None = None,
) -> None:
    """The loop of every long-running relay (the outbox's, fleet's tracking relay): calls
    `relay_once` (returns how many it published) again at once while there is work, sleeps
    `poll_interval_s` when there is none, and while it fails logs "<name> failed, retrying in ..."
    and backs off, doubling the wait up to MAX_BACKOFF_S; the work waits in its table meanwhile.
    Stops once `stop()` is true, after the current poll. Idle, it waits with `wait(seconds)`
    (default: sleep; a Wakeup ends the wait early when new work is notified); backing off, it sleeps.
    """
    delay = poll_interval_s
    while stop is None or not stop():
        failed = False
        try:
            count = relay_once()
            delay = poll_interval_s
        except Exception as error:  # noqa: BLE001 - keep running; the work waits in its table
            log.warning("%s failed, retrying in %.1fs: %s", name, delay, error)
            count, failed = 0, True
            delay = min(delay * 2, MAX_BACKOFF_S)
        if after_each_poll is not None:
            after_each_poll()
        if failed:
            time.sleep(delay)
        elif count == 0:
            (wait or time.sleep)(delay)


def run_forever(*, poll_interval_s: float = 1.0, transport: Transport | None = None, stop=None) -> None:
    """The long-running relay (`manage.py relay_events`): relays as soon as a commit notifies it
    (else every `poll_interval_s`), backs off while the broker is down, and prunes published rows
    past their retention."""
    transport = transport or default_transport()
    last_prune = 0.0

    def prune_every_minute() -> None:
        nonlocal last_prune
        if time.monotonic() - last_prune > 60:
            prune_published()
            last_prune = time.monotonic()

    wakeup = Wakeup(OUTBOX_CHANNEL)
    try:
        poll_forever(
            lambda: relay_pending(transport, max_batches=20),
            poll_interval_s=poll_interval_s,
            stop=stop,
            after_each_poll=prune_every_minute,
            wait=wakeup,
        )
    finally:
        wakeup.close()


def prune_published(retention: timedelta | None = None) -> int:
    """Deletes published outbox rows older than the retention period."""
    retention = retention or timedelta(hours=settings.EVENTS_OUTBOX_RETENTION_HOURS)
    deleted, _ = OutboxEvent.objects.filter(published_at__lt=timezone.now() - retention).delete()
    return deleted


def backlog() -> dict:
    """Unpublished events and the age of the oldest: what /health reports."""
    oldest = OutboxEvent.objects.filter(published_at=None).order_by("sequence").first()
    return {
        "unpublished": OutboxEvent.objects.filter(published_at=None).count(),
        "oldest_age_s": round((timezone.now() - oldest.created_at).total_seconds(), 1) if oldest else 0,
    }
