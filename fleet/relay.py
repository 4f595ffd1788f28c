"""The tracking relay: VEHICLE_LOCATION_UPDATED for every fix a batch stored, published from
gps_points itself (no outbox row per fix: see fleet.ingest).

Each fix marked for the relay carries its inserting transaction's id (`relay_txid`); `relay_fixes`
publishes, transaction by transaction (each vehicle's fixes in time order), the fixes of every
transaction older than the oldest one still running: those are committed or rolled back for good,
so none can appear behind the relay's cursor. The same transaction writes a gps_relay_pending row
per vehicle (first and last recorded_at): the relay reads the fixes through those rows and the
primary key, so a batch costs the same however much history gps_points holds, compressed or not,
and a late fix (recorded days ago) is found in its old chunk. A long-running writing transaction
anywhere on the database server delays (never loses) these events: keep transactions short. The
cursor moves only once the transport has the batch, and a fix's event id is derived from the fix,
so a crash in between publishes it again with the same id, which consumers ignore.
"""

import logging
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple
from uuid import UUID

from django.conf import settings
from django.db import connections, transaction
from django.utils import timezone

from events.outbox import SOURCE, SPEC_VERSION
from events.relay import Wakeup, default_transport, notify, poll_forever
from events.schemas import SCHEMAS
from events.taxonomy import TOPICS, EventType
from fleet.models import TrackingRelayCursor
from fleet.selectors import carrier_ids_of
from tms import metrics

logger = logging.getLogger(__name__)

EVENT_TYPE = EventType.VEHICLE_LOCATION_UPDATED
EVENT_TOPIC = TOPICS[EVENT_TYPE]
EVENT_SCHEMA = f"/schemas/{EVENT_TYPE.value}/v{SCHEMAS[EVENT_TYPE].schema_version}"
EVENT_ID_NAMESPACE = UUID("a6c04be4-6d4a-4695-adbb-2ed895a7f46f")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
RELAY_CURSOR = "gps"

# The fixes of whole transactions after the cursor, about `limit` of them, from transactions older
# than the snapshot's xmin only: every one of those has committed or rolled back, so no fix can
# appear behind the cursor later. gps_relay_pending says where each transaction's fixes are (per
# vehicle, first and last recorded_at): the fixes are read through the primary key within those
# bounds, so on TimescaleDB only the chunks and compressed segments holding them are touched, late
# fixes included, however long the retention. Times come as microseconds since the epoch (the
# event id's name) and as ISO 8601 text.
_RELAY_BATCH = """
    WITH horizon AS (SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint AS txid),
    head AS (
        SELECT relay_txid, sum(fixes) OVER (ORDER BY relay_txid) AS fixes_upto
        FROM (SELECT relay_txid, fixes FROM gps_relay_pending
              WHERE relay_txid > %(after)s AND relay_txid < (SELECT txid FROM horizon)
              ORDER BY relay_txid, vehicle_id, hour LIMIT %(limit)s) AS first_rows
    ),
    upto AS (
        SELECT coalesce(min(relay_txid) FILTER (WHERE fixes_upto >= %(limit)s), max(relay_txid)) AS txid
        FROM head
    ),
    pending AS (
        SELECT relay_txid, vehicle_id, first_recorded_at, last_recorded_at FROM gps_relay_pending
        WHERE relay_txid > %(after)s AND relay_txid <= (SELECT txid FROM upto)
    )
    SELECT gps_points.relay_txid, gps_points.vehicle_id::text,
           (extract(epoch FROM gps_points.recorded_at) * 1000000)::bigint,
           (to_json(gps_points.recorded_at AT TIME ZONE 'UTC') #>> '{}') || 'Z',
           ST_X(location::geometry), ST_Y(location::geometry), speed_kmh, heading,
           (to_json(received_at AT TIME ZONE 'UTC') #>> '{}') || 'Z'
    FROM pending
    -- One lookup per pending row (OFFSET 0 keeps the planner from turning it into a join that
    -- scans every chunk): TimescaleDB excludes the chunks outside its bounds at run time.
    CROSS JOIN LATERAL (
        SELECT relay_txid, vehicle_id, recorded_at, location, speed_kmh, heading, received_at
        FROM gps_points
        WHERE gps_points.vehicle_id = pending.vehicle_id
          AND gps_points.recorded_at >= pending.first_recorded_at
          AND gps_points.recorded_at <= pending.last_recorded_at
          AND gps_points.relay_txid = pending.relay_txid
        OFFSET 0
    ) AS gps_points
    ORDER BY gps_points.relay_txid, gps_points.vehicle_id, gps_points.recorded_at
"""
# What the relay has published needs no pointer any more.
_FORGET_PUBLISHED = "DELETE FROM gps_relay_pending WHERE relay_txid <= %s"
# For /health: the fixes waiting and when the oldest of them arrived.
_BACKLOG = "SELECT coalesce(sum(fixes), 0), min(received_at) FROM gps_relay_pending WHERE relay_txid > %s"


