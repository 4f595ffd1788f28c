"""The web process as the Procfile starts it, under more concurrent clients than it has database
connections: every client gets its answer, the process holds no more connections than its pool."""

import http.client
import os
import signal
import socket
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection
from rest_framework.authtoken.models import Token

from loads.tests.factories import LoadFactory
from tms.tests.served import child_database_environment

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(settings.BASE_DIR)
POOL = 2


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def web():
    """The Procfile's web command: one worker, a pool of POOL connections to the test database."""
    command = next(
        line.partition(":")[2].strip()
        for line in (ROOT / "Procfile").read_text().splitlines()
        if line.startswith("web:")
    )
    test_backends = backends()  # this test process's own (its pool included)
    port = free_port()
    env = {
        **os.environ,
        "PATH": f"{ROOT / '.venv' / 'bin'}:{os.environ['PATH']}",
        **child_database_environment(),
        "DATABASE_POOL_MAX_SIZE": str(POOL),
        "DATABASE_POOL_MIN_SIZE": "1",
        "DATABASE_POOL_TIMEOUT_S": "2",
        "WEB_CONCURRENCY": "1",
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "TMS_LOG_LEVEL": "WARNING",
        "TMS_THROTTLE_USER": "100000/minute",
    }
    server = subprocess.Popen(
        ["sh", "-c", f"exec {command}"], cwd=ROOT, env=env, start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.2)
    yield SimpleNamespace(port=port, test_backends=test_backends)
    os.killpg(server.pid, signal.SIGTERM)
    server.wait(timeout=20)


def backends() -> set[int]:
    """The PostgreSQL backends connected to the test database."""
    with connection.cursor() as cursor:
        cursor.execute("select pid from pg_stat_activity where datname = current_database()")
        return {pid for (pid,) in cursor.fetchall()}


def test_a_hundred_concurrent_clients_all_get_answers_from_a_pool_of_two(web):
    user = get_user_model().objects.create_superuser("serving", password="unused-password")
    token = Token.objects.create(user=user).key
    load = LoadFactory()

    def read(_: int) -> int:
        client = http.client.HTTPConnection("127.0.0.1", web.port, timeout=30)
        try:
            statuses = []
            for _ in range(3):  # keep-alive
                client.request("GET", f"/api/loads/{load.pk}/", headers={"Authorization": f"Token {token}"})
                response = client.getresponse()
                response.read()
                statuses.append(response.status)
            return max(statuses)
        finally:
            client.close()

    with ThreadPoolExecutor(max_workers=100) as clients:
        statuses = list(clients.map(read, range(100)))

    assert statuses == [200] * 100
    assert len(backends() - web.test_backends) <= POOL  # the server's, whatever the concurrency
