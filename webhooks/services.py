"""Every change to webhook subscriptions and deliveries.

Subscriptions are changed by admins (API, back office): validated, audited and evented in one
transaction like every write. Their event is a SYSTEM_ALERT from source `webhooks`: a new place the
event stream flows to is worth an operator's notice; it names the subscription, its host and what
changed, never its URL's path or query (which may hold a receiver's token) nor its secret, and the
audit row holds a fingerprint of the secret, not the secret.

Deliveries are written by the `webhooks` consumer and the sender, deliberately without an audit row
or an event (each function says so in its name): the delivery row is the record of every attempt,
and an event per delivery would feed webhooks with webhooks.
"""

import hashlib
import random
import uuid
from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit
from uuid import UUID

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from events import audit
from events.models import AuditAction
from events.outbox import SOURCE, SPEC_VERSION, emit, validate_data
from events.relay import notify
from events.schemas import SCHEMAS
from events.taxonomy import EventType
from tms.context import current_correlation_id
from tms.exceptions import Conflict
from tms.models import save_checked
from tms.times import rfc3339
from webhooks import selectors, sending
from webhooks.models import DeliveryStatus, WebhookDelivery, WebhookSubscription

SENDER_CHANNEL = "tms_webhooks"  # NOTIFY wakes `manage.py send_webhooks` when deliveries are due
EDITABLE = ("url", "event_types", "description", "secret")


# --- subscriptions ---------------------------------------------------------------------------------


def _event_types(values: Iterable[str]) -> list[str]:
    """The taxonomy's types, each once, in a stable order (ValidationError naming unknown ones)."""
    values = list(values)
    unknown = sorted({value for value in values if value not in EventType.__members__})
    if unknown:
        raise ValidationError({"event_types": [f"Unknown event types: {', '.join(map(str, unknown))}."]})
    return sorted(set(values))


def _audited_values(subscription: WebhookSubscription) -> dict[str, Any]:
    """The row as its audit row keeps it: the secret as a fingerprint that shows it changed."""
    values = audit.snapshot(subscription)
    values["secret"] = "sha256:" + hashlib.sha256(subscription.secret.encode()).hexdigest()[:12]
    return values


def _alert(
    subscription: WebhookSubscription, *, change: str, message: str, severity: str = "INFO", **details
):
    emit(
        EventType.SYSTEM_ALERT,
        subject=subscription.pk,
        data={
            "severity": severity,
            "message": message,
            "source": "webhooks",
            "details": {
                "subscription_id": str(subscription.pk),
                "change": change,
                "host": urlsplit(subscription.url).hostname,
                "event_types": subscription.event_types,
                "active": subscription.active,
                **details,
            },
        },
    )


def create_subscription(
    *,
    by: audit.Actor,
    url: str,
    event_types: Iterable[str] = (),
    description: str = "",
    secret: str | None = None,
) -> WebhookSubscription:
    """Subscribes `url` to `event_types` (every event when empty). The URL must be http(s) and
    reach no private address (sending.check_target_url); the secret, if given, is a Standard
    Webhooks one, else one is generated. The subscription is returned with its secret: the only
    time the API shows it."""
    sending.check_target_url(url)
    if secret:
        sending.check_secret(secret)
    with transaction.atomic():
        subscription = WebhookSubscription(
            url=url,
            event_types=_event_types(event_types),
            description=description,
            secret=secret or sending.new_secret(),
        )
        save_checked(subscription)
        audit.record(
            instance=subscription,
            action=AuditAction.CREATE,
            changed_data=_audited_values(subscription),
            by=by,
        )
        # Before the alert's relay wake-up: in this process, the alert already goes to it.
        transaction.on_commit(selectors.forget_wanted_event_types)
        _alert(subscription, change="created", message=f"Webhook subscription {subscription} created.")
    return subscription


