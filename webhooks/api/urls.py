from tms.api import Router
from webhooks.api.views import WebhookSubscriptionViewSet

router = Router()
router.register("webhooks", WebhookSubscriptionViewSet, basename="webhook")
urlpatterns = router.urls
