"""The built-in consumers: registered when the app is ready."""

from django.conf import settings

from events.consumers import register
from events.models import StoredEvent


@register("event-store")
def store_event(envelope: dict) -> None:
    """Appends every event to the event store (the `timeseries` database)."""
    StoredEvent.objects.using(settings.TIMESERIES_DATABASE_ALIAS).bulk_create(
        [
            StoredEvent(
                event_id=envelope["id"],
                type=envelope["type"],
                subject=envelope["subject"],
                time=envelope["time"],
                correlation_id=envelope.get("correlationid") or "",
                envelope=envelope,
            )
        ],
        ignore_conflicts=True,
    )