def update_subscription(
    subscription: WebhookSubscription, *, by: audit.Actor, **fields: Any
) -> WebhookSubscription:
    """Edits a subscription's URL (checked as when subscribing), event types, description or
    secret (the next attempt of every delivery is signed with the new one). Whether it is active
    changes only through enable and disable."""
    unknown = set(fields) - set(EDITABLE)
    if unknown:
        raise ValidationError({name: ["This field cannot be changed here."] for name in sorted(unknown)})
    if "url" in fields and fields["url"] != subscription.url:
        sending.check_target_url(fields["url"])
    if fields.get("secret"):
        sending.check_secret(fields["secret"])
    elif "secret" in fields:
        del fields["secret"]  # left empty: kept
    if "event_types" in fields:
        fields["event_types"] = _event_types(fields["event_types"])
    with transaction.atomic():
        locked = WebhookSubscription.objects.select_for_update().get(pk=subscription.pk)
        before = _audited_values(locked)
        for name, value in fields.items():
            setattr(locked, name, value)
        diff = audit.changes(before, _audited_values(locked))
        if diff:
            save_checked(locked)
            audit.record(instance=locked, action=AuditAction.UPDATE, changed_data=diff, by=by)
            transaction.on_commit(selectors.forget_wanted_event_types)
            _alert(
                locked,
                change="updated",
                message=f"Webhook subscription {locked} changed.",
                fields=sorted(diff),
            )
    subscription.refresh_from_db()
    return subscription


def delete_subscription(subscription: WebhookSubscription, *, by: audit.Actor) -> None:
    """Deletes a subscription and its deliveries (nothing more is sent to it), audited."""
    with transaction.atomic():
        locked = WebhookSubscription.objects.select_for_update().get(pk=subscription.pk)
        values = _audited_values(locked)
        _alert(locked, change="deleted", message=f"Webhook subscription {locked} deleted.")
        locked.delete()
        locked.pk = subscription.pk
        audit.record(instance=locked, action=AuditAction.DELETE, changed_data=values, by=by)


def _disable(locked: WebhookSubscription, *, by: audit.Actor, reason: str, severity: str) -> None:
    now = timezone.now()
    before = _audited_values(locked)
    locked.active, locked.disabled_at, locked.disabled_reason = False, now, reason[:300]
    locked.save(update_fields=["active", "disabled_at", "disabled_reason", "updated_at"])
    cancelled = WebhookDelivery.objects.filter(subscription=locked, status=DeliveryStatus.PENDING).update(
        status=DeliveryStatus.CANCELLED, next_attempt_at=None, error="subscription disabled", updated_at=now
    )
    diff = audit.changes(before, _audited_values(locked))
    audit.record(instance=locked, action=AuditAction.UPDATE, changed_data=diff, by=by)
    _alert(
        locked,
        change="disabled",
        severity=severity,
        message=f"Webhook subscription {locked} disabled: {reason}",
        reason=reason,
        deliveries_cancelled=cancelled,
    )


def disable_subscription(subscription: WebhookSubscription, *, by: audit.Actor) -> WebhookSubscription:
    """Stops a subscription by hand: no new deliveries, the pending ones cancelled (one being sent
    finishes). Disabling a disabled subscription changes nothing."""
    with transaction.atomic():
        locked = WebhookSubscription.objects.select_for_update().get(pk=subscription.pk)
        if locked.active:
            _disable(locked, by=by, reason="disabled by an admin", severity="INFO")
    subscription.refresh_from_db()
    return subscription


def enable_subscription(subscription: WebhookSubscription, *, by: audit.Actor) -> WebhookSubscription:
    """Enables a subscription again (after it was disabled by hand or for failing) with its count
    of consecutive failures reset. Deliveries cancelled meanwhile are not sent again; events from
    now on are. Enabling an active subscription changes nothing."""
    with transaction.atomic():
        locked = WebhookSubscription.objects.select_for_update().get(pk=subscription.pk)
        if not locked.active:
            before = _audited_values(locked)
            locked.active, locked.consecutive_failures = True, 0
            locked.disabled_at, locked.disabled_reason = None, ""
            locked.save(
                update_fields=[
                    "active",
                    "consecutive_failures",
                    "disabled_at",
                    "disabled_reason",
                    "updated_at",
                ]
            )
            diff = audit.changes(before, _audited_values(locked))
            audit.record(instance=locked, action=AuditAction.UPDATE, changed_data=diff, by=by)
            transaction.on_commit(selectors.forget_wanted_event_types)
            _alert(locked, change="enabled", message=f"Webhook subscription {locked} enabled.")
    subscription.refresh_from_db()
    return subscription


# --- deliveries ------------------------------------------------------------------------------------


