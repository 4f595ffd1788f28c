"""POST /api/routes/optimize-fleet and /api/fleet-plans/: Celery runs eagerly against the real
Redis result backend; the plan, its audit rows and events are in the real database."""

import datetime
from unittest import mock

import kombu.exceptions
import pytest
from django.utils import timezone

from drivers.models import Driver
from drivers.tests.factories import DriverFactory
from events.consumers import REGISTRY, Outcome, deliver
from events.models import AuditLog, OutboxEvent
from fleet.models import Vehicle, VehicleStatus
from loads.models import Load, LoadStatus
from loads.services import assign_load
from loads.tests.factories import load_in
from routing.models import FleetPlan, FleetPlanStatus
from routing.services import requeue_stale_fleet_plans
from routing.tests.factories import proposed_plan
from routing.tests.test_fleet import load, truck

OPTIMIZE_URL = "/api/routes/optimize-fleet"

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _eager(eager_celery, settings):
    settings.ROUTING_FLEET_TIME_LIMIT_S = 1


# Rows planning and accepting could touch: plans, and the loads, trucks and drivers they assign.
PLANNING_ROWS = (FleetPlan, Load, Vehicle, Driver)


def events(event_type: str) -> list[dict]:
    return [row.envelope["data"] for row in OutboxEvent.objects.filter(type=event_type).order_by("sequence")]


def test_a_plan_is_queued_solved_and_readable(dispatcher):
    west, west_driver = truck(-95.0)
    east, _ = truck(-91.0)
    first = load(-95.0, -94.0, pickup_in=1)
    second = load(-94.0, -93.0, pickup_in=5)
    third = load(-91.0, -90.0)

    response = dispatcher.post(OPTIMIZE_URL, {}, format="json")

    assert response.status_code == 202, response.content
    body = response.json()
    # QUEUED until a worker solves it; Celery is eager here, so it is solved already.
    assert body["status"] == "PROPOSED" and body["status_url"].endswith(f"/api/fleet-plans/{body['id']}")
    plan = dispatcher.get(body["status_url"]).json()
    assert plan["status"] == "PROPOSED"
    assert (plan["loads_planned"], plan["loads_unserved"], plan["vehicles_used"]) == (3, 0, 2)
    routes = {route["vehicle_number"]: route for route in plan["result"]["routes"]}
    assert routes[west.vehicle_number]["load_ids"] == [str(first.pk), str(second.pk)]
    assert (routes[west.vehicle_number]["vehicle_id"], routes[west.vehicle_number]["driver_id"]) == (
        str(west.pk),
        str(west_driver.pk),
    )
    assert routes[west.vehicle_number]["carrier_id"] == str(west.carrier_id)
    assert [stop["load_id"] for stop in routes[west.vehicle_number]["stops"]] == [str(first.pk)] * 2 + [
        str(second.pk)
    ] * 2
    assert routes[east.vehicle_number]["load_ids"] == [str(third.pk)]
    assert plan["request"]["time_limit_s"] == 1
    (proposed,) = events("FLEET_PLAN_PROPOSED")
    assert proposed["plan_id"] == body["id"] and proposed["status"] == "PROPOSED"
    assert proposed["loads_planned"] == 3
    audit = AuditLog.objects.filter(table_name="fleet_plans", record_id=body["id"])
    assert set(audit.values_list("action", flat=True)) == {"CREATE", "TRANSITION"}
    assert all(row.user == dispatcher.user for row in audit)
    # Nothing is assigned before a dispatcher accepts.
    assert set(Load.objects.values_list("status", flat=True)) == {LoadStatus.CREATED}


def test_accepting_assigns_each_routes_first_load_and_keeps_the_rest_planned(dispatcher):
    west, west_driver = truck(-95.0)
    first = load(-95.0, -94.0, pickup_in=1)
    second = load(-94.0, -93.0, pickup_in=5)
    plan = proposed_plan()

    response = dispatcher.post(f"/api/fleet-plans/{plan.pk}/accept/", {}, format="json")

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "ACCEPTED" and body["accepted_by_id"] == dispatcher.user.pk
    assert body["acceptance"]["loads"] == [
        {"load_id": str(first.pk), "vehicle_id": str(west.pk), "status": "ASSIGNED"},
        {"load_id": str(second.pk), "vehicle_id": str(west.pk), "status": "PLANNED"},
    ]
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, first.vehicle_id, first.driver_id) == (LoadStatus.ASSIGNED, west.pk, west_driver.pk)
    assert second.status == LoadStatus.CREATED
    west.refresh_from_db()
    assert west.status == VehicleStatus.ASSIGNED
    assert events("FLEET_PLAN_ACCEPTED") == [
        {"plan_id": str(plan.pk), "assigned_load_ids": [str(first.pk)], "failed_load_ids": []}
    ]
    assert len(events("LOAD_ASSIGNED")) == 1


