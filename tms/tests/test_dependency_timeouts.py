"""A Redis that is frozen (its process stopped, its socket open: connections hang instead of being
refused) is a 503 in the error envelope once the socket timeout passes, not a 500; so is PostgreSQL
down, and the admin shows a plain 503 page. The Redis is the test's own
(test_topology_e2e.PrivateRedis), the database a closed port: never the shared servers."""

import http.client
import json
import os
import shutil
import signal

import pytest

from fleet.models import Carrier
from tms.tests.served import free_port, served
from tms.tests.test_api_conventions import assert_envelope
from tms.tests.test_topology_e2e import PrivateRedis

pytestmark = pytest.mark.django_db


@pytest.fixture
def frozen_redis(tmp_path, settings):
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed: cannot run a Redis of the test's own")
    server = PrivateRedis(binary, tmp_path)
    server.start()
    options = {**settings.CACHES["default"]["OPTIONS"], "socket_timeout": 0.5, "socket_connect_timeout": 0.5}
    settings.CACHES = {"default": {**settings.CACHES["default"], "LOCATION": server.url, "OPTIONS": options}}
    os.kill(server.process.pid, signal.SIGSTOP)
    try:
        yield server
    finally:
        os.kill(server.process.pid, signal.SIGCONT)
        server.kill()


def test_a_frozen_redis_is_a_503_for_a_throttled_request(dispatcher, frozen_redis):
    assert_envelope(dispatcher.get("/api/carriers/"), 503, "dependency_unavailable")


def test_a_frozen_redis_refuses_a_write_with_a_503_and_writes_nothing(dispatcher, frozen_redis):
    body = {"name": "Frozen Freight", "dot_number": "1234567"}
    response = dispatcher.post("/api/carriers/", body, format="json")
    assert_envelope(response, 503, "dependency_unavailable")
    assert not Carrier.objects.exists()


@pytest.fixture(scope="module")
def server_without_database():
    """The served app with its database on a closed port (never the shared server stopped)."""
    database = f"postgis://tms@127.0.0.1:{free_port()}/tms"
    with served(
        DATABASE_URL=database, DATABASE_POOL_TIMEOUT_S="1", DATABASE_CONNECT_TIMEOUT_S="1"
    ) as address:
        yield address


def get(address: str, path: str, **headers: str) -> tuple[int, str, str]:
    host, port = address.split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        return response.status, response.getheader("Content-Type", ""), response.read().decode()
    finally:
        conn.close()


def test_the_admin_while_postgresql_is_down_is_a_plain_503_page(server_without_database):
    status, content_type, body = get(server_without_database, "/admin/", Cookie="sessionid=somebody")
    assert (status, content_type.split(";")[0]) == (503, "text/html")
    assert "Service unavailable" in body


def test_the_api_while_postgresql_is_down_is_a_503_envelope(server_without_database):
    status, _, body = get(server_without_database, "/api/carriers/", Authorization="Token " + "a" * 40)
    assert status == 503
    assert json.loads(body)["error"]["code"] == "dependency_unavailable"
