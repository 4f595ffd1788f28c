import uuid
from datetime import timedelta

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import IntegrityError, models, transaction
from django.db.models import Q

from tms.exceptions import InvalidTransition

# A reported time (a GPS fix, a duty-status change, a milestone) more than this ahead of the server
# clock is a device clock error, not an instant: the API and the services refuse it.
MAX_CLOCK_SKEW = timedelta(minutes=5)


class BaseEntity(models.Model):
    """UUID key and timestamps, shared by every entity table."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


def choices_constraint(field: str, choices: type[models.TextChoices], table: str) -> models.CheckConstraint:
    """A CHECK constraint that keeps an enum column to its SCREAMING_SNAKE_CASE values."""
    return models.CheckConstraint(
        condition=Q(**{f"{field}__in": choices.values}), name=f"{table}_{field}_valid"
    )


def check_transition(transitions: dict[str, set[str]], current: str, target: str, *, entity: str) -> None:
    """Raises InvalidTransition (409) unless `current -> target` is in the status machine."""
    allowed = transitions.get(current, set())
    if target not in allowed:
        raise InvalidTransition(
            f"A {entity} cannot go from {current} to {target}.",
            details={"from": current, "to": target, "allowed": sorted(allowed)},
        )


def save_checked(instance: models.Model) -> None:
    """Saves `instance` once its fields pass their rules, with its unique and check constraints
    checked by PostgreSQL as it writes: a violation comes back as the ValidationError that
    `full_clean` would have raised (the constraint's message, or the field's "already exists").

    `full_clean` asks the database itself, one query per constraint inside its own savepoint, three
    round trips each: 30 round trips to book a load, most of the request's time. Here the write
    is the check, in one savepoint, so the caller's transaction survives a refusal.
    """
    instance.full_clean(validate_unique=False, validate_constraints=False)
    try:
        with transaction.atomic():
            instance.save()
    except IntegrityError as error:
        raise _validation_error(instance, error) from error


def _validation_error(instance: models.Model, error: IntegrityError) -> Exception:
    """The ValidationError for the constraint PostgreSQL named, or the IntegrityError itself."""
    name = getattr(getattr(error.__cause__, "diag", None), "constraint_name", None)
    meta = instance._meta
    for constraint in meta.constraints:
        if constraint.name == name:
            if isinstance(constraint, models.UniqueConstraint) and len(constraint.fields) == 1:
                field = constraint.fields[0]
                return ValidationError({field: [constraint.get_violation_error_message()]})
            message = ValidationError(
                constraint.get_violation_error_message(), code=constraint.violation_error_code
            )
            return ValidationError({NON_FIELD_ERRORS: [message]})
    for field in meta.local_fields:
        if field.unique and name == f"{meta.db_table}_{field.column}_key":
            return ValidationError({field.name: instance.unique_error_message(type(instance), [field.name])})
    return error
