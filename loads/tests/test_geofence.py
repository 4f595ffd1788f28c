"""Geofence stops from the GPS stream: a recorded path with jitter at the boundary, late and repeated
fixes, polygons, automatic status changes, and the stops API."""

import math
import random
import uuid
from datetime import datetime, timedelta

import pytest
from django.contrib.gis.geos import Polygon
from django.utils import timezone

from events.consumers import REGISTRY, Outcome, deliver
from events.models import AuditLog, DeadLetter, OutboxEvent
from events.outbox import validate_data
from events.taxonomy import EventType
from fleet import services as fleet_services
from fleet.models import VehicleStatus
from loads import geofence, services
from loads.models import Load, LoadStatus, StopEvent, StopKind
from loads.tests.factories import load_in
from tms.times import rfc3339

pytestmark = pytest.mark.django_db

T0 = timezone.now().replace(microsecond=0) - timedelta(hours=6)


def offset(point, east_m: float, north_m: float = 0.0) -> tuple[float, float]:
    """(lon, lat) that many metres east and north of a WGS84 point (local flat-earth, metre-exact
    enough for the 10 m clearances below)."""
    lat = point.y + north_m / 111_132.0
    lon = point.x + east_m / (111_320.0 * math.cos(math.radians(point.y)))
    return lon, lat


def fix_envelope(vehicle, at: datetime, lon: float, lat: float) -> dict:
    data = validate_data(
        EventType.VEHICLE_LOCATION_UPDATED,
        {
            "vehicle_id": vehicle.pk,
            "carrier_id": vehicle.carrier_id,
            "longitude": lon,
            "latitude": lat,
            "recorded_at": at,
            "speed_kmh": None,
            "heading": None,
        },
    )
    return {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "type": EventType.VEHICLE_LOCATION_UPDATED.value,
        "source": "/tms",
        "subject": str(vehicle.pk),
        "time": at.isoformat(),
        "data": data,
    }


def send(vehicle, facility, path) -> list[str]:
    """Delivers (seconds after T0, metres east of the facility) fixes to the geofence consumer."""
    consumer = REGISTRY["loads-geofence"]
    outcomes = []
    for seconds, east_m in path:
        lon, lat = offset(facility.location, east_m)
        outcomes.append(deliver(consumer, fix_envelope(vehicle, T0 + timedelta(seconds=seconds), lon, lat)))
    return outcomes


def at(seconds: int) -> datetime:
    return T0 + timedelta(seconds=seconds)


# Radius 300 m (the default), exit margin 100 m: inside < 300 m, band 300-400 m, outside > 400 m.
# A truck approaches from the east, dwells in the yard, and leaves, its GPS wandering over the
# fence on the way in and out.
RECORDED_PATH = [
    (0, 5000),
    (60, 2000),
    (120, 800),
    (150, 420),  # outside
    (170, 330),  # band: not yet arrived
    (180, 280),  # inside: ARRIVAL
    (190, 320),  # band (jitter): still there
    (200, 250),
    (260, 60),
    (400, 35),
    (600, 20),
    (900, 50),
    (960, 290),
    (975, 350),  # band (jitter)
    (980, 270),  # inside again
    (990, 380),  # band
    (1000, 450),  # outside the margin: DEPARTURE
    (1060, 2000),
    (1120, 4000),
]
ARRIVAL, DEPARTURE = at(180), at(1000)


@pytest.fixture
def assigned():
    load = load_in("ASSIGNED")
    return load, load.vehicle, load.shipper


def only_stop(load) -> StopEvent:
    stops = list(StopEvent.objects.filter(load=load))
    assert len(stops) == 1, stops
    return stops[0]


def test_recorded_path_gives_one_stop_with_exact_arrival_departure_and_dwell(assigned):
    load, vehicle, shipper = assigned
    outcomes = send(vehicle, shipper, RECORDED_PATH)

    assert outcomes == [Outcome.PROCESSED] * len(RECORDED_PATH)
    stop = only_stop(load)
    assert (stop.kind, stop.facility_id, stop.vehicle_id) == (StopKind.PICKUP, shipper.pk, vehicle.pk)
    assert (stop.arrived_at, stop.departed_at, stop.dwell_s) == (ARRIVAL, DEPARTURE, 820)
    assert stop.last_inside_at == at(990)
    assert not DeadLetter.objects.exists()


