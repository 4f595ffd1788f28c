"""A GPS odometer per vehicle: the distance along its fixes, read at any instant in two index probes.

The dashboard's loaded and empty miles (analytics.selectors.gps_miles) are differences of readings:
over a load's time on its truck, the reading at delivery minus the reading at pickup; over a range,
the reading at its end minus the reading at its start. Without it, each answer walked every fix of
the range (a window over ~820,000 fixes for a month of a 500-truck fleet: ~3.7 s).

What a reading is
    reading(v, t) = the metres, on the sphere, along vehicle v's fixes in time order, over every
    stretch (two consecutive fixes) whose later fix was recorded before t (`inclusive`: at or
    before t). A stretch so belongs to the instant of its later fix; the distance over [a, b) is
    reading(v, b) - reading(v, a): ranges add up (a week is the sum of its days), and a stretch
    across an edge counts in the range of its later fix.

Where it is kept
    gps_distance_marks (fleet.models.GpsDistanceMark): per vehicle and hour that holds fixes, the
    reading through the hour's last fix, and that fix. A reading at t is the newest usable mark of
    an hour before t's hour plus the stretches of the raw fixes after the mark's fix up to t (an
    hour's worth at most, through the primary key of gps_points): two probes and a short walk.
    No column on gps_points: a late fix changes the reading of every later fix, and TimescaleDB's
    compressed chunks would have to be rewritten; marks are one small row per vehicle-hour.

How it stays right
    - `refresh` (Celery beat, fleet.tasks.refresh_gps_odometer, every minute; `manage.py
      gps_odometer` runs it by hand and the migration runs it once) extends each vehicle's marks
      through the hours that ended SETTLE ago: fixes arrive late by up to LATE_AFTER without
      being "late", and an ingest transaction is short.
    - A fix stored later than LATE_AFTER after it was recorded may fall in an hour already marked:
      ingest (STALE_CTE, in the transaction that stores it) records the vehicle in
      gps_distance_stale from that hour on, and readings ignore its marks from there (they fall
      back to the previous mark and the raw fixes: slower, never wrong). The next refresh deletes
      those marks and rebuilds them.
    - The recent edge (hours not yet marked) is always read from the raw fixes.
    - Fixes written around ingest (a test's ORM rows, seed_scale's COPY) need a refresh after,
      as seed_scale does, when they land in an hour already marked.
"""

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import NamedTuple
from uuid import UUID

from django.conf import settings
from django.db import connections, transaction
from django.utils import timezone

from fleet.selectors import array_literal
from fleet.timescale import BUCKET_ORIGIN, LATE_AFTER

MARK_BUCKET = timedelta(hours=1)
SETTLE = 2 * LATE_AFTER  # an hour is marked once it ended this long ago
REFRESH_VEHICLES_PER_STATEMENT = 50  # a backfill walks this many vehicles' fixes per statement
_ADVISORY_LOCK = 7_340_114  # one refresh at a time (pg_try_advisory_lock)

_BIN = f"date_bin(INTERVAL '{int(MARK_BUCKET.total_seconds())} seconds', {{}}, '{BUCKET_ORIGIN.isoformat()}')"

# A CTE of fleet.ingest's store statement (after `stored`): a fix stored late marks its vehicle's
# odometer stale from the fix's hour on; vehicles in id order, as ingest locks them.
STALE_CTE = f"""
    odometer_stale AS (
        INSERT INTO gps_distance_stale (vehicle_id, since)
        SELECT vehicle_id, {_BIN.format("min(recorded_at)")}
        FROM stored
        WHERE recorded_at < %(received_at)s - INTERVAL '{int(LATE_AFTER.total_seconds())} seconds'
        GROUP BY vehicle_id
        ORDER BY vehicle_id
        ON CONFLICT (vehicle_id) DO UPDATE SET since = least(gps_distance_stale.since, excluded.since)
    )
"""

# Every vehicle with fixes: a skip scan of gps_points' primary key (one probe per vehicle).
_VEHICLES = """
    WITH RECURSIVE vehicles AS (
        (SELECT vehicle_id FROM gps_points ORDER BY vehicle_id LIMIT 1)
        UNION ALL
        SELECT (SELECT g.vehicle_id FROM gps_points g WHERE g.vehicle_id > v.vehicle_id
                ORDER BY g.vehicle_id LIMIT 1)
        FROM vehicles v WHERE v.vehicle_id IS NOT NULL
    )
    SELECT vehicle_id FROM vehicles WHERE vehicle_id IS NOT NULL
"""

