"""Assigning a load checks the driver's hours of service from their duty-status log: the load's
first duty period (up to 11 h of driving, with the service at each stop before it on duty) must be
legal from the later of now and pickup. Each binding limit refuses with 422 and names itself; a
rested driver is accepted. The limits are shown on loads with no loading time (a preloaded
trailer); TestStops adds the stops' service and legs."""

import datetime
from decimal import Decimal

import pytest
from django.contrib.gis.geos import Point
from django.utils import timezone

from drivers.tests.factories import DriverFactory, duty_log
from events.models import AuditLog, OutboxEvent
from fleet.tests.factories import VehicleFactory
from loads.models import Load, Stop
from loads.tests.factories import LoadFactory

pytestmark = pytest.mark.django_db

H = datetime.timedelta(hours=1)


@pytest.fixture
def now():
    return timezone.now().replace(microsecond=0)


def make_load(pickup_datetime: datetime.datetime, hours: str = "3.00", loading_minutes: int = 0) -> Load:
    load = LoadFactory(pickup_datetime=pickup_datetime)
    Load.objects.filter(pk=load.pk).update(estimated_driving_hours=Decimal(hours))
    Stop.objects.filter(load=load).update(service_minutes=loading_minutes)
    load.refresh_from_db()
    return load


def assign(client, load, driver, vehicle=None):
    vehicle = vehicle or VehicleFactory(carrier=driver.carrier)
    response = client.post(
        f"/api/loads/{load.pk}/assign/",
        {"vehicle_id": str(vehicle.pk), "driver_id": str(driver.pk)},
        format="json",
    )
    return response, vehicle


def assert_refused(response, load, driver, vehicle) -> dict:
    assert response.status_code == 422, response.json()
    error = response.json()["error"]
    assert error["code"] == "hours_of_service_exceeded"
    load.refresh_from_db()
    assert (load.status, load.vehicle_id, load.driver_id) == ("CREATED", None, None)
    driver.refresh_from_db()
    vehicle.refresh_from_db()
    assert (driver.status, vehicle.status) == ("OFF_DUTY", "AVAILABLE")
    assert not OutboxEvent.objects.filter(type__in=["LOAD_ASSIGNED", "DRIVER_STATUS_CHANGED"]).exists()
    assert not AuditLog.objects.filter(action="TRANSITION").exists()
    return error


def weekly_on_duty(driver, now, last_block_hours: float):
    """Seven days with a 10-hour on-duty shift each (the oldest `last_block_hours` long), the latest
    ending 12 hours ago: 60 + `last_block_hours` hours in the cycle, every 11- and 14-hour clock
    reset."""
    entries = [("ON_DUTY", last_block_hours), (None, 24 - last_block_hours)]
    for _ in range(6):
        entries += [("ON_DUTY", 10), (None, 14)]
    duty_log(driver, now - 166 * H, *entries[:-1])