def test_jitter_at_the_boundary_neither_departs_nor_arrives_again(assigned):
    load, vehicle, shipper = assigned
    send(vehicle, shipper, RECORDED_PATH[:15])  # up to the jitter back inside at 980 s

    stop = only_stop(load)
    assert (stop.arrived_at, stop.departed_at, stop.dwell_s) == (ARRIVAL, None, None)


def test_fixes_in_the_band_alone_never_arrive(assigned):
    load, vehicle, shipper = assigned
    send(vehicle, shipper, [(0, 2000), (30, 390), (40, 310), (50, 360), (60, 500), (90, 2000)])

    assert not StopEvent.objects.filter(load=load).exists()


def test_redelivered_event_is_a_duplicate_and_a_repeated_fix_changes_nothing(assigned):
    load, vehicle, shipper = assigned
    consumer = REGISTRY["loads-geofence"]
    arrival = fix_envelope(vehicle, ARRIVAL, *offset(shipper.location, 280))
    assert deliver(consumer, arrival) == Outcome.PROCESSED
    assert deliver(consumer, arrival) == Outcome.DUPLICATE
    send(vehicle, shipper, RECORDED_PATH + RECORDED_PATH)  # every fix again, under new event ids

    stop = only_stop(load)
    assert (stop.arrived_at, stop.departed_at, stop.dwell_s) == (ARRIVAL, DEPARTURE, 820)


def test_late_fixes_move_the_arrival_earlier_and_the_departure_earlier(assigned):
    load, vehicle, shipper = assigned
    send(vehicle, shipper, [(400, 35), (600, 20), (1060, 2000)])
    stop = only_stop(load)
    assert (stop.arrived_at, stop.departed_at) == (at(400), at(1060))

    send(vehicle, shipper, [(180, 280), (980, 270), (1000, 450), (990, 380), (150, 420)])

    stop = only_stop(load)
    assert (stop.arrived_at, stop.departed_at, stop.dwell_s) == (ARRIVAL, DEPARTURE, 820)


@pytest.mark.parametrize("seed", range(8))
def test_shuffled_fixes_never_make_a_second_stop_nor_an_early_departure(assigned, seed):
    load, vehicle, shipper = assigned
    path = RECORDED_PATH * 2
    random.Random(seed).shuffle(path)
    send(vehicle, shipper, path)

    stop = only_stop(load)
    assert stop.arrived_at == ARRIVAL
    # A departure fix handled before any fix of its visit is lost; the next one departs.
    assert stop.departed_at is None or stop.departed_at >= DEPARTURE


def test_departure_fixes_handled_after_the_yard_backlog_still_depart_exactly(assigned):
    """A device that lost signal in the yard uploads its backlog while live fixes continue."""
    load, vehicle, shipper = assigned
    inside = [point for point in RECORDED_PATH if 180 <= point[0] <= 990]
    random.Random(7).shuffle(inside)
    send(vehicle, shipper, RECORDED_PATH[:5] + inside + RECORDED_PATH[16:])

    stop = only_stop(load)
    assert (stop.arrived_at, stop.departed_at, stop.dwell_s) == (ARRIVAL, DEPARTURE, 820)


def test_a_second_visit_serves_the_next_planned_stop_at_that_facility(assigned):
    load, vehicle, shipper = assigned
    send(vehicle, shipper, RECORDED_PATH)
    # Back at the shipper with no other stop there: not a visit of the load.
    send(vehicle, shipper, [(2000, 900), (2100, 100), (2400, 80), (2500, 1000)])
    assert [visit.arrived_at for visit in StopEvent.objects.filter(load=load)] == [ARRIVAL]

    # The dispatcher adds a drop at the shipper's site after the pickup: the next visit serves it.
    pickup = load.stops.get(sequence=1)
    drop = services.add_stop(
        load,
        by=None,
        sequence=2,
        kind=StopKind.DELIVERY,
        facility=shipper,
        earliest_at=pickup.earliest_at,
        latest_at=pickup.latest_at + timedelta(hours=1),
    )
    send(vehicle, shipper, [(3000, 900), (3100, 100), (3400, 80), (3500, 1000)])

    visits = list(StopEvent.objects.filter(load=load).order_by("arrived_at"))
    assert [(v.stop_id, v.arrived_at, v.departed_at, v.dwell_s) for v in visits] == [
        (pickup.pk, ARRIVAL, DEPARTURE, 820),
        (drop.pk, at(3100), at(3500), 400),
    ]
    pickup.refresh_from_db()
    drop.refresh_from_db()
    assert (pickup.arrived_at, pickup.departed_at) == (ARRIVAL, DEPARTURE)
    assert (drop.arrived_at, drop.departed_at) == (at(3100), at(3500))


