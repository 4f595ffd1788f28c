"""The load's status machine through the API: every transition from every status, the vehicle and
driver following it, the assignment rules, and the audit row + event that go with each change."""

import datetime
import threading
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone

from drivers.models import DriverStatus
from drivers.tests.factories import DriverFactory, duty_log
from events.models import AuditLog, OutboxEvent
from fleet.models import VehicleStatus
from fleet.tests.factories import CarrierFactory, VehicleFactory
from loads import services
from loads.models import Load
from loads.tests.factories import LoadFactory, load_in
from tms.exceptions import ResourceUnavailable
from tms.tests.api_cases import unchanged

pytestmark = pytest.mark.django_db

ACTIONS = ["assign", "pickup", "in-transit", "deliver", "cancel", "delay"]
OK, NO = 200, 409
# Hand-written on purpose: the expected machine, independent of LOAD_TRANSITIONS.
EXPECTED = {
    "CREATED": dict(zip(ACTIONS, [OK, NO, NO, NO, OK, NO], strict=True)),
    "ASSIGNED": dict(zip(ACTIONS, [OK, OK, NO, NO, OK, OK], strict=True)),
    "PICKED_UP": dict(zip(ACTIONS, [NO, NO, OK, NO, OK, OK], strict=True)),
    "IN_TRANSIT": dict(zip(ACTIONS, [NO, NO, NO, OK, OK, OK], strict=True)),
    "DELAYED": dict(zip(ACTIONS, [NO, OK, NO, NO, OK, OK], strict=True)),
    "DELIVERED": dict(zip(ACTIONS, [NO, NO, NO, NO, NO, NO], strict=True)),
    "CANCELLED": dict(zip(ACTIONS, [NO, NO, NO, NO, NO, NO], strict=True)),
}
RESULT = {
    "assign": "ASSIGNED",
    "pickup": "PICKED_UP",
    "in-transit": "IN_TRANSIT",
    "deliver": "DELIVERED",
    "cancel": "CANCELLED",
    "delay": "DELAYED",
}
EVENT = {
    "assign": "LOAD_ASSIGNED",
    "pickup": "LOAD_PICKED_UP",
    "in-transit": "LOAD_IN_TRANSIT",
    "deliver": "LOAD_DELIVERED",
    "cancel": "LOAD_CANCELLED",
    "delay": "LOAD_DELAYED",
}


def body_for(action: str, load: Load) -> dict:
    if action == "assign":
        # Once assigned, a load stays with its carrier; reassignment picks another of its trucks.
        vehicle = VehicleFactory(carrier=load.carrier) if load.carrier else VehicleFactory()
        return {"vehicle_id": str(vehicle.pk), "driver_id": str(DriverFactory(carrier=vehicle.carrier).pk)}
    if action in ("cancel", "delay"):
        return {"reason": "shipper asked"}
    return {}


def snapshot_counts() -> tuple[int, int]:
    return AuditLog.objects.count(), OutboxEvent.objects.count()


@pytest.mark.parametrize(
    ("status", "action"), [(s, a) for s in EXPECTED for a in ACTIONS], ids=lambda v: str(v)
)
def test_every_transition_from_every_status(dispatcher, status, action):
    load = load_in(status)
    body = body_for(action, load)
    expected = EXPECTED[status][action]
    if expected == NO:
        resources = [row for row in (load.vehicle, load.driver) if row is not None]
        with unchanged(load, *resources):
            response = dispatcher.post(f"/api/loads/{load.pk}/{action}/", body, format="json")
        assert response.status_code == NO, response.json()
        assert response.json()["error"]["code"] == "invalid_transition"
        load.refresh_from_db()
        assert load.status == status
    else:
        response = dispatcher.post(f"/api/loads/{load.pk}/{action}/", body, format="json")
        assert response.status_code == expected, response.json()
        load.refresh_from_db()
        assert load.status == RESULT[action] == response.json()["status"]
        event = OutboxEvent.objects.filter(type=EVENT[action]).latest("sequence")
        assert event.subject == str(load.pk)
        assert event.envelope["data"]["previous_status"] == status
        assert AuditLog.objects.filter(
            table_name="loads", record_id=str(load.pk), action="TRANSITION"
        ).exists()


