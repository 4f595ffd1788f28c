"""PUT /api/drivers/{id}/status writes the ELD log: records appended and closed, routed to the
time-series database, hours_remaining recomputed from the log, and each violation evented once."""

import datetime

import pytest
from django.conf import settings
from django.contrib.gis.geos import Point
from django.core.exceptions import ValidationError
from django.utils import timezone

from drivers import services
from drivers.models import Driver, DutyStatusRecord, HosViolation
from drivers.tests.factories import DriverFactory, duty_log
from events.models import AuditLog, OutboxEvent
from fleet.tests.factories import CarrierFactory
from tms.routers import TimeseriesRouter
from tms.times import rfc3339

pytestmark = pytest.mark.django_db

H = datetime.timedelta(hours=1)
M = datetime.timedelta(minutes=1)


def put_status(client, driver, status, at=None, **extra):
    body = {"status": status, **extra}
    if at is not None:
        body["at"] = at.isoformat()
    return client.put(f"/api/drivers/{driver.pk}/status", body, format="json")


def log_of(driver) -> list[tuple[str, datetime.datetime, datetime.datetime | None]]:
    return [
        (record.status, record.started_at, record.ended_at)
        for record in DutyStatusRecord.objects.filter(driver_id=driver.pk).order_by("started_at")
    ]


def nothing_written(driver, records_before: int) -> bool:
    return (
        DutyStatusRecord.objects.filter(driver_id=driver.pk).count() == records_before
        and not AuditLog.objects.filter(record_id=str(driver.pk), action="TRANSITION").exists()
        and not OutboxEvent.objects.filter(subject=str(driver.pk)).exists()
    )


class TestTheLog:
    def test_a_duty_change_closes_the_open_record_and_appends_the_new_one(self, driver_client):
        driver = DriverFactory(user=driver_client.user, current_location=Point(-87.63, 41.88, srid=4326))
        t0 = timezone.now() - 2 * H
        assert put_status(driver_client, driver, "ON_DUTY", t0).status_code == 200
        assert log_of(driver) == [("ON_DUTY", t0, None)]
        response = put_status(driver_client, driver, "DRIVING", t0 + 30 * M, reason="left the yard")
        assert response.status_code == 200, response.json()
        assert log_of(driver) == [("ON_DUTY", t0, t0 + 30 * M), ("DRIVING", t0 + 30 * M, None)]
        latest = DutyStatusRecord.objects.get(driver_id=driver.pk, ended_at=None)
        assert latest.recorded_by_id == driver_client.user.pk
        assert latest.note == "left the yard"
        assert latest.location.equals_exact(Point(-87.63, 41.88, srid=4326), 1e-9)
        audit = AuditLog.objects.filter(record_id=str(driver.pk), action="TRANSITION").latest("created_at")
        assert audit.changed_data["status"] == ["ON_DUTY", "DRIVING"]
        assert audit.changed_data["at"] == rfc3339(t0 + 30 * M)

    def test_at_defaults_to_now(self, dispatcher):
        driver = DriverFactory()
        before = timezone.now()
        dispatcher.put(f"/api/drivers/{driver.pk}/status", {"status": "ON_DUTY"}, format="json")
        [(status, started_at, ended_at)] = log_of(driver)
        assert (status, ended_at) == ("ON_DUTY", None)
        assert before <= started_at <= timezone.now()

    def test_the_same_status_again_writes_nothing(self, dispatcher):
        driver = DriverFactory()
        t0 = timezone.now() - H
        put_status(dispatcher, driver, "ON_DUTY", t0)
        events = OutboxEvent.objects.count()
        assert put_status(dispatcher, driver, "ON_DUTY").status_code == 200
        assert log_of(driver) == [("ON_DUTY", t0, None)]
        assert OutboxEvent.objects.count() == events

    def test_at_more_than_5_minutes_ahead_is_400_and_writes_nothing(self, dispatcher):
        driver = DriverFactory()
        response = put_status(dispatcher, driver, "DRIVING", timezone.now() + 6 * M)
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "validation_error"
        assert "at" in response.json()["error"]["details"]
        assert nothing_written(driver, 0)
        driver.refresh_from_db()
        assert driver.status == "OFF_DUTY"

    def test_at_a_few_minutes_ahead_is_clock_skew_and_accepted(self, dispatcher):
        driver = DriverFactory()
        at = timezone.now() + 4 * M
        assert put_status(dispatcher, driver, "ON_DUTY", at).status_code == 200
        assert log_of(driver) == [("ON_DUTY", at, None)]

    @pytest.mark.parametrize("offset", [-M, datetime.timedelta(0)])
    def test_at_not_after_the_open_records_start_is_422_and_writes_nothing(self, dispatcher, offset):
        driver = DriverFactory()
        t0 = timezone.now() - H
        put_status(dispatcher, driver, "ON_DUTY", t0)
        AuditLog.objects.all().delete()
        OutboxEvent.objects.all().delete()
        response = put_status(dispatcher, driver, "DRIVING", t0 + offset)
        assert response.status_code == 422
        assert response.json()["error"]["code"] == "business_rule_violation"
        assert nothing_written(driver, 1)
        assert log_of(driver) == [("ON_DUTY", t0, None)]
        driver.refresh_from_db()
        assert driver.status == "ON_DUTY"

    def test_the_service_refuses_a_future_at_too(self):
        driver = DriverFactory()
        with pytest.raises(ValidationError):
            services.report_driver_status(
                driver, by=None, status="DRIVING", at=timezone.now() + datetime.timedelta(hours=1)
            )
        assert nothing_written(driver, 0)


