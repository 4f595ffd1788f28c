"""Deliveries end to end against a real HTTP receiver on 127.0.0.1: recorded from the event stream
by the `webhooks` consumer, sent by the sender, signed, retried, and a failing subscription
disabled until an admin enables it again."""

import base64
import hashlib
import hmac
import json
import threading
import uuid
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone
from standardwebhooks import Webhook

from events.consumers import REGISTRY, Outcome, deliver
from events.models import AuditLog, OutboxEvent, ProcessedEvent
from events.services import publish_event
from webhooks import sender, services
from webhooks.models import DeliveryStatus, WebhookDelivery, WebhookSubscription
from webhooks.tests.factories import SubscriptionFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("private_targets")]


@pytest.fixture
def publish(django_capture_on_commit_callbacks):
    """Publishes a taxonomy event as a service does; after its commit the in-process relay hands
    it to every consumer, the `webhooks` one among them. Returns the envelope."""

    def run(event_type="SYSTEM_ALERT", data=None) -> dict:
        data = data or {"severity": "INFO", "message": "gate 4 closed", "source": "yard"}
        with django_capture_on_commit_callbacks(execute=True):
            event = publish_event(type=event_type, subject="yard-1", data=data, by=None)
        return event.envelope

    return run


def only(delivery_filter=None) -> WebhookDelivery:
    return WebhookDelivery.objects.get(**(delivery_filter or {}))


def test_an_event_reaches_the_receiver_signed(receiver, publish):
    subscription = SubscriptionFactory(url=receiver.url())
    receiver.answer(202, body=b'{"thanks": true}')
    envelope = publish()
    now = timezone.now()
    assert sender.send_due_deliveries(now=now) == 1

    [request] = receiver.requests
    assert json.loads(request.body) == envelope
    assert request.headers["content-type"] == "application/cloudevents+json; charset=utf-8"
    delivery = only()
    headers = request.headers
    assert headers["webhook-id"] == str(delivery.pk)
    assert headers["webhook-timestamp"] == str(int(now.timestamp()))
    # Any Standard Webhooks library verifies it...
    assert Webhook(subscription.secret).verify(request.body, headers) == envelope
    # ...as does the HMAC-SHA256 of "id.timestamp.body", by hand.
    key = base64.b64decode(subscription.secret.removeprefix("whsec_"))
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + request.body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    assert headers["webhook-signature"] == f"v1,{expected}"
    # A body changed on the way, or another secret, does not verify.
    with pytest.raises(Exception, match="signature"):
        Webhook(subscription.secret).verify(request.body.replace(b"gate", b"dock"), headers)
    with pytest.raises(Exception, match="signature"):
        Webhook("whsec_" + base64.b64encode(b"x" * 32).decode()).verify(request.body, headers)

    assert (delivery.status, delivery.attempts, str(delivery.event_id)) == (
        DeliveryStatus.SUCCEEDED,
        1,
        envelope["id"],
    )
    assert (delivery.response_status_code, delivery.response_body, delivery.error) == (
        202,
        '{"thanks": true}',
        "",
    )
    assert delivery.response_duration_ms is not None and delivery.delivered_at == now
    assert sender.send_due_deliveries(now=now + timedelta(days=1)) == 0  # nothing twice


def test_the_event_type_filter_and_inactive_subscriptions(receiver, publish):
    alerts = SubscriptionFactory(url=receiver.url("/alerts"), event_types=["SYSTEM_ALERT"])
    loads = SubscriptionFactory(url=receiver.url("/loads"), event_types=["LOAD_CREATED", "LOAD_DELIVERED"])
    everything = SubscriptionFactory(url=receiver.url("/all"), event_types=[])
    SubscriptionFactory(url=receiver.url("/off"), active=False)
    publish()
    assert sorted(WebhookDelivery.objects.values_list("subscription", flat=True)) == sorted(
        [alerts.pk, everything.pk]
    )
    sender.send_due_deliveries()
    assert sorted(r.path for r in receiver.requests) == ["/alerts", "/all"]
    assert not loads.deliveries.exists()


