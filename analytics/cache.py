"""The dashboard's answers in the Redis cache (django cache), dropped by the events that change them.

One version number, in the cache, is part of every answer's key; the `analytics-cache` consumer
bumps it (INCR) for each batch of events that change a figure (CHANGING_EVENTS), so the next read
misses and computes anew. Why a version and a consumer rather than deleting keys on commit: the
answers are keyed by range and filters (countless keys, no way to find those a change touched),
a version drops them all in one command; and the consumer sees every event whichever process
wrote it (API, admin, Celery, consumers), through the same relay as every other reaction, while an
on-commit hook would have to be added to each service. Telemetry (position fixes, thousands a
minute) does not bump it: GPS miles and the event counts per topic refresh when an answer expires
(TMS_DASHBOARD_CACHE_TTL_S).
"""

import hashlib
import json
import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.cache import cache
from rest_framework.renderers import JSONRenderer

from events.taxonomy import TELEMETRY, EventType

VERSION_KEY = "analytics:version"

# Everything but telemetry, the model's own predictions and the alerts changes some figure.
CHANGING_EVENTS: frozenset[EventType] = (
    frozenset(EventType)
    - TELEMETRY
    - {
        EventType.AI_PREDICTION,
        EventType.ANOMALY_SUSPECTED,
        EventType.SYSTEM_ALERT,
    }
)


def bump_version() -> None:
    """Every cached answer is stale from now on."""
    try:
        cache.incr(VERSION_KEY)
    except ValueError:  # no version yet (first change, or Redis restarted): any new value will do
        cache.add(VERSION_KEY, 1, timeout=None)
        cache.incr(VERSION_KEY)


# Single flight: while one process computes an answer, the others asking for the same key wait
# for it instead of computing it too (a dashboard's cold computation takes a second on a large
# fleet; thirty dispatchers opening it after a change would otherwise run thirty).
COMPUTE_LOCK_S = 60  # the lock outlives no computation: a crashed worker's lock expires
WAIT_POLL_S = 0.02


def cached(kind: str, params: dict[str, Any], compute: Callable[[], dict[str, Any]]) -> bytes:
    """The answer for `kind` and `params` as rendered JSON, from the cache, else computed, rendered
    and stored: a hit costs two Redis reads and no rendering. On a miss, one caller computes
    (it holds the key's lock, a Redis SET NX) and the others wait for its answer; a waiter whose
    computing caller gives up (error, or the lock expired) computes the answer itself."""
    version = cache.get(VERSION_KEY, 0)
    digest = hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode()).hexdigest()[:32]
    key = f"analytics:{kind}:{version}:{digest}"
    answer = cache.get(key)
    if answer is not None:
        return answer
    lock = f"{key}:computing"
    deadline = time.monotonic() + COMPUTE_LOCK_S
    while not cache.add(lock, 1, timeout=COMPUTE_LOCK_S):
        time.sleep(WAIT_POLL_S)
        answer = cache.get(key)
        if answer is not None:
            return answer
        if time.monotonic() > deadline:
            break
    try:
        answer = cache.get(key)  # computed between our miss and our lock
        if answer is None:
            answer = JSONRenderer().render(compute())
            cache.set(key, answer, timeout=settings.TMS_DASHBOARD_CACHE_TTL_S)
        return answer
    finally:
        cache.delete(lock)
