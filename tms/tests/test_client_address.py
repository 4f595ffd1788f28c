"""The client's address comes from the socket, and from X-Forwarded-For only when a trusted proxy
(TMS_TRUSTED_PROXIES) sent it: a client cannot pick the address its rate limits are counted on."""

import ipaddress

import pytest

from tms.net import client_address

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_logins_a_minute(settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "auth": "2/minute"},
    }


def login(client, **meta) -> int:
    body = {"username": "nobody", "password": "guess"}
    return client.post("/api/auth/token/", body, format="json", **meta).status_code


def test_a_spoofed_forwarded_for_does_not_escape_the_login_throttle(anon_client, two_logins_a_minute):
    statuses = [
        login(anon_client, REMOTE_ADDR="203.0.113.7", HTTP_X_FORWARDED_FOR=f"198.51.100.{n}")
        for n in range(4)
    ]
    assert statuses == [401, 401, 429, 429]


def test_forwarded_for_from_a_trusted_proxy_is_the_client(anon_client, two_logins_a_minute, settings):
    settings.TRUSTED_PROXIES = [ipaddress.ip_network("10.0.0.0/8")]
    proxy = {"REMOTE_ADDR": "10.0.0.2"}
    first = [login(anon_client, **proxy, HTTP_X_FORWARDED_FOR="198.51.100.1") for _ in range(3)]
    # Another client behind the same proxy has its own count.
    second = login(anon_client, **proxy, HTTP_X_FORWARDED_FOR="198.51.100.2")
    assert first == [401, 401, 429]
    assert second == 401


def test_metrics_behind_a_trusted_proxy_are_not_open_to_every_client(client, settings):
    """A proxy on loopback used to make every client look local to the /metrics allow-list."""
    settings.TRUSTED_PROXIES = [ipaddress.ip_network("127.0.0.1/32")]
    outside = client.get("/metrics", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.9")
    local = client.get("/metrics", REMOTE_ADDR="127.0.0.1")
    assert (outside.status_code, local.status_code) == (403, 200)


@pytest.mark.parametrize(
    ("peer", "forwarded_for", "trusted", "expected"),
    [
        ("203.0.113.7", None, [], "203.0.113.7"),
        ("203.0.113.7", "198.51.100.1", [], "203.0.113.7"),  # nobody trusted: the peer
        ("203.0.113.7", "198.51.100.1", ["10.0.0.0/8"], "203.0.113.7"),  # peer not a proxy
        ("10.0.0.2", "198.51.100.1", ["10.0.0.0/8"], "198.51.100.1"),
        ("10.0.0.2", "1.1.1.1, 198.51.100.1", ["10.0.0.0/8"], "198.51.100.1"),  # left of it: the client's
        ("10.0.0.2", "198.51.100.1, 10.0.0.9", ["10.0.0.0/8"], "198.51.100.1"),  # two proxies
        ("10.0.0.2", "10.0.0.8, 10.0.0.9", ["10.0.0.0/8"], "10.0.0.8"),  # all proxies: the farthest
        ("10.0.0.2", "not-an-ip", ["10.0.0.0/8"], "10.0.0.2"),
        ("10.0.0.2", "198.51.100.1, junk", ["10.0.0.0/8"], "10.0.0.2"),
        ("::ffff:10.0.0.2", "2001:db8::1", ["::ffff:10.0.0.0/104"], "2001:db8::1"),
        ("", "198.51.100.1", ["10.0.0.0/8"], ""),
    ],
)
def test_client_address(peer, forwarded_for, trusted, expected, settings):
    settings.TRUSTED_PROXIES = [ipaddress.ip_network(net) for net in trusted]
    assert client_address(peer, forwarded_for) == expected
