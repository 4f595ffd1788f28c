"""Reads of the webhooks app used by several callers."""

import threading
import time

from django.db.models import Q, QuerySet

from webhooks.models import WebhookDelivery, WebhookSubscription


def subscriptions_for(event_type: str) -> QuerySet[WebhookSubscription]:
    """The active subscriptions that want events of `event_type`: those listing it, and those
    listing no type (every event)."""
    return WebhookSubscription.objects.filter(
        Q(event_types=[]) | Q(event_types__contains=[event_type]), active=True
    )


def deliveries_of(subscription: WebhookSubscription) -> QuerySet[WebhookDelivery]:
    """A subscription's deliveries, newest first."""
    return WebhookDelivery.objects.filter(subscription=subscription).order_by("-created_at", "-id")


# How long a process trusts its list of the event types some subscription wants (see below).
WANTED_TYPES_TTL_S = 5.0
EVERY_TYPE = "*"
_wanted: dict = {"types": frozenset(), "until": 0.0}
_wanted_lock = threading.Lock()


def wanted_event_types() -> frozenset[str]:
    """The event types some active subscription wants (EVERY_TYPE among them when one wants all),
    read at most every WANTED_TYPES_TTL_S per process: the `webhooks` consumer skips the others
    before any database work (most events, GPS fixes first, usually go nowhere). A subscription
    made in another process gets events from at most that long after it was made; in this one,
    from its commit (forget_wanted_event_types)."""
    with _wanted_lock:
        if time.monotonic() >= _wanted["until"]:
            types: set[str] = set()
            for event_types in WebhookSubscription.objects.filter(active=True).values_list(
                "event_types", flat=True
            ):
                types.update(event_types or [EVERY_TYPE])
            _wanted["types"], _wanted["until"] = frozenset(types), time.monotonic() + WANTED_TYPES_TTL_S
        return _wanted["types"]


def forget_wanted_event_types() -> None:
    with _wanted_lock:
        _wanted["until"] = 0.0
