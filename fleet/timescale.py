"""Everything TimescaleDB-specific about GPS points, in one place.

With the `timescaledb` extension on the time-series database, the migration makes `gps_points` a
hypertable, compresses chunks older than GPS_COMPRESS_AFTER_DAYS (segmented by vehicle), drops
chunks older than GPS_RETENTION_DAYS, and keeps the continuous aggregate `gps_points_5m`. Without
the extension, nothing here runs: `gps_points` stays a plain table with its B-tree and BRIN
indexes, and history queries aggregate the raw points instead (fleet.selectors).

The aggregate's refresh policy covers only the last day, so a fix that arrives after its bucket
was materialised would be left out for good: such late fixes mark their bucket (LATE_BUCKETS_CTE)
and history reads marked buckets from the raw fixes (bucket_stats_sql). Ingestion creates missing
chunks ahead of its own transaction (ensure_chunks), so creating one never holds up other batches.
"""

import logging
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import DatabaseError, connections, transaction

logger = logging.getLogger(__name__)

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


# A fix recorded this long before it is received may land in a 5-minute bucket that the aggregate's
# refresh has already materialised (the policy's end_offset is 5 minutes, so a bucket is
# materialised 5 minutes after it ends at the earliest, and real-time aggregation computes the
# rest from the raw fixes): ingestion marks its bucket late, and history reads late buckets from
# the raw fixes. Twice the end_offset, so that only an ingest transaction open for minutes could
# commit a fix behind a refresh without a mark.
LATE_AFTER = timedelta(minutes=10)


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


# A CTE of fleet.ingest's store statement (after `stored`): while the aggregate exists, the
# 5-minute buckets of the fixes stored late (LATE_AFTER) are marked in gps_late_buckets, in the
# transaction that stores them, in one order so that concurrent batches cannot deadlock on marks.
LATE_BUCKETS_CTE = f"""
    late_buckets AS (
        INSERT INTO gps_late_buckets (vehicle_id, bucket)
        SELECT DISTINCT vehicle_id, date_bin({_interval(AGGREGATE_BUCKET)}, recorded_at,
                                             '{BUCKET_ORIGIN.isoformat()}'::timestamptz)
        FROM stored
        WHERE recorded_at < %(received_at)s - {_interval(LATE_AFTER)}
          AND (SELECT to_regclass('{AGGREGATE}')) IS NOT NULL
        ORDER BY 1, 2
        ON CONFLICT DO NOTHING
    )
"""


def bucket_stats_sql() -> str:
    """Per-bucket count, speeds and last position of one vehicle from the continuous aggregate,
    re-bucketed to the requested width. Parameters: bucket, origin, vehicle_id, start, end.

    The aggregate is right for a bucket materialised after its last fix arrived; a bucket that
    received a fix late (gps_late_buckets, see LATE_BUCKETS_CTE) may have been materialised before
    and is aggregated from the raw fixes instead, so the answer is the plain query's whatever the
    refresh policy has done. The average is sum / samples over the 5-minute rows, which equals
    avg() over the raw points."""
    return f"""
        WITH late AS (
            SELECT bucket FROM gps_late_buckets
            WHERE vehicle_id = %(vehicle_id)s AND bucket >= %(start)s AND bucket < %(end)s
        ),
        five_minutes AS (
            SELECT bucket, points, speed_samples, speed_sum, max_speed_kmh, last_recorded_at, last_location
            FROM {AGGREGATE}
            WHERE vehicle_id = %(vehicle_id)s AND bucket >= %(start)s AND bucket < %(end)s
              AND bucket NOT IN (SELECT bucket FROM late)
            UNION ALL
            SELECT late.bucket, count(*), count(speed_kmh), sum(speed_kmh), max(speed_kmh), max(recorded_at),
                   last(location, recorded_at)
            FROM late
            JOIN gps_points ON gps_points.vehicle_id = %(vehicle_id)s
                           AND gps_points.recorded_at >= late.bucket
                           AND gps_points.recorded_at < late.bucket + {_interval(AGGREGATE_BUCKET)}
                           -- the window again, as constants: chunk exclusion when planning
                           AND gps_points.recorded_at >= %(start)s AND gps_points.recorded_at < %(end)s
            GROUP BY late.bucket
        )
        SELECT time_bucket(%(bucket)s, bucket, %(origin)s) AS bucket,
               sum(points)::int AS points,
               sum(speed_sum) / nullif(sum(speed_samples), 0) AS avg_speed_kmh,
               max(max_speed_kmh) AS max_speed_kmh,
               max(last_recorded_at) AS last_recorded_at,
               last(last_location, last_recorded_at) AS last_location
        FROM five_minutes
        GROUP BY 1
    """


