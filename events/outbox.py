"""`emit`: the only way a domain event enters the system (transactional outbox)."""

import uuid
from typing import Any

from django.db import connection, transaction
from django.utils import timezone
from pydantic import ValidationError

from events.models import OutboxEvent
from events.relay import wake_relay
from events.schemas import SCHEMAS
from events.taxonomy import TOPICS, EventType
from tms.context import current_actor, current_correlation_id
from tms.times import rfc3339

SOURCE = "/tms"
SPEC_VERSION = "1.0"


class UnknownEventType(ValueError):
    pass


class InvalidEventData(ValueError):
    pass


def validate_data(event_type: EventType, data: dict[str, Any]) -> dict[str, Any]:
    """The event's data checked against its schema, as JSON values (UUIDs and times as strings)."""
    try:
        return SCHEMAS[event_type].model_validate(data).model_dump(mode="json")
    except ValidationError as error:
        raise InvalidEventData(f"invalid data for {event_type.value}: {error}") from error


def emit(event_type: EventType | str, *, subject: Any, data: dict[str, Any]) -> OutboxEvent:
    """Write a CloudEvent to the outbox inside the caller's transaction.

    Raises UnknownEventType or InvalidEventData for what the taxonomy does not allow, and
    RuntimeError outside a transaction: an event must commit or roll back with its change.
    An event emitted on behalf of a user carries the CloudEvents extension attribute `actor`, the
    user's id (what anomaly detection counts); one the system emits on its own has none.
    """
    try:
        event_type = EventType(event_type)
    except ValueError as error:
        raise UnknownEventType(f"unknown event type {event_type!r}") from error
    data = validate_data(event_type, data)
    if not connection.in_atomic_block:
        raise RuntimeError("events.emit must run inside transaction.atomic() with its change")
    event_id = uuid.uuid4()
    now = timezone.now()
    envelope = {
        "specversion": SPEC_VERSION,
        "id": str(event_id),
        "type": event_type.value,
        "source": SOURCE,
        "subject": str(subject),
        "time": rfc3339(now),
        "datacontenttype": "application/json",
        "dataschema": f"/schemas/{event_type.value}/v{SCHEMAS[event_type].schema_version}",
        "correlationid": current_correlation_id() or None,
        "data": data,
    }
    actor = current_actor()
    if actor is not None:
        envelope["actor"] = actor
    event = OutboxEvent.objects.create(
        id=event_id,
        type=event_type.value,
        topic=TOPICS[event_type],
        subject=str(subject),
        envelope=envelope,
    )
    # One wake-up per atomic block, however many events it emits: each is a NOTIFY (a round trip)
    # that wakes the relay for a cycle of its own. One registered where every savepoint it was
    # registered in is still open here runs at this event's commit, or is rolled back with it.
    open_savepoints = set(connection.savepoint_ids)
    if not any(
        callback is wake_relay and savepoints <= open_savepoints
        for savepoints, callback, _ in connection.run_on_commit
    ):
        transaction.on_commit(wake_relay)
    return event