def record_deliveries_without_audit(envelope: dict[str, Any]) -> int:
    """One PENDING delivery of the event for each active subscription that wants it, due now; an
    event seen again adds none (one delivery per subscription and event). Returns how many were
    added. Wakes the sender after the commit."""
    subscriptions = set(selectors.subscriptions_for(envelope["type"]).values_list("pk", flat=True))
    if subscriptions:
        subscriptions -= set(
            WebhookDelivery.objects.filter(
                event_id=envelope["id"], subscription__in=subscriptions
            ).values_list("subscription_id", flat=True)
        )
    if not subscriptions:
        return 0
    now = timezone.now()
    created = WebhookDelivery.objects.bulk_create(
        [
            WebhookDelivery(
                subscription_id=subscription_id,
                event_id=envelope["id"],
                event_type=envelope["type"],
                payload=envelope,
                next_attempt_at=now,
            )
            for subscription_id in sorted(subscriptions)
        ],
        ignore_conflicts=True,  # a concurrent consumer may have added some since the read
    )
    transaction.on_commit(lambda: notify(SENDER_CHANNEL))
    return len(created)


def claim_due_deliveries(
    *,
    now: datetime,
    limit: int,
    per_subscription: int | None = None,
    in_flight: Mapping[UUID, int] | None = None,
) -> list[WebhookDelivery]:
    """Claims up to `limit` due deliveries of active subscriptions, oldest due first, for one
    attempt each (counted now, so a sender that dies mid-way still uses one up): SENDING until a
    lease runs out, after which another sender may claim them again. Rows another sender is
    claiming are skipped, not waited for. With `per_subscription`, no subscription gets more than
    that many in flight, counting those the caller has `in_flight` already: one receiver's backlog
    cannot take every thread."""
    lease = timedelta(seconds=settings.WEBHOOKS_TIMEOUT_S * 3 + 30)
    taken = Counter(in_flight or {})
    with transaction.atomic():
        candidates = list(
            WebhookDelivery.objects.filter(
                status__in=[DeliveryStatus.PENDING, DeliveryStatus.SENDING],
                next_attempt_at__lte=now,
                subscription__active=True,
            )
            .order_by("next_attempt_at")
            .select_for_update(skip_locked=True, of=("self",))
            .values_list("pk", "subscription_id")[: limit if per_subscription is None else limit * 4]
        )
        ids = []
        for pk, subscription_id in candidates:
            if per_subscription is not None and taken[subscription_id] >= per_subscription:
                continue
            taken[subscription_id] += 1
            ids.append(pk)
            if len(ids) == limit:
                break
        if not ids:
            return []
        WebhookDelivery.objects.filter(pk__in=ids).update(
            status=DeliveryStatus.SENDING,
            attempts=F("attempts") + 1,
            last_attempt_at=now,
            next_attempt_at=now + lease,
            updated_at=now,
        )
        return list(
            WebhookDelivery.objects.filter(pk__in=ids).select_related("subscription").order_by("created_at")
        )


def retry_delay_s(attempts: int, *, rng: random.Random | None = None) -> float:
    """Seconds before the next attempt after `attempts` failed ones: exponential backoff
    (WEBHOOKS_RETRY_BASE_S doubled each time, at most WEBHOOKS_RETRY_MAX_S) with jitter, between
    half and all of it, so receivers coming back are not hit by every sender at once."""
    ceiling = min(settings.WEBHOOKS_RETRY_MAX_S, settings.WEBHOOKS_RETRY_BASE_S * 2 ** (attempts - 1))
    return ceiling * (rng or random).uniform(0.5, 1.0)


