from django.urls import re_path

from fleet.api.views import CarrierViewSet, TrackingBatchView, VehicleViewSet
from tms.api import Router

router = Router()
router.register("carriers", CarrierViewSet)
router.register("vehicles", VehicleViewSet)
urlpatterns = [
    *router.urls,
    re_path(r"^tracking/batch/?$", TrackingBatchView.as_view(), name="tracking-batch"),
]