def test_a_polygon_geofence_replaces_the_radius(assigned):
    load, vehicle, shipper = assigned
    # A yard 600 m long east of the gate, 200 m deep: its far corner is well beyond 300 m.
    corners = [
        offset(shipper.location, east, north)
        for east, north in [(0, -100), (600, -100), (600, 100), (0, 100)]
    ]
    shipper.geofence = Polygon([*corners, corners[0]], srid=4326)
    shipper.save()

    send(vehicle, shipper, [(0, 1200), (100, 680), (200, 550), (300, 650), (400, 690), (500, 720)])

    stop = only_stop(load)  # arrived at 550 m (inside the polygon), 650-690 m is the band
    assert (stop.arrived_at, stop.departed_at, stop.dwell_s) == (at(200), at(500), 300)


def test_a_fix_far_from_the_load_sites_costs_one_query(assigned, django_assert_num_queries):
    _load, vehicle, shipper = assigned
    lon, lat = offset(shipper.location, 50_000)
    with django_assert_num_queries(1):
        assert (
            services.record_vehicle_fix(vehicle_id=vehicle.pk, longitude=lon, latitude=lat, recorded_at=T0)
            == []
        )


def stop_events(load) -> list[tuple[str, dict]]:
    return [
        (event.type, event.envelope["data"])
        for event in OutboxEvent.objects.filter(subject=str(load.pk), type__startswith="STOP_").order_by(
            "created_at"
        )
    ]


def test_each_visit_write_has_its_audit_row_and_the_stop_one_event_per_arrival_and_departure(assigned):
    load, vehicle, shipper = assigned
    events_before = OutboxEvent.objects.count()
    send(vehicle, shipper, RECORDED_PATH[:6])  # up to the arrival
    stop = only_stop(load)
    audits = AuditLog.objects.filter(table_name="stop_events", record_id=str(stop.pk)).order_by("created_at")
    [created] = audits
    assert created.action == "CREATE" and created.user is None
    assert (created.changed_data["arrived_at"], created.changed_data["departed_at"]) == (
        rfc3339(ARRIVAL),
        None,
    )

    send(vehicle, shipper, RECORDED_PATH[6:])
    writes = list(audits.values_list("action", flat=True))
    # The arrival, each later fix within the exit boundary (the visit's last fix), the departure.
    fixes_during_the_visit = [s for s, _ in RECORDED_PATH if ARRIVAL < at(s) < DEPARTURE]
    assert writes == ["CREATE"] + ["UPDATE"] * (len(fixes_during_the_visit) + 1)
    departure = audits.last().changed_data
    assert (departure["departed_at"], departure["dwell_s"]) == ([None, rfc3339(DEPARTURE)], [None, 820])
    # The planned stop: its actual times audited, and one event each, not one per fix.
    pickup = load.stops.get(sequence=1)
    assert (pickup.arrived_at, pickup.departed_at) == (ARRIVAL, DEPARTURE)
    stop_audits = AuditLog.objects.filter(table_name="load_stops", record_id=str(pickup.pk), action="UPDATE")
    assert [sorted(a.changed_data) for a in stop_audits.order_by("created_at")] == [
        ["arrived_at"],
        ["departed_at"],
    ]
    assert [(kind, data["stop_id"], data["sequence"]) for kind, data in stop_events(load)] == [
        ("STOP_ARRIVED", str(pickup.pk), 1),
        ("STOP_DEPARTED", str(pickup.pk), 1),
    ]
    assert stop_events(load)[1][1]["arrived_at"] == rfc3339(ARRIVAL)
    assert stop_events(load)[1][1]["departed_at"] == rfc3339(DEPARTURE)
    assert OutboxEvent.objects.count() == events_before + 2


def test_a_late_fix_correcting_an_arrival_is_evented_as_a_correction(assigned):
    load, vehicle, shipper = assigned
    send(vehicle, shipper, [(400, 35), (600, 20)])
    send(vehicle, shipper, [(180, 280)])  # uploaded late: the truck was in the yard earlier

    assert load.stops.get(sequence=1).arrived_at == ARRIVAL
    assert [(kind, data["arrived_at"], data["correction"]) for kind, data in stop_events(load)] == [
        ("STOP_ARRIVED", rfc3339(at(400)), False),
        ("STOP_ARRIVED", rfc3339(ARRIVAL), True),
    ]