class RelayRow(NamedTuple):
    """A fix as _RELAY_BATCH reads it."""

    relay_txid: int
    vehicle_id: str
    recorded_at_us: int  # microseconds since the epoch
    recorded_at: str  # RFC 3339, UTC with Z (tms.times)
    longitude: float
    latitude: float
    speed_kmh: float | None
    heading: float | None
    received_at: str  # RFC 3339, UTC with Z (tms.times)


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
    transport = transport or default_transport()
    TrackingRelayCursor.objects.get_or_create(name=RELAY_CURSOR)
    with transaction.atomic():
        position = (
            TrackingRelayCursor.objects.select_for_update(skip_locked=True).filter(name=RELAY_CURSOR).first()
        )
        if position is None:
            return 0
        with connections[settings.TIMESERIES_DATABASE_ALIAS].cursor() as cursor:
            cursor.execute(_FORGET_PUBLISHED, [position.relay_txid])
            cursor.execute(_RELAY_BATCH, {"after": position.relay_txid, "limit": batch_size})
            rows = [RelayRow(*row) for row in cursor.fetchall()]
        if not rows:
            return 0
        carriers = {
            str(pk): str(carrier_id)
            for pk, carrier_id in carrier_ids_of(row.vehicle_id for row in rows).items()
        }
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
    metrics.EVENTS_RELAYED.labels("tracking").inc(len(events))
    return len(rows)


TRACKING_CHANNEL = "tms_tracking"


def wake_relay_in_process() -> None:
    """After a commit that stored fixes for the relay: embedded (no Kafka), publish them now to the
    in-process consumers, as events.relay.wake_relay does for the outbox; with Kafka, NOTIFY the
    long-running relay (run_forever), which otherwise finds them at its next poll."""
    if not settings.EVENTS_RELAY_ON_COMMIT:
        return
    if settings.KAFKA_BOOTSTRAP_SERVERS:
        notify(TRACKING_CHANNEL, using=settings.TIMESERIES_DATABASE_ALIAS)
        return
    try:
        while relay_fixes():
            pass
    except Exception:  # the fixes are committed; their events wait for the next relay
        logger.exception("in-process tracking relay failed; the fixes wait in gps_points")


def relay_backlog() -> dict[str, Any]:
    """Fixes waiting for the relay and the age of the oldest (for /health and operators)."""
    position = TrackingRelayCursor.objects.filter(name=RELAY_CURSOR).first() or TrackingRelayCursor()
    with connections[settings.TIMESERIES_DATABASE_ALIAS].cursor() as cursor:
        cursor.execute(_BACKLOG, [position.relay_txid])
        waiting, oldest = cursor.fetchone()
    return {
        "unpublished": waiting,
        "oldest_age_s": round((timezone.now() - oldest).total_seconds(), 1) if oldest else 0,
        "published": position.published,
    }


def run_forever(*, poll_interval_s: float = 1.0, transport=None, stop=None) -> None:
    """The long-running tracking relay (`manage.py relay_tracking`): publishes while there is work,
    waits for a commit's NOTIFY otherwise (or `poll_interval_s`), backs off while the transport
    fails (the fixes wait in gps_points)."""
    transport = transport or default_transport()
    wakeup = Wakeup(TRACKING_CHANNEL, using=settings.TIMESERIES_DATABASE_ALIAS)
    try:
        poll_forever(
            lambda: relay_fixes(transport),
            poll_interval_s=poll_interval_s,
            stop=stop,
            name="tracking relay",
            log=logger,
            wait=wakeup,
        )
    finally:
        wakeup.close()
