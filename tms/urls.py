from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import (
    SpectacularAPIView,
    SpectacularRedocView,
    SpectacularSwaggerView,
)

from fleet.api.urls import osmand_urlpatterns
from tms import api, asyncapi, dashboard, health, monitoring

urlpatterns = [
    path("health", health.health, name="health"),
    path("metrics", monitoring.metrics, name="metrics"),
    # Before the admin's catch-all:
    path("admin/dispatch-board/", dashboard.dispatch_board, name="dispatch-board"),
    path("admin/", admin.site.admin_view(dashboard.admin_home), name="admin-home"),
    path("admin/dashboard/figures/", dashboard.admin_home_figures, name="admin-home-figures"),
    path("admin/", admin.site.urls),
    api.api_path("api/auth/token", api.ObtainTokenView.as_view(), name="auth-token"),
    api.api_path("api/ws/ticket", api.WebSocketTicketView.as_view(), name="ws-ticket"),
    api.api_path("api/schema", SpectacularAPIView.as_view(), name="schema"),
    api.api_path("api/asyncapi.json", asyncapi.asyncapi_view, name="asyncapi"),
    api.api_path("api/docs", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    api.api_path("api/redoc", SpectacularRedocView.as_view(url_name="schema"), name="redoc"),
    path("api/", include("analytics.api.urls")),  # before the routers: drivers/{id}/scorecard
    path("api/", include("events.api.urls")),
    path("api/", include("fleet.api.urls")),
    path("api/", include("drivers.api.urls")),
    path("api/", include("customers.api.urls")),
    path("api/", include("documents.api.urls")),
    path("api/", include("loads.api.urls")),
    path("api/", include("routing.api.urls")),
    path("api/", include("webhooks.api.urls")),
    path("osmand/", include(osmand_urlpatterns)),
]

handler400 = "tms.api.handler400"
handler403 = "tms.api.handler403"
handler404 = "tms.api.handler404"
handler500 = "tms.api.handler500"
