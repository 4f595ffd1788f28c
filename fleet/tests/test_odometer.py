"""The GPS odometer (fleet.odometer): readings from marks plus raw fixes equal the walk over every
raw fix, at any instant (inside an hour, on its edge, inclusive or not), after late and
out-of-order fixes, before and after a refresh.

Fixes lie on the equator, where a stretch's length is its longitude difference on PostGIS's sphere:
the reference below walks the fixes in Python, independently of the SQL."""

import datetime
import itertools
import math

import pytest
from django.contrib.gis.geos import Point
from django.core.management import call_command

from analytics import selectors
from fleet import odometer
from fleet.ingest import GpsFix, ingest_without_audit
from fleet.models import GpsDistanceMark, GpsDistanceStale, GpsPoint
from fleet.tests.factories import VehicleFactory
from loads.tests.factories import LoadFactory

pytestmark = pytest.mark.django_db

SPHERE_RADIUS_M = 6371008.7714
T0 = datetime.datetime(2026, 11, 2, 6, tzinfo=datetime.UTC)
# Long after every fix below: every hour is settled, so refresh marks them all.
LATER = T0 + datetime.timedelta(days=10)


def at(minutes: float) -> datetime.datetime:
    return T0 + datetime.timedelta(minutes=minutes)


def _store(vehicle, fixes: list[tuple[float, float]]) -> None:
    """Fixes written around ingest, as seed_scale's COPY writes them (no stale mark)."""
    for minutes, longitude in fixes:
        GpsPoint.objects.create(
            vehicle_id=vehicle.pk, recorded_at=at(minutes), location=Point(longitude, 0, srid=4326),
            received_at=at(minutes),
        )  # fmt: skip


def reference(fixes: list[tuple[float, float]], instant: datetime.datetime, inclusive: bool) -> float:
    """The walk over the raw fixes: every stretch whose later fix is before the instant (or at it)."""
    ordered = sorted(fixes)
    total = 0.0
    for (_, before), (minutes, longitude) in itertools.pairwise(ordered):
        moment = at(minutes)
        if moment < instant or (inclusive and moment == instant):
            total += math.radians(abs(longitude - before)) * SPHERE_RADIUS_M
    return total


# Three hours and a bit of a truck, fixes at irregular minutes (hour edges at 0, 60, 120, 180).
TRACK = [(-30, 0.0), (0, 0.01), (7, 0.03), (59, 0.02), (60, 0.05), (61, 0.09), (125, 0.10), (170, 0.16),
         (185, 0.17), (240, 0.19)]  # fmt: skip
INSTANTS = [-45, -30, 0, 3, 7, 30, 59, 60, 60.5, 61, 119, 120, 125, 179, 180, 185, 200, 240, 300]


def _check_every_instant(vehicle, fixes) -> None:
    probes = [(vehicle.pk, at(m), inclusive) for m in INSTANTS for inclusive in (False, True)]
    got = odometer.readings(probes)
    want = [reference(fixes, at(m), inclusive) for m in INSTANTS for inclusive in (False, True)]
    assert got == pytest.approx(want, abs=1e-3)


def test_readings_equal_the_raw_walk_with_and_without_marks():
    truck = VehicleFactory()
    other = VehicleFactory()
    _store(truck, TRACK)
    _store(other, [(1, 5.0), (2, 6.0)])  # another vehicle's fixes never count
    _check_every_instant(truck, TRACK)  # no marks yet: every reading walks the raw fixes
    written = odometer.refresh(now=LATER)
    # One mark per vehicle and hour holding fixes: the truck's hours -1, 0, 1, 2, 3, 4; the other's 0.
    assert written == 7
    assert GpsDistanceMark.objects.filter(vehicle_id=truck.pk).count() == 6
    _check_every_instant(truck, TRACK)
    assert odometer.refresh(now=LATER) == 0  # nothing new: nothing written


def test_only_settled_hours_are_marked_and_the_recent_edge_is_read_from_raw_fixes():
    truck = VehicleFactory()
    _store(truck, TRACK)
    # At T0 + 2h25: hours ending by 2h05 are settled: -1, 0 and 1 (ends at 2h00).
    odometer.refresh(now=at(145))
    assert sorted(mark.bucket for mark in GpsDistanceMark.objects.all()) == [at(-60), at(0), at(60)]
    _check_every_instant(truck, TRACK)


def test_a_late_fix_through_ingest_counts_at_once_and_is_marked_at_the_next_refresh():
    truck = VehicleFactory()
    _store(truck, TRACK)
    odometer.refresh(now=LATER)
    # Out of order and late: a detour at 0h30 and one in an earlier hour, received days later.
    late = [(30, 0.5), (-10, -0.2)]
    ingest_without_audit([GpsFix(truck.pk, at(minutes), longitude, 0.0) for minutes, longitude in late])
    assert GpsDistanceStale.objects.get(vehicle_id=truck.pk).since == at(-60)
    _check_every_instant(truck, TRACK + late)  # the stale marks are ignored, not trusted
    odometer.refresh(now=LATER)
    assert not GpsDistanceStale.objects.exists()
    _check_every_instant(truck, TRACK + late)  # and rebuilt
    assert GpsDistanceMark.objects.filter(vehicle_id=truck.pk).count() == 6


def test_a_fix_received_on_time_marks_nothing_stale():
    truck = VehicleFactory()
    ingest_without_audit([GpsFix(truck.pk, datetime.datetime.now(datetime.UTC), 1.0, 0.0)])
    assert not GpsDistanceStale.objects.exists()


def test_loaded_and_empty_miles_with_range_edges_inside_hours_equal_the_raw_walk():
    """A range from 0h03 to 3h20 and a load on board from 0h59 to 2h50 (pickup and drop inside
    hours, between fixes), with the marks built: loaded = the stretches ending in (pickup, drop],
    empty = the rest of the range's."""
    truck = VehicleFactory()
    _store(truck, TRACK)
    odometer.refresh(now=LATER)
    load = LoadFactory(carrier=truck.carrier)
    load.__class__.objects.filter(pk=load.pk).update(
        vehicle=truck, status="DELIVERED", picked_up_at=at(59), delivered_at=at(170)
    )
    scope = selectors.Scope(start=at(3), end=at(200), carrier_id=truck.carrier_id)
    miles = selectors.gps_miles(scope, now=LATER)
    loaded = reference(TRACK, at(170), True) - reference(TRACK, at(59), True)
    whole = reference(TRACK, at(200), False) - reference(TRACK, at(3), False)
    assert loaded > 0 and whole > loaded
    assert miles == {
        "loaded_miles": round(loaded / selectors.METRES_PER_MILE, 1),
        "empty_miles": round((whole - loaded) / selectors.METRES_PER_MILE, 1),
    }


def test_the_command_marks_the_fixes_loaded_around_ingest(capsys):
    truck = VehicleFactory()
    _store(truck, [(0, 0.0), (1, 0.1)])
    call_command("gps_odometer")
    assert "1 marks written" in capsys.readouterr().out
    assert GpsDistanceMark.objects.get(vehicle_id=truck.pk).cum_m == pytest.approx(
        reference([(0, 0.0), (1, 0.1)], at(2), False)
    )