# Marks the settled hours after each vehicle's newest mark: its fixes from the mark's fix (the
# seed of the walk, already counted) to the edge, their running distance on top of the mark's.
_EXTEND = f"""
    WITH last AS (
        SELECT v.vehicle_id, m.cum_m, m.last_recorded_at, m.last_location
        FROM unnest(%(vehicles)s::uuid[]) AS v (vehicle_id)
        LEFT JOIN LATERAL (
            SELECT cum_m, last_recorded_at, last_location FROM gps_distance_marks
            WHERE vehicle_id = v.vehicle_id ORDER BY bucket DESC LIMIT 1
        ) m ON true
    ),
    fixes AS (
        SELECT vehicle_id, last_recorded_at AS recorded_at, last_location AS location, true AS seed,
               cum_m AS base
        FROM last WHERE last_recorded_at IS NOT NULL
        UNION ALL
        SELECT l.vehicle_id, g.recorded_at, g.location, false, coalesce(l.cum_m, 0)
        FROM last l
        JOIN gps_points g ON g.vehicle_id = l.vehicle_id
                         AND g.recorded_at > coalesce(l.last_recorded_at, '-infinity')
                         AND g.recorded_at < %(edge)s
    ),
    steps AS (
        SELECT *, ST_Distance(lag(location) OVER (PARTITION BY vehicle_id ORDER BY recorded_at),
                              location, false) AS metres
        FROM fixes
    ),
    walked AS (
        SELECT vehicle_id, recorded_at, location, seed,
               base + coalesce(sum(metres) OVER (PARTITION BY vehicle_id ORDER BY recorded_at), 0) AS cum_m
        FROM steps
    )
    INSERT INTO gps_distance_marks (vehicle_id, bucket, cum_m, last_recorded_at, last_location)
    SELECT DISTINCT ON (vehicle_id, bucket) vehicle_id, {_BIN.format("recorded_at")} AS bucket, cum_m,
           recorded_at, location
    FROM walked
    WHERE NOT seed
    ORDER BY vehicle_id, bucket, recorded_at DESC
"""


def _alias() -> str:
    return settings.TIMESERIES_DATABASE_ALIAS


def refresh(*, now: datetime | None = None, using: str | None = None) -> int | None:
    """Rebuilds the stale marks and marks every settled hour not yet marked; returns how many
    marks it wrote, None when another refresh holds the lock. The first run on existing fixes is
    the backfill (a year of 500 trucks, 10 million fixes: minutes), in statements of
    REFRESH_VEHICLES_PER_STATEMENT vehicles, each committed on its own: a reading is right
    whatever marks exist, so a refresh stopped halfway leaves nothing wrong."""
    alias = using or _alias()
    edge_at = (now or timezone.now()) - SETTLE
    connection = connections[alias]
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [_ADVISORY_LOCK])
        if not cursor.fetchone()[0]:
            return None
        try:
            with transaction.atomic(using=alias):
                # In id order, as ingest upserts them: a late batch waits, it cannot deadlock.
                cursor.execute(
                    "DELETE FROM gps_distance_stale WHERE vehicle_id IN ("
                    " SELECT vehicle_id FROM gps_distance_stale ORDER BY vehicle_id FOR UPDATE)"
                    " RETURNING vehicle_id, since"
                )
                stale = cursor.fetchall()
                if stale:
                    cursor.execute(
                        "DELETE FROM gps_distance_marks m"
                        " USING unnest(%s::uuid[], %s::timestamptz[]) AS s (vehicle_id, since)"
                        " WHERE m.vehicle_id = s.vehicle_id AND m.bucket >= s.since",
                        [array_literal(row[0] for row in stale), array_literal(row[1] for row in stale)],
                    )
            cursor.execute(f"SELECT {_BIN.format('%s')}", [edge_at])
            (edge,) = cursor.fetchone()
            cursor.execute(_VEHICLES)
            vehicles = [row[0] for row in cursor.fetchall()]
            written = 0
            for first in range(0, len(vehicles), REFRESH_VEHICLES_PER_STATEMENT):
                chunk = vehicles[first : first + REFRESH_VEHICLES_PER_STATEMENT]
                with transaction.atomic(using=alias):
                    cursor.execute(_EXTEND, {"vehicles": array_literal(chunk), "edge": edge})
                    written += cursor.rowcount
            return written
        finally:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [_ADVISORY_LOCK])