def test_send_webhooks_once_sends_what_is_due(receiver, publish):
    SubscriptionFactory(url=receiver.url())
    publish()
    output = StringIO()
    call_command("send_webhooks", "--once", stdout=output)
    assert output.getvalue().strip() == "sent 1 delivery"
    assert only().status == DeliveryStatus.SUCCEEDED and len(receiver.requests) == 1


def test_an_event_seen_twice_is_delivered_once(receiver, publish):
    SubscriptionFactory(url=receiver.url())
    envelope = publish()
    consumer = REGISTRY["webhooks"]
    assert deliver(consumer, envelope) == Outcome.DUPLICATE  # the processed-event row
    # Even with the consumer's memory of it lost (a replay into a new consumer), one delivery.
    assert services.record_deliveries_without_audit(envelope) == 0
    assert WebhookDelivery.objects.count() == 1
    sender.send_due_deliveries()
    assert len(receiver.requests) == 1


def test_events_no_subscription_wants_are_skipped_before_any_database_work(publish):
    SubscriptionFactory(event_types=["LOAD_DELIVERED"])
    publish()  # a SYSTEM_ALERT
    assert not ProcessedEvent.objects.filter(consumer="webhooks").exists()
    assert not WebhookDelivery.objects.exists()


def test_a_subscription_made_through_the_api_gets_events_from_its_commit(
    admin_api, publish, receiver, django_capture_on_commit_callbacks
):
    publish()  # the consumer has read that nobody wants anything
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_api.post(
            "/api/webhooks/", {"url": receiver.url(), "event_types": ["SYSTEM_ALERT"]}, format="json"
        )
    envelope = publish()
    sender.send_due_deliveries()
    sent = [json.loads(r.body) for r in receiver.requests]
    # Its own creation's alert, then the event.
    assert [e["data"]["details"].get("change") for e in sent] == ["created", None]
    assert sent[0]["subject"] == response.json()["id"] and sent[1]["id"] == envelope["id"]


def test_retries_after_500s_with_exponential_backoff(receiver, publish, settings):
    settings.WEBHOOKS_RETRY_BASE_S = 60
    subscription = SubscriptionFactory(url=receiver.url())
    receiver.answer(500, 503, body=b"down for maintenance")
    publish()
    now = timezone.now()

    assert sender.send_due_deliveries(now=now) == 1
    delivery = only()
    assert (delivery.status, delivery.attempts, delivery.response_status_code) == (
        DeliveryStatus.PENDING,
        1,
        500,
    )
    assert (delivery.error, delivery.response_body) == ("HTTP 500", "down for maintenance")
    first_wait = delivery.next_attempt_at - now
    assert timedelta(seconds=30) <= first_wait <= timedelta(seconds=60)  # base, with jitter
    assert sender.send_due_deliveries(now=now + first_wait - timedelta(seconds=1)) == 0  # not yet due

    now += first_wait
    assert sender.send_due_deliveries(now=now) == 1
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.response_status_code) == (
        DeliveryStatus.PENDING,
        2,
        503,
    )
    assert timedelta(seconds=60) <= delivery.next_attempt_at - now <= timedelta(seconds=120)  # doubled

    now = delivery.next_attempt_at
    assert sender.send_due_deliveries(now=now) == 1
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.response_status_code) == (
        DeliveryStatus.SUCCEEDED,
        3,
        200,
    )
    # The same message each time (receivers deduplicate on webhook-id), signed at each attempt.
    assert len({r.headers["webhook-id"] for r in receiver.requests}) == 1
    assert len({r.body for r in receiver.requests}) == 1
    assert len({r.headers["webhook-timestamp"] for r in receiver.requests}) == 3
    subscription.refresh_from_db()
    assert (subscription.active, subscription.consecutive_failures) == (True, 0)