def test_a_vehicle_without_an_active_load_makes_no_stop():
    load = load_in("DELIVERED")
    send(load.vehicle, load.shipper, RECORDED_PATH)

    assert not StopEvent.objects.exists()


# --- Suggestions and automatic status changes ------------------------------------------------------


def delivery_path(seconds: int) -> list[tuple[int, int]]:
    return [(seconds, 3000), (seconds + 60, 200), (seconds + 600, 30), (seconds + 1200, 800)]


def test_without_auto_advance_the_stops_only_suggest_and_the_load_stays(assigned):
    load, vehicle, shipper = assigned
    events_before = OutboxEvent.objects.count()
    send(vehicle, shipper, RECORDED_PATH[:8])

    stop = only_stop(load)
    load.refresh_from_db()
    assert load.status == LoadStatus.ASSIGNED
    assert geofence.suggested_transition(stop) == geofence.Suggestion(LoadStatus.PICKED_UP, ARRIVAL)
    # No load or vehicle event: only the stop's arrival.
    assert list(
        OutboxEvent.objects.order_by("created_at")[events_before:].values_list("type", flat=True)
    ) == ["STOP_ARRIVED"]

    services.pick_up_load(load, by=None, at=ARRIVAL + timedelta(minutes=5))
    stop.refresh_from_db()
    assert geofence.suggested_transition(stop) is None  # nothing more until it leaves
    send(vehicle, shipper, RECORDED_PATH[8:])
    stop.refresh_from_db()
    assert geofence.suggested_transition(stop) == geofence.Suggestion(LoadStatus.IN_TRANSIT, DEPARTURE)


def test_auto_advance_moves_the_load_through_the_services_at_the_gps_times(assigned, settings):
    settings.TMS_GEOFENCE_AUTO_ADVANCE = True
    load, vehicle, shipper = assigned

    send(vehicle, shipper, RECORDED_PATH[:6])
    load.refresh_from_db()
    assert (load.status, load.picked_up_at) == (LoadStatus.PICKED_UP, ARRIVAL)

    send(vehicle, shipper, RECORDED_PATH[6:])
    load.refresh_from_db()
    assert (load.status, load.in_transit_at) == (LoadStatus.IN_TRANSIT, DEPARTURE)

    send(vehicle, load.consignee, delivery_path(20_000))
    load.refresh_from_db()
    vehicle.refresh_from_db()
    assert (load.status, load.delivered_at) == (LoadStatus.DELIVERED, at(20_060))
    assert vehicle.status == VehicleStatus.AVAILABLE
    # The delivery stop still closes after the load is done.
    delivery = StopEvent.objects.get(load=load, kind=StopKind.DELIVERY)
    assert (delivery.arrived_at, delivery.departed_at, delivery.dwell_s) == (at(20_060), at(21_200), 1140)

    transitions = list(
        AuditLog.objects.filter(table_name="loads", record_id=str(load.pk), action="TRANSITION")
        .order_by("created_at")
        .values_list("changed_data__status", flat=True)
    )
    assert transitions[-3:] == [
        [LoadStatus.ASSIGNED, LoadStatus.PICKED_UP],
        [LoadStatus.PICKED_UP, LoadStatus.IN_TRANSIT],
        [LoadStatus.IN_TRANSIT, LoadStatus.DELIVERED],
    ]
    events = {
        e.type: e.envelope["data"]
        for e in OutboxEvent.objects.filter(subject=str(load.pk), type__startswith="LOAD_")
    }
    assert events["LOAD_PICKED_UP"]["picked_up_at"] == ARRIVAL.isoformat().replace("+00:00", "Z")
    assert events["LOAD_DELIVERED"]["delivered_at"] == at(20_060).isoformat().replace("+00:00", "Z")


def test_auto_advance_after_a_missed_arrival_picks_up_then_departs(assigned, settings):
    load, vehicle, shipper = assigned
    send(vehicle, shipper, RECORDED_PATH[:8])  # arrival seen while auto-advance was off
    settings.TMS_GEOFENCE_AUTO_ADVANCE = True
    send(vehicle, shipper, RECORDED_PATH[8:])

    load.refresh_from_db()
    assert (load.status, load.picked_up_at, load.in_transit_at) == (
        LoadStatus.IN_TRANSIT,
        ARRIVAL,
        DEPARTURE,
    )