# The reading of each row of `probes` (vehicle_id, at, inclusive, and what the caller carries
# along). The mark: the newest of an hour before the instant's hour, and before the vehicle's stale
# hour if any. The tail: the stretches from the mark's fix (or the vehicle's first fix) through the
# fixes up to the instant, through gps_points' primary key.
_READING = f"""
    SELECT p.*, coalesce(m.cum_m, 0) + coalesce(tail.metres, 0) AS reading
    FROM probes p
    LEFT JOIN gps_distance_stale s ON s.vehicle_id = p.vehicle_id
    LEFT JOIN LATERAL (
        SELECT cum_m, last_recorded_at, last_location FROM gps_distance_marks
        WHERE vehicle_id = p.vehicle_id AND bucket < {_BIN.format("p.at")}
          AND bucket < coalesce(s.since, 'infinity')
        ORDER BY bucket DESC LIMIT 1
    ) m ON true
    LEFT JOIN LATERAL (
        SELECT sum(metres) AS metres FROM (
            SELECT ST_Distance(lag(location) OVER (ORDER BY recorded_at), location, false) AS metres
            FROM (
                SELECT m.last_recorded_at AS recorded_at, m.last_location AS location
                WHERE m.last_recorded_at IS NOT NULL
                UNION ALL
                SELECT g.recorded_at, g.location FROM gps_points g
                WHERE g.vehicle_id = p.vehicle_id
                  AND g.recorded_at > coalesce(m.last_recorded_at, '-infinity')
                  AND g.recorded_at < CASE WHEN p.inclusive THEN p.at + INTERVAL '1 microsecond' ELSE p.at END
            ) fixes
        ) steps
    ) tail ON true
"""

_READINGS = f"""
    WITH probes AS (
        SELECT * FROM unnest(%(vehicles)s::uuid[], %(instants)s::timestamptz[], %(inclusive)s::boolean[])
                      WITH ORDINALITY AS p (vehicle_id, at, inclusive, n)
    )
    SELECT n, reading FROM ({_READING}) readings
"""

# A span's distance: the reading at its end minus the reading at its start.
_SPANS = f"""
    WITH spans AS (
        SELECT * FROM unnest(%(vehicles)s::uuid[], %(starts)s::timestamptz[], %(start_inclusive)s::boolean[],
                             %(ends)s::timestamptz[], %(end_inclusive)s::boolean[])
                      WITH ORDINALITY AS s (vehicle_id, start_at, start_inclusive, end_at, end_inclusive, n)
    ),
    probes AS (
        SELECT vehicle_id, start_at AS at, start_inclusive AS inclusive, n, -1 AS sign FROM spans
        UNION ALL
        SELECT vehicle_id, end_at, end_inclusive, n, 1 FROM spans
    )
    SELECT n, sum(sign * reading) FROM ({_READING}) readings GROUP BY n
"""


def _literal(values) -> str:
    """An array literal of values already in PostgreSQL's text form (ids, times as it prints them)."""
    return "{" + ",".join(f'"{value}"' for value in values) + "}"


def _booleans(values) -> str:
    return "{" + ",".join("t" if value else "f" for value in values) + "}"


def _run(sql: str, params: dict, alias: str) -> dict[int, float]:
    # No JIT: PostGIS functions are costed high, and compiling the plan (~0.2 s) took longer than
    # running it for a month of a 500-truck fleet (17,000 readings).
    with transaction.atomic(using=alias), connections[alias].cursor() as cursor:
        cursor.execute("SET LOCAL jit = off")
        # A tail is a handful of fixes: a plain index scan, not a bitmap built for each reading.
        cursor.execute("SET LOCAL enable_bitmapscan = off")
        cursor.execute(sql, params)
        return dict(cursor.fetchall())


def readings(probes: Sequence[tuple[UUID, datetime, bool]], *, using: str | None = None) -> list[float]:
    """The odometer readings, metres, of (vehicle, instant, inclusive) probes, in their order
    (see the module docstring: the stretches whose later fix is before the instant, or at or
    before it when inclusive)."""
    if not probes:
        return []
    by_position = _run(
        _READINGS,
        {
            "vehicles": array_literal(probe[0] for probe in probes),
            "instants": array_literal(probe[1] for probe in probes),
            "inclusive": _booleans(probe[2] for probe in probes),
        },
        using or _alias(),
    )
    return [float(by_position[n]) for n in range(1, len(probes) + 1)]


class Span(NamedTuple):
    """A vehicle's distance from `start` to `end`: the stretches whose later fix is after `start`
    (at or after it unless `start_inclusive`: see below) and before `end` (or at it when
    `end_inclusive`). Ids and times as text in PostgreSQL's form, or as UUID and datetime."""

    vehicle_id: UUID | str
    start: datetime | str
    start_inclusive: bool  # the reading at `start` includes a fix at `start`: the span excludes it
    end: datetime | str
    end_inclusive: bool


def span_metres(spans: Sequence[Span], *, using: str | None = None) -> list[float]:
    """The metres driven over each span, in their order: two readings each, in one statement."""
    if not spans:
        return []

    def text(value) -> str:
        return value.isoformat() if isinstance(value, datetime) else str(value)

    by_position = _run(
        _SPANS,
        {
            "vehicles": _literal(text(span.vehicle_id) for span in spans),
            "starts": _literal(text(span.start) for span in spans),
            "start_inclusive": _booleans(span.start_inclusive for span in spans),
            "ends": _literal(text(span.end) for span in spans),
            "end_inclusive": _booleans(span.end_inclusive for span in spans),
        },
        using or _alias(),
    )
    return [float(by_position[n]) for n in range(1, len(spans) + 1)]
