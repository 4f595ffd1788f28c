from customers.api.views import CustomerViewSet
from tms.api import Router

router = Router()
router.register("customers", CustomerViewSet)
urlpatterns = router.urls
