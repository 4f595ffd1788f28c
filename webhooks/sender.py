"""The sender: due deliveries go out over HTTP, off every request path and outside any transaction.

`manage.py send_webhooks` runs `run_forever`: it claims due deliveries (services.claim_due_deliveries),
POSTs each in a thread of its pool and records each outcome as it comes back, so a slow receiver holds
one thread for at most WEBHOOKS_TIMEOUT_S per read while the others keep sending; a subscription has
at most half the threads. The `webhooks` consumer's commit wakes it (NOTIFY); it also polls, which is
how retries fall due. Every hour it prunes finished deliveries past WEBHOOKS_DELIVERY_RETENTION_DAYS.
`send_due_deliveries` does one pass in the caller's thread (`--once`, tests).
"""

import logging
import time
from collections import Counter
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from datetime import datetime

from django.conf import settings
from django.db import close_old_connections, connections
from django.utils import timezone

from events.relay import Wakeup
from webhooks import sending, services
from webhooks.models import WebhookDelivery

logger = logging.getLogger(__name__)


def attempt(delivery: WebhookDelivery, *, at: datetime) -> sending.AttemptResult:
    """One HTTP attempt of a claimed delivery; touches no database, never raises."""
    subscription = delivery.subscription
    try:
        return sending.post(
            url=subscription.url,
            secret=subscription.secret,
            message_id=str(delivery.pk),
            payload=delivery.payload,
            at=at,
        )
    except Exception as error:  # a failed attempt, whatever went wrong
        logger.exception("webhook delivery %s: unexpected error", delivery.pk)
        return sending.AttemptResult(False, None, "", 0, f"{type(error).__name__}: {error}")


def _log(delivery: WebhookDelivery, result: sending.AttemptResult) -> None:
    logger.log(
        logging.INFO if result.succeeded else logging.WARNING,
        "webhook delivery %s (%s, attempt %d) to subscription %s: %s in %d ms%s",
        delivery.pk,
        delivery.event_type,
        delivery.attempts,
        delivery.subscription_id,
        result.status_code or "no answer",
        result.duration_ms,
        f" ({result.error})" if result.error else "",
    )


def send_due_deliveries(*, now: datetime | None = None, limit: int = 100) -> int:
    """One pass in the caller's thread: claims up to `limit` deliveries due at `now` (default: the
    current time), sends them one after the other, records each outcome. Returns how many were sent."""
    now = now or timezone.now()
    claimed = services.claim_due_deliveries(now=now, limit=limit)
    for delivery in claimed:
        result = attempt(delivery, at=now)
        _log(delivery, result)
        services.finish_attempt_without_audit(delivery, result, now=now)
    return len(claimed)


def run_forever(*, poll_interval_s: float = 1.0, threads: int | None = None, stop=None) -> None:
    """The long-running sender (`manage.py send_webhooks`), until `stop()` is true; the deliveries
    in flight then finish and are recorded."""
    threads = max(threads or settings.WEBHOOKS_SENDER_THREADS, 1)
    per_subscription = max(threads // 2, 1)
    wakeup = Wakeup(services.SENDER_CHANNEL)
    in_flight: dict[Future, WebhookDelivery] = {}
    last_prune = 0.0
    try:
        with ThreadPoolExecutor(threads, thread_name_prefix="webhook") as pool:
            while stop is None or not stop() or in_flight:
                if time.monotonic() - last_prune > 3600:
                    last_prune = time.monotonic()
                    try:
                        services.prune_deliveries_without_audit()
                    except Exception as error:  # noqa: BLE001 - pruning waits for the next hour
                        logger.warning("pruning webhook deliveries failed: %s", error)
                        close_old_connections()
                claimed = []
                if (stop is None or not stop()) and len(in_flight) < threads:
                    try:
                        claimed = services.claim_due_deliveries(
                            now=timezone.now(),
                            limit=threads - len(in_flight),
                            per_subscription=per_subscription,
                            in_flight=Counter(delivery.subscription_id for delivery in in_flight.values()),
                        )
                    except Exception as error:  # noqa: BLE001 - the database is down: try again later
                        logger.warning("claiming webhook deliveries failed: %s", error)
                        close_old_connections()
                for delivery in claimed:
                    in_flight[pool.submit(attempt, delivery, at=timezone.now())] = delivery
                if not in_flight:
                    wakeup(poll_interval_s)
                    continue
                done, _ = wait(list(in_flight), timeout=poll_interval_s, return_when=FIRST_COMPLETED)
                for future in done:
                    delivery = in_flight.pop(future)
                    result = future.result()
                    _log(delivery, result)
                    try:
                        services.finish_attempt_without_audit(delivery, result, now=timezone.now())
                    except Exception as error:  # noqa: BLE001 - the lease runs out; it is sent again
                        logger.warning("recording webhook delivery %s failed: %s", delivery.pk, error)
                        close_old_connections()
    finally:
        wakeup.close()
        connections.close_all()
