"""Managing webhook subscriptions through the API: ADMIN only, validated, audited and evented."""

import pytest

from events.models import AuditLog, OutboxEvent
from webhooks.models import WebhookDelivery, WebhookSubscription
from webhooks.tests.factories import SubscriptionFactory

pytestmark = pytest.mark.django_db

PUBLIC_URL = "https://93.184.215.14/hooks/tms?token=abc"  # an IP literal: no DNS in the test


def counts() -> tuple[int, int, int, int]:
    return (
        WebhookSubscription.objects.count(),
        WebhookDelivery.objects.count(),
        AuditLog.objects.count(),
        OutboxEvent.objects.count(),
    )


def test_an_admin_subscribes_and_sees_the_generated_secret_once(admin_api):
    response = admin_api.post(
        "/api/webhooks/",
        {"url": PUBLIC_URL, "event_types": ["LOAD_DELIVERED", "LOAD_CREATED"], "description": "ERP"},
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["secret"].startswith("whsec_")
    assert body["event_types"] == ["LOAD_CREATED", "LOAD_DELIVERED"]
    assert (body["active"], body["consecutive_failures"]) == (True, 0)
    subscription = WebhookSubscription.objects.get(pk=body["id"])
    assert subscription.secret == body["secret"]

    shown = admin_api.get(f"/api/webhooks/{subscription.pk}/").json()
    assert "secret" not in shown
    assert "secret" not in admin_api.get("/api/webhooks/").json()["results"][0]

    audit = AuditLog.objects.get(table_name="webhook_subscriptions", record_id=str(subscription.pk))
    assert audit.user == admin_api.user
    assert audit.changed_data["secret"].startswith("sha256:")
    assert subscription.secret not in str(audit.changed_data)
    alert = OutboxEvent.objects.get(type="SYSTEM_ALERT", subject=str(subscription.pk))
    details = alert.envelope["data"]["details"]
    assert (details["change"], details["host"]) == ("created", "93.184.215.14")
    assert "token=abc" not in str(alert.envelope) and subscription.secret not in str(alert.envelope)


def test_alerts_never_carry_the_url_path_or_query(admin_api):
    response = admin_api.post("/api/webhooks/", {"url": PUBLIC_URL}, format="json")  # no description
    subscription = WebhookSubscription.objects.get(pk=response.json()["id"])
    admin_api.post(f"/api/webhooks/{subscription.pk}/disable")
    alerts = [event.envelope for event in OutboxEvent.objects.filter(type="SYSTEM_ALERT")]
    assert [alert["data"]["message"] for alert in alerts] == [
        "Webhook subscription to 93.184.215.14 created.",
        "Webhook subscription to 93.184.215.14 disabled: disabled by an admin",
    ]
    assert not any("token=abc" in str(alert) or "/hooks/tms" in str(alert) for alert in alerts)


def test_a_given_secret_is_kept_and_a_malformed_one_refused(admin_api):
    secret = "whsec_" + "A" * 32  # 24 bytes
    response = admin_api.post("/api/webhooks/", {"url": PUBLIC_URL, "secret": secret}, format="json")
    assert response.status_code == 201
    assert WebhookSubscription.objects.get().secret == secret
    before = counts()
    refused = admin_api.post("/api/webhooks/", {"url": PUBLIC_URL, "secret": "hunter2"}, format="json")
    assert refused.status_code == 400
    assert "secret" in refused.json()["error"]["details"]
    assert counts() == before


def test_no_event_types_means_every_event_and_unknown_ones_are_refused(admin_api):
    response = admin_api.post("/api/webhooks/", {"url": PUBLIC_URL}, format="json")
    assert response.json()["event_types"] == []
    before = counts()
    refused = admin_api.post(
        "/api/webhooks/",
        {"url": PUBLIC_URL, "event_types": ["LOAD_CREATED", "LOAD_TELEPORTED"]},
        format="json",
    )
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "validation_error"
    assert "event_types" in refused.json()["error"]["details"]
    assert counts() == before


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/hook",
        "http://localhost/hook",
        "http://10.1.2.3/hook",
        "http://192.168.0.10/hook",
        "http://172.16.5.4/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://100.64.0.1/hook",
        "http://0.0.0.0/hook",
        "http://[::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://[fd00::1]/hook",
        "http://224.0.0.1/hook",
        "ftp://93.184.215.14/hook",
        "file:///etc/passwd",
        "https://user:pass@93.184.215.14/hook",
    ],
)
def test_private_and_non_http_targets_are_refused_by_default(admin_api, url):
    before = counts()
    response = admin_api.post("/api/webhooks/", {"url": url}, format="json")
    assert response.status_code == 400, response.content
    assert "url" in response.json()["error"]["details"]
    assert counts() == before


