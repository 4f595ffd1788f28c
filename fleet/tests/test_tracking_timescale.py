"""The TimescaleDB statements (fleet/timescale.py): TimescaleDB cannot be installed on this server,
so these check the SQL generated and that the plain path does nothing without the extension. The
continuous aggregate's query itself runs in test_tracking_history (emulated)."""

import pytest
from django.conf import settings
from django.db import connections

from fleet import selectors, timescale


def test_default_setup_statements():
    assert timescale.setup_statements() == [
        "SELECT create_hypertable('gps_points', 'recorded_at',"
        " chunk_time_interval => INTERVAL '86400 seconds', migrate_data => true, if_not_exists => true)",
        "ALTER TABLE gps_points SET (timescaledb.compress, timescaledb.compress_segmentby = 'vehicle_id',"
        " timescaledb.compress_orderby = 'recorded_at DESC')",
        "SELECT add_compression_policy('gps_points', INTERVAL '604800 seconds', if_not_exists => true)",
        "SELECT add_retention_policy('gps_points', INTERVAL '31536000 seconds', if_not_exists => true)",
        "CREATE MATERIALIZED VIEW IF NOT EXISTS gps_points_5m"
        " WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS"
        " SELECT vehicle_id, time_bucket(INTERVAL '300 seconds', recorded_at) AS bucket,"
        " count(*) AS points, count(speed_kmh) AS speed_samples, sum(speed_kmh) AS speed_sum,"
        " max(speed_kmh) AS max_speed_kmh, max(recorded_at) AS last_recorded_at,"
        " last(location, recorded_at) AS last_location"
        " FROM gps_points GROUP BY vehicle_id, bucket WITH NO DATA",
        "SELECT add_continuous_aggregate_policy('gps_points_5m', start_offset => INTERVAL '1 day',"
        " end_offset => INTERVAL '5 minutes', schedule_interval => INTERVAL '5 minutes',"
        " if_not_exists => true)",
        "SELECT add_retention_policy('gps_points_5m', INTERVAL '31536000 seconds', if_not_exists => true)",
    ]


def test_retention_compression_and_chunks_come_from_settings(settings):
    settings.GPS_RETENTION_DAYS = 30
    settings.GPS_COMPRESS_AFTER_DAYS = 2
    settings.GPS_CHUNK_INTERVAL_HOURS = 6
    statements = timescale.setup_statements()
    assert "chunk_time_interval => INTERVAL '21600 seconds'" in statements[0]
    assert (
        statements[2]
        == "SELECT add_compression_policy('gps_points', INTERVAL '172800 seconds', if_not_exists => true)"
    )
    assert (
        statements[3]
        == "SELECT add_retention_policy('gps_points', INTERVAL '2592000 seconds', if_not_exists => true)"
    )
    assert statements[-1].endswith("INTERVAL '2592000 seconds', if_not_exists => true)")


def test_explicit_arguments_win():
    statements = timescale.setup_statements(retention_days=90, compress_after_days=1, chunk_interval_hours=12)
    assert "INTERVAL '43200 seconds'" in statements[0]
    assert "INTERVAL '86400 seconds'" in statements[2]
    assert "INTERVAL '7776000 seconds'" in statements[3]


def test_teardown_statements():
    assert timescale.teardown_statements() == [
        "DROP MATERIALIZED VIEW IF EXISTS gps_points_5m",
        "SELECT remove_retention_policy('gps_points', if_exists => true)",
        "SELECT remove_compression_policy('gps_points', if_exists => true)",
    ]


def test_the_aggregate_query_rebuckets_the_five_minute_rows():
    sql = selectors.TIMESCALE_BUCKETS
    assert "FROM gps_points_5m" in sql
    assert "time_bucket(%(bucket)s, bucket, %(origin)s)" in sql
    assert "sum(speed_sum) / nullif(sum(speed_samples), 0)" in sql
    assert "last(last_location, last_recorded_at)" in sql
    # Distances need consecutive fixes: both paths measure them on the raw points.
    assert "lag(location) OVER (ORDER BY recorded_at)" in sql
    assert "lag(location) OVER (ORDER BY recorded_at)" in selectors.PLAIN_BUCKETS
    assert "date_bin(%(bucket)s, recorded_at, %(origin)s)" in selectors.PLAIN_BUCKETS


def test_both_paths_bucket_from_time_buckets_default_origin():
    assert timescale.BUCKET_ORIGIN.isoformat() == "2000-01-03T00:00:00+00:00"


@pytest.mark.django_db
def test_without_a_loadable_extension_the_migration_leaves_a_plain_table():
    """TimescaleDB absent from the server, or installed there but not in shared_preload_libraries
    (so CREATE EXTENSION fails): gps_points stays a plain table and no extension is created."""
    connection = connections[settings.TIMESERIES_DATABASE_ALIAS]
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('shared_preload_libraries')")
        if "timescaledb" in cursor.fetchone()[0]:
            pytest.skip("TimescaleDB is loaded on this server: gps_points is a hypertable here")
        assert timescale.extension_state(cursor) in ("absent", "available")
        assert timescale.set_up(connection) is False
        assert timescale.extension_state(cursor) != "installed"
        cursor.execute("SELECT relkind FROM pg_class WHERE relname = 'gps_points'")
        assert cursor.fetchone() == ("r",)
        cursor.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'gps_points' ORDER BY indexname")
        assert [row[0] for row in cursor.fetchall()] == ["gps_points_pkey", "gps_points_recorded_at_brin"]
        cursor.execute(
            "SELECT pg_get_indexdef('gps_points_pkey'::regclass),"
            " pg_get_indexdef('gps_points_recorded_at_brin'::regclass)"
        )
        assert cursor.fetchone() == (
            "CREATE UNIQUE INDEX gps_points_pkey ON public.gps_points USING btree (vehicle_id, recorded_at)",
            "CREATE INDEX gps_points_recorded_at_brin ON public.gps_points USING brin (recorded_at)",
        )
        assert not timescale.has_aggregate(cursor)


class FakeCursor:
    def __init__(self, state: str):
        self.state = state
        self.executed: list[str] = []

    def execute(self, sql, params=None):
        self.executed.append(sql)

    def fetchone(self):
        return (self.state == "installed", self.state != "absent")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


class FakeConnection:
    alias = "default"

    def __init__(self, state: str):
        self.cursor_ = FakeCursor(state)

    def cursor(self):
        return self.cursor_


def test_with_the_extension_installed_every_statement_runs():
    fake = FakeConnection("installed")
    assert timescale.set_up(fake) is True
    assert fake.cursor_.executed[1:] == timescale.setup_statements()


@pytest.mark.django_db
def test_an_available_extension_is_created_first(monkeypatch):
    fake = FakeConnection("available")
    monkeypatch.setattr(timescale.transaction, "atomic", lambda using: _Nothing())
    assert timescale.set_up(fake) is True
    assert fake.cursor_.executed[1] == "CREATE EXTENSION IF NOT EXISTS timescaledb"
    assert fake.cursor_.executed[2:] == timescale.setup_statements()


class _Nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False
