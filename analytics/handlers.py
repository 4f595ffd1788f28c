"""Reactions of the analytics app to domain events: registered when the app is ready."""

from uuid import UUID

from django.utils.dateparse import parse_datetime

from analytics import services
from analytics.cache import CHANGING_EVENTS, bump_version
from events.consumers import register
from events.taxonomy import EventType


def _drop_cached_answers(envelopes: list[dict]) -> None:
    """One version bump for a batch of events, however many (see analytics.cache)."""
    bump_version()


@register("analytics-cache", types=CHANGING_EVENTS, batched=True, batch_handler=_drop_cached_answers)
def drop_cached_answers(envelope: dict) -> None:
    """An event that changes a figure: the cached dashboard and scorecards are stale."""
    bump_version()


def _has_carrier(envelope: dict) -> bool:
    return envelope["data"].get("carrier_id") is not None


@register("carrier-performance", types=[EventType.LOAD_DELIVERED], accepts=_has_carrier)
def report_carrier_performance(envelope: dict) -> None:
    """A carrier delivered a load: its record changed (CARRIER_PERFORMANCE_UPDATED)."""
    data = envelope["data"]
    services.publish_carrier_performance(
        carrier_id=UUID(data["carrier_id"]), until=parse_datetime(data["delivered_at"])
    )
