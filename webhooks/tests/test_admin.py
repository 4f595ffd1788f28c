"""Webhook subscriptions in the back office: ADMIN only, every write through webhooks.services."""

import pytest
from django.contrib.admin.models import LogEntry

from events.models import AuditLog, OutboxEvent
from tms.api_defaults import ADMIN
from tms.tests.admin_cases import admin_url, messages_of, run_action
from tms.tests.factories import UserFactory
from webhooks.models import DeliveryStatus, WebhookDelivery, WebhookSubscription
from webhooks.tests.factories import SubscriptionFactory

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/webhooks/webhooksubscription/"


@pytest.fixture
def admin_desk(db):
    return UserFactory(username="it-admin", roles=[ADMIN], is_staff=True)


def written() -> tuple[int, int, int, int]:
    return (
        WebhookSubscription.objects.count(),
        AuditLog.objects.count(),
        OutboxEvent.objects.count(),
        LogEntry.objects.count(),
    )


def test_an_admin_adds_a_subscription_and_is_shown_its_generated_secret_once(client, admin_desk):
    client.force_login(admin_desk)
    response = client.post(
        admin_url("webhooks.webhooksubscription", "add"),
        {
            "url": "https://93.184.215.14/hook",
            "description": "ERP",
            "event_types": ["LOAD_CREATED", "LOAD_DELIVERED"],
            "secret": "",
        },
        follow=True,
    )
    assert response.status_code == 200
    subscription = WebhookSubscription.objects.get()
    assert subscription.event_types == ["LOAD_CREATED", "LOAD_DELIVERED"]
    assert any(subscription.secret in message for message in messages_of(response))
    assert AuditLog.objects.get(table_name="webhook_subscriptions").user == admin_desk
    assert OutboxEvent.objects.get(type="SYSTEM_ALERT").envelope["data"]["details"]["change"] == "created"
    page = client.get(admin_url("webhooks.webhooksubscription", "change", subscription.pk))
    assert subscription.secret not in page.content.decode()
    assert f"?subscription__id__exact={subscription.pk}" in page.content.decode()


def test_a_private_url_is_refused_with_a_message_and_nothing_written(client, admin_desk):
    client.force_login(admin_desk)
    before = written()
    response = client.post(
        admin_url("webhooks.webhooksubscription", "add"),
        {"url": "http://169.254.169.254/latest/", "description": "", "secret": ""},
        follow=True,
    )
    assert any("169.254.169.254" in message for message in messages_of(response))
    assert written() == before


def test_enable_disable_and_test_actions_go_through_the_services(client, admin_desk):
    client.force_login(admin_desk)
    failing = SubscriptionFactory(active=False, consecutive_failures=5, disabled_reason="5 deliveries failed")
    run_action(client, CHANGELIST, "enable", [failing])
    failing.refresh_from_db()
    assert (failing.active, failing.consecutive_failures, failing.disabled_reason) == (True, 0, "")
    run_action(client, CHANGELIST, "send_test", [failing])
    assert WebhookDelivery.objects.get(subscription=failing).status == DeliveryStatus.PENDING
    run_action(client, CHANGELIST, "disable", [failing])
    failing.refresh_from_db()
    assert failing.active is False
    assert WebhookDelivery.objects.get(subscription=failing).status == DeliveryStatus.CANCELLED
    assert AuditLog.objects.filter(user=admin_desk).count() == 3
    deliveries = client.get("/admin/webhooks/webhookdelivery/")
    assert deliveries.status_code == 200 and deliveries.context["cl"].result_count == 1


@pytest.mark.parametrize("user_fixture", ["desk", "reader"])
def test_dispatchers_and_viewers_cannot_open_webhooks_in_the_back_office(request, client, user_fixture):
    client.force_login(request.getfixturevalue(user_fixture))
    subscription = SubscriptionFactory()
    before = written()
    assert client.get(CHANGELIST).status_code == 403
    assert client.get(admin_url("webhooks.webhooksubscription", "change", subscription.pk)).status_code == 403
    assert client.get("/admin/webhooks/webhookdelivery/").status_code == 403
    assert run_action(client, CHANGELIST, "disable", [subscription]).status_code == 403
    assert "webhooks" not in client.get("/admin/").content.decode().lower()
    assert written() == before
