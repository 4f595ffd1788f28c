"""The tracking relay: every fix stored by a batch reaches the transport once, as
VEHICLE_LOCATION_UPDATED, never before its transaction has committed, and nothing for duplicates or
refused fixes. These tests commit for real (transaction=True): the relay reads committed work only."""

import datetime
import time
import uuid

import pytest
from django.conf import settings
from django.contrib.auth.models import Group
from django.db import connections
from django.utils import timezone

from events.models import OutboxEvent, StoredEvent
from events.relay import InProcessTransport
from events.schemas import VehicleLocationUpdated
from fleet import relay, timescale
from fleet.ingest import GpsFix, ingest_without_audit
from fleet.models import GpsRelayPending, TrackingRelayCursor
from fleet.tests.factories import VehicleFactory
from tms.api_defaults import ROLES

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _relay_by_hand(settings, transactional_db):
    """Each test runs the relay itself (the embedded in-process relay after commit is off); the
    roles the migration created come back after the tables were emptied by an earlier test."""
    settings.EVENTS_RELAY_ON_COMMIT = False
    for role in ROLES:
        Group.objects.get_or_create(name=role)


class Recording:
    name = "recording"

    def __init__(self, fail: bool = False):
        self.events = []
        self.fail = fail

    def publish(self, events):
        if self.fail:
            raise ConnectionError("broker unreachable")
        self.events.extend(events)


# One anchor for the module: a test may wait for the relay across a minute boundary, and its
# minute(0) must still be the fix it stored.
HOUR_AGO = timezone.now().replace(second=0, microsecond=0) - datetime.timedelta(hours=1)


def minute(n: float) -> datetime.datetime:
    return HOUR_AGO + datetime.timedelta(minutes=n)


def post(client, vehicle, *minutes, **extra):
    points = [
        {
            "vehicle_id": str(vehicle.pk),
            "longitude": -90 + n / 100,
            "latitude": 35.0,
            "recorded_at": minute(n).isoformat(),
        }
        | extra
        for n in minutes
    ]
    return client.post("/api/tracking/batch", {"points": points}, format="json").json()


def drain(transport, expect: int = 0, timeout_s: float = 30) -> int:
    """Relays until `expect` fixes were read (or nothing is left when expect is 0). The relay
    waits for every older writing transaction of the cluster, including other test runs sharing
    the server: allow them a moment to finish."""
    total = 0
    deadline = time.monotonic() + timeout_s
    while True:
        count = relay.relay_fixes(transport)
        total += count
        if total >= expect and not count:
            return total
        if not count:
            if time.monotonic() > deadline:
                return total
            time.sleep(0.05)


def test_each_stored_fix_is_published_once_as_the_schema_says(dispatcher):
    truck = VehicleFactory()
    assert post(dispatcher, truck, 2, 0, 1, speed=72.5)["accepted"] == 3
    transport = Recording()
    assert drain(transport, expect=3) == 3
    assert [event.envelope["data"]["recorded_at"] for event in transport.events] == [
        minute(n).isoformat().replace("+00:00", "Z") for n in (0, 1, 2)
    ]
    assert all(event.envelope["time"].endswith("Z") for event in transport.events)
    for event in transport.events:
        assert (event.type, event.topic, event.subject) == (
            "VEHICLE_LOCATION_UPDATED",
            "tms.vehicles.tracking",
            str(truck.pk),
        )
        data = VehicleLocationUpdated.model_validate(event.envelope["data"])
        assert (data.vehicle_id, data.carrier_id, data.latitude, data.speed_kmh) == (
            truck.pk,
            truck.carrier_id,
            35.0,
            72.5,
        )
        assert event.envelope["id"] == event.id == str(relay.event_id(truck.pk, data.recorded_at))
        assert event.envelope["dataschema"] == "/schemas/VEHICLE_LOCATION_UPDATED/v1"
        assert event.envelope["specversion"] == "1.0"
    assert not OutboxEvent.objects.exists()
    assert TrackingRelayCursor.objects.get().published == 3


