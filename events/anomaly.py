"""Anomaly detection on the stream of users' changes: the `anomaly-detector` consumer
(events/handlers.py) observes each committed event a user's request emitted (its `actor`) at the
event's time, per user, and a rule that fires emits ANOMALY_SUSPECTED (tms.anomalies) and a
SYSTEM_ALERT. A change that emits no event (editing a carrier's record, say) is not seen.

Counting lives in the shared cache (Redis), so every web process and worker sees the same
counts. Rules are pluggable: settings.ANOMALY_RULES lists classes with `observe(user_id, at)`;
a learned model can join them later with the same interface.
"""

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.utils.module_loading import import_string

from events.outbox import emit
from events.taxonomy import EventType

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Anomaly:
    rule: str
    user_id: int
    mutations: int
    window_s: int
    first_at: datetime
    last_at: datetime

    @property
    def rate_per_s(self) -> float:
        return round(self.mutations / self.window_s, 2)


class Rule(Protocol):
    name: str

    def observe(self, user_id: int, at: float) -> Anomaly | None: ...


class SustainedMutationRate:
    """More than `rate_per_s` mutations per second sustained over `window_s` seconds: at least one
    mutation in every second of the window, and more than rate x window in all. A bulk action
    (many rows in one second) is a burst, not a sustained rate, and does not fire. Fires once per
    window per user."""

    name = "sustained_mutation_rate"

    def __init__(self, rate_per_s: float | None = None, window_s: int | None = None):
        self.rate_per_s = rate_per_s if rate_per_s is not None else settings.ANOMALY_RATE_PER_S
        self.window_s = window_s or settings.ANOMALY_WINDOW_S

    def _key(self, user_id: int, second: int) -> str:
        return f"anomaly:{self.name}:{user_id}:{second}"

    def observe(self, user_id: int, at: float) -> Anomaly | None:
        second = int(at)
        key = self._key(user_id, second)
        cache.add(key, 0, timeout=self.window_s + 5)
        cache.incr(key)
        seconds = range(second - self.window_s + 1, second + 1)
        counts = cache.get_many([self._key(user_id, s) for s in seconds])
        per_second = [counts.get(self._key(user_id, s), 0) for s in seconds]
        total = sum(per_second)
        if not all(per_second) or total <= self.rate_per_s * self.window_s:
            return None
        if not cache.add(f"anomaly:{self.name}:{user_id}:fired", 1, timeout=self.window_s):
            return None
        return Anomaly(
            rule=self.name,
            user_id=user_id,
            mutations=total,
            window_s=self.window_s,
            first_at=datetime.fromtimestamp(seconds[0], UTC),
            last_at=datetime.fromtimestamp(at, UTC),
        )


def rules() -> list[Rule]:
    return [import_string(path)() for path in settings.ANOMALY_RULES]


def observe_mutation(user_id: int, at: float) -> list[Anomaly]:
    """One committed change by `user_id` at `at` (epoch seconds). Best effort: never raises, so the
    consumer is not retried into counting a change twice."""
    found = []
    try:
        for rule in rules():
            anomaly = rule.observe(user_id, at)
            if anomaly is not None:
                found.append(anomaly)
                _report(anomaly)
    except Exception:  # the change is committed; detection is best effort
        logger.exception("anomaly detection failed for user %s", user_id)
    return found


def _report(anomaly: Anomaly) -> None:
    data = {
        "rule": anomaly.rule,
        "user_id": anomaly.user_id,
        "mutations": anomaly.mutations,
        "window_s": anomaly.window_s,
        "rate_per_s": anomaly.rate_per_s,
        "first_at": anomaly.first_at,
        "last_at": anomaly.last_at,
    }
    with transaction.atomic():
        emit(EventType.ANOMALY_SUSPECTED, subject=f"user:{anomaly.user_id}", data=data)
        emit(
            EventType.SYSTEM_ALERT,
            subject=f"user:{anomaly.user_id}",
            data={
                "severity": "WARNING",
                "message": (
                    f"User {anomaly.user_id} made {anomaly.mutations} changes in {anomaly.window_s} s "
                    f"({anomaly.rate_per_s}/s sustained)."
                ),
                "source": "anomaly-detector",
                "details": {"rule": anomaly.rule},
            },
        )
