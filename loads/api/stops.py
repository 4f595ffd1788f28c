"""`GET /api/loads/{id}/stops/`: the load's stops seen by the facility geofences, with the status
change each one suggests. Readable by every role that can read the load."""

from django.urls import re_path
from drf_spectacular.utils import extend_schema
from rest_framework import serializers

from loads.api.views import LoadViewSet
from loads.geofence import suggested_transition
from loads.models import StopEvent


class StopEventSerializer(serializers.ModelSerializer):
    facility_name = serializers.CharField(source="facility.name", read_only=True)
    suggested_transition = serializers.SerializerMethodField(
        help_text="The load's next status this stop supports (PICKED_UP, IN_TRANSIT, DELIVERED), or null."
    )
    suggested_at = serializers.SerializerMethodField(
        help_text="When it happened by GPS: the `at` to send with the transition."
    )

    class Meta:
        model = StopEvent
        fields = [
            "id",
            "load",
            "vehicle",
            "facility",
            "facility_name",
            "kind",
            "arrived_at",
            "departed_at",
            "dwell_s",
            "suggested_transition",
            "suggested_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def _suggestion(self, stop):
        return suggested_transition(stop, self.context["load"])

    def get_suggested_transition(self, stop) -> str | None:
        suggestion = self._suggestion(stop)
        return suggestion.status if suggestion else None

    def get_suggested_at(self, stop) -> str | None:
        suggestion = self._suggestion(stop)
        return serializers.DateTimeField().to_representation(suggestion.at) if suggestion else None


class LoadStopsViewSet(LoadViewSet):
    """The load's own visibility rules (a driver reads only their loads) apply to its stops."""

    http_method_names = ["get", "head", "options"]

    @extend_schema(responses=StopEventSerializer(many=True), filters=False)
    def stops(self, request, pk=None):
        """The load's stops at its pickup and delivery facilities, oldest first."""
        load = self.get_object()
        stops = StopEvent.objects.filter(load=load).select_related("facility").order_by("arrived_at")
        page = self.paginate_queryset(stops)
        context = {**self.get_serializer_context(), "load": load}
        serializer = StopEventSerializer(page, many=True, context=context)
        return self.get_paginated_response(serializer.data)


urlpatterns = [
    re_path(
        r"^loads/(?P<pk>[^/.]+)/stops/?$",
        LoadStopsViewSet.as_view({"get": "stops"}),
        name="load-stops",
    ),
]
