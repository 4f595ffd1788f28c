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


def set_stops(load, stops: list[dict]) -> list:
    """Gives `load` these stops in order (each: kind, facility, earliest_at, optional latest_at,
    service_minutes, weight), written directly (the stop services are another change), with the
    load's derived pickup and delivery fields (first pickup, last delivery) following them."""
    from loads.models import Load, Stop, StopKind

    Stop.objects.filter(load=load).delete()
    rows = [
        Stop.objects.create(
            load=load,
            sequence=sequence,
            kind=spec["kind"],
            facility=spec["facility"],
            location=spec["facility"].location,
            address=spec["facility"].address,
            earliest_at=spec["earliest_at"],
            latest_at=spec.get("latest_at", spec["earliest_at"]),
            service_minutes=spec.get("service_minutes"),
            weight=spec.get("weight"),
        )
        for sequence, spec in enumerate(stops, start=1)
    ]
    first = next(stop for stop in rows if stop.kind == StopKind.PICKUP)
    last = next(stop for stop in reversed(rows) if stop.kind == StopKind.DELIVERY)
    Load.objects.filter(pk=load.pk).update(
        shipper=first.facility,
        pickup_location=first.location,
        pickup_address=first.address,
        pickup_datetime=first.earliest_at,
        consignee=last.facility,
        delivery_location=last.location,
        delivery_address=last.address,
        delivery_datetime=last.latest_at,
    )
    load.refresh_from_db()
    return rows