@pytest.mark.parametrize("attempts", [1, 2, 3, 4, 8, 9, 20])
def test_the_wait_doubles_up_to_the_ceiling_with_jitter(settings, attempts):
    settings.WEBHOOKS_RETRY_BASE_S, settings.WEBHOOKS_RETRY_MAX_S = 10, 600
    ceiling = min(600, 10 * 2 ** (attempts - 1))
    waits = [services.retry_delay_s(attempts) for _ in range(50)]
    assert all(ceiling / 2 <= wait <= ceiling for wait in waits)
    assert len(set(waits)) > 1  # jittered


def fail_for_good(now):
    """Sends until no delivery is due any more; returns the time it got to."""
    while sender.send_due_deliveries(now=now):
        now += timedelta(days=1)
    return now


def test_a_subscription_is_disabled_after_consecutive_failed_deliveries_and_enabled_by_hand(
    receiver, publish, settings, admin_api
):
    settings.WEBHOOKS_MAX_ATTEMPTS, settings.WEBHOOKS_DISABLE_AFTER_FAILURES = 2, 2
    subscription = SubscriptionFactory(url=receiver.url(), event_types=["LOAD_CREATED", "SYSTEM_ALERT"])
    receiver.answer(*[500] * 10)
    publish()
    now = fail_for_good(timezone.now())
    subscription.refresh_from_db()
    assert (subscription.active, subscription.consecutive_failures) == (True, 1)
    assert only().status == DeliveryStatus.FAILED

    publish()
    fail_for_good(now)
    subscription.refresh_from_db()
    assert (subscription.active, subscription.consecutive_failures) == (False, 2)
    assert subscription.disabled_reason == "2 deliveries failed in a row; last: HTTP 500"
    assert len(receiver.requests) == 4  # two deliveries, two attempts each
    audit = AuditLog.objects.filter(table_name="webhook_subscriptions", record_id=str(subscription.pk)).get()
    assert audit.user is None and audit.changed_data["active"] == [True, False]
    alert = OutboxEvent.objects.filter(type="SYSTEM_ALERT", subject=str(subscription.pk)).get()
    assert alert.envelope["data"]["severity"] == "WARNING"
    assert alert.envelope["data"]["details"]["change"] == "disabled"
    # Disabled: the alert about it and later events are not recorded for it, nothing is sent.
    publish()
    assert WebhookDelivery.objects.filter(subscription=subscription).count() == 2
    assert sender.send_due_deliveries(now=now + timedelta(days=30)) == 0

    response = admin_api.post(f"/api/webhooks/{subscription.pk}/enable")
    assert response.status_code == 200
    receiver.answers.clear()  # the receiver is fixed
    assert (response.json()["active"], response.json()["consecutive_failures"]) == (True, 0)
    publish()
    assert sender.send_due_deliveries() == 2  # the event, and the alert of the enabling
    assert WebhookDelivery.objects.filter(status=DeliveryStatus.SUCCEEDED).count() == 2


def test_one_subscription_gets_at_most_its_share_of_the_threads(receiver, publish):
    busy = SubscriptionFactory(url=receiver.url("/busy"), event_types=["SYSTEM_ALERT"])
    other = SubscriptionFactory(url=receiver.url("/other"), event_types=["LOAD_CREATED"])
    for _ in range(6):
        publish()
    services.record_deliveries_without_audit(
        {"id": str(uuid.uuid4()), "type": "LOAD_CREATED", "subject": "s", "time": timezone.now().isoformat()}
    )
    claimed = services.claim_due_deliveries(
        now=timezone.now(), limit=4, per_subscription=2, in_flight={busy.pk: 1}
    )
    assert sorted(str(d.subscription_id) for d in claimed) == sorted([str(busy.pk), str(other.pk)])
    assert {d.status for d in claimed} == {DeliveryStatus.SENDING}
    assert WebhookDelivery.objects.filter(status=DeliveryStatus.PENDING, subscription=busy).count() == 5


