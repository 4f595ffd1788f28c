"""Every URL of the fleet API. tms.urls mounts `urlpatterns` under /api/ and `osmand_urlpatterns`
at /osmand/: outside /api/, where trackers are configured to send."""

from django.urls import path

from fleet.api.osmand import OsmAndView
from fleet.api.views import CarrierViewSet, TrackingBatchView, VehicleViewSet
from tms.api import Router, api_path

router = Router()
router.register("carriers", CarrierViewSet)
router.register("vehicles", VehicleViewSet)
urlpatterns = [
    *router.urls,
    api_path("tracking/batch", TrackingBatchView.as_view(), name="tracking-batch"),
]

osmand_urlpatterns = [path("", OsmAndView.as_view(), name="osmand")]