def test_duplicates_and_refused_fixes_publish_nothing(dispatcher):
    truck = VehicleFactory()
    post(dispatcher, truck, 0, 1)
    assert drain(Recording(), expect=2) == 2
    again = post(dispatcher, truck, 0, 1)
    assert again["duplicates"] == 2
    refused = post(dispatcher, truck, 5, latitude=91)
    assert len(refused["rejected"]) == 1
    transport = Recording()
    assert drain(transport) == 0
    assert transport.events == []
    assert relay.relay_backlog()["unpublished"] == 0


def store_for_the_relay(cursor, vehicle_id, recorded_at):
    """What a batch's transaction stores for the relay (fleet.ingest), by hand on `cursor`'s
    connection: the fix and its pending row; its chunk, on TimescaleDB, exists beforehand, as
    ingest_without_audit makes sure."""
    timescale.ensure_chunks(cursor.db.alias, [recorded_at])
    cursor.execute(
        "INSERT INTO gps_points (vehicle_id, recorded_at, location, received_at, relay_txid)"
        " VALUES (%s, %s, 'SRID=4326;POINT(-90 35)', now(), pg_current_xact_id()::text::bigint)",
        [vehicle_id, recorded_at],
    )
    cursor.execute(
        "INSERT INTO gps_relay_pending (relay_txid, vehicle_id, hour, first_recorded_at, last_recorded_at,"
        " fixes, received_at) VALUES (pg_current_xact_id()::text::bigint, %s, date_trunc('hour', %s, 'UTC'),"
        " %s, %s, 1, now())",
        [vehicle_id, recorded_at, recorded_at, recorded_at],
    )


def test_a_fix_waits_until_every_older_transaction_has_finished():
    first, second = VehicleFactory(), VehicleFactory()
    other = connections.create_connection(settings.TIMESERIES_DATABASE_ALIAS)
    try:
        other.set_autocommit(False)
        with other.cursor() as cursor:  # a batch still in flight in another request
            store_for_the_relay(cursor, first.pk, minute(0))
        ingest_without_audit([GpsFix(second.pk, minute(1), -91.0, 36.0)])  # a later batch, committed
        transport = Recording()
        # The later fix is not published ahead of the open transaction: once the relay's cursor
        # passed it, the earlier fix would be skipped for ever.
        assert drain(transport) == 0
        other.commit()
        assert drain(transport, expect=2) == 2
        assert [event.subject for event in transport.events] == [str(first.pk), str(second.pk)]
    finally:
        other.close()


def test_a_rolled_back_batch_publishes_nothing():
    truck = VehicleFactory()
    other = connections.create_connection(settings.TIMESERIES_DATABASE_ALIAS)
    try:
        other.set_autocommit(False)
        with other.cursor() as cursor:
            store_for_the_relay(cursor, truck.pk, minute(0))
        other.rollback()
    finally:
        other.close()
    ingest_without_audit([GpsFix(truck.pk, minute(1), -91.0, 36.0)])
    transport = Recording()
    assert drain(transport, expect=1) == 1
    assert transport.events[0].envelope["data"]["longitude"] == -91.0


def test_a_failed_publish_leaves_the_cursor_and_is_retried_with_the_same_ids():
    truck = VehicleFactory()
    ingest_without_audit([GpsFix(truck.pk, minute(n), -90.0 - n, 35.0) for n in range(3)])
    with pytest.raises(ConnectionError):
        drain(Recording(fail=True), expect=3)
    assert relay.relay_backlog()["unpublished"] == 3
    transport = Recording()
    assert drain(transport, expect=3) == 3
    assert [event.id for event in transport.events] == [
        str(relay.event_id(truck.pk, minute(n))) for n in range(3)
    ]


