"""GPS fix ingestion: fixes stored in bulk, vehicles moved forward, their events published.

`ingest_without_audit` stores a batch in one transaction, in a fixed number of statements whatever
its size:

1. the fixes reach a temporary table by binary COPY (10,000 fixes: ~12 ms; an
   `INSERT ... SELECT FROM unnest(%s, ...)` with Django's client-side parameter binding: ~300 ms);
2. the vehicles the batch may move are locked in id order, so concurrent batches for the same
   vehicles queue instead of deadlocking;
3. one statement inserts the fixes into gps_points (ON CONFLICT DO NOTHING: a repeated fix, same
   vehicle and recorded_at, is ignored) and moves every vehicle to its newest stored fix with ONE
   UPDATE, only forward in time; a fix stored late marks its vehicle's GPS odometer stale from
   the fix's hour on (fleet.odometer).

Every stored fix reaches Kafka (or the in-process consumers) as VEHICLE_LOCATION_UPDATED, in one
of two ways chosen by the caller:

- `Publish.RELAY` (batches): gps_points is the outbox, and no outbox row is written. Each fix
  carries its inserting transaction's id (`relay_txid`) and the tracking relay (fleet.relay)
  publishes it once its transaction is over for good. A fix commits with its event or not at all,
  and a duplicate has no row, hence no event. An outbox row per fix instead would double the CPU
  cost of ingesting it (bench/bench_gps.py: 178 -> 347 ms per 10,000 fixes, envelopes built by
  PostgreSQL), and alone keep the batch endpoint under 50,000 fixes/s on 2 cores.
- `Publish.OUTBOX` (one fix per request: the PUT endpoint, OsmAnd, the admin): the event is
  written with `events.outbox.emit` in the fix's transaction, as every other event is.

No audit row per fix: gps_points is the record of every fix (with its received_at); the PUT
endpoint still audits the vehicle row it moves (fleet.services.update_vehicle_location).
"""

import enum
from collections.abc import Iterable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple
from uuid import UUID

from django.conf import settings
from django.db import connections, transaction
from django.utils import timezone

from events.outbox import emit
from events.taxonomy import EventType
from fleet import odometer, relay, timescale
from fleet.selectors import array_literal, carrier_ids_of


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
        heading float8, fuel_level_pct float8, odometer_km float8
    ) ON COMMIT DELETE ROWS
"""
_STORED_TYPES = ["uuid", "timestamptz", *["float8"] * 6]

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
    ),
    pending AS (
        INSERT INTO gps_relay_pending (relay_txid, vehicle_id, hour, first_recorded_at, last_recorded_at,
                                       fixes, received_at)
        SELECT pg_current_xact_id()::text::bigint, vehicle_id, date_trunc('hour', recorded_at, 'UTC'),
               min(recorded_at), max(recorded_at), count(*), %(received_at)s
        FROM stored
        WHERE %(relay)s
        GROUP BY 2, 3
        ORDER BY 2, 3
        ON CONFLICT (relay_txid, vehicle_id, hour) DO UPDATE
        SET first_recorded_at = least(gps_relay_pending.first_recorded_at, excluded.first_recorded_at),
            last_recorded_at = greatest(gps_relay_pending.last_recorded_at, excluded.last_recorded_at),
            fixes = gps_relay_pending.fixes + excluded.fixes
    ),
    {late_buckets},
    {odometer_stale}
"""

# The vehicle's fuel level and odometer follow its newest fix that moves it, when the fix has them.
_ADVANCE = """
    newest AS (
        SELECT DISTINCT ON (vehicle_id) vehicle_id, recorded_at, location, fuel_level_pct, odometer_km
        FROM stored
        ORDER BY vehicle_id, recorded_at DESC
    ),
    moved AS (
        UPDATE vehicles
        SET current_location = newest.location, location_updated_at = newest.recorded_at,
            fuel_level = coalesce(newest.fuel_level_pct, vehicles.fuel_level),
            odometer = coalesce(round(newest.odometer_km::numeric, 1), vehicles.odometer),
            updated_at = %(received_at)s
        FROM newest
        WHERE vehicles.id = newest.vehicle_id
          AND (vehicles.location_updated_at IS NULL OR vehicles.location_updated_at < newest.recorded_at)
        RETURNING vehicles.id
    )
"""


def _store(returning: str) -> str:
    return _STORE.format(
        returning=returning, late_buckets=timescale.LATE_BUCKETS_CTE, odometer_stale=odometer.STALE_CTE
    )


# One database, events by the relay: store and advance in one statement; nothing comes back but counts.
STORE_AND_ADVANCE = (
    f"WITH {_store('vehicle_id, recorded_at, location, fuel_level_pct, odometer_km')},"
    f" {_ADVANCE}"
    " SELECT (SELECT count(*) FROM stored), (SELECT count(*) FROM moved)"
)
# Otherwise the stored fixes come back, then advance the vehicles in the default database.
STORE = (
    f"WITH {_store('vehicle_id, recorded_at, ST_X(location::geometry), ST_Y(location::geometry), speed_kmh, heading, fuel_level_pct, odometer_km')}"  # noqa: E501
    " SELECT * FROM stored"
)
ADVANCE_FROM_STORED = f"""
    WITH removed AS (DELETE FROM gps_stored RETURNING *),
    stored AS (
        SELECT vehicle_id, recorded_at,
               ST_SetSRID(ST_MakePoint(longitude, latitude), 4326)::geography AS location,
               fuel_level_pct, odometer_km
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


def ingest_without_audit(
    points: Sequence[GpsFix], *, publish: Publish = Publish.RELAY, separate_timeseries: bool | None = None
) -> IngestResult:
    """Writes no audit row per fix, and no outbox row unless `publish=Publish.OUTBOX`: gps_points is
    the record of every fix and, for the tracking relay, its own outbox.

    Stores validated fixes of known vehicles, moves each vehicle to its newest fix if that is
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
    alias = settings.TIMESERIES_DATABASE_ALIAS
    if separate_timeseries is None:
        separate_timeseries = alias != "default"
    # Before the transaction: a chunk created inside it would hold up every other ingest into its range.
    timescale.ensure_chunks(alias, [point.recorded_at for point in points])
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
                transaction.on_commit(relay.wake_relay_in_process, using="default")
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
            transaction.on_commit(relay.wake_relay_in_process, using=alias)
    return IngestResult(accepted=len(stored), duplicates=len(points) - len(stored), vehicles_moved=moved)


def _emit_events(stored: Sequence[tuple]) -> None:
    carriers = carrier_ids_of(row[0] for row in stored)
    for vehicle_id, recorded_at, longitude, latitude, speed_kmh, heading, *_ in stored:
        emit(
            EventType.VEHICLE_LOCATION_UPDATED,
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
