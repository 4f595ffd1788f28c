"""Consumers: named handlers of events, each idempotent on the event id, with retries and dead letters.

A consumer is a Kafka consumer group when Kafka is configured (`manage.py consume NAME`), and is
called by the in-process relay otherwise; `deliver` is the same in both cases.

Dead letters are for events a consumer cannot handle. A handler that fails because a service it
needs is down (the database, Redis, a connection refused or timed out) says nothing about the
event: `deliver` raises that failure after its retries, and the event is handed over again later
(the Kafka consumer rewinds its batch and retries it; the in-process relay leaves the outbox rows
unpublished). Consumers are idempotent, so the repeat is harmless.
"""

import logging
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import redis
from django.db import IntegrityError, InterfaceError, OperationalError, connection, transaction

from events.models import DeadLetter, ProcessedEvent
from events.taxonomy import TOPICS, EventType
from tms.context import acting_as
from tms.exceptions import DependencyUnavailable

logger = logging.getLogger(__name__)

# A service the handler needs does not answer: not the event's fault, so never a dead letter.
DEPENDENCY_ERRORS = (
    ConnectionError,  # refused, reset, broken pipe
    TimeoutError,
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    OperationalError,
    InterfaceError,
    DependencyUnavailable,
)

Envelope = dict[str, Any]
Handler = Callable[[Envelope], None]


@dataclass(frozen=True)
class Consumer:
    name: str
    handler: Handler
    event_types: frozenset[str] = field(default_factory=frozenset)  # empty: every type
    max_attempts: int = 3
    backoff_s: float = 0.05
    # A test of the envelope before any database work; an event it refuses is skipped.
    accepts: Callable[[Envelope], bool] | None = None
    # The handler writes nothing to the database (a side effect only, as the live stream's): a
    # consumer group hands it each polled batch at once (deliver_batch), one transaction and one
    # INSERT of processed-event rows for the batch instead of a transaction per event.
    batched: bool = False
    # For a `batched` consumer: handles the batch's new events at once, in order (else `handler`
    # is called for each).
    batch_handler: Callable[[list[Envelope]], None] | None = None

    def wants(self, envelope: Envelope) -> bool:
        if self.event_types and envelope["type"] not in self.event_types:
            return False
        return self.accepts is None or self.accepts(envelope)

    @property
    def topics(self) -> list[str]:
        types = self.event_types or {t.value for t in EventType}
        return sorted({TOPICS[EventType(t)] for t in types})


REGISTRY: dict[str, Consumer] = {}


def register(
    name: str,
    *,
    types: Iterable[EventType | str] = (),
    accepts: Callable[[Envelope], bool] | None = None,
    max_attempts: int = 3,
    backoff_s: float = 0.05,
    batched: bool = False,
    batch_handler: Callable[[list[Envelope]], None] | None = None,
) -> Callable[[Handler], Handler]:
    """Registers `handler` as the consumer `name` for `types` (all types when empty) and the
    envelopes `accepts` lets through (all when None); `batched` (and its `batch_handler`) for a
    handler that writes nothing to the database (see Consumer)."""

    def decorator(handler: Handler) -> Handler:
        REGISTRY[name] = Consumer(
            name=name,
            handler=handler,
            event_types=frozenset(EventType(t).value for t in types),
            accepts=accepts,
            max_attempts=max_attempts,
            backoff_s=backoff_s,
            batched=batched,
            batch_handler=batch_handler,
        )
        return handler

    return decorator


class Outcome:
    PROCESSED = "processed"
    DUPLICATE = "duplicate"
    SKIPPED = "skipped"
    DEAD_LETTERED = "dead_lettered"


