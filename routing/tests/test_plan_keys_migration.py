"""routing/migrations/0007: fleet plans and route scores stored under the old key names are
converted to the `*_id` names the API speaks, and back; a plan proposed before the rename can still
be accepted. The migration's functions run against the real database with the current models
(the migration changes no column, so they are the historical ones)."""

import importlib

import pytest
from django.apps import apps

from events.consumers import REGISTRY, Outcome, deliver
from events.models import OutboxEvent
from loads.models import LoadStatus
from loads.tests.factories import load_in
from routing.models import FleetPlan, Route
from routing.tests.factories import proposed_plan, straight_route
from routing.tests.test_fleet import load, truck

migration = importlib.import_module("routing.migrations.0007_plan_and_route_json_keys_as_ids")

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _eager(eager_celery, settings):
    settings.ROUTING_FLEET_TIME_LIMIT_S = 1


def stored(plan: FleetPlan) -> FleetPlan:
    return FleetPlan.objects.get(pk=plan.pk)


def test_a_plan_proposed_under_the_old_names_is_converted_and_can_be_accepted(dispatcher):
    west, west_driver = truck(-95.0)
    idle, _ = truck(-60.0)
    first = load(-95.0, -94.0, pickup_in=1)
    second = load(-94.0, -93.0, pickup_in=5)
    plan = proposed_plan(load_ids=[first.pk, second.pk])
    new = stored(plan)

    migration.backwards(apps, None)
    old = stored(plan)
    (route,) = old.result["routes"]
    assert old.request["loads"] == [str(first.pk), str(second.pk)] and "load_ids" not in old.request
    assert (route["vehicle"], route["driver"], route["carrier"]) == (
        str(west.pk),
        str(west_driver.pk),
        str(west.carrier_id),
    )
    assert route["loads"] == [str(first.pk), str(second.pk)]
    assert {stop["load"] for stop in route["stops"]} == {str(first.pk), str(second.pk)}
    assert [item["vehicle"] for item in old.result["idle_vehicles"]] == [str(idle.pk)]
    # Plans solved before the seed's names called the truck's number unit_number.
    for item in [route, *old.result["idle_vehicles"]]:
        item["unit_number"] = item.pop("vehicle_number")
    FleetPlan.objects.filter(pk=plan.pk).update(result=old.result)

    migration.forwards(apps, None)

    assert (stored(plan).request, stored(plan).result) == (new.request, new.result)
    response = dispatcher.post(f"/api/fleet-plans/{plan.pk}/accept", {}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["acceptance"]["loads"] == [
        {"load_id": str(first.pk), "vehicle_id": str(west.pk), "status": "ASSIGNED"},
        {"load_id": str(second.pk), "vehicle_id": str(west.pk), "status": "PLANNED"},
    ]
    first.refresh_from_db()
    assert (first.status, first.vehicle_id, first.driver_id) == (LoadStatus.ASSIGNED, west.pk, west_driver.pk)


def test_an_accepted_plan_keeps_assigning_the_next_load_after_the_conversion(dispatcher):
    west, _ = truck(-95.0)
    first = load(-95.0, -94.0, pickup_in=1)
    second = load(-94.0, -93.0, pickup_in=5)
    plan = proposed_plan()
    dispatcher.post(f"/api/fleet-plans/{plan.pk}/accept", {}, format="json")
    accepted = stored(plan).acceptance
    migration.backwards(apps, None)
    assert stored(plan).acceptance["loads"][1] == {
        "load": str(second.pk),
        "vehicle": str(west.pk),
        "status": "PLANNED",
    }

    migration.forwards(apps, None)

    assert stored(plan).acceptance == accepted
    for action in ("pickup", "in-transit", "deliver"):
        assert dispatcher.post(f"/api/loads/{first.pk}/{action}", {}, format="json").status_code == 200
    (delivered,) = OutboxEvent.objects.filter(type="LOAD_DELIVERED", subject=str(first.pk))
    assert deliver(REGISTRY["fleet-plan-follower"], delivered.envelope) == Outcome.PROCESSED
    second.refresh_from_db()
    assert (second.status, second.vehicle_id) == (LoadStatus.ASSIGNED, west.pk)


def test_a_routes_score_names_the_loads_delivery_datetime():
    assigned = load_in("ASSIGNED")
    route = straight_route(assigned, vehicle=assigned.vehicle, driver=assigned.driver)
    slack = {"weight": 0.2, "value": 1.0, "departure_at": "2026-12-07T00:00:00Z", "slack_s": 1, "target_s": 1}
    Route.objects.filter(pk=route.pk).update(
        score_explanation={"score": 0.9, "slack": {**slack, "delivery_at": "2026-12-08T00:00:00Z"}}
    )

    migration.forwards(apps, None)

    route.refresh_from_db()
    assert route.score_explanation == {
        "score": 0.9,
        "slack": {**slack, "delivery_datetime": "2026-12-08T00:00:00Z"},
    }
