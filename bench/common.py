"""What the benchmarks share: a database of their own on the local PostgreSQL, and waiting for a
server they started."""

import os
import socket
import time
from collections.abc import Callable


def wait_for_port(port: int, check_alive: Callable[[], None], timeout_s: float = 60) -> None:
    """Returns once something accepts connections on 127.0.0.1:`port`; `check_alive` raises when the
    process that should serve it has died, so a crash is reported at once, not after the timeout."""
    deadline = time.monotonic() + timeout_s
    while True:
        check_alive()
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def setup_django(database: str, **environment: str) -> str:
    """Creates `database` on the local server (scripts/services) if missing, points Django at it
    (with `environment` set first), migrates it, and returns its URL."""
    import psycopg

    port = os.environ.get("TMS_PG_PORT", "55432")
    url = f"postgis://tms@127.0.0.1:{port}/{database}"
    with psycopg.connect(f"host=127.0.0.1 port={port} user=tms dbname=postgres", autocommit=True) as admin:
        if not admin.execute("select 1 from pg_database where datname = %s", [database]).fetchone():
            admin.execute(f"CREATE DATABASE {database}")
    os.environ["DATABASE_URL"] = url
    os.environ.pop("TIMESERIES_DATABASE_URL", None)
    os.environ.update(environment)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tms.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    return url
