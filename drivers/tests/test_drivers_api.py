import datetime

import pytest
from django.contrib.gis.geos import Point
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from drivers.models import Driver, DutyStatusRecord
from drivers.tests.factories import DriverFactory, duty_log
from events.models import AuditLog, OutboxEvent
from fleet.tests.factories import CarrierFactory
from loads.tests.factories import load_in
from tms.tests.api_cases import CrudCases, unchanged

pytestmark = pytest.mark.django_db

H = datetime.timedelta(hours=1)


class TestDriverApi(CrudCases):
    path = "/api/drivers/"
    model = Driver
    factory = staticmethod(DriverFactory)
    update_body = {"phone": "+1 312 555 0100", "license_state": "WI"}
    bad_inputs = [
        ({"license_state": "ZZ"}, "license_state"),
        ({"license_class": "Z"}, "license_class"),
        ({"license_expiry": "soon"}, "license_expiry"),
        ({"name": ""}, "name"),
        ({"email": "nope"}, "email"),
        ({"carrier_id": None}, "carrier_id"),
        ({"hos_cycle": "80/8"}, "hos_cycle"),
        ({"home_terminal_timezone": "Mars/Olympus_Mons"}, "home_terminal_timezone"),
    ]

    def create_body(self):
        return {
            "carrier_id": str(CarrierFactory().pk),
            "employee_number": "E-777",
            "name": "Maria Lopez",
            "license_number": "L123456",
            "license_state": "TX",
            "license_class": "A",
            "license_expiry": "2030-06-30",
        }

    def test_hours_of_service_rules_are_set_per_driver(self, dispatcher):
        body = {
            **self.create_body(),
            "hos_cycle": "60/7",
            "short_haul_exception": True,
            "home_terminal_timezone": "America/Denver",
        }
        response = dispatcher.post(self.path, body, format="json")
        assert response.status_code == 201, response.json()
        driver = Driver.objects.get(pk=response.json()["id"])
        assert (driver.hos_cycle, driver.short_haul_exception, driver.home_terminal_timezone) == (
            "60/7",
            True,
            "America/Denver",
        )
        defaults = DriverFactory()
        assert (defaults.hos_cycle, defaults.short_haul_exception, defaults.home_terminal_timezone) == (
            "70/8",
            False,
            "America/Chicago",
        )

    def test_the_same_licence_twice_is_400(self, dispatcher):
        existing = DriverFactory(license_state="TX", license_number="L123456")
        body = self.create_body()
        with unchanged(existing):
            response = dispatcher.post(self.path, body, format="json")
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "validation_error"

    def test_a_driver_on_a_load_keeps_their_carrier_422(self, dispatcher):
        driver = load_in("ASSIGNED").driver
        other = CarrierFactory()
        with unchanged(driver):
            response = dispatcher.patch(
                f"{self.path}{driver.pk}/", {"carrier_id": str(other.pk)}, format="json"
            )
        assert response.status_code == 422
        assert response.json()["error"]["message"] == "A driver on a load cannot change carrier."


