"""Reads of the webhooks app used by several callers."""

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
