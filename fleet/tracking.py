"""GPS tracking storage: fixes stored in bulk, vehicles moved forward, events published; history.

`ingest` stores a batch in one transaction, in a fixed number of statements whatever its size:

1. the fixes reach a temporary table by binary COPY (10,000 fixes: ~12 ms; an
   `INSERT ... SELECT FROM unnest(%s, ...)` with Django's client-side parameter binding: ~300 ms);
2. the vehicles the batch may move are locked in id order, so concurrent batches for the same
   vehicles queue instead of deadlocking;
3. one statement inserts the fixes into gps_points (ON CONFLICT DO NOTHING: a repeated fix, same
   vehicle and recorded_at, is ignored) and moves every vehicle to its newest stored fix with ONE
   UPDATE, only forward in time.

Every stored fix reaches Kafka (or the in-process consumers) as VEHICLE_LOCATION_UPDATED, in one
of two ways chosen by the caller:

- `Publish.RELAY` (batches): gps_points is the outbox. Each fix carries its inserting
  transaction's id (`relay_txid`) and `relay_fixes` publishes, transaction by transaction (each
  vehicle's fixes in time order), the fixes of every transaction older than the oldest one still
  running: those are committed or rolled back for good, so none can appear behind the relay's
  cursor. A long-running writing transaction anywhere on the database server delays (never
  loses) these events: keep transactions short. A
  fix commits with its event or not at all, and a duplicate has no row, hence no event. An outbox
  row per fix instead would double the CPU cost of ingesting it (bench/bench_gps.py: 178 -> 347
  ms per 10,000 fixes, envelopes built by PostgreSQL), and alone keep the batch endpoint under
  50,000 fixes/s on 2 cores.
- `Publish.OUTBOX` (one fix per request: the PUT endpoint, OsmAnd, the admin): the event is
  written with `events.outbox.emit` in the fix's transaction, as every other event is.

No audit row per fix: gps_points is the record of every fix (with its received_at); the PUT
endpoint still audits the vehicle row it moves (fleet.services.update_vehicle_location).
"""

import enum
import logging
import time
import uuid
from collections.abc import Iterable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple
from uuid import UUID

from django.conf import settings
from django.db import connections, transaction
from django.utils import timezone

from events.outbox import SOURCE, SPEC_VERSION, emit
from events.schemas import SCHEMAS
from events.taxonomy import TOPICS, EventType
from fleet import timescale
from fleet.models import TrackingRelayCursor, Vehicle

logger = logging.getLogger(__name__)

EVENT_TYPE = EventType.VEHICLE_LOCATION_UPDATED
EVENT_TOPIC = TOPICS[EVENT_TYPE]
EVENT_SCHEMA = f"/schemas/{EVENT_TYPE.value}/v{SCHEMAS[EVENT_TYPE].schema_version}"
EVENT_ID_NAMESPACE = UUID("a6c04be4-6d4a-4695-adbb-2ed895a7f46f")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
RELAY_CURSOR = "gps"
BUCKETS: dict[str, timedelta] = {
    "5m": timedelta(minutes=5),
    "15m": timedelta(minutes=15),
    "1h": timedelta(hours=1),
}


class Publish(enum.Enum):
    RELAY = "relay"
    OUTBOX = "outbox"


class GpsFix(NamedTuple):
    """A validated fix, in gps_incoming's column order (COPY writes it as is)."""

    vehicle_id: UUID
    recorded_at: datetime
    longitude: float
    latitude: float
    speed_kmh: float | None = None
    heading: float | None = None
    accuracy_m: float | None = None
    fuel_level_pct: float | None = None
    odometer_km: float | None = None
    engine_hours: float | None = None


@dataclass(frozen=True)
class IngestResult:
    accepted: int  # stored by this call
    duplicates: int  # already stored: same vehicle and recorded_at
    vehicles_moved: int  # vehicles whose current_location advanced


def timeseries_alias() -> str:
    return settings.TIMESERIES_DATABASE_ALIAS


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


def known_vehicle_ids(ids: Iterable[UUID]) -> set[UUID]:
    """Those of `ids` that are vehicles (one query, whatever their number)."""
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT id::text FROM vehicles WHERE id = ANY(%s::uuid[])", [array_literal(ids)])
        return {UUID(row[0]) for row in cursor.fetchall()}