# --- Chunks ahead of ingestion --------------------------------------------------------------------

_CHUNK_INTERVAL = """
    SELECT extract(epoch FROM time_interval)::bigint FROM timescaledb_information.dimensions
    WHERE hypertable_schema = current_schema() AND hypertable_name = 'gps_points' AND dimension_number = 1
"""
# show_chunks answers from TimescaleDB's catalog cache (~0.3 ms); the chunks view takes ~9 ms.
_MISSING_CHUNKS = """
    SELECT extract(epoch FROM start)::bigint FROM unnest(%s::timestamptz[]) AS start
    WHERE NOT EXISTS (
        SELECT FROM show_chunks('gps_points', newer_than => start,
                                older_than => start + %s * INTERVAL '1 second')
    )
"""
_CREATE_CHUNK = """
    SELECT _timescaledb_functions.create_chunk(
        'gps_points', jsonb_build_object('recorded_at', jsonb_build_array(%s::bigint, %s::bigint)))
"""
# Per database alias: the chunk interval in seconds, None when gps_points is no hypertable.
_chunk_intervals: dict[str, int | None] = {}


def _chunk_interval(alias: str) -> int | None:
    if alias not in _chunk_intervals:
        with connections[alias].cursor() as cursor:
            if extension_state(cursor) != "installed":
                interval = None
            else:
                cursor.execute(_CHUNK_INTERVAL)
                row = cursor.fetchone()
                interval = row[0] if row else None
        _chunk_intervals[alias] = interval
    return _chunk_intervals[alias]


def ensure_chunks(alias: str, times: Iterable[datetime]) -> int:
    """Creates the missing chunks of gps_points that fixes recorded at `times` go to, each in its
    own short transaction, before the ingest's transaction inserts them; returns how many it
    created. A transaction that creates a chunk by inserting into it holds a lock on the
    hypertable until it commits, and every other ingest into that time range waits behind it
    (daily, at the chunk boundary, for the slowest open batch): created here, the chunk is
    committed at once. Nothing without TimescaleDB (the answer is cached per process: restart
    after installing the extension)."""
    interval = _chunk_interval(alias)
    if interval is None:
        return 0
    times = times if isinstance(times, list | tuple) else list(times)
    if not times:
        return 0
    first, last = (int(moment.timestamp()) // interval * interval for moment in (min(times), max(times)))
    if last - first <= interval:  # the usual batch, minutes long: no need to look at every fix
        starts = {first, last}
    else:
        starts = {int(moment.timestamp()) // interval * interval for moment in times}
    connection = connections[alias]
    with connection.cursor() as cursor:
        cursor.execute(
            _MISSING_CHUNKS,
            [
                "{" + ",".join(f"{datetime.fromtimestamp(start, UTC).isoformat()}" for start in starts) + "}",
                interval,
            ],
        )
        missing = {row[0] for row in cursor.fetchall()}
    if not missing:
        return 0
    # In a transaction already (a caller's atomic block), a chunk created on this connection would
    # be locked until that commits: create it on a connection of its own.
    own = connection if not connection.in_atomic_block else connections.create_connection(alias)
    try:
        with own.cursor() as cursor:  # autocommit: each chunk commits at once
            for start in sorted(missing):
                try:
                    cursor.execute(_CREATE_CHUNK, [start * 1_000_000, (start + interval) * 1_000_000])
                except DatabaseError:  # e.g. a chunk of an older interval overlaps: the insert creates it
                    logger.warning("could not create the gps_points chunk at %s", start, exc_info=True)
    finally:
        if own is not connection:
            own.close()
    return len(missing)