def test_the_vehicle_follows_the_load_to_delivery_and_the_driver_keeps_their_status(dispatcher):
    load = LoadFactory()
    vehicle = VehicleFactory()
    driver = DriverFactory(carrier=vehicle.carrier)
    start = OutboxEvent.objects.count()

    def step(action: str, body: dict | None = None) -> tuple[str, str, str | None]:
        response = dispatcher.post(f"/api/loads/{load.pk}/{action}/", body or {}, format="json")
        assert response.status_code == 200, response.json()
        vehicle.refresh_from_db()
        crew = dispatcher.get(f"/api/drivers/{driver.pk}/").json()
        return vehicle.status, crew["status"], crew["current_load_id"]

    on_load = str(load.pk)
    assigned = step("assign", {"vehicle_id": str(vehicle.pk), "driver_id": str(driver.pk)})
    assert assigned == ("ASSIGNED", "OFF_DUTY", on_load)
    assert step("pickup") == ("ASSIGNED", "OFF_DUTY", on_load)
    assert step("in-transit") == ("IN_TRANSIT", "OFF_DUTY", on_load)
    assert step("deliver") == ("AVAILABLE", "OFF_DUTY", None)
    types = list(
        OutboxEvent.objects.filter(sequence__gt=0).order_by("sequence").values_list("type", flat=True)
    )
    assert types[start:] == [
        "LOAD_ASSIGNED",
        "VEHICLE_STATUS_CHANGED",
        "CARRIER_CAPACITY_CHANGED",  # the truck is no longer available
        "LOAD_PICKED_UP",
        "LOAD_IN_TRANSIT",
        "VEHICLE_STATUS_CHANGED",
        "LOAD_DELIVERED",
        "VEHICLE_STATUS_CHANGED",
        "CARRIER_CAPACITY_CHANGED",  # available again
    ]
    load.refresh_from_db()
    assert load.carrier_id == vehicle.carrier_id
    assert load.picked_up_at <= load.in_transit_at <= load.delivered_at


def test_cancelling_an_assigned_load_frees_the_truck_and_driver(dispatcher):
    load = load_in("IN_TRANSIT")
    response = dispatcher.post(f"/api/loads/{load.pk}/cancel/", {"reason": "damaged"}, format="json")
    assert response.status_code == 200
    load.vehicle.refresh_from_db()
    assert load.vehicle.status == "AVAILABLE"
    assert dispatcher.get(f"/api/drivers/{load.driver_id}/").json()["current_load_id"] is None
    assert response.json()["cancellation_reason"] == "damaged"


def test_a_delayed_load_resumes_and_reports_the_lateness(dispatcher):
    load = load_in("IN_TRANSIT")
    expected = load.delivery_datetime + datetime.timedelta(hours=3)
    response = dispatcher.post(
        f"/api/loads/{load.pk}/delay/",
        {"reason": "snow on I-80", "expected_delivery_at": expected.isoformat()},
        format="json",
    )
    assert response.status_code == 200
    event = OutboxEvent.objects.filter(type="LOAD_DELAYED").get()
    assert event.envelope["data"]["predicted_lateness_s"] == 3 * 3600
    assert event.envelope["data"]["reason"] == "snow on I-80"
    # In transit before the delay: it may be delivered, and not picked up a second time.
    with unchanged(load, load.vehicle, load.driver):
        assert dispatcher.post(f"/api/loads/{load.pk}/pickup/", {}, format="json").status_code == 409
    assert dispatcher.post(f"/api/loads/{load.pk}/deliver/", {}, format="json").status_code == 200


def test_a_load_delayed_before_pickup_cannot_be_delivered(dispatcher):
    load = load_in("DELAYED")
    with unchanged(load, load.vehicle, load.driver):
        response = dispatcher.post(f"/api/loads/{load.pk}/deliver/", {}, format="json")
    assert response.status_code == 409
    assert dispatcher.post(f"/api/loads/{load.pk}/pickup/", {}, format="json").status_code == 200


def test_delivery_reports_lateness(dispatcher):
    load = load_in("IN_TRANSIT")
    now = timezone.now()
    Load.objects.filter(pk=load.pk).update(
        pickup_datetime=now - datetime.timedelta(days=1), delivery_datetime=now - datetime.timedelta(hours=2)
    )
    dispatcher.post(f"/api/loads/{load.pk}/deliver/", {}, format="json")
    data = OutboxEvent.objects.get(type="LOAD_DELIVERED").envelope["data"]
    assert data["on_time"] is False
    assert 7100 < data["late_by_s"] < 7300


def test_a_milestone_time_in_the_future_is_400(dispatcher):
    load = load_in("ASSIGNED")
    at = (timezone.now() + datetime.timedelta(hours=2)).isoformat()
    with unchanged(load, load.vehicle, load.driver):
        response = dispatcher.post(f"/api/loads/{load.pk}/pickup/", {"at": at}, format="json")
    assert response.status_code == 400
    assert "at" in response.json()["error"]["details"]


def test_delivery_before_pickup_time_is_422(dispatcher):
    load = load_in("IN_TRANSIT")
    at = (load.picked_up_at - datetime.timedelta(hours=1)).isoformat()
    with unchanged(load, load.vehicle, load.driver):
        response = dispatcher.post(f"/api/loads/{load.pk}/deliver/", {"at": at}, format="json")
    assert response.status_code == 422
    load.refresh_from_db()
    assert load.status == "IN_TRANSIT"


