"""Routes and fleet plans in the back office, read-only: both are computed by the routing services,
not typed in; a fleet plan is accepted or discarded by an action."""

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect
from django.urls import path
from django.utils.html import format_html, format_html_join

from loads.admin import LoadAdmin
from routing import services
from routing.api.serializers import OptimizeFleetSerializer
from routing.models import FleetPlan, Route
from tms.admin import ReadOnlyAdmin, ReadOnlyInline, ServiceModelAdmin
from tms.exceptions import DomainError


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
    search_fields = ["load__load_number", "vehicle__vehicle_number", "driver__name"]
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


@admin.register(FleetPlan)
class FleetPlanAdmin(ServiceModelAdmin):
    """Fleet plans are requested through the API (POST /api/routes/optimize-fleet); here a dispatcher
    reads them and accepts or discards them, through the same services."""

    list_display = [
        "created_at",
        "status",
        "loads_planned",
        "loads_unserved",
        "vehicles_used",
        "distance_km",
        "requested_by",
    ]
    list_filter = ["status"]
    date_hierarchy = "created_at"
    list_select_related = ["requested_by"]
    actions = ["accept", "discard"]
    fields = [
        "status",
        "planned_at",
        "loads_planned",
        "loads_unserved",
        "vehicles_used",
        "distance_km",
        "routes",
        "unserved",
        "idle_vehicles",
        "error",
        "request",
        "requested_by",
        "solved_at",
        "accepted_at",
        "accepted_by",
        "acceptance",
        "id",
        "created_at",
    ]
    readonly_fields = fields
    change_list_template = "admin/routing/fleetplan/change_list.html"

    def get_urls(self):
        plan = self.admin_site.admin_view(self.plan_view)
        return [path("plan/", plan, name="routing_fleetplan_plan"), *super().get_urls()]

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "can_plan": self.has_change_permission(request)}
        return super().changelist_view(request, extra_context)

    def plan_view(self, request):
        """POST: a plan with the default settings (ROUTING_FLEET_*), solved by a worker."""
        if request.method != "POST" or not self.has_change_permission(request):
            raise PermissionDenied
        payload = OptimizeFleetSerializer(data={})
        payload.is_valid(raise_exception=True)
        try:
            plan = services.start_fleet_plan(payload.plan_request(), by=request.user)
        except DomainError as error:
            self.message_user(request, error.message, messages.ERROR)
            return redirect("admin:routing_fleetplan_changelist")
        self.message_user(request, f"Plan requested: {plan.status}; this page shows it when solved.")
        return redirect("admin:routing_fleetplan_change", plan.pk)

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        # The actions need "change"; a plan's page is read-only.
        return obj is None and super().has_change_permission(request)

    @admin.display(description="distance (km)")
    def distance_km(self, plan: FleetPlan) -> str:
        return "" if plan.distance_m is None else f"{plan.distance_m / 1000:,.0f}"

    @admin.display(description="routes")
    def routes(self, plan: FleetPlan) -> str:
        rows = [
            (
                route["vehicle_number"],
                route["driver_name"],
                f"{route['distance_m'] / 1000:,.0f} km ({route['deadhead_m'] / 1000:,.0f} empty)",
                f"{route['driving_hours']} h, leaves {route['depart_at'][:16]}",
                " → ".join(
                    f"{stop['kind'].lower()} {stop['load_number']} by {stop['arrive_by'][:16]}"
                    for stop in route["stops"]
                ),
            )
            for route in plan.result.get("routes", [])
        ]
        return _table(["truck", "driver", "distance", "driving", "stops (arrive by)"], rows)

    @admin.display(description="unserved loads")
    def unserved(self, plan: FleetPlan) -> str:
        rows = [(item["load_number"], item["reason"]) for item in plan.result.get("unserved", [])]
        return _table(["load", "why"], rows)

    @admin.display(description="idle trucks")
    def idle_vehicles(self, plan: FleetPlan) -> str:
        rows = [(item["vehicle_number"], item["reason"]) for item in plan.result.get("idle_vehicles", [])]
        return _table(["truck", "why"], rows)

    @admin.action(description="Accept (assign each route's first load)", permissions=["change"])
    def accept(self, request, queryset):
        self.apply_to_each(
            request,
            queryset.order_by("created_at"),
            lambda plan: services.accept_fleet_plan(plan, by=request.user),
            done="Accepted",
        )

    @admin.action(description="Discard", permissions=["change"])
    def discard(self, request, queryset):
        self.apply_to_each(
            request,
            queryset.order_by("created_at"),
            lambda plan: services.discard_fleet_plan(plan, by=request.user),
            done="Discarded",
        )


def _table(headers: list[str], rows: list[tuple]) -> str:
    if not rows:
        return "—"
    head = format_html_join("", "<th>{}</th>", ((header,) for header in headers))
    body = format_html_join(
        "", "<tr>{}</tr>", ((format_html_join("", "<td>{}</td>", ((cell,) for cell in row)),) for row in rows)
    )
    return format_html("<table><thead><tr>{}</tr></thead><tbody>{}</tbody></table>", head, body)
