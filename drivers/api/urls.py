from drivers.api.views import DriverViewSet
from tms.api import Router

router = Router()
router.register("drivers", DriverViewSet)
urlpatterns = router.urls