class TestAssignmentRules:
    def assign(self, client, load, vehicle, driver):
        return client.post(
            f"/api/loads/{load.pk}/assign/",
            {"vehicle_id": str(vehicle.pk), "driver_id": str(driver.pk)},
            format="json",
        )

    def assert_refused(self, client, status: int, code: str, load, vehicle, driver):
        """Assigns, and checks the refusal left the load, the vehicle and the driver as they were,
        with no audit row and no event."""
        with unchanged(load, vehicle, driver):
            response = self.assign(client, load, vehicle, driver)
        assert response.status_code == status, response.json()
        assert response.json()["error"]["code"] == code
        load.refresh_from_db()
        assert (load.status, load.vehicle_id, load.driver_id) == ("CREATED", None, None)
        assert not OutboxEvent.objects.filter(type="LOAD_ASSIGNED", subject=str(load.pk)).exists()
        assert not AuditLog.objects.filter(action="TRANSITION", record_id=str(load.pk)).exists()
        return response

    def test_vehicle_and_driver_of_different_carriers_is_422(self, dispatcher):
        load, vehicle, driver = LoadFactory(), VehicleFactory(), DriverFactory()
        self.assert_refused(dispatcher, 422, "carrier_mismatch", load, vehicle, driver)

    def test_load_tendered_to_another_carrier_is_422(self, dispatcher):
        load = LoadFactory(carrier=CarrierFactory())
        vehicle = VehicleFactory()
        driver = DriverFactory(carrier=vehicle.carrier)
        self.assert_refused(dispatcher, 422, "carrier_mismatch", load, vehicle, driver)

    @pytest.mark.parametrize(
        ("weight", "volume"), [(Decimal("20000.1"), Decimal("10")), (Decimal("1000"), Decimal("95.01"))]
    )
    def test_over_capacity_is_422(self, dispatcher, weight, volume):
        load = LoadFactory(weight=weight, volume=volume)
        vehicle = VehicleFactory()  # 20,000 kg, 95 m3
        driver = DriverFactory(carrier=vehicle.carrier)
        self.assert_refused(dispatcher, 422, "capacity_exceeded", load, vehicle, driver)

    def test_exactly_at_capacity_is_accepted(self, dispatcher):
        load = LoadFactory(weight=Decimal("20000"), volume=Decimal("95"))
        vehicle = VehicleFactory()
        assert (
            self.assign(dispatcher, load, vehicle, DriverFactory(carrier=vehicle.carrier)).status_code == 200
        )

    def test_a_busy_vehicle_is_409(self, dispatcher):
        busy = load_in("ASSIGNED")
        load = LoadFactory()
        driver = DriverFactory(carrier=busy.vehicle.carrier)
        self.assert_refused(dispatcher, 409, "resource_unavailable", load, busy.vehicle, driver)

    def test_a_vehicle_in_maintenance_is_409(self, dispatcher):
        load = LoadFactory()
        vehicle = VehicleFactory(status=VehicleStatus.MAINTENANCE)
        driver = DriverFactory(carrier=vehicle.carrier)
        self.assert_refused(dispatcher, 409, "resource_unavailable", load, vehicle, driver)

    def test_an_inactive_driver_is_409(self, dispatcher):
        load = LoadFactory()
        vehicle = VehicleFactory()
        driver = DriverFactory(carrier=vehicle.carrier, status=DriverStatus.AVAILABLE, is_active=False)
        self.assert_refused(dispatcher, 409, "resource_unavailable", load, vehicle, driver)

    def test_a_driver_on_another_load_is_409(self, dispatcher):
        busy = load_in("IN_TRANSIT")
        load = LoadFactory()
        vehicle = VehicleFactory(carrier=busy.carrier)
        response = self.assert_refused(dispatcher, 409, "resource_unavailable", load, vehicle, busy.driver)
        assert response.json()["error"]["details"]["current_load_number"] == busy.load_number

    @pytest.mark.parametrize(
        "status", [DriverStatus.OFF_DUTY, DriverStatus.SLEEPER_BERTH, DriverStatus.AVAILABLE]
    )
    def test_the_duty_status_does_not_block_assignment_nor_change(self, dispatcher, status):
        load = LoadFactory()
        vehicle = VehicleFactory()
        driver = DriverFactory(carrier=vehicle.carrier, status=status)
        assert self.assign(dispatcher, load, vehicle, driver).status_code == 200
        driver.refresh_from_db()
        assert driver.status == status
        assert not OutboxEvent.objects.filter(type="DRIVER_STATUS_CHANGED").exists()

    def test_a_licence_expiring_before_delivery_is_422(self, dispatcher):
        load = LoadFactory()
        vehicle = VehicleFactory()
        driver = DriverFactory(
            carrier=vehicle.carrier, license_expiry=timezone.localdate(load.pickup_datetime)
        )
        self.assert_refused(dispatcher, 422, "license_expired", load, vehicle, driver)

    def test_a_driver_without_enough_hours_is_422(self, dispatcher):
        now = timezone.now()
        load = LoadFactory(
            pickup_datetime=now + datetime.timedelta(minutes=5)
        )  # Chicago -> Indianapolis, ~3.6 h
        vehicle = VehicleFactory()
        driver = DriverFactory(carrier=vehicle.carrier)
        # 9.5 h driven since the last 10-hour break, ending now: 1.5 h left under the 11-hour limit.
        duty_log(
            driver, now - datetime.timedelta(hours=10), ("DRIVING", 5), ("OFF_DUTY", 0.5), ("DRIVING", 4.5)
        )
        response = self.assert_refused(dispatcher, 422, "hours_of_service_exceeded", load, vehicle, driver)
        details = response.json()["error"]["details"]
        assert details["hours_remaining"] == 1.5
        assert details["hours_needed"] == float(load.estimated_driving_hours) > 1.5

    def test_an_inactive_carrier_is_422(self, dispatcher):
        load = LoadFactory()
        vehicle = VehicleFactory(carrier=CarrierFactory(is_active=False))
        driver = DriverFactory(carrier=vehicle.carrier)
        self.assert_refused(dispatcher, 422, "business_rule_violation", load, vehicle, driver)

    def test_an_unknown_vehicle_is_400(self, dispatcher):
        load = LoadFactory()
        with unchanged(load):
            response = dispatcher.post(
                f"/api/loads/{load.pk}/assign/",
                {"vehicle_id": "00000000-0000-0000-0000-000000000000", "driver_id": "x"},
                format="json",
            )
        assert response.status_code == 400
        assert set(response.json()["error"]["details"]) == {"vehicle_id", "driver_id"}

    def test_reassigning_frees_the_previous_vehicle_and_driver(self, dispatcher):
        load = load_in("ASSIGNED")
        old_vehicle, old_driver = load.vehicle, load.driver
        vehicle = VehicleFactory(carrier=load.carrier)
        driver = DriverFactory(carrier=vehicle.carrier)
        assert self.assign(dispatcher, load, vehicle, driver).status_code == 200
        old_vehicle.refresh_from_db()
        assert old_vehicle.status == "AVAILABLE"
        assert dispatcher.get(f"/api/drivers/{old_driver.pk}/").json()["current_load_id"] is None
        assert dispatcher.get(f"/api/drivers/{driver.pk}/").json()["current_load_id"] == str(load.pk)
        event = OutboxEvent.objects.filter(type="LOAD_ASSIGNED").latest("sequence")
        assert event.envelope["data"]["previous_vehicle_id"] == str(old_vehicle.pk)
        assert event.envelope["data"]["previous_driver_id"] == str(old_driver.pk)

    def test_assigning_again_to_the_same_pair_changes_nothing(self, dispatcher):
        load = load_in("ASSIGNED")
        before = snapshot_counts()
        assert self.assign(dispatcher, load, load.vehicle, load.driver).status_code == 200
        assert snapshot_counts() == before


