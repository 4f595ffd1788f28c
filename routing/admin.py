"""Routes in the back office, read-only: routes are computed by the routing service, not typed in."""

from django.contrib import admin

from events.admin import ReadOnlyAdmin, ReadOnlyInline
from loads.admin import LoadAdmin
from routing.models import Route


class RouteInline(ReadOnlyInline):
    model = Route
    fields = ["provider", "is_current", "distance_km", "duration_h", "score", "vehicle", "created_at"]

    @admin.display(description="distance (km)")
    def distance_km(self, route: Route) -> str:
        return f"{route.distance_m / 1000:,.1f}"

    @admin.display(description="duration (h)")
    def duration_h(self, route: Route) -> str:
        return f"{route.duration_s / 3600:.1f}"

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("vehicle")


# loads does not import routing (dependency direction), so the load page gets its routes here.
LoadAdmin.inlines = [*LoadAdmin.inlines, RouteInline]


@admin.register(Route)
class RouteAdmin(ReadOnlyAdmin):
    list_display = [
        "load",
        "provider",
        "is_current",
        "vehicle",
        "driver",
        "distance_km",
        "duration_h",
        "score",
        "created_at",
    ]
    list_filter = ["provider", "is_current"]
    search_fields = ["load__load_number", "vehicle__unit_number", "driver__last_name"]
    date_hierarchy = "created_at"
    list_select_related = ["load", "vehicle", "driver"]
    fields = [
        "load",
        "vehicle",
        "driver",
        "provider",
        "is_current",
        "origin",
        "destination",
        "path_points",
        "distance_km",
        "duration_h",
        "duration_in_traffic_s",
        "score",
        "fuel_estimate_l",
        "fuel_cost_estimate",
        "toll_estimate",
        "steps",
        "id",
        "created_at",
        "updated_at",
    ]
    readonly_fields = fields

    distance_km = RouteInline.distance_km
    duration_h = RouteInline.duration_h

    @admin.display(description="path")
    def path_points(self, route: Route) -> str:
        return f"{route.path.num_points} points"