def test_an_assignment_that_no_longer_holds_is_reported_and_the_others_stand(dispatcher):
    truck(-95.0)
    east, _ = truck(-91.0)
    near_west = load(-95.0, -94.0)
    near_east = load(-91.0, -90.0)
    plan = proposed_plan()
    # Meanwhile another dispatcher put the east truck on other work.
    taken = load_in("CREATED")
    assign_load(taken, by=None, vehicle=east, driver=DriverFactory(carrier=east.carrier))

    response = dispatcher.post(f"/api/fleet-plans/{plan.pk}/accept/", {}, format="json")

    assert response.status_code == 200, response.content
    outcome = {item["load_id"]: item for item in response.json()["acceptance"]["loads"]}
    assert outcome[str(near_west.pk)]["status"] == "ASSIGNED"
    assert outcome[str(near_east.pk)]["status"] == "FAILED"
    assert outcome[str(near_east.pk)]["error"]["code"] == "resource_unavailable"
    near_east.refresh_from_db()
    assert near_east.status == LoadStatus.CREATED
    (accepted,) = events("FLEET_PLAN_ACCEPTED")
    assert accepted["failed_load_ids"] == [str(near_east.pk)]


def test_a_truck_deleted_since_the_plan_is_a_failed_assignment_not_an_error(dispatcher):
    gone, _ = truck(-95.0)
    pending = load(-95.0, -94.0)
    plan = proposed_plan()
    gone.delete()

    response = dispatcher.post(f"/api/fleet-plans/{plan.pk}/accept/", {}, format="json")

    assert response.status_code == 200
    (outcome,) = response.json()["acceptance"]["loads"]
    assert (outcome["load_id"], outcome["status"], outcome["error"]["code"]) == (
        str(pending.pk),
        "FAILED",
        "not_found",
    )


def test_accepting_only_some_trucks_routes(dispatcher):
    west, _ = truck(-95.0)
    truck(-91.0)
    near_west = load(-95.0, -94.0)
    near_east = load(-91.0, -90.0)
    plan = proposed_plan()

    response = dispatcher.post(
        f"/api/fleet-plans/{plan.pk}/accept/", {"vehicle_ids": [str(west.pk)]}, format="json"
    )

    assert response.status_code == 200, response.content
    assert [item["load_id"] for item in response.json()["acceptance"]["loads"]] == [str(near_west.pk)]
    near_east.refresh_from_db()
    assert near_east.status == LoadStatus.CREATED


def test_a_plan_is_accepted_once_and_not_when_stale(dispatcher, settings, nothing_written):
    truck(-95.0)
    load(-95.0, -94.0)
    plan = proposed_plan()
    assert dispatcher.post(f"/api/fleet-plans/{plan.pk}/accept/", {}, format="json").status_code == 200

    with nothing_written(*PLANNING_ROWS):
        again = dispatcher.post(f"/api/fleet-plans/{plan.pk}/accept/", {}, format="json")

    assert again.status_code == 409 and again.json()["error"]["code"] == "invalid_transition"
    stale = proposed_plan()
    FleetPlan.objects.filter(pk=stale.pk).update(solved_at=timezone.now() - datetime.timedelta(hours=2))
    settings.ROUTING_FLEET_PLAN_TTL_S = 3600

    with nothing_written(*PLANNING_ROWS):
        late = dispatcher.post(f"/api/fleet-plans/{stale.pk}/accept/", {}, format="json")

    assert late.status_code == 409 and late.json()["error"]["code"] == "plan_expired"
    assert FleetPlan.objects.get(pk=stale.pk).status == FleetPlanStatus.PROPOSED


def test_accepting_a_truck_outside_the_plan_is_refused_and_changes_nothing(dispatcher, nothing_written):
    truck(-95.0)
    stranger, _ = truck(-80.0)
    pending = load(-95.0, -94.0)
    plan = proposed_plan(load_ids=[pending.pk])

    with nothing_written(*PLANNING_ROWS):
        response = dispatcher.post(
            f"/api/fleet-plans/{plan.pk}/accept/", {"vehicle_ids": [str(stranger.pk)]}, format="json"
        )

    assert response.status_code == 422
    assert response.json()["error"]["details"]["vehicle_ids"] == [str(stranger.pk)]
    assert FleetPlan.objects.get(pk=plan.pk).status == FleetPlanStatus.PROPOSED
    pending.refresh_from_db()
    assert pending.status == LoadStatus.CREATED


