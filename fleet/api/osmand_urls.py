"""Mounted at /osmand/ by tms.urls: outside /api/, where trackers are configured to send."""

from django.urls import path

from fleet.api.osmand import OsmAndView

urlpatterns = [path("", OsmAndView.as_view(), name="osmand")]