class TestRouting:
    def test_duty_status_records_go_to_the_timeseries_alias(self):
        router = TimeseriesRouter()
        assert router.db_for_write(DutyStatusRecord) == settings.TIMESERIES_DATABASE_ALIAS
        assert router.db_for_read(DutyStatusRecord) == settings.TIMESERIES_DATABASE_ALIAS
        assert router.db_for_write(Driver) == "default"
        assert router.db_for_write(HosViolation) == "default"

    def test_with_a_separate_timeseries_database_they_go_there(self, settings):
        settings.TIMESERIES_DATABASE_ALIAS = "timeseries"
        router = TimeseriesRouter()
        assert router.db_for_write(DutyStatusRecord) == "timeseries"
        assert router.allow_migrate("timeseries", "drivers", "dutystatusrecord") is True
        assert router.allow_migrate("default", "drivers", "dutystatusrecord") is False
        assert router.allow_migrate("default", "drivers", "hosviolation") is True

    def test_the_service_writes_records_through_the_router(self, dispatcher):
        driver = DriverFactory()
        put_status(dispatcher, driver, "ON_DUTY")
        record = DutyStatusRecord.objects.get(driver_id=driver.pk)
        assert record._state.db == settings.TIMESERIES_DATABASE_ALIAS


class TestHoursRemaining:
    """`hours_remaining` is derived from the log at every read: the driver page, the list, the
    HOS clock's `legal_driving_h` and the admin say the same thing at the same instant."""

    def test_the_status_change_event_carries_them_from_the_log(self, dispatcher):
        driver = DriverFactory(status="DRIVING")
        t0 = timezone.now().replace(microsecond=0) - 4 * H
        duty_log(driver, t0, ("DRIVING", 0), open_last=True)
        response = put_status(dispatcher, driver, "OFF_DUTY", t0 + 3 * H)
        assert response.json()["hours_remaining"] == 8.0
        event = OutboxEvent.objects.filter(type="DRIVER_STATUS_CHANGED").latest("sequence")
        assert event.envelope["data"]["hours_remaining"] == 8.0

    def test_they_fall_while_the_driver_drives_with_no_status_change(self, dispatcher, viewer):
        # 12 min 54 s at the wheel: 10.785 h left, shown as 10.78 (a hundredth lasts 36 s).
        driver = DriverFactory(status="DRIVING")
        duty_log(
            driver,
            timezone.now() - datetime.timedelta(minutes=12, seconds=54),
            ("DRIVING", 0),
            open_last=True,
        )

        detail = viewer.get(f"/api/drivers/{driver.pk}/").json()
        listed = viewer.get("/api/drivers/", {"carrier_id": driver.carrier_id}).json()["results"]
        clock = viewer.get(f"/api/drivers/{driver.pk}/hos").json()

        assert detail["hours_remaining"] == 10.78
        assert [row["hours_remaining"] for row in listed] == [10.78]
        assert clock["legal_driving_h"] == 10.78

    def test_a_ten_hour_break_restores_them_without_a_status_change(self, viewer):
        driver = DriverFactory()
        t0 = timezone.now().replace(microsecond=0) - 22 * H
        duty_log(driver, t0, ("DRIVING", 4), ("ON_DUTY", 0.5), ("DRIVING", 7))  # off duty since 10.5 h
        assert viewer.get(f"/api/drivers/{driver.pk}/").json()["hours_remaining"] == 11.0

    def test_the_window_left_limits_them(self, dispatcher):
        driver = DriverFactory()
        t0 = timezone.now().replace(microsecond=0) - 12 * H
        put_status(dispatcher, driver, "ON_DUTY", t0)
        response = put_status(dispatcher, driver, "OFF_DUTY", t0 + 11 * H)
        # The window opened 12 h ago: 2 h left, less a few seconds of test time.
        assert 1.98 <= response.json()["hours_remaining"] <= 2.0

    def test_each_driver_of_a_page_has_their_own(self, viewer):
        now = timezone.now()
        carrier = CarrierFactory()
        fresh, tired = (
            DriverFactory(carrier=carrier, name="A fresh"),
            DriverFactory(carrier=carrier, name="B tired"),
        )
        duty_log(tired, now - 9.5 * H, ("DRIVING", 4.5), ("OFF_DUTY", 0.5), ("DRIVING", 4.5))
        listed = viewer.get("/api/drivers/", {"carrier_id": carrier.pk, "ordering": "name"}).json()["results"]
        assert [(row["id"], row["hours_remaining"]) for row in listed] == [
            (str(fresh.pk), 11.0),
            (str(tired.pk), 2.0),
        ]