def test_a_subscription_deleted_while_a_delivery_is_in_flight(receiver, publish, admin_api):
    subscription = SubscriptionFactory(url=receiver.url())
    publish()
    [delivery] = services.claim_due_deliveries(now=timezone.now(), limit=10)
    assert admin_api.delete(f"/api/webhooks/{subscription.pk}/").status_code == 204
    result = sender.attempt(delivery, at=timezone.now())
    assert services.finish_attempt_without_audit(delivery, result, now=timezone.now()) == delivery
    assert not WebhookDelivery.objects.exists()


def test_disabling_cancels_pending_deliveries(receiver, publish, admin_api):
    subscription = SubscriptionFactory(url=receiver.url(), event_types=["SYSTEM_ALERT"])
    publish()
    admin_api.post(f"/api/webhooks/{subscription.pk}/disable")
    delivery = only()
    assert (delivery.status, delivery.error) == (DeliveryStatus.CANCELLED, "subscription disabled")
    assert sender.send_due_deliveries() == 0
    assert receiver.requests == []


def test_a_success_resets_the_count_of_failures(receiver, publish, settings):
    settings.WEBHOOKS_MAX_ATTEMPTS, settings.WEBHOOKS_DISABLE_AFTER_FAILURES = 1, 2
    subscription = SubscriptionFactory(url=receiver.url(), event_types=["SYSTEM_ALERT"])
    receiver.answer(500, 200, 500)
    for _ in range(3):
        publish()
        sender.send_due_deliveries()
    subscription.refresh_from_db()
    assert (subscription.active, subscription.consecutive_failures) == (True, 1)


def test_a_target_that_turns_private_is_refused_when_sending(receiver, publish, settings):
    """Checked again at connection time, on the resolved address: what a name resolves to may
    change after subscribing (DNS rebinding)."""
    SubscriptionFactory(url=receiver.url())
    publish()
    settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS = False
    assert sender.send_due_deliveries() == 1
    delivery = only()
    assert delivery.status == DeliveryStatus.PENDING and delivery.response_status_code is None
    assert delivery.error.startswith("refused: 127.0.0.1 resolves to 127.0.0.1")
    assert receiver.requests == []


def test_redirects_are_not_followed(receiver, publish):
    SubscriptionFactory(url=receiver.url())
    receiver.answer(302, headers={"Location": receiver.url("/elsewhere")})
    publish()
    sender.send_due_deliveries()
    assert [r.path for r in receiver.requests] == ["/hook"]
    delivery = only()
    assert (delivery.status, delivery.error) == (DeliveryStatus.PENDING, "HTTP 302")


def test_only_the_start_of_the_answer_is_read(receiver, publish, settings):
    settings.WEBHOOKS_RESPONSE_EXCERPT_BYTES = 100
    SubscriptionFactory(url=receiver.url())
    receiver.answer(200, body=b"x" * 1_000_000)
    publish()
    sender.send_due_deliveries()
    delivery = only()
    assert (delivery.status, delivery.response_body) == (DeliveryStatus.SUCCEEDED, "x" * 100)


def test_a_receiver_that_does_not_answer_in_time_fails_the_attempt(receiver, publish, settings):
    settings.WEBHOOKS_TIMEOUT_S = 0.2
    SubscriptionFactory(url=receiver.url("/stuck"))
    receiver.held["/stuck"] = threading.Event()
    publish()
    sender.send_due_deliveries()
    delivery = only()
    assert delivery.status == DeliveryStatus.PENDING
    assert "timed out" in delivery.error.lower()


