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
from tms.api import Router, api_path

router = Router()
router.register("routes", RouteViewSet)
router.register("fleet-plans", FleetPlanViewSet, basename="fleet-plan")
# Ids are UUIDs in the URL itself: anything else is a 404 before any view runs (a job id with
# control characters was a 500 from the cache key). Before the router: "optimize-load" would
# otherwise be read as a route id.
urlpatterns = [
    api_path("routes/optimize-load", OptimizeLoadRouteView.as_view(), name="route-optimize-load"),
    api_path("routes/optimize-fleet", OptimizeFleetView.as_view(), name="route-optimize-fleet"),
    api_path("routes/jobs/<uuid:job_id>", RouteJobView.as_view(), name="route-job"),
    api_path("network/lanes", LanesView.as_view(), name="network-lanes"),
    api_path(
        "network/lanes/<uuid:origin_id>/<uuid:destination_id>/carriers",
        LaneCarriersView.as_view(),
        name="network-lane-carriers",
    ),
    api_path("network/paths", PathsView.as_view(), name="network-paths"),
    *router.urls,
]