class TestEachBindingLimit:
    def test_the_11_hour_driving_limit(self, dispatcher, now):
        driver = DriverFactory()
        duty_log(driver, now - 9.5 * H, ("DRIVING", 4.5), ("OFF_DUTY", 0.5), ("DRIVING", 4.5))
        load = make_load(now + datetime.timedelta(minutes=5))
        response, vehicle = assign(dispatcher, load, driver)
        error = assert_refused(response, load, driver, vehicle)
        assert error["details"]["limit"] == "DRIVING_LIMIT"
        assert error["details"]["rule"] == "395.3(a)(3)(i)"
        assert (error["details"]["hours_available"], error["details"]["hours_needed"]) == (2.0, 3.0)
        assert error["details"]["hours_remaining"] == 2.0
        assert error["message"].startswith(f"Driver {driver.name} can legally drive 2.00 h from ")
        assert error["message"].endswith(
            "the load needs 3.00 h before the next 10-hour break. "
            "Binding: the 11-hour driving limit (395.3(a)(3)(i))."
        )

    def test_the_14_hour_window(self, dispatcher, now):
        driver = DriverFactory()
        duty_log(driver, now - 12 * H, ("ON_DUTY", 11))
        load = make_load(now + datetime.timedelta(minutes=5))
        response, vehicle = assign(dispatcher, load, driver)
        error = assert_refused(response, load, driver, vehicle)
        assert (error["details"]["limit"], error["details"]["rule"]) == ("DUTY_WINDOW", "395.3(a)(2)")
        assert error["details"]["hours_available"] == 1.91  # 1 h 55 min
        assert "Binding: the 14-hour duty window (395.3(a)(2))." in error["message"]

    def test_the_30_minute_break(self, dispatcher, now):
        # 7.5 h driven without a break, 3 h 13 min of window left at pickup: 3 h of driving would
        # fit, but a break is due after 30 minutes and eats the window.
        driver = DriverFactory()
        duty_log(driver, now - 10.7 * H, ("ON_DUTY", 3.2), ("DRIVING", 7.5))
        load = make_load(now + datetime.timedelta(minutes=5))
        response, vehicle = assign(dispatcher, load, driver)
        error = assert_refused(response, load, driver, vehicle)
        assert (error["details"]["limit"], error["details"]["rule"]) == (
            "THIRTY_MINUTE_BREAK",
            "395.3(a)(3)(ii)",
        )
        assert error["details"]["hours_available"] == 2.71
        assert len(error["details"]["breaks_planned_at"]) == 1
        assert (
            "Binding: the 30-minute break required after 8 hours of driving (395.3(a)(3)(ii))."
            in (error["message"])
        )

    def test_the_70_hour_cycle(self, dispatcher, now):
        driver = DriverFactory()
        weekly_on_duty(driver, now, last_block_hours=8.5)  # 68.5 h on duty
        load = make_load(now + datetime.timedelta(minutes=5))
        response, vehicle = assign(dispatcher, load, driver)
        error = assert_refused(response, load, driver, vehicle)
        assert (error["details"]["limit"], error["details"]["rule"]) == ("CYCLE", "395.3(b)(2)")
        assert error["details"]["hours_available"] == 1.5
        assert "Binding: the 70-hour/8-day cycle (395.3(b)(2))." in error["message"]

    def test_the_60_hour_cycle(self, dispatcher, now):
        driver = DriverFactory(hos_cycle="60/7")
        weekly_on_duty(driver, now, last_block_hours=8.5)
        load = make_load(now + datetime.timedelta(minutes=5))
        response, vehicle = assign(dispatcher, load, driver)
        error = assert_refused(response, load, driver, vehicle)
        assert (error["details"]["limit"], error["details"]["rule"]) == ("CYCLE", "395.3(b)(1)")
        assert error["details"]["hours_available"] == 0.0
        assert "Binding: the 60-hour/7-day cycle (395.3(b)(1))." in error["message"]

    def test_a_long_load_needs_11_hours_in_the_first_duty_period(self, dispatcher, now):
        driver = DriverFactory()
        duty_log(driver, now - 2 * H, ("DRIVING", 1))
        load = make_load(now + datetime.timedelta(minutes=5), hours="20.00")
        response, vehicle = assign(dispatcher, load, driver)
        error = assert_refused(response, load, driver, vehicle)
        assert error["details"]["limit"] == "DRIVING_LIMIT"
        assert (error["details"]["hours_available"], error["details"]["hours_needed"]) == (10.0, 11.0)


