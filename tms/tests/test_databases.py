"""The main and the time-series database: one URL for both is one database, `manage.py migrate`
migrates every database, and /health fails, naming the tables, when one lacks any of its own.

The migrations run for real (`manage.py migrate` in a child process) on scratch databases of the
test cluster."""

import os
import runpy
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg
import pytest
from django.conf import settings
from django.db import connections

ROOT = Path(settings.BASE_DIR)
TIMESERIES_TABLES = ["duty_status_records", "event_store", "gps_points"]


def settings_for(monkeypatch, **env: str) -> dict:
    """tms/settings.py evaluated under this environment."""
    for name in ("DATABASE_URL", "TIMESERIES_DATABASE_URL", "TMS_TEST_DATABASE_NAME"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(str(ROOT / "tms" / "settings.py"))


@pytest.mark.parametrize(
    "database_url, timeseries_url",
    [
        ("postgis://tms@db.internal:5432/tms", "postgis://tms@db.internal:5432/tms"),
        # The same database with other credentials, scheme, host case or an implicit port.
        ("postgis://tms:one@db.internal:5432/tms", "postgres://reader:two@DB.internal/tms?sslmode=require"),
        ("postgis://tms@db.internal:5432/tms", ""),
    ],
)
def test_one_database_named_twice_is_one_database(monkeypatch, database_url, timeseries_url):
    loaded = settings_for(monkeypatch, DATABASE_URL=database_url, TIMESERIES_DATABASE_URL=timeseries_url)
    assert loaded["TIMESERIES_DATABASE_ALIAS"] == "default"
    assert list(loaded["DATABASES"]) == ["default"]


@pytest.mark.parametrize(
    "timeseries_url",
    [
        "postgis://tms@db.internal:5432/tms_timeseries",
        "postgis://tms@db.internal:5433/tms",
        "postgis://tms@ts/tms",
    ],
)
def test_another_database_gets_its_own_alias_and_test_database(monkeypatch, timeseries_url):
    loaded = settings_for(
        monkeypatch,
        DATABASE_URL="postgis://tms@db.internal:5432/tms",
        TIMESERIES_DATABASE_URL=timeseries_url,
        TMS_TEST_DATABASE_NAME="test_mine",
    )
    assert loaded["TIMESERIES_DATABASE_ALIAS"] == "timeseries"
    assert loaded["DATABASES"]["timeseries"]["NAME"] == timeseries_url.rsplit("/", 1)[1]
    assert [loaded["DATABASES"][alias]["TEST"]["NAME"] for alias in ("default", "timeseries")] == [
        "test_mine",
        "test_mine_timeseries",
    ]


# --- Migrations, for real ---------------------------------------------------------------------------


def _admin_connection() -> psycopg.Connection:
    db = connections["default"].settings_dict
    return psycopg.connect(
        host=db["HOST"],
        port=db["PORT"],
        user=db["USER"],
        password=db["PASSWORD"] or None,
        dbname="postgres",
        autocommit=True,
    )


@pytest.fixture
def scratch():
    """Makes empty databases on the test cluster; each is dropped at the end."""
    made: list[str] = []

    def make() -> str:
        name = f"scratch_{uuid.uuid4().hex[:16]}"
        with _admin_connection() as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        made.append(name)
        return name

    yield make
    with _admin_connection() as admin:
        for name in made:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def url(name: str, host: str | None = None) -> str:
    db = connections["default"].settings_dict
    password = f":{db['PASSWORD']}" if db["PASSWORD"] else ""
    return f"postgis://{db['USER']}{password}@{host or db['HOST'] or '127.0.0.1'}:{db['PORT']}/{name}"


def manage(*args: str, database_url: str, timeseries_url: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DATABASE_URL": database_url, "TIMESERIES_DATABASE_URL": timeseries_url}
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )


def tables(name: str, *wanted: str) -> list[str]:
    """Which of these tables the database holds."""
    db = connections["default"].settings_dict
    with psycopg.connect(
        host=db["HOST"], port=db["PORT"], user=db["USER"], password=db["PASSWORD"] or None, dbname=name
    ) as connection:
        rows = connection.execute(
            "SELECT name FROM unnest(%s::text[]) AS name WHERE to_regclass(name) IS NOT NULL ORDER BY name",
            [list(wanted)],
        ).fetchall()
    return [row[0] for row in rows]


def test_with_one_url_for_both_migrate_creates_the_time_series_tables(scratch):
    """Both URLs equal made two aliases on one database sharing one django_migrations: migrating
    one marked the other's migrations applied, and gps_points, duty_status_records and
    event_store were never created. There is one alias: `migrate --database timeseries`, as an
    old release script ran it, is refused instead of marking migrations applied."""
    database = url(scratch())

    first = manage("migrate", "--database", "timeseries", database_url=database, timeseries_url=database)
    assert first.returncode == 2
    assert "invalid choice: 'timeseries' (choose from 'default')" in first.stderr
    assert tables(database.rsplit("/", 1)[1], "django_migrations") == []
    done = manage("migrate", "-v", "0", database_url=database, timeseries_url=database)

    assert done.returncode == 0, done.stderr
    assert tables(database.rsplit("/", 1)[1], *TIMESERIES_TABLES, "loads") == sorted(
        [*TIMESERIES_TABLES, "loads"]
    )


def test_migrate_migrates_the_separate_time_series_database_too(scratch):
    main, timeseries = scratch(), scratch()

    done = manage("migrate", "-v", "0", database_url=url(main), timeseries_url=url(timeseries))

    assert done.returncode == 0, done.stderr
    assert tables(main, *TIMESERIES_TABLES, "loads", "vehicles") == ["loads", "vehicles"]
    assert tables(timeseries, *TIMESERIES_TABLES, "loads", "vehicles") == TIMESERIES_TABLES


def test_the_main_database_under_another_host_name_is_refused_before_anything_is_written(scratch):
    name = scratch()

    refused = manage("migrate", database_url=url(name, "127.0.0.1"), timeseries_url=url(name, "localhost"))

    assert refused.returncode == 1
    assert "tms.E001" in refused.stderr
    assert "TIMESERIES_DATABASE_URL reaches the same database as DATABASE_URL" in refused.stderr
    assert tables(name, "django_migrations", "loads", "gps_points") == []


# --- /health ---------------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("table, model_alias", [("event_store", "timeseries"), ("loads", "default")])
def test_health_fails_and_names_a_table_missing_from_its_database(client, table, model_alias):
    alias = settings.TIMESERIES_DATABASE_ALIAS if model_alias == "timeseries" else "default"
    with connections[alias].cursor() as cursor:  # rolled back after the test
        cursor.execute(f"ALTER TABLE {table} RENAME TO {table}_elsewhere")

    response = client.get("/health", REMOTE_ADDR="127.0.0.1")

    assert response.status_code == 503
    checks = response.json()["checks"]
    aliases = {"database": "default", "timeseries_database": settings.TIMESERIES_DATABASE_ALIAS}
    for check, check_alias in aliases.items():
        if check_alias == alias:
            assert checks[check]["status"] == "down"
            assert (
                checks[check]["error"]
                == f"DatabaseIncomplete: missing tables (run manage.py migrate): {table}"
            )
        else:
            assert checks[check]["status"] == "up"


@pytest.mark.django_db
def test_health_is_ok_with_every_table_in_place(client):
    response = client.get("/health", REMOTE_ADDR="127.0.0.1")
    assert response.status_code == 200
    assert response.json()["checks"]["timeseries_database"]["status"] == "up"
