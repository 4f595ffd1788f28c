from fleet.api.views import CarrierViewSet, VehicleViewSet
from tms.api import Router

router = Router()
router.register("carriers", CarrierViewSet)
router.register("vehicles", VehicleViewSet)
urlpatterns = router.urls
