"""Reactions of the routing app to domain events (consumers): registered when the app is ready."""

from django.utils.dateparse import parse_datetime

from events.consumers import register
from events.taxonomy import EventType
from routing import following, services
from routing.graph import get_graph


@register("route-follower", types=[EventType.VEHICLE_LOCATION_UPDATED])
def follow_route(envelope: dict) -> None:
    """A vehicle reported a fix: it is applied to the current route of the load it carries, if any
    (routing.following locates it, routing.services.apply_route_fix writes what it means)."""
    data = envelope["data"]
    followed = following.followed_route(vehicle_id=data["vehicle_id"])
    if followed is None:
        return
    load, route = followed
    services.apply_route_fix(
        route,
        load=load,
        longitude=data["longitude"],
        latitude=data["latitude"],
        recorded_at=parse_datetime(data["recorded_at"]),
    )


@register(
    "freight-graph",
    types=[
        EventType.LOAD_CREATED,
        EventType.LOAD_ASSIGNED,
        EventType.LOAD_DELIVERED,
        EventType.VEHICLE_STATUS_CHANGED,
        EventType.DRIVER_STATUS_CHANGED,
    ],
)
def project_freight_graph(envelope: dict) -> None:
    """Keeps the freight network graph current: facilities as loads are booked, carriers with their
    vehicles and drivers as they are assigned, lanes as loads are delivered. A cancelled load never
    reaches a lane, so cancellations need nothing."""
    get_graph().apply(envelope)


@register("fleet-plan-follower", types=[EventType.LOAD_DELIVERED])
def follow_fleet_plans(envelope: dict) -> None:
    """A truck of an accepted fleet plan delivered: its next planned load is assigned to it."""
    data = envelope["data"]
    if data.get("vehicle_id"):
        services.assign_next_planned_load(load_id=data["load_id"], vehicle_id=data["vehicle_id"], by=None)
