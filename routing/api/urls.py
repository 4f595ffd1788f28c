from routing.api.views import RouteViewSet
from tms.api import Router

router = Router()
router.register("routes", RouteViewSet)
urlpatterns = router.urls