# --- Ingestion -------------------------------------------------------------------------------------

_INCOMING_TABLE = """
    CREATE TEMP TABLE IF NOT EXISTS gps_incoming (
        vehicle_id uuid, recorded_at timestamptz, longitude float8, latitude float8, speed_kmh float8,
        heading float8, accuracy_m float8, fuel_level_pct float8, odometer_km float8, engine_hours float8
    ) ON COMMIT DELETE ROWS
"""
_INCOMING_TYPES = ["uuid", "timestamptz", *["float8"] * 8]

# The stored fixes, on their way from the time-series database to the default one.
_STORED_TABLE = """
    CREATE TEMP TABLE IF NOT EXISTS gps_stored (
        vehicle_id uuid, recorded_at timestamptz, longitude float8, latitude float8, speed_kmh float8,
        heading float8
    ) ON COMMIT DELETE ROWS
"""
_STORED_TYPES = ["uuid", "timestamptz", *["float8"] * 4]

_LOCK_VEHICLES = """
    SELECT vehicles.id
    FROM vehicles
    JOIN unnest(%s::uuid[], %s::timestamptz[]) AS newest (vehicle_id, recorded_at)
      ON newest.vehicle_id = vehicles.id
    WHERE vehicles.location_updated_at IS NULL OR vehicles.location_updated_at < newest.recorded_at
    ORDER BY vehicles.id
    FOR UPDATE OF vehicles
"""

# `incoming` is emptied as it is read: several ingests may share one transaction.
_STORE = """
    incoming AS (DELETE FROM gps_incoming RETURNING *),
    stored AS (
        INSERT INTO gps_points (vehicle_id, recorded_at, location, speed_kmh, heading, accuracy_m,
                                fuel_level_pct, odometer_km, engine_hours, received_at, relay_txid)
        SELECT vehicle_id, recorded_at, ST_SetSRID(ST_MakePoint(longitude, latitude), 4326)::geography,
               speed_kmh, heading, accuracy_m, fuel_level_pct, odometer_km, engine_hours, %(received_at)s,
               CASE WHEN %(relay)s THEN (SELECT pg_current_xact_id()::text::bigint) END
        FROM incoming
        ON CONFLICT DO NOTHING
        RETURNING {returning}
    )
"""

_ADVANCE = """
    newest AS (
        SELECT DISTINCT ON (vehicle_id) vehicle_id, recorded_at, location
        FROM stored
        ORDER BY vehicle_id, recorded_at DESC
    ),
    moved AS (
        UPDATE vehicles
        SET current_location = newest.location, location_updated_at = newest.recorded_at,
            updated_at = %(received_at)s
        FROM newest
        WHERE vehicles.id = newest.vehicle_id
          AND (vehicles.location_updated_at IS NULL OR vehicles.location_updated_at < newest.recorded_at)
        RETURNING vehicles.id
    )
"""

# One database, events by the relay: store and advance in one statement; nothing comes back but counts.
STORE_AND_ADVANCE = (
    f"WITH {_STORE.format(returning='vehicle_id, recorded_at, location')}, {_ADVANCE}"
    " SELECT (SELECT count(*) FROM stored), (SELECT count(*) FROM moved)"
)
# Otherwise the stored fixes come back, then advance the vehicles in the default database.
STORE = (
    f"WITH {_STORE.format(returning='vehicle_id, recorded_at, ST_X(location::geometry), ST_Y(location::geometry), speed_kmh, heading')}"  # noqa: E501
    " SELECT * FROM stored"
)
ADVANCE_FROM_STORED = f"""
    WITH removed AS (DELETE FROM gps_stored RETURNING *),
    stored AS (
        SELECT vehicle_id, recorded_at,
               ST_SetSRID(ST_MakePoint(longitude, latitude), 4326)::geography AS location
        FROM removed
    ),
    {_ADVANCE}
    SELECT count(*) FROM moved
"""


def _copy_rows(cursor, table: str, types: list[str], rows: Iterable[Sequence]) -> None:
    with cursor.cursor.copy(f"COPY {table} FROM STDIN (FORMAT BINARY)") as copy:
        copy.set_types(types)
        for row in rows:
            copy.write_row(row)


