"""Reactions of the loads app to domain events: registered when the app is ready."""

from uuid import UUID

from django.utils.dateparse import parse_datetime

from events.consumers import register
from events.taxonomy import EventType
from loads import services


@register("loads-geofence", types=[EventType.VEHICLE_LOCATION_UPDATED])
def record_stops(envelope: dict) -> None:
    """Each stored GPS fix: arrivals at and departures from the planned stops of the vehicle's load
    (audited; evented once per stop: see services.record_stop_visits)."""
    data = envelope["data"]
    services.record_vehicle_fix(
        vehicle_id=UUID(data["vehicle_id"]),
        longitude=float(data["longitude"]),
        latitude=float(data["latitude"]),
        recorded_at=parse_datetime(data["recorded_at"]),
    )
