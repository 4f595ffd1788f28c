"""`emit`: the only way a domain event enters the system (transactional outbox)."""

import json
import uuid
from decimal import Decimal
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection
from django.utils import timezone

from events.models import OutboxEvent
from events.taxonomy import TOPICS, EventType
from tms.context import current_correlation_id

SOURCE = "/tms"
SPEC_VERSION = "1.0"
SCHEMA_VERSION = 1


class UnknownEventType(ValueError):
    pass


class EventJSONEncoder(DjangoJSONEncoder):
    """Decimals as JSON numbers, as the REST API renders them; UUIDs and datetimes as strings."""

    def default(self, o):
        if isinstance(o, Decimal):
            return float(o)
        return super().default(o)


def _json_safe(data: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(data, cls=EventJSONEncoder))


def emit(event_type: EventType | str, *, subject: Any, data: dict[str, Any]) -> OutboxEvent:
    """Write a CloudEvent to the outbox inside the caller's transaction.

    Raises if called outside a transaction: an event must commit or roll back with its change.
    """
    try:
        event_type = EventType(event_type)
    except ValueError as error:
        raise UnknownEventType(f"unknown event type {event_type!r}") from error
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
        "time": now.isoformat(),
        "datacontenttype": "application/json",
        "dataschema": f"/schemas/{event_type.value}/v{SCHEMA_VERSION}",
        "correlationid": current_correlation_id() or None,
        "data": _json_safe(data),
    }
    event = OutboxEvent.objects.create(
        id=event_id,
        type=event_type.value,
        topic=TOPICS[event_type],
        subject=str(subject),
        envelope=envelope,
    )
    return event