def _newest_per_vehicle(points: Sequence[GpsFix]) -> list[str]:
    """The vehicles and the time of their newest fix, as the array literals of _LOCK_VEHICLES."""
    newest: dict[UUID, datetime] = {}
    for point in points:
        seen = newest.get(point.vehicle_id)
        if seen is None or point.recorded_at > seen:
            newest[point.vehicle_id] = point.recorded_at
    return [array_literal(newest), array_literal(newest.values())]


def ingest(
    points: Sequence[GpsFix], *, publish: Publish = Publish.RELAY, separate_timeseries: bool | None = None
) -> IngestResult:
    """Stores validated fixes of known vehicles, moves each vehicle to its newest fix if that is
    newer than its current location, and publishes VEHICLE_LOCATION_UPDATED for each stored fix
    (see the module docstring for `publish`). A fix already stored (same vehicle and recorded_at)
    is a duplicate: not stored again, no event.

    `separate_timeseries` forces the two-database path (default: when the time-series alias is not
    the default database). There the default database commits first: a failure between the two
    commits leaves a vehicle moved to a fix the client will resend, never a stored fix that did not
    move its vehicle.
    """
    if not points:
        return IngestResult(0, 0, 0)
    alias = timeseries_alias()
    if separate_timeseries is None:
        separate_timeseries = alias != "default"
    params = {"received_at": timezone.now(), "relay": publish is Publish.RELAY}
    with ExitStack() as stack:
        if alias != "default":
            stack.enter_context(transaction.atomic(using=alias))
        stack.enter_context(transaction.atomic(using="default"))
        with connections["default"].cursor() as cursor:
            cursor.execute(_LOCK_VEHICLES, _newest_per_vehicle(points))
        if not separate_timeseries and publish is Publish.RELAY:
            with connections["default"].cursor() as cursor:
                cursor.execute(_INCOMING_TABLE)
                _copy_rows(cursor, "gps_incoming", _INCOMING_TYPES, points)
                cursor.execute(STORE_AND_ADVANCE, params)
                accepted, moved = cursor.fetchone()
            if accepted:
                transaction.on_commit(wake_relay_in_process, using="default")
            return IngestResult(accepted=accepted, duplicates=len(points) - accepted, vehicles_moved=moved)
        with connections[alias].cursor() as cursor:
            cursor.execute(_INCOMING_TABLE)
            _copy_rows(cursor, "gps_incoming", _INCOMING_TYPES, points)
            cursor.execute(STORE, params)
            stored = cursor.fetchall()
        with connections["default"].cursor() as cursor:
            cursor.execute(_STORED_TABLE)
            _copy_rows(cursor, "gps_stored", _STORED_TYPES, stored)
            cursor.execute(ADVANCE_FROM_STORED, params)
            (moved,) = cursor.fetchone()
        if publish is Publish.OUTBOX:
            _emit_events(stored)
        elif stored:
            transaction.on_commit(wake_relay_in_process, using=alias)
    return IngestResult(accepted=len(stored), duplicates=len(points) - len(stored), vehicles_moved=moved)


def _emit_events(stored: Sequence[tuple]) -> None:
    carriers = dict(Vehicle.objects.filter(pk__in={row[0] for row in stored}).values_list("pk", "carrier_id"))
    for vehicle_id, recorded_at, longitude, latitude, speed_kmh, heading in stored:
        emit(
            EVENT_TYPE,
            subject=vehicle_id,
            data={
                "vehicle_id": vehicle_id,
                "carrier_id": carriers[vehicle_id],
                "longitude": longitude,
                "latitude": latitude,
                "recorded_at": recorded_at,
                "speed_kmh": speed_kmh,
                "heading": heading,
            },
        )


# --- The tracking relay ------------------------------------------------------------------------------