class TestAvailableForHours:
    """Who may legally drive H hours from now, computed from the logs."""

    def ids(self, client, query: str) -> set[str]:
        response = client.get(f"/api/drivers/?{query}")
        assert response.status_code == 200, response.json()
        return {row["id"] for row in response.json()["results"]}

    def test_lists_available_drivers_who_can_legally_drive_that_long(self, viewer):
        now = timezone.now()
        fresh = DriverFactory()  # no log at all
        rested = DriverFactory()
        duty_log(rested, now - 22 * H, ("DRIVING", 4.5), ("OFF_DUTY", 0.5), ("DRIVING", 4.5))
        tired = DriverFactory()  # 2 h left under the 11-hour limit
        duty_log(tired, now - 9.5 * H, ("DRIVING", 4.5), ("OFF_DUTY", 0.5), ("DRIVING", 4.5))
        load_in("ASSIGNED")  # its driver has 11 h but is busy
        everyone = {str(fresh.pk), str(rested.pk), str(tired.pk)}
        assert self.ids(viewer, "available_for_hours=8") == everyone - {str(tired.pk)}
        assert self.ids(viewer, "available_for_hours=2") == everyone
        assert self.ids(viewer, "available_for_hours=2.5") == everyone - {str(tired.pk)}
        assert self.ids(viewer, "available_for_hours=11") == everyone - {str(tired.pk)}
        assert self.ids(viewer, "available_for_hours=11.5") == set()  # more than one duty period

    def test_combines_with_the_other_filters(self, viewer):
        driver = DriverFactory()
        DriverFactory()
        assert self.ids(viewer, f"available_for_hours=8&carrier_id={driver.carrier_id}") == {str(driver.pk)}

    def test_inactive_drivers_are_not_listed(self, viewer):
        active = DriverFactory()
        DriverFactory(is_active=False)
        assert self.ids(viewer, "available_for_hours=8") == {str(active.pk)}

    def test_the_query_count_does_not_grow_with_the_drivers(self, viewer):
        def queries_for_the_list() -> int:
            with CaptureQueriesContext(connection) as queries:
                assert viewer.get("/api/drivers/?available_for_hours=4").status_code == 200
            return len(queries)

        viewer.get(
            "/api/drivers/"
        )  # the token's first request reads it from the database, later ones from the cache
        now = timezone.now()
        for _ in range(2):
            duty_log(DriverFactory(), now - 5 * H, ("ON_DUTY", 1), ("DRIVING", 3))
        few = queries_for_the_list()
        for _ in range(6):
            duty_log(DriverFactory(), now - 5 * H, ("ON_DUTY", 1), ("DRIVING", 3))
        assert queries_for_the_list() == few

    @pytest.mark.parametrize("value", ["-1", "25", "many"])
    def test_bad_values_are_400(self, viewer, value):
        with unchanged(DriverFactory()):
            assert viewer.get(f"/api/drivers/?available_for_hours={value}").status_code == 400


class TestDriverStatus:
    def url(self, driver) -> str:
        return f"/api/drivers/{driver.pk}/status"

    def test_a_driver_reports_their_own_status(self, driver_client):
        driver = DriverFactory(user=driver_client.user)
        response = driver_client.put(self.url(driver), {"status": "DRIVING"}, format="json")
        assert response.status_code == 200, response.json()
        assert response.json()["status"] == "DRIVING"
        event = OutboxEvent.objects.get(type="DRIVER_STATUS_CHANGED")
        assert (event.envelope["data"]["previous_status"], event.envelope["data"]["status"]) == (
            "OFF_DUTY",
            "DRIVING",
        )
        assert event.envelope["dataschema"] == "/schemas/DRIVER_STATUS_CHANGED/v2"
        audit = AuditLog.objects.get(record_id=str(driver.pk), action="TRANSITION")
        assert audit.user == driver_client.user
        assert audit.changed_data["status"] == ["OFF_DUTY", "DRIVING"]
        assert list(DutyStatusRecord.objects.values_list("status", flat=True)) == ["DRIVING"]

    def test_available_is_logged_as_on_duty(self, dispatcher):
        driver = DriverFactory()
        response = dispatcher.put(self.url(driver), {"status": "AVAILABLE"}, format="json")
        assert response.json()["status"] == "AVAILABLE"
        assert list(DutyStatusRecord.objects.values_list("status", flat=True)) == ["ON_DUTY"]
        # On duty either way: the log does not change, the status and its event do.
        response = dispatcher.put(self.url(driver), {"status": "ON_DUTY"}, format="json")
        assert response.json()["status"] == "ON_DUTY"
        assert list(DutyStatusRecord.objects.values_list("status", flat=True)) == ["ON_DUTY"]
        assert OutboxEvent.objects.filter(type="DRIVER_STATUS_CHANGED").count() == 2

    def test_a_driver_cannot_report_for_someone_else(self, driver_client):
        mine = DriverFactory(user=driver_client.user)
        other = DriverFactory()
        with unchanged(mine, other):
            response = driver_client.put(self.url(other), {"status": "DRIVING"}, format="json")
        assert response.status_code == 404  # others are not even visible
        other.refresh_from_db()
        assert other.status == "OFF_DUTY"
        assert not OutboxEvent.objects.exists()
        assert not DutyStatusRecord.objects.exists()

    def test_a_driver_on_a_load_reports_their_duty_status(self, dispatcher):
        load = load_in("ASSIGNED")
        response = dispatcher.put(self.url(load.driver), {"status": "SLEEPER_BERTH"}, format="json")
        assert response.status_code == 200, response.json()
        assert (response.json()["status"], response.json()["current_load_id"]) == (
            "SLEEPER_BERTH",
            str(load.pk),
        )

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({}, "status"),
            ({"status": "NAPPING"}, "status"),
            ({"status": "IN_TRANSIT"}, "status"),
            ({"status": "INACTIVE"}, "status"),
        ],
    )
    def test_bad_status_reports_are_400(self, dispatcher, body, field):
        driver = DriverFactory()
        with unchanged(driver):
            response = dispatcher.put(self.url(driver), body, format="json")
        assert response.status_code == 400
        assert field in response.json()["error"]["details"]
        assert not OutboxEvent.objects.exists()
        assert not DutyStatusRecord.objects.exists()

    def test_viewer_cannot_report_status(self, viewer):
        driver = DriverFactory()
        with unchanged(driver):
            response = viewer.put(self.url(driver), {"status": "ON_DUTY"}, format="json")
        assert response.status_code == 403
        assert not DutyStatusRecord.objects.exists()


