"""The events app's own write: publishing a taxonomy event by hand (`POST /api/events/publish`)."""

from typing import Any

from django.db import transaction

from events import audit
from events.models import AuditAction, OutboxEvent
from events.outbox import emit
from events.taxonomy import EventType


@transaction.atomic
def publish_event(
    *, type: EventType | str, subject: str, data: dict[str, Any], by: audit.Actor
) -> OutboxEvent:
    """Publishes any taxonomy event: its data must pass the type's schema (InvalidEventData if not),
    and it goes through the outbox to the type's topic like every other event, with an audit row
    (the outbox row's creation: type, subject, data) naming who published it."""
    event = emit(type, subject=subject, data=data)
    audit.record(
        instance=event,
        action=AuditAction.CREATE,
        changed_data={"type": event.type, "subject": event.subject, "data": event.envelope["data"]},
        by=by,
    )
    return event