class TestAccepted:
    def test_a_driver_rested_by_pickup(self, dispatcher, now):
        driver = DriverFactory()
        duty_log(driver, now - 9.5 * H, ("DRIVING", 4.5), ("OFF_DUTY", 0.5), ("DRIVING", 4.5))
        load = make_load(now + 10 * H)  # 10 hours off duty before pickup
        response, _ = assign(dispatcher, load, driver)
        assert response.status_code == 200, response.json()
        assert response.json()["status"] == "ASSIGNED"

    def test_a_break_on_the_way_is_planned_not_refused(self, dispatcher, now):
        driver = DriverFactory()
        duty_log(driver, now - 7.5 * H, ("DRIVING", 7.5))
        load = make_load(now + datetime.timedelta(minutes=5))
        response, _ = assign(dispatcher, load, driver)
        assert response.status_code == 200, response.json()

    def test_a_driver_with_no_log_is_fresh(self, dispatcher, now):
        load = make_load(now + datetime.timedelta(minutes=5), hours="11.00")
        response, _ = assign(dispatcher, load, DriverFactory())
        assert response.status_code == 200, response.json()


class TestStops:
    def test_loading_at_the_pickup_runs_the_14_hour_window_down(self, dispatcher, now):
        # As test_the_14_hour_window, with 30 minutes of loading first: half an hour less to drive.
        driver = DriverFactory()
        duty_log(driver, now - 12 * H, ("ON_DUTY", 11))
        load = make_load(now + datetime.timedelta(minutes=5), loading_minutes=30)
        response, vehicle = assign(dispatcher, load, driver)
        error = assert_refused(response, load, driver, vehicle)
        assert error["details"]["limit"] == "DUTY_WINDOW"
        assert error["details"]["hours_available"] == 1.41

    def test_loading_for_half_an_hour_is_the_30_minute_break(self, dispatcher, now):
        # As test_the_30_minute_break: 7.5 h driven without a break. The 30 minutes of loading
        # are on duty, not driving: they count as the break, so none is taken on the way and the
        # 3 hours fit in what is left of the window (3 h 13 min less the loading).
        driver = DriverFactory()
        duty_log(driver, now - 10.7 * H, ("ON_DUTY", 3.2), ("DRIVING", 7.5))
        load = make_load(now + datetime.timedelta(minutes=5), hours="2.50", loading_minutes=30)
        response, _ = assign(dispatcher, load, driver)
        assert response.status_code == 200, response.json()

    def test_every_leg_and_the_service_at_the_stops_between_count(self, dispatcher, now):
        # Chicago -> Indianapolis -> Cincinnati (5.8 h of road estimate), an hour of unloading at
        # Indianapolis. The window closes 6.5 h from now: the driving alone would fit, the driving
        # and the hour of unloading in the middle do not.
        from loads.tests.factories import FacilityFactory
        from routing.tests.factories import set_stops
        from tms.geo import estimate_road_trip

        driver = DriverFactory()
        duty_log(driver, now - 7.5 * H, ("ON_DUTY", 7))
        load = LoadFactory(pickup_datetime=now + datetime.timedelta(minutes=5))
        chicago, indianapolis = load.shipper, load.consignee
        cincinnati = FacilityFactory(location=Point(-84.5120, 39.1031, srid=4326))
        start = now + datetime.timedelta(minutes=5)
        set_stops(
            load,
            [
                dict(kind="PICKUP", facility=chicago, earliest_at=start, service_minutes=0),
                dict(kind="DELIVERY", facility=indianapolis, earliest_at=start + 3 * H, service_minutes=60),
                dict(kind="DELIVERY", facility=cincinnati, earliest_at=start + 6 * H, service_minutes=30),
            ],
        )
        legs = [
            float(estimate_road_trip(chicago.location, indianapolis.location)[1]),
            float(estimate_road_trip(indianapolis.location, cincinnati.location)[1]),
        ]
        assert sum(legs) < 6.5 - 1 / 12 < sum(legs) + 1  # the setting of the test
        response, vehicle = assign(dispatcher, load, driver)
        error = assert_refused(response, load, driver, vehicle)
        assert error["details"]["limit"] == "DUTY_WINDOW"
        assert error["details"]["hours_needed"] == round(sum(legs), 2)
        # All of the first leg, then what the window leaves after the hour of unloading.
        assert error["details"]["hours_available"] == pytest.approx(6.5 - 1 / 12 - 1, abs=0.011)
