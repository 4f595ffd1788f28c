"""Webhook subscriptions (where to send which events, with which secret) and their deliveries."""

import uuid
from urllib.parse import urlsplit

from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q

from events.taxonomy import EventType
from tms.models import BaseEntity, choices_constraint


class WebhookSubscription(BaseEntity):
    """An external receiver of events: every event of `event_types` (every event when empty) is
    POSTed to `url`, signed with `secret`. `active` is false once it was disabled, by hand or after
    WEBHOOKS_DISABLE_AFTER_FAILURES deliveries failed in a row, until an admin enables it again."""

    url = models.URLField(max_length=2000, help_text="http(s) URL the events are POSTed to.")
    event_types = ArrayField(
        models.CharField(max_length=64, choices=[(t.value, t.value) for t in EventType]),
        default=list,
        blank=True,
        help_text="Event types delivered; empty: every type.",
    )
    secret = models.CharField(
        max_length=128, help_text="Standard Webhooks signing secret: whsec_ + base64 of 24-64 bytes."
    )
    description = models.CharField(max_length=200, blank=True)
    active = models.BooleanField(default=True)
    consecutive_failures = models.PositiveIntegerField(
        default=0, help_text="Deliveries that failed for good since the last success or re-enabling."
    )
    disabled_at = models.DateTimeField(null=True, blank=True)
    disabled_reason = models.CharField(max_length=300, blank=True)

    class Meta:
        db_table = "webhook_subscriptions"
        ordering = ["created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(event_types__contained_by=[t.value for t in EventType]),
                name="webhook_subscriptions_event_types_valid",
            ),
        ]

    def __str__(self) -> str:
        # Never the whole URL: its path or query may hold the receiver's token, and this name goes
        # into alerts and messages.
        return self.description or f"to {urlsplit(self.url).hostname}"


class DeliveryStatus(models.TextChoices):
    PENDING = "PENDING"  # waiting for its next attempt (next_attempt_at)
    SENDING = "SENDING"  # claimed by a sender until next_attempt_at (then claimable again)
    SUCCEEDED = "SUCCEEDED"  # the receiver answered 2xx
    FAILED = "FAILED"  # WEBHOOKS_MAX_ATTEMPTS attempts failed
    CANCELLED = "CANCELLED"  # its subscription was disabled before it succeeded


class WebhookDelivery(models.Model):
    """One event for one subscription: its attempts and the receiver's last answer. The row is the
    record of the delivery (no audit row per attempt)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    subscription = models.ForeignKey(WebhookSubscription, on_delete=models.CASCADE, related_name="deliveries")
    event_id = models.UUIDField(help_text="The CloudEvents id of the event delivered.")
    event_type = models.CharField(max_length=64)
    payload = models.JSONField(help_text="The CloudEvent sent as the request body.")
    status = models.CharField(max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    response_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.TextField(blank=True, help_text="The start of the receiver's last answer.")
    response_duration_ms = models.PositiveIntegerField(null=True, blank=True)
    error = models.TextField(blank=True, help_text="Why the last attempt failed.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "webhook_deliveries"
        ordering = ["-created_at"]
        verbose_name_plural = "webhook deliveries"
        constraints = [
            models.UniqueConstraint(fields=["subscription", "event_id"], name="webhook_deliveries_once"),
            choices_constraint("status", DeliveryStatus, "webhook_deliveries"),
        ]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(status__in=[DeliveryStatus.PENDING, DeliveryStatus.SENDING]),
                name="webhook_deliveries_due",
            ),
            models.Index(fields=["subscription", "created_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} {self.event_id} -> {self.subscription_id}"
