"""Celery tasks of the routing app: thin, each calls one service with the job's arguments.

routing.services queues these tasks and they call back into it: the two modules import each other
as modules (`from routing import services`), never names, so either may be imported first.
"""

from celery import shared_task
from django.contrib.auth import get_user_model

from drivers.models import Driver
from fleet.models import Vehicle
from loads.models import Load
from routing import services
from tms.context import correlation_id as correlation_id_var


@shared_task
def optimize_load_route_task(
    load_id: str, vehicle_id: str, driver_id: str | None, user_id: int | None, correlation_id: str = ""
) -> str:
    """Routes a load in the background; the result is the new route's id. The request's correlation
    id travels with the job, so the audit row and the event carry it."""
    token = correlation_id_var.set(correlation_id)
    try:
        user = get_user_model().objects.filter(pk=user_id).first() if user_id is not None else None
        route = services.optimize_load_route(
            Load.objects.get(pk=load_id),
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
        plan = services.solve_fleet_plan(plan_id, by=user)
    finally:
        correlation_id_var.reset(token)
    return plan.status


@shared_task(ignore_result=True)
def requeue_stale_fleet_plans_task() -> int:
    """Celery beat, every minute: fleet plans whose solver job was lost are queued again."""
    return len(services.requeue_stale_fleet_plans())
