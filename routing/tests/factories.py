import datetime

from django.utils import timezone

from routing import services
from routing.fleet import PlanRequest
from routing.models import FleetPlan


def fleet_request(**overrides) -> PlanRequest:
    """A plan request from now with the shipped defaults and a 1-second solver."""
    fields = dict(
        at=timezone.now(),
        horizon=datetime.timedelta(hours=24),
        time_limit_s=1,
        pickup_window=datetime.timedelta(hours=2),
        stop_time=datetime.timedelta(minutes=30),
        shift=datetime.timedelta(hours=14),
    )
    fields.update(overrides)
    return PlanRequest(**fields)


def proposed_plan(by=None, **overrides) -> FleetPlan:
    """A plan requested and solved through the services (with whatever the database holds)."""
    plan = services.request_fleet_plan(fleet_request(**overrides), by=by)
    return services.solve_fleet_plan(plan.pk, by=by)
