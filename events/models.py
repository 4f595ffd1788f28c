import uuid

from django.conf import settings
from django.contrib.postgres.indexes import BrinIndex
from django.db import models
from django.db.models import Q


class AuditAction(models.TextChoices):
    CREATE = "CREATE"
    UPDATE = "UPDATE"
    DELETE = "DELETE"
    TRANSITION = "TRANSITION"


class AuditLog(models.Model):
    """One row per mutation, written in the mutation's own transaction."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    table_name = models.CharField(max_length=63)
    record_id = models.CharField(max_length=64)
    action = models.CharField(max_length=16, choices=AuditAction.choices)
    changed_data = models.JSONField(default=dict)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    correlation_id = models.CharField(max_length=128, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "audit_logs"
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["table_name", "record_id", "created_at"]),
            models.Index(fields=["user", "created_at"]),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(action__in=AuditAction.values), name="audit_logs_action_valid")
        ]

    def __str__(self) -> str:
        return f"{self.action} {self.table_name} {self.record_id}"


class OutboxEvent(models.Model):
    """A domain event waiting to be relayed: written in the same transaction as the change.

    `id` is the CloudEvents id; `sequence` gives the relay its commit-independent order.
    """

    sequence = models.BigAutoField(primary_key=True)
    id = models.UUIDField(unique=True, default=uuid.uuid4, editable=False)
    type = models.CharField(max_length=64)
    topic = models.CharField(max_length=128)
    subject = models.CharField(max_length=64, help_text="The aggregate id; the Kafka message key.")
    envelope = models.JSONField(help_text="The whole CloudEvent as published.")
    created_at = models.DateTimeField(auto_now_add=True)
    published_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)

    class Meta:
        db_table = "outbox_events"
        indexes = [
            models.Index(fields=["sequence"], condition=Q(published_at=None), name="outbox_unpublished"),
            models.Index(fields=["subject", "sequence"]),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.subject}"


class ProcessedEvent(models.Model):
    """Which events a consumer has handled: redelivery of the same event id has no second effect."""

    consumer = models.CharField(max_length=64)
    event_id = models.UUIDField()
    processed_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "processed_events"
        constraints = [models.UniqueConstraint(fields=["consumer", "event_id"], name="processed_events_once")]

    def __str__(self) -> str:
        return f"{self.consumer}: {self.event_id}"


class DeadLetter(models.Model):
    """An event a consumer could not handle after its retries, with the error."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    consumer = models.CharField(max_length=64)
    event_id = models.UUIDField()
    event_type = models.CharField(max_length=64)
    envelope = models.JSONField()
    error = models.TextField()
    attempts = models.PositiveIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "dead_letters"
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["consumer", "created_at"])]

    def __str__(self) -> str:
        return f"{self.consumer}: {self.event_type} {self.event_id}"


class StoredEvent(models.Model):
    """The event store: every event ever relayed, a time series on the `timeseries` alias."""

    event_id = models.UUIDField(primary_key=True)
    type = models.CharField(max_length=64)
    subject = models.CharField(max_length=64)
    time = models.DateTimeField()
    correlation_id = models.CharField(max_length=128, blank=True)
    envelope = models.JSONField()

    class Meta:
        db_table = "event_store"
        indexes = [
            models.Index(fields=["subject", "time"]),
            models.Index(fields=["type", "time"]),
            # One subject's last event of a type before a moment (the dashboard's vehicle status
            # at the start of a range), however many events of other types the subject has.
            models.Index(fields=["type", "subject", "time"], name="event_store_type_subject_time"),
            BrinIndex(fields=["time"], name="event_store_time_brin"),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.subject} at {self.time}"
