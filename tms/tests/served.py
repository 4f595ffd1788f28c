"""The ASGI app as production serves it (uvicorn in a subprocess, one worker), on this run's test
database, for tests that need a real server: chunked bodies, a browser, the dependencies down."""

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from urllib.parse import quote

from django.conf import settings
from django.db import connection


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_database_url() -> str:
    db = connection.settings_dict
    credentials = quote(db["USER"]) + (f":{quote(db['PASSWORD'])}" if db.get("PASSWORD") else "")
    return f"postgis://{credentials}@{db['HOST'] or '127.0.0.1'}:{db['PORT']}/{db['NAME']}"


@contextlib.contextmanager
def served(**env: str) -> Iterator[str]:
    """uvicorn serving tms.asgi on a free loopback port as the Procfile runs it (no proxy headers);
    yields "127.0.0.1:PORT". `env` overrides the environment (DATABASE_URL defaults to the test
    database)."""
    port = free_port()
    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tms.settings",
        "DATABASE_URL": test_database_url(),
        "TMS_LOG_LEVEL": "WARNING",
        **env,
    }
    command = [sys.executable, "-m", "uvicorn", "tms.asgi:application", "--host", "127.0.0.1"]
    process = subprocess.Popen(
        [*command, "--port", str(port), "--log-level", "warning", "--no-access-log", "--no-proxy-headers"],
        cwd=settings.BASE_DIR, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"uvicorn exited: {process.stderr.read().decode()[-2000:]}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        yield f"127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
