"""Reads of vehicles and their recorded tracks, shared by the API, ingestion and the tracking relay.

History comes from gps_points on the time-series database: raw fixes, the track as a line, and
per-bucket statistics, from TimescaleDB's continuous aggregate when it keeps one (fleet.timescale)
and from the raw fixes otherwise; both give the same rows.
"""

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from django.conf import settings
from django.db import connections

from fleet import timescale
from fleet.models import Vehicle

BUCKETS: dict[str, timedelta] = {
    "5m": timedelta(minutes=5),
    "15m": timedelta(minutes=15),
    "1h": timedelta(hours=1),
}


def array_literal(values: Iterable[UUID | datetime]) -> str:
    """A PostgreSQL array literal of ids or times: Django's client-side binding of a Python list of
    thousands of values costs more than the query itself."""
    return (
        "{"
        + ",".join(
            f'"{value.isoformat()}"' if isinstance(value, datetime) else str(value) for value in values
        )
        + "}"
    )


# --- Vehicles --------------------------------------------------------------------------------------


def known_vehicle_ids(ids: Iterable[UUID]) -> set[UUID]:
    """Those of `ids` that are vehicles (one query, whatever their number)."""
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT id::text FROM vehicles WHERE id = ANY(%s::uuid[])", [array_literal(ids)])
        return {UUID(row[0]) for row in cursor.fetchall()}


def carrier_ids_of(vehicle_ids: Iterable[UUID | str]) -> dict[UUID, UUID]:
    """Each existing vehicle's carrier id, by vehicle id (a vehicle deleted since is left out)."""
    return dict(Vehicle.objects.filter(pk__in=set(vehicle_ids)).values_list("pk", "carrier_id"))


# --- History ---------------------------------------------------------------------------------------

_POINTS = """
    SELECT recorded_at, ST_X(location::geometry), ST_Y(location::geometry), speed_kmh, heading,
           accuracy_m, fuel_level_pct, odometer_km, engine_hours
    FROM gps_points
    WHERE vehicle_id = %(vehicle_id)s AND recorded_at >= %(start)s AND recorded_at < %(end)s
    ORDER BY recorded_at
    LIMIT %(limit)s OFFSET %(offset)s
"""
_COUNT_POINTS = """
    SELECT count(*) FROM gps_points
    WHERE vehicle_id = %(vehicle_id)s AND recorded_at >= %(start)s AND recorded_at < %(end)s
"""
POINT_FIELDS = (
    "recorded_at",
    "longitude",
    "latitude",
    "speed_kmh",
    "heading",
    "accuracy_m",
    "fuel_level_pct",
    "odometer_km",
    "engine_hours",
)

_TRACK = """
    WITH points AS (
        SELECT recorded_at, location::geometry AS point
        FROM gps_points
        WHERE vehicle_id = %(vehicle_id)s AND recorded_at >= %(start)s AND recorded_at < %(end)s
        ORDER BY recorded_at
        LIMIT %(limit)s
    ),
    track AS (SELECT count(*)::int AS points, ST_MakeLine(point ORDER BY recorded_at) AS line FROM points)
    SELECT points, CASE WHEN points > 1 THEN ST_AsGeoJSON(line, 7) END,
           coalesce(ST_Length(line::geography), 0)
    FROM track
"""