# The fixes of whole transactions after the cursor, about `limit` of them, from transactions older
# than the snapshot's xmin only: every one of those has committed or rolled back, so no fix can
# appear behind the cursor later. Times come as microseconds since the epoch (the event id's name)
# and as ISO 8601 text.
_RELAY_BATCH = """
    WITH horizon AS (SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint AS txid),
    upto AS (
        SELECT coalesce(
            (SELECT relay_txid FROM gps_points
             WHERE relay_txid > %(after)s AND relay_txid < (SELECT txid FROM horizon)
             ORDER BY relay_txid OFFSET %(limit)s - 1 LIMIT 1),
            (SELECT txid - 1 FROM horizon)
        ) AS txid
    )
    SELECT relay_txid, vehicle_id::text, (extract(epoch FROM recorded_at) * 1000000)::bigint,
           to_json(recorded_at) #>> '{}', ST_X(location::geometry), ST_Y(location::geometry),
           speed_kmh, heading, to_json(received_at) #>> '{}'
    FROM gps_points
    WHERE relay_txid > %(after)s AND relay_txid <= (SELECT txid FROM upto)
    ORDER BY gps_points.relay_txid, gps_points.vehicle_id, gps_points.recorded_at
"""


class RelayRow(NamedTuple):
    """A fix as _RELAY_BATCH reads it."""

    relay_txid: int
    vehicle_id: str
    recorded_at_us: int  # microseconds since the epoch
    recorded_at: str  # ISO 8601
    longitude: float
    latitude: float
    speed_kmh: float | None
    heading: float | None
    received_at: str  # ISO 8601


class RelayedEvent(NamedTuple):
    """What a transport reads from an outbox row (id, type, topic, subject, envelope), without the
    row: the tracking relay publishes from gps_points."""

    id: str
    type: str
    topic: str
    subject: str
    envelope: dict[str, Any]


def event_id(vehicle_id: UUID | str, recorded_at: datetime | int) -> UUID:
    """The event id of a fix (UUIDv3 of "vehicle_id@microseconds since the epoch"): the same fix,
    published twice after a relay crash, has the same id, which consumers ignore the second time."""
    if isinstance(recorded_at, datetime):
        recorded_at = (recorded_at - EPOCH) // timedelta(microseconds=1)
    return uuid.uuid3(EVENT_ID_NAMESPACE, f"{vehicle_id}@{recorded_at}")


def location_event_without_schema_validation(fix: RelayRow, *, carrier_id: str) -> RelayedEvent:
    """The VEHICLE_LOCATION_UPDATED event of a stored fix, built without events.outbox.emit's
    Pydantic validation (~25 us an event, more than the rest of the relay): the columns were
    validated on the way in, and the tests check this envelope against the schema."""
    identifier = str(event_id(fix.vehicle_id, fix.recorded_at_us))
    return RelayedEvent(
        id=identifier,
        type=EVENT_TYPE.value,
        topic=EVENT_TOPIC,
        subject=fix.vehicle_id,
        envelope={
            "specversion": SPEC_VERSION,
            "id": identifier,
            "type": EVENT_TYPE.value,
            "source": SOURCE,
            "subject": fix.vehicle_id,
            "time": fix.received_at,
            "datacontenttype": "application/json",
            "dataschema": EVENT_SCHEMA,
            "correlationid": None,
            "data": {
                "vehicle_id": fix.vehicle_id,
                "carrier_id": carrier_id,
                "longitude": fix.longitude,
                "latitude": fix.latitude,
                "recorded_at": fix.recorded_at,
                "speed_kmh": fix.speed_kmh,
                "heading": fix.heading,
            },
        },
    )


def relay_fixes(transport=None, *, batch_size: int = 5000) -> int:
    """Publishes the fixes of the next transactions marked for the relay (about `batch_size`, whole
    transactions); returns how many it read (0: none ready, or another relay holds the cursor).
    The cursor moves only once the transport has the batch: a crash in between publishes it again,
    with the same event ids."""
    from events.relay import default_transport  # the relay imports the consumers, which import models

    transport = transport or default_transport()
    TrackingRelayCursor.objects.get_or_create(name=RELAY_CURSOR)
    with transaction.atomic():
        position = (
            TrackingRelayCursor.objects.select_for_update(skip_locked=True).filter(name=RELAY_CURSOR).first()
        )
        if position is None:
            return 0
        with connections[timeseries_alias()].cursor() as cursor:
            cursor.execute(_RELAY_BATCH, {"after": position.relay_txid, "limit": batch_size})
            rows = [RelayRow(*row) for row in cursor.fetchall()]
        if not rows:
            return 0
        vehicles = Vehicle.objects.filter(pk__in={row.vehicle_id for row in rows})
        carriers = {str(pk): str(carrier_id) for pk, carrier_id in vehicles.values_list("pk", "carrier_id")}
        # A fix of a vehicle deleted since has no carrier any more, and no event.
        events = [
            location_event_without_schema_validation(row, carrier_id=carriers[row.vehicle_id])
            for row in rows
            if row.vehicle_id in carriers
        ]
        transport.publish(events)
        position.relay_txid = rows[-1].relay_txid
        position.published += len(events)
        position.save()
    return len(rows)