class TestAvailability:
    """Whether a driver is on a load comes from the loads; employment from is_active."""

    def test_current_load_id_follows_the_loads(self, viewer, dispatcher):
        load = load_in("ASSIGNED")
        idle = DriverFactory()
        rows = {row["id"]: row for row in viewer.get("/api/drivers/").json()["results"]}
        assert rows[str(load.driver_id)]["current_load_id"] == str(load.pk)
        assert rows[str(idle.pk)]["current_load_id"] is None
        on_load = viewer.get("/api/drivers/?on_load=true").json()["results"]
        assert [row["id"] for row in on_load] == [str(load.driver_id)]
        assert (
            dispatcher.post(f"/api/loads/{load.pk}/cancel/", {"reason": "x"}, format="json").status_code
            == 200
        )
        detail = viewer.get(f"/api/drivers/{load.driver_id}/").json()
        assert detail["current_load_id"] is None
        assert detail["status"] == "OFF_DUTY"  # the load never changed it

    def test_a_dispatcher_deactivates_a_driver(self, dispatcher):
        driver = DriverFactory()
        response = dispatcher.patch(f"/api/drivers/{driver.pk}/", {"is_active": False}, format="json")
        assert response.status_code == 200, response.json()
        driver.refresh_from_db()
        assert driver.is_active is False
        assert dispatcher.get("/api/drivers/?is_active=false").json()["results"][0]["id"] == str(driver.pk)


class TestDriverLocation:
    def test_a_driver_reports_their_location_forward_in_time_only(self, driver_client):
        driver = DriverFactory(user=driver_client.user)
        url = f"/api/drivers/{driver.pk}/location/"
        now = timezone.now()
        body = {"longitude": -84.388, "latitude": 33.749, "recorded_at": now.isoformat()}
        assert driver_client.put(url, body, format="json").json() == {"moved": True}
        stale = {**body, "longitude": -80, "recorded_at": (now - datetime.timedelta(seconds=1)).isoformat()}
        assert driver_client.put(url, stale, format="json").json() == {"moved": False}
        driver.refresh_from_db()
        assert driver.current_location.equals_exact(Point(-84.388, 33.749, srid=4326), 1e-9)
        assert OutboxEvent.objects.filter(type="DRIVER_LOCATION_UPDATED").count() == 1

    def test_out_of_range_is_400(self, driver_client):
        driver = DriverFactory(user=driver_client.user)
        with unchanged(driver):
            response = driver_client.put(
                f"/api/drivers/{driver.pk}/location/", {"longitude": 200, "latitude": 0}, format="json"
            )
        assert response.status_code == 400


def test_a_driver_sees_only_their_own_record(driver_client):
    mine = DriverFactory(user=driver_client.user)
    DriverFactory()
    rows = driver_client.get("/api/drivers/").json()["results"]
    assert [row["id"] for row in rows] == [str(mine.pk)]
