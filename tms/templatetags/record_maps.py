"""`{{ route|route_map|json_script:"record-map-data" }}`: what the route page's map draws
(static/dashboard/record_map.js). A filter rather than view code, so the route page needs no
change to the routing admin: the page's template names it."""

from typing import Any

from django import template
from django.conf import settings

register = template.Library()


@register.filter
def route_map(route) -> dict[str, Any] | None:
    """The route's geometry with its start and end; None for no route (an add page)."""
    if route is None or getattr(route, "path", None) is None:
        return None
    ends = [("S", "ORIGIN", "start", route.origin), ("E", "DESTINATION", "end", route.destination)]
    return {
        "stops": [
            {"label": label, "kind": kind, "facility": name, "place": "", "location": [point.x, point.y]}
            for label, kind, name, point in ends
            if point is not None
        ],
        "truck": None,
        "path": [list(point) for point in route.path.coords],
        "tile_url": settings.TMS_MAP_TILE_URL,
    }
