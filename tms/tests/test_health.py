"""/health: anonymous callers get the bare status (and its HTTP code); the detail (versions,
backlogs, each dependency) is for operators, as /metrics is: loopback, TMS_METRICS_ALLOWED_IPS,
the TMS_METRICS_TOKEN bearer, or an ADMIN's API token."""

import ipaddress

import pytest
from rest_framework.authtoken.models import Token

pytestmark = pytest.mark.django_db

OUTSIDE = {"REMOTE_ADDR": "203.0.113.9"}


def test_an_anonymous_caller_gets_the_bare_status(client):
    response = client.get("/health", **OUTSIDE)
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


def test_an_anonymous_caller_sees_an_outage_only_as_its_status(client, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    response = client.get("/health", **OUTSIDE)
    assert (response.status_code, response.json()) == (503, {"status": "unavailable"})


def test_a_spoofed_forwarded_for_gets_no_detail(client):
    response = client.get("/health", **OUTSIDE, HTTP_X_FORWARDED_FOR="127.0.0.1")
    assert response.json() == {"status": "ok"}


def test_an_admin_token_gets_the_detail(client, admin_user):
    token = Token.objects.create(user=admin_user).key
    body = client.get("/health", **OUTSIDE, HTTP_AUTHORIZATION=f"Token {token}").json()
    assert body["checks"]["database"]["postgis"].startswith("3.")


@pytest.mark.parametrize("header", ["Token {dispatcher}", "Token wrong", "Bearer wrong"])
def test_other_credentials_get_the_bare_status(client, dispatcher_user, header, settings):
    settings.TMS_METRICS_TOKEN = "metrics-secret"
    token = Token.objects.create(user=dispatcher_user).key
    response = client.get("/health", **OUTSIDE, HTTP_AUTHORIZATION=header.format(dispatcher=token))
    assert response.json() == {"status": "ok"}


def test_the_metrics_token_and_allowed_networks_get_the_detail(client, settings):
    settings.TMS_METRICS_TOKEN = "metrics-secret"
    settings.TMS_METRICS_ALLOWED_NETWORKS = [ipaddress.ip_network("10.0.0.0/8")]
    bearer = client.get("/health", **OUTSIDE, HTTP_AUTHORIZATION="Bearer metrics-secret").json()
    network = client.get("/health", REMOTE_ADDR="10.1.2.3").json()
    assert bearer["checks"]["redis"]["status"] == network["checks"]["redis"]["status"] == "up"
