import uuid
from datetime import timedelta

from django.db import models
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