def wake_relay_in_process() -> None:
    """After a commit that stored fixes for the relay, in the embedded setup (no Kafka, relay on
    commit): publish them now to the in-process consumers, as events.relay.wake_relay does for the
    outbox. With Kafka, the long-running relay (run_relay_forever) picks them up."""
    if not settings.EVENTS_RELAY_ON_COMMIT or settings.KAFKA_BOOTSTRAP_SERVERS:
        return
    try:
        while relay_fixes():
            pass
    except Exception:  # the fixes are committed; their events wait for the next relay
        logger.exception("in-process tracking relay failed; the fixes wait in gps_points")


def relay_backlog() -> dict[str, Any]:
    """Fixes waiting for the relay and the age of the oldest (for /health and operators)."""
    position = TrackingRelayCursor.objects.filter(name=RELAY_CURSOR).first() or TrackingRelayCursor()
    with connections[timeseries_alias()].cursor() as cursor:
        cursor.execute(
            "SELECT count(*), min(received_at) FROM gps_points WHERE relay_txid > %s", [position.relay_txid]
        )
        waiting, oldest = cursor.fetchone()
    return {
        "unpublished": waiting,
        "oldest_age_s": round((timezone.now() - oldest).total_seconds(), 1) if oldest else 0,
        "published": position.published,
    }


def run_relay_forever(*, poll_interval_s: float = 0.2, transport=None, stop=None) -> None:
    """The long-running tracking relay: publishes while there is work, sleeps otherwise, backs off
    while the transport fails."""
    from events.relay import default_transport

    transport = transport or default_transport()
    delay = poll_interval_s
    while stop is None or not stop():
        try:
            count = relay_fixes(transport)
            delay = poll_interval_s
        except Exception as error:  # noqa: BLE001 - keep running; the fixes wait in gps_points
            logger.warning("tracking relay failed, retrying in %.1fs: %s", delay, error)
            count = 0
            delay = min(delay * 2, 30.0)
        if count == 0:
            time.sleep(delay)


# --- History ---------------------------------------------------------------------------------------

_POINTS = """
    SELECT recorded_at, ST_X(location::geometry), ST_Y(location::geometry), speed_kmh, heading,
           accuracy_m, fuel_level_pct, odometer_km, engine_hours
    FROM gps_points
    WHERE vehicle_id = %(vehicle_id)s AND recorded_at >= %(start)s AND recorded_at < %(end)s
    ORDER BY recorded_at
    LIMIT %(limit)s
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


def points_between(vehicle_id: UUID, *, start: datetime, end: datetime, limit: int) -> list[dict[str, Any]]:
    """The vehicle's fixes in [start, end), oldest first, at most `limit`."""
    with connections[timeseries_alias()].cursor() as cursor:
        cursor.execute(_POINTS, {"vehicle_id": vehicle_id, "start": start, "end": end, "limit": limit})
        return [dict(zip(POINT_FIELDS, row, strict=True)) for row in cursor.fetchall()]


def track_between(vehicle_id: UUID, *, start: datetime, end: datetime, limit: int) -> dict[str, Any]:
    """The path through the vehicle's fixes in [start, end) (at most `limit`): GeoJSON LineString
    text (None below two fixes), number of fixes, and length in metres."""
    with connections[timeseries_alias()].cursor() as cursor:
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
    with connections[timeseries_alias()].cursor() as cursor:
        whole_aggregate_buckets = bucket % timescale.AGGREGATE_BUCKET == timedelta(0)
        use_aggregate = whole_aggregate_buckets and timescale.has_aggregate(cursor)
        cursor.execute(TIMESCALE_BUCKETS if use_aggregate else PLAIN_BUCKETS, params)
        return [dict(zip(BUCKET_FIELDS, row, strict=True)) for row in cursor.fetchall()]
