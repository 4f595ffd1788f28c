"""The audit trail and the outbox in the back office, read-only."""

import json
from typing import Any

from django.apps import apps
from django.contrib import admin
from django.db import models
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html

from events.models import AuditLog, OutboxEvent
from tms.admin import ReadOnlyAdmin


def _pretty_json(value: Any) -> str:
    return format_html("<pre>{}</pre>", json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False))


_MODELS_BY_TABLE: dict[str, type[models.Model]] = {}


def _model_for_table(table_name: str) -> type[models.Model] | None:
    if not _MODELS_BY_TABLE:
        _MODELS_BY_TABLE.update({model._meta.db_table: model for model in apps.get_models()})
    return _MODELS_BY_TABLE.get(table_name)


@admin.register(AuditLog)
class AuditLogAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "action", "table_name", "record_id", "user", "correlation_id"]
    list_filter = ["action", "table_name"]
    search_fields = ["record_id", "correlation_id"]
    date_hierarchy = "created_at"
    list_select_related = ["user"]
    fields = [
        "created_at",
        "action",
        "table_name",
        "record_id",
        "record",
        "user",
        "correlation_id",
        "changes",
    ]
    readonly_fields = fields

    @admin.display(description="record")
    def record(self, entry: AuditLog) -> str:
        model = _model_for_table(entry.table_name)
        if model is None:
            return "-"
        try:
            url = reverse(
                f"admin:{model._meta.app_label}_{model._meta.model_name}_change", args=[entry.record_id]
            )
        except NoReverseMatch:
            return "-"
        return format_html('<a href="{}">{} {}</a>', url, model._meta.verbose_name, entry.record_id)

    @admin.display(description="changed data")
    def changes(self, entry: AuditLog) -> str:
        return _pretty_json(entry.changed_data)


class PublishedFilter(admin.SimpleListFilter):
    title = "published"
    parameter_name = "published"

    def lookups(self, request, model_admin):
        return [("yes", "Published"), ("no", "Waiting")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.exclude(published_at=None)
        if self.value() == "no":
            return queryset.filter(published_at=None)
        return queryset


@admin.register(OutboxEvent)
class OutboxEventAdmin(ReadOnlyAdmin):
    list_display = ["sequence", "type", "topic", "subject", "created_at", "published_at", "attempts"]
    list_filter = ["type", "topic", PublishedFilter]
    search_fields = ["subject", "id", "envelope__correlationid"]
    date_hierarchy = "created_at"
    ordering = ["-sequence"]
    fields = [
        "sequence",
        "id",
        "type",
        "topic",
        "subject",
        "created_at",
        "published_at",
        "attempts",
        "last_error",
        "event",
    ]
    readonly_fields = fields

    @admin.display(description="CloudEvent")
    def event(self, outbox_event: OutboxEvent) -> str:
        return _pretty_json(outbox_event.envelope)