def test_private_targets_are_accepted_when_the_setting_allows_them(admin_api, settings):
    settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS = True
    response = admin_api.post("/api/webhooks/", {"url": "http://127.0.0.1:9/hook"}, format="json")
    assert response.status_code == 201


def test_changing_the_url_to_a_private_one_is_refused(admin_api):
    subscription = SubscriptionFactory()
    before = counts()
    response = admin_api.patch(
        f"/api/webhooks/{subscription.pk}/", {"url": "http://10.0.0.1/"}, format="json"
    )
    assert response.status_code == 400
    assert counts() == before
    subscription.refresh_from_db()
    assert subscription.url == PUBLIC_URL


def test_an_admin_edits_types_and_secret_audited_without_the_secret(admin_api):
    subscription = SubscriptionFactory()
    old_secret = subscription.secret
    new_secret = "whsec_" + "B" * 44  # 33 bytes
    response = admin_api.patch(
        f"/api/webhooks/{subscription.pk}/",
        {"event_types": ["SYSTEM_ALERT"], "secret": new_secret},
        format="json",
    )
    assert response.status_code == 200, response.content
    assert "secret" not in response.json()
    subscription.refresh_from_db()
    assert (subscription.event_types, subscription.secret) == (["SYSTEM_ALERT"], new_secret)
    audit = AuditLog.objects.get(table_name="webhook_subscriptions", action="UPDATE")
    assert set(audit.changed_data) == {"event_types", "secret"}
    assert old_secret not in str(audit.changed_data) and new_secret not in str(audit.changed_data)
    alert = OutboxEvent.objects.get(type="SYSTEM_ALERT")
    assert alert.envelope["data"]["details"]["fields"] == ["event_types", "secret"]


def test_an_admin_deletes_a_subscription_with_its_deliveries(admin_api):
    subscription = SubscriptionFactory()
    response = admin_api.delete(f"/api/webhooks/{subscription.pk}/")
    assert response.status_code == 204
    assert not WebhookSubscription.objects.exists()
    assert AuditLog.objects.filter(action="DELETE", record_id=str(subscription.pk)).exists()
    assert OutboxEvent.objects.get(type="SYSTEM_ALERT").envelope["data"]["details"]["change"] == "deleted"


def test_disable_and_enable_by_hand(admin_api):
    subscription = SubscriptionFactory()
    disabled = admin_api.post(f"/api/webhooks/{subscription.pk}/disable")
    assert disabled.status_code == 200
    assert (disabled.json()["active"], disabled.json()["disabled_reason"]) == (False, "disabled by an admin")
    enabled = admin_api.post(f"/api/webhooks/{subscription.pk}/enable/")
    assert enabled.status_code == 200
    assert (enabled.json()["active"], enabled.json()["disabled_at"]) == (True, None)
    changes = [e.envelope["data"]["details"]["change"] for e in OutboxEvent.objects.order_by("sequence")]
    assert changes == ["disabled", "enabled"]
    assert AuditLog.objects.filter(table_name="webhook_subscriptions", user=admin_api.user).count() == 2


def test_active_and_the_failure_count_are_not_edited_but_enabled_or_disabled(admin_api):
    subscription = SubscriptionFactory(description="ERP")
    before = counts()
    response = admin_api.patch(
        f"/api/webhooks/{subscription.pk}/",
        {"active": False, "consecutive_failures": 0, "description": "x"},
        format="json",
    )
    assert response.status_code == 400
    assert set(response.json()["error"]["details"]) == {"active", "consecutive_failures"}
    assert counts() == before
    subscription.refresh_from_db()
    assert (subscription.active, subscription.description) == (True, "ERP")


@pytest.mark.parametrize("client_name", ["dispatcher", "viewer", "driver_client", "roleless_client"])
def test_only_admins_manage_or_read_subscriptions(request, client_name):
    client = request.getfixturevalue(client_name)
    subscription = SubscriptionFactory()
    before = counts()
    assert client.get("/api/webhooks/").status_code == 403
    assert client.get(f"/api/webhooks/{subscription.pk}/").status_code == 403
    assert client.get(f"/api/webhooks/{subscription.pk}/deliveries").status_code == 403
    assert client.post("/api/webhooks/", {"url": PUBLIC_URL}, format="json").status_code == 403
    assert (
        client.patch(f"/api/webhooks/{subscription.pk}/", {"description": "x"}, format="json").status_code
        == 403
    )
    assert client.delete(f"/api/webhooks/{subscription.pk}/").status_code == 403
    for action in ("enable", "disable", "test"):
        assert client.post(f"/api/webhooks/{subscription.pk}/{action}").status_code == 403
    assert counts() == before


def test_anonymous_gets_401(anon_client):
    assert anon_client.get("/api/webhooks/").status_code == 401
