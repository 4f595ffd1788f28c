from analytics.api.views import CarrierScorecardView, DashboardView, DriverScorecardView
from tms.api import api_path

# Ids are UUIDs in the URL itself: anything else is a 404 before any view runs.
urlpatterns = [
    api_path("dashboard", DashboardView.as_view(), name="dashboard"),
    api_path("drivers/<uuid:driver_id>/scorecard", DriverScorecardView.as_view(), name="driver-scorecard"),
    api_path(
        "carriers/<uuid:carrier_id>/scorecard", CarrierScorecardView.as_view(), name="carrier-scorecard"
    ),
]
