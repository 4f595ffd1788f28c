"""manage.py seed_scale at a tiny size: the dataset is consistent with itself, and the dashboard's
figures on it are the ORM's recount."""

import io
import itertools
from datetime import UTC, datetime, timedelta

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import connections
from django.db.models import Count, Max, Min

from drivers.models import Driver, DutyStatusRecord
from events.models import StoredEvent
from fleet import odometer
from fleet.models import GpsDistanceMark, GpsPoint, Vehicle
from loads.models import Load, LoadStatus, StopKind

pytestmark = pytest.mark.django_db

TINY = {"loads": 200, "fixes": 20_000, "trucks": 8, "drivers": 10, "facilities": 20, "carriers": 3}


@pytest.fixture
def seeded():
    out = io.StringIO()
    call_command("seed_scale", **TINY, stdout=out)
    return out.getvalue()


def test_it_reports_each_phase_with_its_rows_per_second(seeded):
    for phase in ("loads", "load_stops", "event_store", "duty_status_records", "gps_points"):
        line = next(line for line in seeded.splitlines() if line.strip().startswith(phase + " "))
        assert "rows/s" in line and "done" in line


def test_every_load_has_its_stops_and_the_seed_fields_derived_from_them(seeded):
    assert 180 <= Load.objects.count() <= 220
    assert Vehicle.objects.count() == 8 and Driver.objects.count() == 10
    multi_stop = 0
    for load in Load.objects.prefetch_related("stops"):
        stops = list(load.stops.all())
        assert len(stops) >= 2
        multi_stop += len(stops) > 2
        assert [stop.sequence for stop in stops] == list(range(1, len(stops) + 1))
        first_pickup = next(stop for stop in stops if stop.kind == StopKind.PICKUP)
        last_delivery = [stop for stop in stops if stop.kind == StopKind.DELIVERY][-1]
        assert stops[0] == first_pickup and stops[-1] == last_delivery
        assert (load.shipper_id, load.pickup_datetime) == (first_pickup.facility_id, first_pickup.earliest_at)
        assert (load.consignee_id, load.delivery_datetime) == (
            last_delivery.facility_id,
            last_delivery.latest_at,
        )
        if load.status == LoadStatus.DELIVERED:
            assert load.assigned_at <= load.picked_up_at <= load.in_transit_at <= load.delivered_at
            assert last_delivery.arrived_at == load.delivered_at
            assert load.vehicle_id is not None and load.driver_id is not None
    assert multi_stop > 0
    assert Load.objects.filter(status=LoadStatus.CREATED, vehicle=None).exists()  # waiting for a truck


def test_each_driver_log_is_one_unbroken_line_with_one_open_record(seeded):
    for driver in Driver.objects.all():
        records = list(DutyStatusRecord.objects.filter(driver_id=driver.pk).order_by("started_at"))
        assert records, driver
        for record, following in itertools.pairwise(records):
            assert record.ended_at == following.started_at
            assert record.status != following.status
        assert records[-1].ended_at is None


def test_gps_fixes_follow_each_truck_in_the_time_series_database(seeded):
    fixes = GpsPoint.objects.aggregate(n=Count("pk"), first=Min("recorded_at"), last=Max("recorded_at"))
    assert fixes["n"] == 20_000
    assert fixes["last"] - fixes["first"] > timedelta(days=360)
    assert set(GpsPoint.objects.values_list("vehicle_id", flat=True).distinct()) == set(
        Vehicle.objects.values_list("pk", flat=True)
    )


def test_the_gps_odometer_is_marked_over_the_copied_fixes(seeded):
    """seed_scale writes around ingest, so it marks the odometer itself; a reading from the marks
    equals the walk over the raw fixes."""
    vehicle = Vehicle.objects.order_by("pk").first()
    mark = GpsDistanceMark.objects.filter(vehicle_id=vehicle.pk).order_by("-bucket")[10]
    with connections[settings.TIMESERIES_DATABASE_ALIAS].cursor() as cursor:
        cursor.execute(
            "SELECT sum(d) FROM (SELECT ST_Distance(lag(location) OVER (ORDER BY recorded_at),"
            " location, false) AS d FROM gps_points WHERE vehicle_id = %s AND recorded_at <= %s) s",
            [vehicle.pk, mark.last_recorded_at],
        )
        (walked,) = cursor.fetchone()
    assert mark.cum_m == pytest.approx(walked) and walked > 0
    assert odometer.readings([(vehicle.pk, mark.last_recorded_at, True)]) == pytest.approx([walked])


def test_the_dashboard_on_it_counts_what_the_orm_counts(seeded, dispatcher):
    end = datetime.now(UTC).replace(microsecond=0)
    start = end - timedelta(days=30)
    response = dispatcher.get(
        "/api/dashboard",
        {"from": start.isoformat().replace("+00:00", "Z"), "to": end.isoformat().replace("+00:00", "Z")},
    )
    assert response.status_code == 200, response.json()
    body = response.json()
    picked_in_range = Load.objects.filter(pickup_datetime__gte=start, pickup_datetime__lt=end)
    assert sum(body["loads_by_status"].values()) == picked_in_range.count() > 0
    delivered = Load.objects.filter(
        status=LoadStatus.DELIVERED, delivered_at__gte=start, delivered_at__lt=end
    )
    assert body["service"]["deliveries"] == delivered.count() > 0
    assert body["service"]["revenue"] == float(sum(load.rate for load in delivered))
    assert body["miles"]["loaded_miles"] > 0 and body["miles"]["empty_miles"] > 0
    assert 0 < body["vehicle_utilisation"]["utilisation"] <= 1
    assert body["driver_activity"]["hours_by_duty_status"]["DRIVING"] > 0
    topics = {row["topic"]: row["events"] for row in body["events_per_topic"]}
    assert (
        topics["tms.loads"]
        == StoredEvent.objects.filter(type__startswith="LOAD_", time__gte=start, time__lt=end).count()
        > 0
    )


def test_it_refuses_a_database_with_data_unless_appending(seeded):
    loads, fixes = Load.objects.count(), GpsPoint.objects.count()
    with pytest.raises(CommandError, match="already has"):
        call_command("seed_scale", **TINY, stdout=io.StringIO())
    assert (Load.objects.count(), GpsPoint.objects.count()) == (loads, fixes)
    small = {"loads": 20, "fixes": 400, "trucks": 2, "drivers": 2, "facilities": 6, "carriers": 1}
    call_command("seed_scale", **small, append=True, stdout=io.StringIO())
    assert Load.objects.count() > loads and Vehicle.objects.count() == 10
    assert GpsPoint.objects.count() == fixes + 400
