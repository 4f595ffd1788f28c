"""The dispatch board: `/admin/dispatch-board/`, staff only.

A Leaflet map of the fleet (Leaflet from npm, served as static files, no CDN), the loads by status
and the live event feed. The page carries its initial state as JSON; from then on it follows the
`/ws` live stream with a single-use ticket, which its script asks for before each connection with
a POST to `/api/ws/ticket` (session and CSRF token). The page never holds the user's API token,
and showing it writes nothing. Every name (facility, unit number, driver) reaches the page as text
(json_script, then textContent or text nodes in the script), never as HTML.
"""

from typing import Any

from django.conf import settings
from django.contrib import admin
from django.contrib.admin.views.decorators import staff_member_required
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.middleware.csrf import get_token
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from events.models import StoredEvent
from events.taxonomy import EventType
from fleet.models import Vehicle
from loads.models import Facility, Load, LoadStatus

TILE_ATTRIBUTION = '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> contributors'
FEED_SIZE = 50
LOADS_LISTED = 200
# The board's topics: positions, vehicle status, loads.
TOPICS = ["tms.vehicles.tracking", "tms.vehicles", "tms.loads"]
POSITION_EVENTS = [EventType.VEHICLE_LOCATION_UPDATED, EventType.DRIVER_LOCATION_UPDATED]
OPEN_STATUSES = [
    LoadStatus.CREATED,
    LoadStatus.ASSIGNED,
    LoadStatus.PICKED_UP,
    LoadStatus.IN_TRANSIT,
    LoadStatus.DELAYED,
]


def _lon_lat(point) -> list[float] | None:
    return [point.x, point.y] if point is not None else None


def board_state() -> dict[str, Any]:
    """What the board shows before the live stream takes over: five queries, whatever the fleet size."""
    vehicles = [
        {
            "id": vehicle.pk,
            "vehicle_number": vehicle.vehicle_number,
            "carrier": vehicle.carrier.name,
            "status": vehicle.status,
            "location": _lon_lat(vehicle.current_location),
            "location_updated_at": vehicle.location_updated_at,
        }
        for vehicle in Vehicle.objects.select_related("carrier").only(
            "vehicle_number", "status", "current_location", "location_updated_at", "carrier__name"
        )
    ]
    facilities = [
        {
            "id": facility.pk,
            "name": facility.name,
            "city": facility.city,
            "state": facility.state,
            "location": _lon_lat(facility.location),
            "geofence_radius_m": facility.geofence_radius_m,
        }
        for facility in Facility.objects.only("name", "city", "state", "location", "geofence_radius_m")
    ]
    counts = dict.fromkeys(LoadStatus.values, 0)
    counts.update(Load.objects.order_by().values_list("status").annotate(n=Count("pk")))
    loads = [
        {
            "id": load.pk,
            "load_number": load.load_number,
            "status": load.status,
            "vehicle_id": load.vehicle_id,
            "vehicle": load.vehicle.vehicle_number if load.vehicle else None,
            "origin": f"{load.shipper.city}, {load.shipper.state}",
            "destination": f"{load.consignee.city}, {load.consignee.state}",
            "pickup_datetime": load.pickup_datetime,
            "delivery_datetime": load.delivery_datetime,
        }
        for load in Load.objects.filter(status__in=OPEN_STATUSES)
        .select_related("vehicle", "shipper", "consignee")
        .only(
            "load_number",
            "status",
            "pickup_datetime",
            "delivery_datetime",
            "vehicle__vehicle_number",
            "shipper__city",
            "shipper__state",
            "consignee__city",
            "consignee__state",
        )
        .order_by("pickup_datetime")[:LOADS_LISTED]
    ]
    # Positions are on the map; the feed starts with what else happened.
    events = [
        {key: event.envelope.get(key) for key in ("id", "type", "subject", "time", "data")}
        for event in StoredEvent.objects.exclude(type__in=POSITION_EVENTS).order_by("-time")[:FEED_SIZE]
    ]
    return {
        "vehicles": vehicles,
        "facilities": facilities,
        "load_counts": counts,
        "loads": loads,
        "loads_listed": LOADS_LISTED,
        "events": events,
    }


@never_cache
@staff_member_required
@require_safe
def dispatch_board(request: HttpRequest) -> HttpResponse:
    config = {
        "ticket_url": reverse("ws-ticket"),
        # The script's POST for a ticket carries it, as a form would (Django's CSRF check).
        "csrf_token": get_token(request),
        "ws_path": "/ws",
        "topics": TOPICS,
        "tile_url": settings.TMS_MAP_TILE_URL,
        "tile_attribution": TILE_ATTRIBUTION,
        "feed_size": FEED_SIZE,
    }
    context = {
        **admin.site.each_context(request),
        "title": "Dispatch board",
        "board_config": config,
        "board_state": board_state(),
    }
    return render(request, "dashboard/dispatch_board.html", context)
