"""The fleet-plan follower when the next planned load comes due and the route's driver cannot take
it: the truck is re-paired with another legal driver of its carrier (FLEET_PLAN_DRIVER_CHANGED),
or the load is FAILED with the reason each colleague was passed over. Real database and outbox;
Celery eager (the plan is solved through the services)."""

import datetime

import pytest
from django.utils import timezone

from drivers.models import DutyStatusRecord
from drivers.tests.factories import DriverFactory, duty_log
from events.consumers import REGISTRY, deliver
from events.models import AuditLog, OutboxEvent
from fleet.tests.factories import CarrierFactory, VehicleFactory
from loads.models import LoadStatus
from loads.services import assign_load
from routing.tests.factories import proposed_plan
from routing.tests.test_fleet import at, load, truck

pytestmark = pytest.mark.django_db
H = datetime.timedelta(hours=1)


@pytest.fixture(autouse=True)
def _eager(eager_celery, settings):
    settings.ROUTING_FLEET_TIME_LIMIT_S = 1


def events(event_type: str) -> list[dict]:
    return [row.envelope["data"] for row in OutboxEvent.objects.filter(type=event_type).order_by("sequence")]


def put_status(client, driver, status: str) -> None:
    response = client.put(f"/api/drivers/{driver.pk}/status/", {"status": status}, format="json")
    assert response.status_code == 200, response.json()


def accepted_plan_of_three(dispatcher):
    """One truck, its driver (AVAILABLE), and three loads planned on it in a row; accepted, so the
    first is ASSIGNED and the other two PLANNED."""
    west, planned_driver = truck(-95.0)
    put_status(dispatcher, planned_driver, "AVAILABLE")
    loads = [
        load(-95.0, -94.0, pickup_in=1),
        load(-94.0, -93.0, pickup_in=5),
        load(-93.0, -92.0, pickup_in=9),
    ]
    plan = proposed_plan()
    assert [route["load_ids"] for route in plan.result["routes"]] == [[str(item.pk) for item in loads]]
    response = dispatcher.post(f"/api/fleet-plans/{plan.pk}/accept/", {}, format="json")
    assert response.status_code == 200, response.json()
    return plan, west, planned_driver, loads


def deliver_first(dispatcher, first) -> None:
    for action in ("pickup", "in-transit", "deliver"):
        assert dispatcher.post(f"/api/loads/{first.pk}/{action}/", {}, format="json").status_code == 200
    (row,) = OutboxEvent.objects.filter(type="LOAD_DELIVERED", subject=str(first.pk))
    deliver(REGISTRY["fleet-plan-follower"], row.envelope)


def test_a_driver_who_went_off_duty_is_replaced_by_the_nearest_legal_colleague(dispatcher):
    plan, west, planned_driver, (first, second, third) = accepted_plan_of_three(dispatcher)
    nearest = DriverFactory(carrier=west.carrier, status="AVAILABLE", current_location=at(-94.9))
    DriverFactory(carrier=west.carrier, status="AVAILABLE", current_location=at(-99.0))  # farther
    put_status(dispatcher, planned_driver, "OFF_DUTY")  # home time, after the plan was accepted

    deliver_first(dispatcher, first)

    second.refresh_from_db()
    assert (second.status, second.vehicle_id, second.driver_id) == (LoadStatus.ASSIGNED, west.pk, nearest.pk)
    plan.refresh_from_db()
    outcome = plan.acceptance["loads"][1]
    assert outcome["status"] == "ASSIGNED"
    assert (outcome["driver_id"], outcome["replaced_driver_id"]) == (str(nearest.pk), str(planned_driver.pk))
    assert outcome["reason"] == f"{planned_driver.name} went off duty (OFF_DUTY) after the plan was accepted."
    (changed,) = events("FLEET_PLAN_DRIVER_CHANGED")
    assert changed == {
        "plan_id": str(plan.pk),
        "load_id": str(second.pk),
        "vehicle_id": str(west.pk),
        "previous_driver_id": str(planned_driver.pk),
        "driver_id": str(nearest.pk),
        "reason": outcome["reason"],
    }
    audit = AuditLog.objects.get(table_name="fleet_plans", record_id=str(plan.pk), action="UPDATE")
    assert audit.changed_data["acceptance"][1]["loads"][1]["driver_id"] == str(nearest.pk)

    # The truck keeps its new driver for the rest of the plan.
    deliver_first(dispatcher, second)
    third.refresh_from_db()
    assert (third.status, third.driver_id) == (LoadStatus.ASSIGNED, nearest.pk)
    assert len(events("FLEET_PLAN_DRIVER_CHANGED")) == 1


