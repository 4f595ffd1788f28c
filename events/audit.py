"""The audit trail: one `audit_logs` row per mutation, in the mutation's transaction.

The `audited_*` helpers are the generic create/update/delete used by the domain services for
entities whose changes have no event of their own; they validate the row (field rules and database
constraints) before writing, so the API, the admin and commands share the same checks.
"""

import datetime
import json
from typing import Any, TypeVar

from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser
from django.contrib.gis.geos import GEOSGeometry
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models, transaction
from django.db.models.fields.files import FieldFile

from events.models import AuditAction, AuditLog
from tms.context import current_correlation_id
from tms.models import save_checked
from tms.times import rfc3339

# Who made a change: the request's user, or None for the system (commands, consumers).
Actor = AbstractBaseUser | AnonymousUser | None
M = TypeVar("M", bound=models.Model)


def _json_value(value: Any) -> Any:
    if isinstance(value, GEOSGeometry):
        return json.loads(value.geojson)
    if isinstance(value, datetime.datetime):
        return rfc3339(value)
    if isinstance(value, FieldFile):  # a stored file: its name in the storage
        return value.name or None  # full precision: Django's encoder keeps only milliseconds
    return json.loads(json.dumps(value, cls=DjangoJSONEncoder))


def snapshot(instance: models.Model, fields: list[str] | None = None) -> dict[str, Any]:
    """The row's concrete field values as JSON (foreign keys by id, geometries as GeoJSON)."""
    values = {}
    for field in instance._meta.concrete_fields:
        if fields is not None and field.name not in fields and field.attname not in fields:
            continue
        values[field.attname] = _json_value(field.value_from_object(instance))
    return values


def _user_or_none(by: Actor) -> AbstractBaseUser | None:
    return by if by is not None and getattr(by, "is_authenticated", False) else None


REDACTED = "[redacted]"


def _redact(value: Any, *, update: bool) -> Any:
    if update:  # [old, new]
        return [None if part is None else REDACTED for part in value]
    return None if value is None else REDACTED


def record(
    *, instance: models.Model, action: AuditAction, changed_data: dict[str, Any], by: Actor
) -> AuditLog:
    """Writes the audit row of a change to `instance`, in the caller's transaction: who (`by`, when
    a signed-in user), under which correlation id, and what changed. Fields a model lists in
    AUDIT_REDACTED_FIELDS (credentials) are recorded as set, changed or cleared, never their value:
    the audit trail is readable by viewers in the back office."""
    redacted = getattr(type(instance), "AUDIT_REDACTED_FIELDS", ())
    if redacted:
        changed_data = {
            key: _redact(value, update=action == AuditAction.UPDATE) if key in redacted else value
            for key, value in changed_data.items()
        }
    return AuditLog.objects.create(
        table_name=instance._meta.db_table,
        record_id=str(instance.pk),
        action=action,
        changed_data=changed_data,
        user=_user_or_none(by),
        correlation_id=current_correlation_id(),
    )


def changes(before: dict[str, Any], after: dict[str, Any]) -> dict[str, list[Any]]:
    """{"field": [old, new]} for every field that differs."""
    return {key: [before.get(key), value] for key, value in after.items() if before.get(key) != value}


@transaction.atomic
def audited_create(model_class: type[M], /, *, by: Actor, **fields: Any) -> M:
    """Creates a row that passes its field rules and constraints (`save_checked`), audited."""
    instance = model_class(**fields)
    save_checked(instance)
    record(instance=instance, action=AuditAction.CREATE, changed_data=snapshot(instance), by=by)
    return instance


@transaction.atomic
def audited_update(instance: models.Model, /, *, by: Actor, **fields: Any) -> dict[str, list[Any]]:
    """Applies `fields` to a locked copy of the row; returns what changed (nothing: no write)."""
    locked = type(instance).objects.select_for_update().get(pk=instance.pk)
    before = snapshot(locked)
    for name, value in fields.items():
        setattr(locked, name, value)
    diff = changes(before, snapshot(locked))
    if diff:
        save_checked(locked)
        record(instance=locked, action=AuditAction.UPDATE, changed_data=diff, by=by)
    instance.refresh_from_db()
    return diff


@transaction.atomic
def audited_delete(instance: M, *, by: Actor) -> M:
    """Deletes the row, audited with its last values; returns it (its primary key kept)."""
    data = snapshot(instance)
    pk = instance.pk
    instance.delete()
    instance.pk = pk
    record(instance=instance, action=AuditAction.DELETE, changed_data=data, by=by)
    return instance
