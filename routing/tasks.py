import kombu.exceptions
from celery import shared_task
from django.contrib.auth import get_user_model

from drivers.models import Driver
from fleet.models import Vehicle
from loads.models import Load
from routing import services
from routing.fleet import PlanRequest
from routing.models import FleetPlan
from routing.services import optimize_load_route, solve_fleet_plan
from tms.context import correlation_id as correlation_id_var
from tms.context import current_correlation_id
from tms.exceptions import DependencyUnavailable


@shared_task
def optimize_load_route_task(
    load_id: str, vehicle_id: str, driver_id: str | None, user_id: int | None, correlation_id: str = ""
) -> str:
    """Routes a load in the background; the result is the new route's id. The request's correlation
    id travels with the job, so the audit row and the event carry it."""
    token = correlation_id_var.set(correlation_id)
    try:
        user = get_user_model().objects.filter(pk=user_id).first() if user_id is not None else None
        route = optimize_load_route(
            load=Load.objects.get(pk=load_id),
            vehicle=Vehicle.objects.get(pk=vehicle_id),
            driver=Driver.objects.get(pk=driver_id) if driver_id else None,
            by=user,
        )
    finally:
        correlation_id_var.reset(token)
    return str(route.pk)


@shared_task
def optimize_fleet_task(plan_id: str, user_id: int | None, correlation_id: str = "") -> str:
    """Solves a queued fleet plan; the result is its status (PROPOSED, or the job fails)."""
    token = correlation_id_var.set(correlation_id)
    try:
        user = get_user_model().objects.filter(pk=user_id).first() if user_id is not None else None
        plan = solve_fleet_plan(plan_id, by=user)
    finally:
        correlation_id_var.reset(token)
    return plan.status


def start_fleet_plan(request: PlanRequest, *, by) -> FleetPlan:
    """Records a QUEUED plan and queues its solver job (the API's and the back office's way in).
    With the job queue down the plan is FAILED and DependencyUnavailable (503) raised."""
    plan = services.request_fleet_plan(request, by=by)
    try:
        optimize_fleet_task.apply_async(
            args=[str(plan.pk), getattr(by, "pk", None)], kwargs={"correlation_id": current_correlation_id()}
        )
    except kombu.exceptions.OperationalError as error:
        message = "The job queue is unavailable; retry later."
        services.fail_fleet_plan(plan, code="queue_unavailable", message=message, by=by)
        raise DependencyUnavailable(message) from error
    plan.refresh_from_db()
    return plan
