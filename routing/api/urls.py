from django.urls import path

from routing.api.views import (
    FleetPlanViewSet,
    LaneCarriersView,
    LanesView,
    OptimizeFleetView,
    OptimizeLoadRouteView,
    PathsView,
    RouteJobView,
    RouteViewSet,
)
from tms.api import Router

router = Router()
router.register("routes", RouteViewSet)
router.register("fleet-plans", FleetPlanViewSet, basename="fleet-plan")
# Before the router: "optimize-load" would otherwise be read as a route id.
urlpatterns = [
    path("routes/optimize-load", OptimizeLoadRouteView.as_view(), name="route-optimize-load"),
    path("routes/optimize-fleet", OptimizeFleetView.as_view(), name="route-optimize-fleet"),
    path("routes/jobs/<str:job_id>", RouteJobView.as_view(), name="route-job"),
    path("network/lanes", LanesView.as_view(), name="network-lanes"),
    path(
        "network/lanes/<str:origin_id>/<str:destination_id>/carriers",
        LaneCarriersView.as_view(),
        name="network-lane-carriers",
    ),
    path("network/paths", PathsView.as_view(), name="network-paths"),
    *router.urls,
]
