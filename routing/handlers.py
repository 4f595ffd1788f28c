"""Reactions of the routing app to domain events: registered when the app is ready."""

from events.consumers import register
from events.taxonomy import EventType
from routing.graph import get_graph
from routing.services import assign_next_planned_load


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
        assign_next_planned_load(load_id=data["load_id"], vehicle_id=data["vehicle_id"])