@pytest.mark.parametrize("client_fixture", ["viewer", "driver_client"])
def test_only_operators_may_move_loads(request, client_fixture):
    client = request.getfixturevalue(client_fixture)
    load = load_in("ASSIGNED")
    if client_fixture == "driver_client":
        load.driver.user = client.user
        load.driver.save()
    before = snapshot_counts()
    with unchanged(load, load.vehicle, load.driver):
        response = client.post(f"/api/loads/{load.pk}/pickup/", {}, format="json")
    assert response.status_code == 403
    assert snapshot_counts() == before
    load.refresh_from_db()
    assert load.status == "ASSIGNED"


@pytest.mark.django_db(transaction=True)
def test_two_dispatchers_cannot_assign_the_same_truck_at_once():
    vehicle = VehicleFactory()
    loads = [LoadFactory(), LoadFactory()]
    drivers = [DriverFactory(carrier=vehicle.carrier) for _ in loads]
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def assign(load, driver):
        try:
            barrier.wait()
            services.assign_load(load, by=None, vehicle=vehicle, driver=driver)
            outcomes.append("assigned")
        except ResourceUnavailable:
            outcomes.append("refused")
        finally:
            connection.close()

    threads = [threading.Thread(target=assign, args=pair) for pair in zip(loads, drivers, strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["assigned", "refused"]
    assert Load.objects.filter(vehicle=vehicle, status="ASSIGNED").count() == 1
    assert OutboxEvent.objects.filter(type="LOAD_ASSIGNED").count() == 1