# Each fix's distance from the previous one in the window (PostGIS, on the spheroid), counted in
# the bucket of the later fix: the buckets' distances add up to the length of the whole track.
_STEPS = """
    steps AS (
        SELECT recorded_at, location, speed_kmh,
               date_bin(%(bucket)s, recorded_at, %(origin)s) AS bucket,
               ST_Distance(lag(location) OVER (ORDER BY recorded_at), location) AS step_m
        FROM gps_points
        WHERE vehicle_id = %(vehicle_id)s AND recorded_at >= %(start)s AND recorded_at < %(end)s
    )
"""
PLAIN_BUCKETS = f"""
    WITH {_STEPS},
    buckets AS (
        SELECT bucket, count(*)::int AS points, avg(speed_kmh) AS avg_speed_kmh,
               max(speed_kmh) AS max_speed_kmh, coalesce(sum(step_m), 0) AS distance_m,
               max(recorded_at) AS last_recorded_at,
               (array_agg(location ORDER BY recorded_at DESC))[1] AS last_location
        FROM steps
        GROUP BY bucket
    )
    SELECT bucket, points, avg_speed_kmh, max_speed_kmh, distance_m, last_recorded_at,
           ST_X(last_location::geometry), ST_Y(last_location::geometry)
    FROM buckets
    ORDER BY bucket
"""
TIMESCALE_BUCKETS = f"""
    WITH {_STEPS},
    stats AS ({timescale.bucket_stats_sql()}),
    distances AS (SELECT bucket, coalesce(sum(step_m), 0) AS distance_m FROM steps GROUP BY bucket)
    SELECT stats.bucket, stats.points, stats.avg_speed_kmh, stats.max_speed_kmh,
           coalesce(distances.distance_m, 0), stats.last_recorded_at,
           ST_X(stats.last_location::geometry), ST_Y(stats.last_location::geometry)
    FROM stats
    LEFT JOIN distances ON distances.bucket = stats.bucket
    ORDER BY stats.bucket
"""
BUCKET_FIELDS = (
    "bucket",
    "points",
    "avg_speed_kmh",
    "max_speed_kmh",
    "distance_m",
    "last_recorded_at",
    "longitude",
    "latitude",
)


def align_to_buckets(start: datetime, end: datetime, bucket: timedelta) -> tuple[datetime, datetime]:
    """The window widened to whole buckets (the aggregate holds whole 5-minute buckets only)."""
    start -= (start - timescale.BUCKET_ORIGIN) % bucket
    overshoot = (end - timescale.BUCKET_ORIGIN) % bucket
    return start, end + (bucket - overshoot if overshoot else timedelta(0))


def points_between(
    vehicle_id: UUID, *, start: datetime, end: datetime, limit: int, offset: int = 0
) -> list[dict[str, Any]]:
    """The vehicle's fixes in [start, end), oldest first, at most `limit` after skipping `offset`."""
    params = {"vehicle_id": vehicle_id, "start": start, "end": end, "limit": limit, "offset": offset}
    with connections[settings.TIMESERIES_DATABASE_ALIAS].cursor() as cursor:
        cursor.execute(_POINTS, params)
        return [dict(zip(POINT_FIELDS, row, strict=True)) for row in cursor.fetchall()]


def count_points_between(vehicle_id: UUID, *, start: datetime, end: datetime) -> int:
    """How many fixes of the vehicle fall in [start, end)."""
    with connections[settings.TIMESERIES_DATABASE_ALIAS].cursor() as cursor:
        cursor.execute(_COUNT_POINTS, {"vehicle_id": vehicle_id, "start": start, "end": end})
        return cursor.fetchone()[0]


def track_between(vehicle_id: UUID, *, start: datetime, end: datetime, limit: int) -> dict[str, Any]:
    """The path through the vehicle's fixes in [start, end) (at most `limit`): GeoJSON LineString
    text (None below two fixes), number of fixes, and length in metres."""
    with connections[settings.TIMESERIES_DATABASE_ALIAS].cursor() as cursor:
        cursor.execute(_TRACK, {"vehicle_id": vehicle_id, "start": start, "end": end, "limit": limit})
        points, geojson, length_m = cursor.fetchone()
    return {"points": points, "geometry": geojson, "distance_m": length_m}


def buckets_between(
    vehicle_id: UUID, *, start: datetime, end: datetime, bucket: timedelta
) -> list[dict[str, Any]]:
    """Per time bucket: fixes, average and maximum speed, distance travelled (metres), and the last
    position. From the continuous aggregate when TimescaleDB keeps one, from the raw fixes
    otherwise; both give the same rows. Pass a window aligned with align_to_buckets."""
    params = {
        "vehicle_id": vehicle_id,
        "start": start,
        "end": end,
        "bucket": bucket,
        "origin": timescale.BUCKET_ORIGIN,
    }
    with connections[settings.TIMESERIES_DATABASE_ALIAS].cursor() as cursor:
        whole_aggregate_buckets = bucket % timescale.AGGREGATE_BUCKET == timedelta(0)
        use_aggregate = whole_aggregate_buckets and timescale.has_aggregate(cursor)
        cursor.execute(TIMESCALE_BUCKETS if use_aggregate else PLAIN_BUCKETS, params)
        return [dict(zip(BUCKET_FIELDS, row, strict=True)) for row in cursor.fetchall()]