def test_one_relay_at_a_time():
    truck = VehicleFactory()
    ingest_without_audit([GpsFix(truck.pk, minute(0), -90.0, 35.0)])
    TrackingRelayCursor.objects.get_or_create(name=relay.RELAY_CURSOR)
    other = connections.create_connection("default")
    try:
        other.set_autocommit(False)
        with other.cursor() as cursor:
            cursor.execute("SELECT 1 FROM tracking_relay_cursors WHERE name = 'gps' FOR UPDATE")
        assert relay.relay_fixes(Recording()) == 0
        other.rollback()
        assert drain(Recording(), expect=1) == 1
    finally:
        other.close()


def test_the_in_process_transport_hands_every_fix_to_the_consumers():
    truck = VehicleFactory()
    ingest_without_audit([GpsFix(truck.pk, minute(n), -90.0, 35.0 + n / 100) for n in range(4)])
    assert drain(InProcessTransport(), expect=4) == 4
    stored = StoredEvent.objects.filter(type="VEHICLE_LOCATION_UPDATED", subject=str(truck.pk))
    assert sorted(str(event_id) for event_id in stored.values_list("event_id", flat=True)) == sorted(
        str(relay.event_id(truck.pk, minute(n))) for n in range(4)
    )


def test_a_fix_of_a_deleted_vehicle_is_passed_over():
    kept = VehicleFactory()
    ingest_without_audit(
        [GpsFix(uuid.uuid4(), minute(0), -90.0, 35.0), GpsFix(kept.pk, minute(0), -91.0, 35.0)]
    )
    transport = Recording()
    assert drain(transport, expect=2) == 2
    assert [event.subject for event in transport.events] == [str(kept.pk)]
    assert relay.relay_backlog() == {"unpublished": 0, "oldest_age_s": 0, "published": 1}


def test_embedded_the_fixes_reach_the_consumers_after_the_commit(settings, monkeypatch):
    settings.EVENTS_RELAY_ON_COMMIT = True
    wakes = []
    wake = relay.wake_relay_in_process
    monkeypatch.setattr(relay, "wake_relay_in_process", lambda: wakes.append(1) or wake())
    truck = VehicleFactory()
    ingest_without_audit([GpsFix(truck.pk, minute(0), -90.0, 35.0)])
    assert wakes == [1]
    deadline = time.monotonic() + 30  # another test run's open transaction may hold it a moment
    while not StoredEvent.objects.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
        wake()
    assert StoredEvent.objects.get().event_id == relay.event_id(truck.pk, minute(0))


def test_the_long_running_relay_backs_off_while_failing_and_stops_when_asked(monkeypatch, caplog):
    outcomes = [ConnectionError("broker unreachable"), ConnectionError("broker unreachable"), 4, 0]
    polls, sleeps = [], []

    def relay_fixes(transport):
        polls.append(transport)
        outcome = outcomes[len(polls) - 1]
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    monkeypatch.setattr(relay, "relay_fixes", relay_fixes)
    monkeypatch.setattr("events.relay.time.sleep", sleeps.append)
    # Idle, the relay waits for a commit's NOTIFY (or the poll interval): recorded as a sleep.
    monkeypatch.setattr("events.relay.Wakeup.__call__", lambda self, timeout: sleeps.append(timeout))
    transport = Recording()
    with caplog.at_level("WARNING", logger="fleet.relay"):
        relay.run_forever(transport=transport, stop=lambda: len(polls) == len(outcomes))
    assert polls == [transport] * 4
    assert sleeps == [2.0, 4.0, 1.0]  # backs off from the 1 s poll interval; straight on after 4
    assert [(record.name, record.getMessage()) for record in caplog.records] == [
        ("fleet.relay", "tracking relay failed, retrying in 1.0s: broker unreachable"),
        ("fleet.relay", "tracking relay failed, retrying in 2.0s: broker unreachable"),
    ]