def finish_attempt_without_audit(
    delivery: WebhookDelivery, result: sending.AttemptResult, *, now: datetime
) -> WebhookDelivery:
    """Records a claimed attempt's outcome: SUCCEEDED (the subscription's failure count reset);
    PENDING again after retry_delay_s; or, after WEBHOOKS_MAX_ATTEMPTS, FAILED, counted against the
    subscription, which WEBHOOKS_DISABLE_AFTER_FAILURES such deliveries in a row disable (audited
    and alerted, by the system). An attempt whose delivery is no longer SENDING (cancelled, or
    claimed again after its lease) changes nothing."""
    with transaction.atomic():
        # The subscription first, as disabling does: no deadlock with a disable in progress.
        subscription = (
            WebhookSubscription.objects.select_for_update().filter(pk=delivery.subscription_id).first()
        )
        locked = WebhookDelivery.objects.select_for_update().filter(pk=delivery.pk).first()
        if subscription is None or locked is None:  # deleted meanwhile
            return delivery
        if locked.status != DeliveryStatus.SENDING or locked.attempts != delivery.attempts:
            return locked
        locked.response_status_code = result.status_code
        locked.response_body = result.body_excerpt
        locked.response_duration_ms = result.duration_ms
        locked.error = result.error
        if result.succeeded:
            locked.status, locked.delivered_at, locked.next_attempt_at = DeliveryStatus.SUCCEEDED, now, None
            if subscription.consecutive_failures:
                subscription.consecutive_failures = 0
                subscription.save(update_fields=["consecutive_failures", "updated_at"])
        elif locked.attempts >= settings.WEBHOOKS_MAX_ATTEMPTS:
            locked.status, locked.next_attempt_at = DeliveryStatus.FAILED, None
            subscription.consecutive_failures += 1
            subscription.save(update_fields=["consecutive_failures", "updated_at"])
            limit = settings.WEBHOOKS_DISABLE_AFTER_FAILURES
            failures = subscription.consecutive_failures
            if subscription.active and limit and failures >= limit:
                reason = f"{failures} deliveries failed in a row; last: {result.error}"
                _disable(subscription, by=None, reason=reason, severity="WARNING")
        elif subscription.active:
            locked.status = DeliveryStatus.PENDING
            locked.next_attempt_at = now + timedelta(seconds=retry_delay_s(locked.attempts))
        else:
            locked.status, locked.next_attempt_at = DeliveryStatus.CANCELLED, None
        locked.save()
    return locked


def send_test_delivery(subscription: WebhookSubscription, *, by: audit.Actor) -> WebhookDelivery:
    """Queues a test delivery to this subscription only, whatever its event types: a SYSTEM_ALERT
    CloudEvent (INFO, source `webhooks`, `details.test` true) that is not an event of the system
    (it goes through no outbox and reaches no other consumer). Audited as the admin's write."""
    now = timezone.now()
    alert = EventType.SYSTEM_ALERT
    envelope = {
        "specversion": SPEC_VERSION,
        "id": str(uuid.uuid4()),
        "type": alert.value,
        "source": SOURCE,
        "subject": str(subscription.pk),
        "time": rfc3339(now),
        "datacontenttype": "application/json",
        "dataschema": f"/schemas/{alert.value}/v{SCHEMAS[alert].schema_version}",
        "correlationid": current_correlation_id() or None,
        "data": validate_data(
            alert,
            {
                "severity": "INFO",
                "message": "Test delivery of a webhook subscription.",
                "source": "webhooks",
                "details": {"subscription_id": str(subscription.pk), "test": True},
            },
        ),
    }
    with transaction.atomic():
        locked = WebhookSubscription.objects.select_for_update().get(pk=subscription.pk)
        if not locked.active:
            raise Conflict("A disabled subscription gets no deliveries: enable it first.")
        delivery = WebhookDelivery.objects.create(
            subscription=locked,
            event_id=envelope["id"],
            event_type=envelope["type"],
            payload=envelope,
            next_attempt_at=now,
        )
        audit.record(
            instance=delivery,
            action=AuditAction.CREATE,
            changed_data={"subscription_id": str(locked.pk), "event_id": envelope["id"], "test": True},
            by=by,
        )
        transaction.on_commit(lambda: notify(SENDER_CHANNEL))
    return delivery


def prune_deliveries_without_audit(*, now: datetime | None = None) -> int:
    """Deletes finished deliveries (SUCCEEDED, FAILED, CANCELLED) made more than
    WEBHOOKS_DELIVERY_RETENTION_DAYS ago; returns how many. Pending ones are kept whatever their age."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.WEBHOOKS_DELIVERY_RETENTION_DAYS)
    deleted, _ = WebhookDelivery.objects.filter(
        created_at__lt=cutoff,
        status__in=[DeliveryStatus.SUCCEEDED, DeliveryStatus.FAILED, DeliveryStatus.CANCELLED],
    ).delete()
    return deleted
