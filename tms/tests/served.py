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
from django.db import connections


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_database_url(alias: str = "default") -> str:
    db = connections[alias].settings_dict
    credentials = quote(db["USER"]) + (f":{quote(db['PASSWORD'])}" if db.get("PASSWORD") else "")
    return f"postgis://{credentials}@{db['HOST'] or '127.0.0.1'}:{db['PORT']}/{db['NAME']}"


def child_database_environment() -> dict[str, str]:
    """DATABASE_URL and TIMESERIES_DATABASE_URL of this run's test databases, for a child process
    (never the time-series database the environment names: not this run's test database)."""
    separate = settings.TIMESERIES_DATABASE_ALIAS != "default"
    return {
        "DATABASE_URL": test_database_url(),
        "TIMESERIES_DATABASE_URL": test_database_url(settings.TIMESERIES_DATABASE_ALIAS) if separate else "",
    }


@contextlib.contextmanager
def served(**env: str) -> Iterator[str]:
    """uvicorn serving tms.asgi on a free loopback port as the Procfile runs it (no proxy headers);
    yields "127.0.0.1:PORT". `env` overrides the environment (DATABASE_URL and
    TIMESERIES_DATABASE_URL default to this run's test databases)."""
    port = free_port()
    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tms.settings",
        **child_database_environment(),
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
