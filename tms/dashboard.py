"""The dispatch board (`/admin/dispatch-board/`) and the admin home's dashboard (`/admin/`), staff
only.

A Leaflet map of the fleet (Leaflet from npm, served as static files, no CDN), the loads by status
and the live event feed. The page carries its initial state as JSON; from then on it follows the
`/ws` live stream with a single-use ticket, which its script asks for before each connection with
a POST to `/api/ws/ticket` (session and CSRF token). The page never holds the user's API token,
and showing it writes nothing. Every name (facility, unit number, driver) reaches the page as text
(json_script, then textContent or text nodes in the script), never as HTML.
"""

import datetime
import json
import uuid
import zoneinfo
from typing import Any

from django.conf import settings
from django.contrib import admin
from django.contrib.admin.views.decorators import staff_member_required
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.middleware.csrf import get_token
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from analytics import selectors
from analytics.api.serializers import DashboardSerializer, RangeQuery
from analytics.cache import CHANGING_EVENTS, cached
from events.models import StoredEvent
from events.taxonomy import TELEMETRY, EventType
from events.taxonomy import TOPICS as EVENT_TOPICS
from fleet.models import Vehicle
from loads.models import Facility, Load, LoadStatus
from tms.api import error_response

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
        "time_zone": settings.TMS_TIME_ZONE,  # the feed's times are written on the operator's clock
    }
    context = {
        **admin.site.each_context(request),
        "title": "Dispatch board",
        "board_config": config,
        "board_state": board_state(),
    }
    return render(request, "dashboard/dispatch_board.html", context)


# --- The admin home: the dashboard ---------------------------------------------------------------

HOME_DAYS = 7  # the home's default range: the last week, today included
# What the home listens to: every topic with a figure-changing event (not the position stream).
HOME_TOPICS = sorted({topic for event_type, topic in EVENT_TOPICS.items() if event_type in CHANGING_EVENTS})
# The same filters as GET /api/dashboard, all unset: the home and the API share cached answers.
_NO_FILTERS = dict.fromkeys(
    ["carrier_id", "origin_facility_id", "destination_facility_id", "origin_state", "destination_state"]
)


class BadRange(ValueError):
    def __init__(self, details: dict[str, Any]):
        super().__init__("bad range")
        self.details = details


def home_range(query) -> tuple[datetime.datetime, datetime.datetime]:
    """The range of `?from=&to=` (dates or times, as GET /api/dashboard reads them); neither given:
    the last HOME_DAYS days in the operator's time zone, today included."""
    data = {name: query[name] for name in ("from", "to") if query.get(name)}
    if not data:
        zone = zoneinfo.ZoneInfo(settings.TMS_TIME_ZONE)
        today = timezone.now().astimezone(zone).date()
        data = {"from": (today - datetime.timedelta(days=HOME_DAYS - 1)).isoformat(), "to": today.isoformat()}
    range_query = RangeQuery(data=data)
    if not range_query.is_valid():
        raise BadRange(range_query.errors)
    return range_query.validated_data["start"], range_query.validated_data["end"]


def home_figures(start: datetime.datetime, end: datetime.datetime, *, after_event: uuid.UUID | None) -> bytes:
    """GET /api/dashboard's answer for the range (rendered JSON), from the same cache.

    `after_event`: the event the page just received. The cache's version is bumped by the
    analytics-cache consumer, which may handle that event after the WebSocket broadcast (two
    independent consumers), so a refresh keyed by the version alone could serve the figures from
    before it. Naming the event makes its own key: computed once per event and range, then shared
    by every dispatcher looking at that range."""
    scope = selectors.Scope(start=start, end=end)

    def compute() -> dict[str, Any]:
        figures = selectors.dashboard(scope, time_zone=settings.TMS_TIME_ZONE)
        answer_range = {"start": start, "end": end, "time_zone": settings.TMS_TIME_ZONE}
        # The API's answer, shared through the cache: in UTC, whatever zone the back office shows.
        with timezone.override(datetime.UTC):
            return DashboardSerializer({"range": answer_range, **figures}).data

    params: dict[str, Any] = {**_NO_FILTERS, "start": start, "end": end}
    if after_event is not None:
        params["after_event"] = str(after_event)
    return cached("dashboard", params, compute)


def admin_home(request: HttpRequest) -> HttpResponse:
    """The admin index (its model list kept below) with the dashboard on top: KPI tiles and charts
    drawn in the browser (Chart.js, served from here) from the figures that come with the page."""
    try:
        start, end = home_range(request.GET)
        range_error = None
    except BadRange as error:
        start, end = home_range({})
        range_error = "; ".join(
            f"{field}: {' '.join(map(str, messages))}" for field, messages in error.details.items()
        )
    zone = zoneinfo.ZoneInfo(settings.TMS_TIME_ZONE)
    config = {
        "figures_url": reverse("admin-home-figures"),
        "ticket_url": reverse("ws-ticket"),
        "csrf_token": get_token(request),
        "ws_path": "/ws",
        "topics": HOME_TOPICS,
        "changing_events": sorted(CHANGING_EVENTS),
        "telemetry": sorted(TELEMETRY),
        "load_url": reverse("admin:loads_load_change", args=["00000000-0000-0000-0000-000000000000"]),
        "driver_url": reverse("admin:drivers_driver_change", args=["00000000-0000-0000-0000-000000000000"]),
        "time_zone": settings.TMS_TIME_ZONE,
    }
    context = {
        "dashboard_config": config,
        "dashboard_figures": json.loads(home_figures(start, end, after_event=None)),
        "range_from": start.astimezone(zone).date(),
        "range_to": (end - datetime.timedelta(microseconds=1)).astimezone(zone).date(),
        "range_error": range_error,
        "time_zone": settings.TMS_TIME_ZONE,
    }
    return admin.site.index(request, extra_context=context)


@never_cache
@staff_member_required
@require_safe
def admin_home_figures(request: HttpRequest) -> HttpResponse:
    """The home's figures for `?from=&to=` (and `event=`, the event that prompted the refresh)."""
    try:
        start, end = home_range(request.GET)
    except BadRange as error:
        return error_response(400, "validation_error", "Invalid range.", error.details)
    after_event = None
    if request.GET.get("event"):
        try:
            after_event = uuid.UUID(request.GET["event"])
        except ValueError:
            return error_response(400, "validation_error", "Invalid event id.", {"event": ["Not a UUID."]})
    return HttpResponse(home_figures(start, end, after_event=after_event), content_type="application/json")