def test_a_discarded_plan_cannot_be_accepted(dispatcher, nothing_written):
    plan = proposed_plan()

    assert (
        dispatcher.post(f"/api/fleet-plans/{plan.pk}/discard/", {}, format="json").json()["status"]
        == "DISCARDED"
    )
    with nothing_written(*PLANNING_ROWS):
        response = dispatcher.post(f"/api/fleet-plans/{plan.pk}/accept/", {}, format="json")

    assert response.status_code == 409


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"horizon_hours": 0}, "horizon_hours"),
        ({"horizon_hours": 500}, "horizon_hours"),
        ({"time_limit_s": 0}, "time_limit_s"),
        ({"shift_hours": 12}, "shift_hours"),
        ({"stop_minutes": -5}, "stop_minutes"),
        ({"load_ids": ["not-a-uuid"]}, "load_ids"),
        ({"load_ids": ["6c1f7f3e-1111-4a4a-9a9a-000000000000"]}, "load_ids"),
        ({"load_ids": []}, "load_ids"),
        ({"vehicle_ids": ["6c1f7f3e-1111-4a4a-9a9a-000000000000"]}, "vehicle_ids"),
        ({"loads": ["6c1f7f3e-1111-4a4a-9a9a-000000000000"]}, "loads"),
        ({"at": "2001-01-01T00:00:00Z"}, "at"),
        ({"at": "yesterday"}, "at"),
    ],
)
def test_bad_requests_are_400_and_queue_nothing(dispatcher, body, field, nothing_written):
    with nothing_written(*PLANNING_ROWS):
        response = dispatcher.post(OPTIMIZE_URL, body, format="json")

    assert response.status_code == 400, response.content
    assert field in response.json()["error"]["details"]
    assert not FleetPlan.objects.exists()


def test_only_pending_loads_can_be_planned(dispatcher, nothing_written):
    assigned = load_in("ASSIGNED")

    with nothing_written(*PLANNING_ROWS):
        response = dispatcher.post(OPTIMIZE_URL, {"load_ids": [str(assigned.pk)]}, format="json")

    assert response.status_code == 400
    assert "CREATED" in str(response.json()["error"]["details"]["load_ids"])


@pytest.mark.parametrize("body", [[], "plan please", 42])
def test_a_body_that_is_not_an_object_is_400(dispatcher, body, nothing_written):
    with nothing_written(*PLANNING_ROWS):
        assert dispatcher.post(OPTIMIZE_URL, body, format="json").status_code == 400


def test_planning_is_dispatch_work_viewers_read_drivers_see_nothing(
    viewer, driver_client, anon_client, nothing_written
):
    plan = proposed_plan()

    assert viewer.get(f"/api/fleet-plans/{plan.pk}/").status_code == 200
    with nothing_written(*PLANNING_ROWS):
        for client, expected in ((viewer, 403), (driver_client, 403), (anon_client, 401)):
            assert client.post(OPTIMIZE_URL, {}, format="json").status_code == expected
            accept = client.post(f"/api/fleet-plans/{plan.pk}/accept/", {}, format="json")
            assert accept.status_code == expected
            discard = client.post(f"/api/fleet-plans/{plan.pk}/discard/", {}, format="json")
            assert discard.status_code == expected
        for client, expected in ((driver_client, 403), (anon_client, 401)):
            assert client.get(f"/api/fleet-plans/{plan.pk}/").status_code == expected
    assert FleetPlan.objects.count() == 1
    assert FleetPlan.objects.get(pk=plan.pk).status == FleetPlanStatus.PROPOSED


def test_when_the_job_queue_is_down_the_answer_is_503_and_the_plan_says_failed(dispatcher):
    with mock.patch(
        "routing.tasks.optimize_fleet_task.apply_async",
        side_effect=kombu.exceptions.OperationalError("connection refused"),
    ):
        response = dispatcher.post(OPTIMIZE_URL, {}, format="json")

    assert response.status_code == 503
    (plan,) = FleetPlan.objects.all()
    assert plan.status == FleetPlanStatus.FAILED and plan.error["code"] == "queue_unavailable"
    assert events("FLEET_PLAN_PROPOSED")[0]["status"] == "FAILED"


def test_plans_are_listed_newest_first_and_filtered_by_status(dispatcher):
    older = proposed_plan()
    newer = proposed_plan()
    dispatcher.post(f"/api/fleet-plans/{older.pk}/discard/", {}, format="json")

    listed = dispatcher.get("/api/fleet-plans/").json()["results"]
    proposed = dispatcher.get("/api/fleet-plans/?status=PROPOSED").json()["results"]

    assert [plan["id"] for plan in listed] == [str(newer.pk), str(older.pk)]
    assert [plan["id"] for plan in proposed] == [str(newer.pk)]


def delivered_envelope(load) -> dict:
    (row,) = OutboxEvent.objects.filter(type="LOAD_DELIVERED", subject=str(load.pk))
    return row.envelope


