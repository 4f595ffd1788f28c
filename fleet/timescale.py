"""Everything TimescaleDB-specific about GPS points, in one place.

With the `timescaledb` extension on the time-series database, the migration makes `gps_points` a
hypertable, compresses chunks older than GPS_COMPRESS_AFTER_DAYS (segmented by vehicle), drops
chunks older than GPS_RETENTION_DAYS, and keeps the continuous aggregate `gps_points_5m`. Without
the extension, nothing here runs: `gps_points` stays a plain table with its B-tree and BRIN
indexes, and history queries aggregate the raw points instead (fleet.selectors).
"""

from datetime import datetime, timedelta

from django.conf import settings
from django.db import DatabaseError, transaction

AGGREGATE = "gps_points_5m"
AGGREGATE_BUCKET = timedelta(minutes=5)
# time_bucket's default origin for timestamptz (a Monday, midnight UTC); the plain query passes the
# same origin to date_bin, so both group points into identical buckets.
BUCKET_ORIGIN = datetime.fromisoformat("2000-01-03T00:00:00+00:00")


def extension_state(cursor) -> str:
    """'installed', 'available' (can be created) or 'absent'."""
    cursor.execute(
        "select exists(select 1 from pg_extension where extname = 'timescaledb'),"
        " exists(select 1 from pg_available_extensions where name = 'timescaledb')"
    )
    installed, available = cursor.fetchone()
    return "installed" if installed else "available" if available else "absent"


def _interval(value: timedelta) -> str:
    return f"INTERVAL '{int(value.total_seconds())} seconds'"


def setup_statements(
    *,
    retention_days: int | None = None,
    compress_after_days: int | None = None,
    chunk_interval_hours: int | None = None,
) -> list[str]:
    """The SQL that turns the plain `gps_points` table into a managed hypertable, in order.

    Idempotent (`if_not_exists`), so a re-run after a partial failure finishes the job. The
    continuous aggregate's CREATE cannot run inside a transaction block: run these outside one.
    """
    retention = timedelta(days=retention_days or settings.GPS_RETENTION_DAYS)
    compress_after = timedelta(days=compress_after_days or settings.GPS_COMPRESS_AFTER_DAYS)
    chunk = timedelta(hours=chunk_interval_hours or settings.GPS_CHUNK_INTERVAL_HOURS)
    return [
        "SELECT create_hypertable('gps_points', 'recorded_at',"
        f" chunk_time_interval => {_interval(chunk)}, migrate_data => true, if_not_exists => true)",
        "ALTER TABLE gps_points SET (timescaledb.compress,"
        " timescaledb.compress_segmentby = 'vehicle_id', timescaledb.compress_orderby = 'recorded_at DESC')",
        f"SELECT add_compression_policy('gps_points', {_interval(compress_after)}, if_not_exists => true)",
        f"SELECT add_retention_policy('gps_points', {_interval(retention)}, if_not_exists => true)",
        # Real-time aggregation (materialized_only = false): the newest, not yet materialized
        # buckets are computed from the raw points, so queries see the same rows as without it.
        f"CREATE MATERIALIZED VIEW IF NOT EXISTS {AGGREGATE}"
        " WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS"
        f" SELECT vehicle_id, time_bucket({_interval(AGGREGATE_BUCKET)}, recorded_at) AS bucket,"
        " count(*) AS points, count(speed_kmh) AS speed_samples, sum(speed_kmh) AS speed_sum,"
        " max(speed_kmh) AS max_speed_kmh, max(recorded_at) AS last_recorded_at,"
        " last(location, recorded_at) AS last_location"
        " FROM gps_points GROUP BY vehicle_id, bucket WITH NO DATA",
        f"SELECT add_continuous_aggregate_policy('{AGGREGATE}', start_offset => INTERVAL '1 day',"
        " end_offset => INTERVAL '5 minutes', schedule_interval => INTERVAL '5 minutes',"
        " if_not_exists => true)",
        f"SELECT add_retention_policy('{AGGREGATE}', {_interval(retention)}, if_not_exists => true)",
    ]


def teardown_statements() -> list[str]:
    """Reverse of setup: the aggregate and the policies go; the hypertable stays (TimescaleDB
    cannot turn one back into a plain table)."""
    return [
        f"DROP MATERIALIZED VIEW IF EXISTS {AGGREGATE}",
        "SELECT remove_retention_policy('gps_points', if_exists => true)",
        "SELECT remove_compression_policy('gps_points', if_exists => true)",
    ]


def set_up(connection) -> bool:
    """Applies `setup_statements` when TimescaleDB is installed or can be created; returns whether
    it did. A server that lists the extension but cannot load it (not in
    shared_preload_libraries) keeps the plain table."""
    with connection.cursor() as cursor:
        state = extension_state(cursor)
        if state == "absent":
            return False
        if state == "available":
            try:
                with transaction.atomic(using=connection.alias):
                    cursor.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
            except DatabaseError:  # listed but not loadable (shared_preload_libraries): stay plain
                return False
        for statement in setup_statements():
            cursor.execute(statement)
    return True


def tear_down(connection) -> None:
    with connection.cursor() as cursor:
        if extension_state(cursor) == "installed":
            for statement in teardown_statements():
                cursor.execute(statement)


def has_aggregate(cursor) -> bool:
    cursor.execute("select to_regclass(%s) is not null", [AGGREGATE])
    return cursor.fetchone()[0]


def bucket_stats_sql() -> str:
    """Per-bucket count, speeds and last position of one vehicle from the continuous aggregate,
    re-bucketed to the requested width. Parameters: bucket, origin, vehicle_id, start, end.

    The average is sum / samples over the 5-minute rows, which equals avg() over the raw points."""
    return f"""
        SELECT time_bucket(%(bucket)s, bucket, %(origin)s) AS bucket,
               sum(points)::int AS points,
               sum(speed_sum) / nullif(sum(speed_samples), 0) AS avg_speed_kmh,
               max(max_speed_kmh) AS max_speed_kmh,
               max(last_recorded_at) AS last_recorded_at,
               last(last_location, last_recorded_at) AS last_location
        FROM {AGGREGATE}
        WHERE vehicle_id = %(vehicle_id)s AND bucket >= %(start)s AND bucket < %(end)s
        GROUP BY 1
    """