def deliver(consumer: Consumer, envelope: Envelope, *, dead_letter_sink: Callable | None = None) -> str:
    """Hands one event to a consumer: at most one effect per event id (the processed-event row
    commits with the handler's own writes), retried with exponential backoff, then dead-lettered;
    or, when the last failure was a dependency that is down (DEPENDENCY_ERRORS), raised: the caller
    hands the event over again later.

    The handler acts for nobody, in-process as in its own process: the events it emits are the
    system's, not those of the user whose request it follows."""
    if not consumer.wants(envelope):
        return Outcome.SKIPPED
    error: Exception | None = None
    for attempt in range(1, consumer.max_attempts + 1):
        try:
            with transaction.atomic():
                try:
                    with transaction.atomic():
                        ProcessedEvent.objects.create(consumer=consumer.name, event_id=envelope["id"])
                except IntegrityError:
                    return Outcome.DUPLICATE
                with acting_as(None):
                    consumer.handler(envelope)
            return Outcome.PROCESSED
        except Exception as caught:  # noqa: BLE001 - any handler failure is retried, then dead-lettered
            error = caught
            logger.warning(
                "consumer %s failed on event %s (attempt %d/%d): %s",
                consumer.name,
                envelope["id"],
                attempt,
                consumer.max_attempts,
                caught,
            )
            if attempt < consumer.max_attempts:
                time.sleep(consumer.backoff_s * 2 ** (attempt - 1))
    if isinstance(error, DEPENDENCY_ERRORS):
        # Dead-lettering would drop a good event for good (a Redis outage emptied the live stream
        # of everything relayed meanwhile): it waits for the dependency instead.
        raise error
    letter = DeadLetter.objects.create(
        consumer=consumer.name,
        event_id=envelope["id"],
        event_type=envelope["type"],
        envelope=envelope,
        error=f"{type(error).__name__}: {error}",
        attempts=consumer.max_attempts,
    )
    if dead_letter_sink is not None:
        dead_letter_sink(letter)
    return Outcome.DEAD_LETTERED


def deliver_batch(
    consumer: Consumer, envelopes: Sequence[Envelope], *, dead_letter_sink: Callable | None = None
) -> Counter:
    """Hands a consumer group's polled batch to a `batched` consumer; returns how many events ended
    in each outcome. In one transaction, one INSERT records every event of the batch not yet
    processed (an event seen before, or twice in the batch, is a duplicate) and the handler runs for
    each of them, in order (the batch handler once for all of them): the rows commit with whatever
    the handlers did, as with `deliver`. If a handler fails, the transaction rolls back and every
    event of the batch goes through `deliver` on its own (retries, dead letters, a dependency's
    failure raised), so a handler may see an event twice, as it may after any redelivery."""
    outcomes: Counter = Counter()
    wanted = []
    for envelope in envelopes:
        if consumer.wants(envelope):
            wanted.append(envelope)
        else:
            outcomes[Outcome.SKIPPED] += 1
    if not wanted:
        return outcomes
    try:
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute(
                    f"INSERT INTO {ProcessedEvent._meta.db_table} (consumer, event_id, processed_at) "
                    "SELECT %s, unnest(%s::uuid[]), now() ON CONFLICT DO NOTHING RETURNING event_id",
                    [consumer.name, [envelope["id"] for envelope in wanted]],
                )
                new = {row[0] for row in cursor.fetchall()}
            first_time = []
            for envelope in wanted:
                event_id = uuid.UUID(envelope["id"])
                if event_id in new:
                    new.discard(event_id)
                    first_time.append(envelope)
            with acting_as(None):
                if consumer.batch_handler is not None and first_time:
                    consumer.batch_handler(first_time)
                else:
                    for envelope in first_time:
                        consumer.handler(envelope)
            outcomes[Outcome.PROCESSED] += len(first_time)
            outcomes[Outcome.DUPLICATE] += len(wanted) - len(first_time)
    except Exception as error:  # noqa: BLE001 - each event is handed over again on its own
        logger.warning(
            "consumer %s: a batch of %d events failed (%s); delivering them one by one",
            consumer.name,
            len(envelopes),
            error,
        )
        return Counter(
            deliver(consumer, envelope, dead_letter_sink=dead_letter_sink) for envelope in envelopes
        )
    return +outcomes  # without the outcomes that did not occur


def deliver_to_all(envelope: Envelope, consumers: Iterable[Consumer] | None = None) -> dict[str, str]:
    """The embedded transport: every registered consumer, in registration order."""
    return {c.name: deliver(c, envelope) for c in (consumers or REGISTRY.values())}