def test_an_admin_sends_a_test_event_and_reads_the_deliveries(receiver, admin_api):
    subscription = SubscriptionFactory(url=receiver.url(), event_types=["LOAD_DELIVERED"])
    response = admin_api.post(f"/api/webhooks/{subscription.pk}/test")
    assert response.status_code == 202
    assert AuditLog.objects.filter(table_name="webhook_deliveries", user=admin_api.user).exists()
    assert not OutboxEvent.objects.exists()  # not an event of the system
    sender.send_due_deliveries()
    [request] = receiver.requests
    sent = json.loads(request.body)
    assert sent["type"] == "SYSTEM_ALERT" and sent["data"]["details"]["test"] is True
    assert sent["time"].endswith("Z")  # as every event's

    listing = admin_api.get(f"/api/webhooks/{subscription.pk}/deliveries").json()
    assert listing["count"] == 1
    [row] = listing["results"]
    assert (row["status"], row["attempts"], row["response_status_code"]) == ("SUCCEEDED", 1, 200)
    assert admin_api.get(f"/api/webhooks/{subscription.pk}/deliveries?status=FAILED").json()["count"] == 0
    bad = admin_api.get(f"/api/webhooks/{subscription.pk}/deliveries?status=LOST")
    assert bad.status_code == 400


def test_a_disabled_subscription_gets_no_test_event(admin_api):
    subscription = SubscriptionFactory(active=False)
    response = admin_api.post(f"/api/webhooks/{subscription.pk}/test")
    assert response.status_code == 409
    assert not WebhookDelivery.objects.exists() and not AuditLog.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_the_sender_loop_keeps_sending_while_a_receiver_is_slow(receiver):
    """`manage.py send_webhooks`'s loop: a receiver that holds its answer occupies one thread; the
    other subscription's deliveries go out and are recorded meanwhile."""
    slow = SubscriptionFactory(url=receiver.url("/slow"))
    fast = SubscriptionFactory(url=receiver.url("/fast"))
    release = receiver.held["/slow"] = threading.Event()
    services.record_deliveries_without_audit(
        {"id": str(uuid.uuid4()), "type": "SYSTEM_ALERT", "subject": "s", "time": timezone.now().isoformat()}
    )
    stopping = threading.Event()
    loop = threading.Thread(
        target=sender.run_forever, kwargs={"poll_interval_s": 0.05, "threads": 4, "stop": stopping.is_set}
    )
    loop.start()
    try:
        assert receiver.wait_for("/slow") and receiver.wait_for("/fast")
        recorded = threading.Event()
        for _ in range(600):
            if WebhookDelivery.objects.filter(subscription=fast, status=DeliveryStatus.SUCCEEDED).exists():
                recorded.set()
                break
            recorded.wait(0.05)
        assert recorded.is_set()
        assert WebhookDelivery.objects.get(subscription=slow).status == DeliveryStatus.SENDING
    finally:
        release.set()
        stopping.set()
        loop.join(60)
    assert WebhookDelivery.objects.get(subscription=slow).status == DeliveryStatus.SUCCEEDED
    assert not WebhookSubscription.objects.filter(active=False).exists()


def test_finished_deliveries_are_pruned_after_the_retention_period(settings):
    settings.WEBHOOKS_DELIVERY_RETENTION_DAYS = 30
    subscription = SubscriptionFactory()
    now = timezone.now()
    for status in DeliveryStatus.values:
        for age_days in (29, 31):
            delivery = WebhookDelivery.objects.create(
                subscription=subscription,
                event_id=uuid.uuid4(),
                event_type="SYSTEM_ALERT",
                payload={},
                status=status,
            )
            WebhookDelivery.objects.filter(pk=delivery.pk).update(created_at=now - timedelta(days=age_days))
    assert services.prune_deliveries_without_audit(now=now) == 3
    kept = WebhookDelivery.objects.values_list("status", "created_at")
    old = {status for status, created_at in kept if created_at < now - timedelta(days=30)}
    assert old == {DeliveryStatus.PENDING, DeliveryStatus.SENDING}
    assert WebhookDelivery.objects.count() == 7