def test_when_the_truck_delivers_the_next_planned_load_is_assigned_to_it(dispatcher):
    west, west_driver = truck(-95.0)
    first = load(-95.0, -94.0, pickup_in=1)
    second = load(-94.0, -93.0, pickup_in=5)
    plan = proposed_plan()
    dispatcher.post(f"/api/fleet-plans/{plan.pk}/accept/", {}, format="json")
    for action in ("pickup", "in-transit", "deliver"):
        assert dispatcher.post(f"/api/loads/{first.pk}/{action}/", {}, format="json").status_code == 200

    assert deliver(REGISTRY["fleet-plan-follower"], delivered_envelope(first)) == Outcome.PROCESSED

    second.refresh_from_db()
    assert (second.status, second.vehicle_id, second.driver_id) == (
        LoadStatus.ASSIGNED,
        west.pk,
        west_driver.pk,
    )
    plan.refresh_from_db()
    assert [item["status"] for item in plan.acceptance["loads"]] == ["ASSIGNED", "ASSIGNED"]
    update = AuditLog.objects.filter(table_name="fleet_plans", record_id=str(plan.pk), action="UPDATE").get()
    assert update.changed_data["acceptance"][1]["loads"][1]["status"] == "ASSIGNED"
    # The same event again changes nothing.
    assert deliver(REGISTRY["fleet-plan-follower"], delivered_envelope(first)) == Outcome.DUPLICATE


def test_a_planned_load_taken_meanwhile_is_marked_failed_when_its_turn_comes(dispatcher):
    truck(-95.0)
    first = load(-95.0, -94.0, pickup_in=1)
    second = load(-94.0, -93.0, pickup_in=5)
    plan = proposed_plan()
    dispatcher.post(f"/api/fleet-plans/{plan.pk}/accept/", {}, format="json")
    dispatcher.post(f"/api/loads/{second.pk}/cancel/", {"reason": "customer called"}, format="json")
    for action in ("pickup", "in-transit", "deliver"):
        dispatcher.post(f"/api/loads/{first.pk}/{action}/", {}, format="json")

    deliver(REGISTRY["fleet-plan-follower"], delivered_envelope(first))

    plan.refresh_from_db()
    outcome = plan.acceptance["loads"][1]
    assert outcome["status"] == "FAILED" and outcome["error"]["code"] == "invalid_transition"


def lost_job_plan(dispatcher, *, minutes_ago: int, attempts: int = 1) -> FleetPlan:
    """A plan whose solver job never ran (the queue lost it), last touched `minutes_ago`."""
    with mock.patch("routing.tasks.optimize_fleet_task.apply_async"):  # the job vanishes
        response = dispatcher.post(OPTIMIZE_URL, {}, format="json")
    assert response.status_code == 202 and response.json()["status"] == "QUEUED"
    FleetPlan.objects.filter(pk=response.json()["id"]).update(
        updated_at=timezone.now() - datetime.timedelta(minutes=minutes_ago), queue_attempts=attempts
    )
    return FleetPlan.objects.get(pk=response.json()["id"])


def test_a_plan_whose_job_was_lost_is_queued_again_and_solved(dispatcher, django_capture_on_commit_callbacks):
    truck(-95.0)
    load(-95.0, -94.0)
    lost = lost_job_plan(dispatcher, minutes_ago=10)
    recent = lost_job_plan(dispatcher, minutes_ago=1)

    with django_capture_on_commit_callbacks(execute=True):
        requeued = requeue_stale_fleet_plans()

    assert [plan.pk for plan in requeued] == [lost.pk]
    lost.refresh_from_db()
    assert lost.status == FleetPlanStatus.PROPOSED and lost.queue_attempts == 2
    assert lost.loads_planned == 1
    audit = AuditLog.objects.get(table_name="fleet_plans", record_id=str(lost.pk), action="UPDATE")
    assert audit.changed_data == {"queue_attempts": [1, 2]}
    assert FleetPlan.objects.get(pk=recent.pk).status == FleetPlanStatus.QUEUED  # not stale yet


def test_a_plan_whose_job_is_lost_again_and_again_fails_with_job_lost(dispatcher):
    lost = lost_job_plan(dispatcher, minutes_ago=10, attempts=3)

    with mock.patch("routing.tasks.optimize_fleet_task.apply_async") as queue:
        requeue_stale_fleet_plans()

    queue.assert_not_called()
    lost.refresh_from_db()
    assert lost.status == FleetPlanStatus.FAILED and lost.error["code"] == "job_lost"
    failed = events("FLEET_PLAN_PROPOSED")[-1]
    assert (failed["plan_id"], failed["status"]) == (str(lost.pk), "FAILED")
