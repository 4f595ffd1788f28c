"""/api/loads/{load_id}/documents/...: a load's documents, beside the load's own routes."""

from documents.api.views import LoadDocumentViewSet
from tms.api import Router

router = Router()
router.register(
    r"loads/(?P<load_id>[0-9a-fA-F-]{36})/documents", LoadDocumentViewSet, basename="load-documents"
)
urlpatterns = router.urls
