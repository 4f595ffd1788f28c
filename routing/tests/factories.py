import datetime

from django.contrib.gis.geos import LineString
from django.utils import timezone

from routing import services
from routing.fleet import PlanRequest
from routing.models import FleetPlan, Route


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


def straight_route(load, *, vehicle, driver) -> Route:
    """A great-circle route of `load` (a 290 km straight line), stored as the route service would."""
    return Route.objects.create(
        load=load,
        vehicle=vehicle,
        driver=driver,
        origin=load.pickup_location,
        destination=load.delivery_location,
        path=LineString(load.pickup_location.coords, load.delivery_location.coords, srid=4326),
        distance_m=290_000,
        duration_s=11_900,
        provider="GREAT_CIRCLE",
    )