def test_a_driver_out_of_hours_is_replaced(dispatcher):
    plan, west, planned_driver, (first, second, _) = accepted_plan_of_three(dispatcher)
    colleague = DriverFactory(carrier=west.carrier, status="AVAILABLE")
    # The day as the driver's log now tells it: 11 hours at the wheel up to now, nothing left
    # before a 10-hour break (the next pickup is 5 h away).
    DutyStatusRecord.objects.filter(driver_id=planned_driver.pk).delete()
    duty_log(planned_driver, timezone.now() - 11.5 * H, ("DRIVING", 8), ("OFF_DUTY", 0.5), ("DRIVING", 3))

    deliver_first(dispatcher, first)

    second.refresh_from_db()
    assert (second.status, second.driver_id) == (LoadStatus.ASSIGNED, colleague.pk)
    plan.refresh_from_db()
    outcome = plan.acceptance["loads"][1]
    assert outcome["replaced_driver_id"] == str(planned_driver.pk)
    assert outcome["reason"].startswith(f"{planned_driver.name} can legally drive 0 h from ")
    assert [item["driver_id"] for item in events("FLEET_PLAN_DRIVER_CHANGED")] == [str(colleague.pk)]


def test_a_driver_still_on_duty_with_hours_keeps_the_truck(dispatcher):
    plan, west, planned_driver, (first, second, _) = accepted_plan_of_three(dispatcher)
    DriverFactory(carrier=west.carrier, status="AVAILABLE", current_location=at(-94.0))

    deliver_first(dispatcher, first)

    second.refresh_from_db()
    assert (second.status, second.driver_id) == (LoadStatus.ASSIGNED, planned_driver.pk)
    plan.refresh_from_db()
    assert "replaced_driver_id" not in plan.acceptance["loads"][1]
    assert events("FLEET_PLAN_DRIVER_CHANGED") == []


def test_with_no_legal_driver_the_load_fails_saying_why_each_was_passed_over(dispatcher):
    plan, west, planned_driver, (first, second, _) = accepted_plan_of_three(dispatcher)
    resting = DriverFactory(carrier=west.carrier, name="Rae Resting", status="OFF_DUTY")
    expired = DriverFactory(
        carrier=west.carrier,
        name="Eli Expired",
        status="AVAILABLE",
        license_expiry=timezone.localdate() - datetime.timedelta(days=1),
    )
    tired = DriverFactory(carrier=west.carrier, name="Tia Tired", status="AVAILABLE")
    duty_log(tired, timezone.now() - 11.5 * H, ("DRIVING", 8), ("OFF_DUTY", 0.5), ("DRIVING", 3))
    busy = DriverFactory(carrier=west.carrier, name="Bo Busy", status="AVAILABLE")
    load_elsewhere = load(-80.0, -79.0, pickup_in=2)
    assign_load(load_elsewhere, by=None, vehicle=VehicleFactory(carrier=west.carrier), driver=busy)
    DriverFactory(carrier=CarrierFactory(), status="AVAILABLE", current_location=at(-95.0))  # not theirs
    put_status(dispatcher, planned_driver, "OFF_DUTY")
    assigned_before = len(events("LOAD_ASSIGNED"))

    deliver_first(dispatcher, first)

    second.refresh_from_db()
    assert (second.status, second.vehicle_id, second.driver_id) == (LoadStatus.CREATED, None, None)
    plan.refresh_from_db()
    outcome = plan.acceptance["loads"][1]
    assert outcome["status"] == "FAILED"
    assert outcome["error"]["code"] == "no_legal_driver"
    message = outcome["error"]["message"]
    assert message.startswith(
        f"{planned_driver.name} went off duty (OFF_DUTY) after the plan was accepted, and no other "
        f"driver of {west.carrier.name} can take load {second.load_number}: "
    )
    assert f"{resting.name} is OFF_DUTY" in message
    assert f"{expired.name}'s licence expires {expired.license_expiry}" in message
    assert f"{tired.name} can legally drive 0 h from " in message
    assert f"{busy.name} is on load {load_elsewhere.load_number}" in message
    assert len(events("LOAD_ASSIGNED")) == assigned_before  # nothing assigned
    assert events("FLEET_PLAN_DRIVER_CHANGED") == []
    assert plan.acceptance["loads"][2]["status"] == "PLANNED"