def test_a_late_fix_is_relayed_with_the_batch_in_time_order():
    # A truck out of coverage uploads its buffer days later, with a fix of today in the same batch.
    truck = VehicleFactory()
    late = timezone.now().replace(microsecond=0) - datetime.timedelta(days=3)
    ingest_without_audit(
        [GpsFix(truck.pk, minute(0), -90.0, 35.0), GpsFix(truck.pk, late, -95.0, 30.0)]
        + [GpsFix(truck.pk, late + datetime.timedelta(minutes=n), -95.0, 30.0 + n / 100) for n in (1, 2)]
    )
    assert relay.relay_backlog()["unpublished"] == 4
    transport = Recording()
    assert drain(transport, expect=4) == 4
    assert [event.envelope["data"]["recorded_at"] for event in transport.events] == [
        moment.isoformat().replace("+00:00", "Z")
        for moment in (
            late,
            late + datetime.timedelta(minutes=1),
            late + datetime.timedelta(minutes=2),
            minute(0),
        )
    ]
    assert relay.relay_backlog()["unpublished"] == 0


def test_the_relay_forgets_what_it_published():
    """gps_relay_pending stays as small as the backlog: the relay deletes the rows it is past."""
    trucks = VehicleFactory(), VehicleFactory()
    for n in range(3):
        ingest_without_audit([GpsFix(truck.pk, minute(n), -90.0, 35.0) for truck in trucks])
    assert GpsRelayPending.objects.count() == 6  # one per transaction, vehicle and hour
    assert drain(Recording(), expect=6) == 6
    relay.relay_fixes(Recording())
    assert GpsRelayPending.objects.count() == 0


def test_a_batch_bigger_than_the_relays_is_read_whole():
    truck, other = VehicleFactory(), VehicleFactory()
    ingest_without_audit([GpsFix(truck.pk, minute(n / 10), -90.0, 35.0) for n in range(7)])
    ingest_without_audit([GpsFix(other.pk, minute(1), -90.0, 35.0)])
    assert relay_once(batch_size=3) == 7  # whole transactions only
    assert relay_once(batch_size=3) == 1


def relay_once(batch_size: int, timeout_s: float = 60) -> int:
    """One relay batch, once older transactions elsewhere on the server have finished (drain)."""
    deadline = time.monotonic() + timeout_s
    while (
        not (count := relay.relay_fixes(Recording(), batch_size=batch_size)) and time.monotonic() < deadline
    ):
        time.sleep(0.05)
    return count


def _plan(sql: str, params: dict) -> str:
    """The plan PostgreSQL makes when scanning a table whole is not an option (the test tables are
    too small for the planner to prefer an index by itself)."""
    with connections[settings.TIMESERIES_DATABASE_ALIAS].cursor() as cursor:
        cursor.execute("BEGIN")
        try:
            for setting in ("enable_seqscan", "enable_bitmapscan", "enable_hashjoin", "enable_mergejoin"):
                cursor.execute(f"SET LOCAL {setting} = off")
            cursor.execute("EXPLAIN " + sql, params)
            return "\n".join(row[0] for row in cursor.fetchall())
        finally:
            cursor.execute("ROLLBACK")


def test_the_relay_reads_fixes_by_vehicle_and_time():
    """On TimescaleDB only a time bound on recorded_at (chunk exclusion) and the primary key
    (compressed segments are by vehicle, ordered by time) keep a relay batch from decompressing
    all history: each transaction's fixes are looked up within their own vehicle and times."""
    plan = _plan(relay._RELAY_BATCH, {"after": 0, "limit": 5000})
    gps_points_scan = [line for line in plan.splitlines() if "on gps_points" in line]
    assert gps_points_scan and all("Index Scan using gps_points_pkey" in line for line in gps_points_scan), (
        plan
    )
    condition = plan.split("Index Scan using gps_points_pkey on gps_points", 1)[1].split("\n")[1]
    assert "Index Cond:" in condition, plan
    for bound in ("vehicle_id = ", "recorded_at >= ", "recorded_at <= "):
        assert bound in condition, plan


def test_the_backlog_reads_only_the_pending_rows():
    plan = _plan(relay._BACKLOG, [0])
    assert "gps_points" not in plan and "gps_relay_pending" in plan, plan