def test_auto_advance_leaves_a_load_the_dispatcher_moved_first(assigned, settings):
    settings.TMS_GEOFENCE_AUTO_ADVANCE = True
    load, vehicle, shipper = assigned
    services.pick_up_load(load, by=None, at=ARRIVAL + timedelta(minutes=1))
    services.start_transit(load, by=None, at=ARRIVAL + timedelta(minutes=2))
    services.deliver_load(load, by=None, at=ARRIVAL + timedelta(minutes=3))  # a paper delivery

    outcomes = send(vehicle, shipper, RECORDED_PATH)

    assert set(outcomes) == {Outcome.PROCESSED}
    load.refresh_from_db()
    assert load.delivered_at == ARRIVAL + timedelta(minutes=3)
    assert not DeadLetter.objects.exists()


def test_a_rejected_automatic_transition_is_skipped_not_dead_lettered(assigned, settings):
    settings.TMS_GEOFENCE_AUTO_ADVANCE = True
    load, vehicle, shipper = assigned
    # The dispatcher recorded the pickup later than the GPS departure: IN_TRANSIT at the departure
    # would precede it, which the service refuses.
    services.pick_up_load(load, by=None, at=DEPARTURE + timedelta(hours=1))

    outcomes = send(vehicle, shipper, RECORDED_PATH)

    assert set(outcomes) == {Outcome.PROCESSED}
    load.refresh_from_db()
    assert load.status == LoadStatus.PICKED_UP
    assert only_stop(load).departed_at == DEPARTURE


def test_a_stored_location_reaches_the_geofence_through_the_outbox(
    assigned, django_capture_on_commit_callbacks
):
    load, vehicle, shipper = assigned
    lon, lat = offset(shipper.location, 120)
    with django_capture_on_commit_callbacks(execute=True):
        fleet_services.update_vehicle_location(
            vehicle, by=None, longitude=lon, latitude=lat, recorded_at=timezone.now()
        )

    stop = only_stop(load)
    assert stop.kind == StopKind.PICKUP and stop.departed_at is None


# --- GET /api/loads/{id}/visits/ -------------------------------------------------------------------


def stops_url(load) -> str:
    return f"/api/loads/{load.pk}/visits/"


def test_visits_api_lists_visits_with_their_stop_and_suggestion(assigned, viewer):
    load, vehicle, shipper = assigned
    send(vehicle, shipper, RECORDED_PATH)

    response = viewer.get(stops_url(load))

    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["count"] == 1
    stop = body["results"][0]
    assert stop["kind"] == "PICKUP"
    assert stop["facility_id"] == str(shipper.pk)
    assert stop["facility_name"] == shipper.name
    assert stop["stop_id"] == str(load.stops.get(sequence=1).pk)
    assert stop["dwell_s"] == 820
    assert stop["suggested_transition"] == "PICKED_UP"
    assert stop["suggested_at"] == ARRIVAL.isoformat().replace("+00:00", "Z")


def test_visits_api_query_count_does_not_grow_with_visits(assigned, viewer, django_assert_max_num_queries):
    load, vehicle, shipper = assigned
    send(vehicle, shipper, RECORDED_PATH)
    with django_assert_max_num_queries(9) as one:
        viewer.get(stops_url(load))
    send(vehicle, load.consignee, delivery_path(20_000))
    with django_assert_max_num_queries(len(one.captured_queries)):
        assert viewer.get(stops_url(load)).json()["count"] == 2


def test_visits_api_hides_other_drivers_loads_and_refuses_anonymous(assigned, driver_client, anon_client):
    load, _vehicle, _shipper = assigned
    assert anon_client.get(stops_url(load)).status_code == 401
    assert driver_client.get(stops_url(load)).status_code == 404

    load.driver.user = driver_client.user
    load.driver.save()
    assert driver_client.get(stops_url(load)).status_code == 200


def test_visits_api_is_read_only(assigned, dispatcher):
    load, *_ = assigned
    assert dispatcher.post(stops_url(load), {}).status_code == 405
    assert Load.objects.filter(pk=load.pk, status=LoadStatus.ASSIGNED).exists()