class TestViolations:
    def test_driving_past_11_hours_emits_one_event_however_often_it_is_recomputed(self, dispatcher):
        driver = DriverFactory()
        t0 = timezone.now().replace(microsecond=0) - 12 * H
        reports = [
            ("DRIVING", t0),
            ("OFF_DUTY", t0 + 5 * H),  # the 30-minute break
            ("DRIVING", t0 + 5 * H + 30 * M),
            ("ON_DUTY", t0 + 11 * H + 31 * M),  # 11 h 1 min of driving
        ]
        for duty_status, at in reports:
            assert put_status(dispatcher, driver, duty_status, at).status_code == 200
        violation = HosViolation.objects.get(driver=driver)
        assert (violation.rule, violation.start, violation.end) == (
            "395.3(a)(3)(i)",
            t0 + 11 * H + 30 * M,
            t0 + 11 * H + 31 * M,
        )
        assert violation.message == "Drove 0.02 h past the 11 h driving limit"
        audits = AuditLog.objects.filter(table_name="hos_violations", record_id=str(violation.pk))
        created = audits.get(action="CREATE")
        assert created.user == dispatcher.user
        assert (created.changed_data["rule"], created.changed_data["message"]) == (
            "395.3(a)(3)(i)",
            "Drove 0.02 h past the 11 h driving limit",
        )
        event = OutboxEvent.objects.get(type="DRIVER_HOS_VIOLATION")
        assert created.correlation_id == event.envelope["correlationid"]  # the same request
        # More driving past the same limit grows the same violation: no second event.
        put_status(dispatcher, driver, "DRIVING", t0 + 11 * H + 40 * M)
        put_status(dispatcher, driver, "OFF_DUTY", t0 + 11 * H + 50 * M)
        put_status(dispatcher, driver, "SLEEPER_BERTH", t0 + 11 * H + 55 * M)
        violation = HosViolation.objects.get(driver=driver)
        assert (violation.start, violation.end) == (t0 + 11 * H + 30 * M, t0 + 11 * H + 50 * M)
        [grown] = audits.filter(action="UPDATE")
        assert grown.changed_data == {
            "end": [rfc3339(t0 + 11 * H + 31 * M), rfc3339(t0 + 11 * H + 50 * M)],
            "message": [
                "Drove 0.02 h past the 11 h driving limit",
                "Drove 0.18 h past the 11 h driving limit",
            ],
        }
        events = OutboxEvent.objects.filter(type="DRIVER_HOS_VIOLATION")
        assert events.count() == 1
        data = events.get().envelope["data"]
        assert data["driver_id"] == str(driver.pk)
        assert data["rule"] == "395.3(a)(3)(i)"
        assert data["violation_id"] == str(violation.pk)
        assert datetime.datetime.fromisoformat(data["start"]) == t0 + 11 * H + 30 * M
        assert OutboxEvent.objects.get(type="DRIVER_HOS_VIOLATION").topic == "tms.drivers"

    def test_a_new_violation_later_gets_its_own_event(self, dispatcher):
        driver = DriverFactory(short_haul_exception=True)
        t0 = timezone.now().replace(microsecond=0) - 40 * H
        put_status(dispatcher, driver, "DRIVING", t0)
        put_status(dispatcher, driver, "OFF_DUTY", t0 + 12 * H)  # 1 h past 11
        put_status(dispatcher, driver, "DRIVING", t0 + 24 * H)  # after a 12-hour break
        put_status(dispatcher, driver, "OFF_DUTY", t0 + 36 * H)  # 1 h past 11 again
        rows = list(HosViolation.objects.filter(driver=driver).values_list("rule", "start", "end"))
        assert rows == [
            ("395.3(a)(3)(i)", t0 + 11 * H, t0 + 12 * H),
            ("395.3(a)(3)(i)", t0 + 35 * H, t0 + 36 * H),
        ]
        assert OutboxEvent.objects.filter(type="DRIVER_HOS_VIOLATION").count() == 2
        assert AuditLog.objects.filter(table_name="hos_violations", action="CREATE").count() == 2

    def test_a_compliant_day_records_no_violation(self, dispatcher):
        driver = DriverFactory()
        t0 = timezone.now().replace(microsecond=0) - 12 * H
        put_status(dispatcher, driver, "DRIVING", t0)
        put_status(dispatcher, driver, "OFF_DUTY", t0 + 8 * H)  # exactly 8 h: compliant
        assert not HosViolation.objects.exists()
        assert not OutboxEvent.objects.filter(type="DRIVER_HOS_VIOLATION").exists()
        assert not AuditLog.objects.filter(table_name="hos_violations").exists()
