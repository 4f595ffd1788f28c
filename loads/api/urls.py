from loads.api.views import FacilityViewSet, LoadViewSet
from tms.api import Router

router = Router()
router.register("facilities", FacilityViewSet)
router.register("loads", LoadViewSet)
urlpatterns = router.urls
