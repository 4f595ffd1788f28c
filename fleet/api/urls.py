"""Every URL of the fleet API. tms.urls mounts `urlpatterns` under /api/ and `osmand_urlpatterns`
at /osmand/: outside /api/, where trackers are configured to send."""

from django.urls import path, re_path

from fleet.api.osmand import OsmAndView
from fleet.api.views import CarrierViewSet, TrackingBatchView, VehicleViewSet
from tms.api import Router

router = Router()
router.register("carriers", CarrierViewSet)
router.register("vehicles", VehicleViewSet)
urlpatterns = [
    *router.urls,
    re_path(r"^tracking/batch/?$", TrackingBatchView.as_view(), name="tracking-batch"),
]

osmand_urlpatterns = [path("", OsmAndView.as_view(), name="osmand")]
