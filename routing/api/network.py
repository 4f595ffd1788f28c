"""The freight network over HTTP: the busiest lanes, who serves a lane, relay paths between two
facilities. Reads of the graph (routing.graph), with names from the database."""

from uuid import UUID

from django.urls import path
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from fleet.models import Carrier
from loads.models import Facility
from routing.graph import MAX_HOPS, get_graph
from tms.api_defaults import OperatorsAndViewers


class LaneSerializer(serializers.Serializer):
    origin_id = serializers.UUIDField()
    origin_name = serializers.CharField(allow_null=True)
    destination_id = serializers.UUIDField()
    destination_name = serializers.CharField(allow_null=True)
    load_count = serializers.IntegerField()
    total_rate = serializers.FloatField(help_text="USD")
    average_rate = serializers.FloatField(help_text="USD")
    total_transit_s = serializers.FloatField()
    average_transit_s = serializers.FloatField()


class LaneCarrierSerializer(serializers.Serializer):
    carrier_id = serializers.UUIDField()
    carrier_name = serializers.CharField(allow_null=True)
    load_count = serializers.IntegerField()


class RelayFacilitySerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField(allow_null=True)


class RelayPathSerializer(serializers.Serializer):
    facility_ids = serializers.ListField(child=serializers.UUIDField())
    facilities = RelayFacilitySerializer(many=True)
    hops = serializers.IntegerField()
    total_average_transit_s = serializers.FloatField()


def _results(name: str, item: type[serializers.Serializer]):
    return inline_serializer(name, {"results": item(many=True)})


class LanesQuery(serializers.Serializer):
    limit = serializers.IntegerField(min_value=1, max_value=100, default=10)


class LaneIds(serializers.Serializer):
    origin_id = serializers.UUIDField()
    destination_id = serializers.UUIDField()


class PathsQuery(serializers.Serializer):
    # "from" is a Python keyword: the fields are declared below under their query names.
    max_hops = serializers.IntegerField(min_value=1, max_value=MAX_HOPS, default=3)
    limit = serializers.IntegerField(min_value=1, max_value=20, default=5)

    def get_fields(self):
        fields = super().get_fields()
        fields["from"] = serializers.UUIDField()
        fields["to"] = serializers.UUIDField()
        return fields


def _valid(serializer_class, data) -> dict:
    payload = serializer_class(data=data)
    payload.is_valid(raise_exception=True)
    return payload.validated_data


def _facility_names(ids) -> dict[str, str]:
    return {str(f.id): f.name for f in Facility.objects.filter(id__in=set(ids)).only("id", "name")}


class LanesView(APIView):
    permission_classes = [OperatorsAndViewers]

    @extend_schema(parameters=[LanesQuery], responses=_results("Lanes", LaneSerializer), tags=["network"])
    def get(self, request):
        """The busiest lanes: delivered loads, rates and transit times per origin and destination."""
        query = _valid(LanesQuery, request.query_params)
        lanes = get_graph().top_lanes(limit=query["limit"])
        names = _facility_names([lane[end] for lane in lanes for end in ("origin_id", "destination_id")])
        for lane in lanes:
            lane["origin_name"] = names.get(lane["origin_id"])
            lane["destination_name"] = names.get(lane["destination_id"])
        return Response({"results": lanes})


class LaneCarriersView(APIView):
    permission_classes = [OperatorsAndViewers]

    @extend_schema(responses=_results("LaneCarriers", LaneCarrierSerializer), tags=["network"])
    def get(self, request, origin_id: str, destination_id: str):
        """The carriers that delivered loads on a lane, most loads first."""
        ids = _valid(LaneIds, {"origin_id": origin_id, "destination_id": destination_id})
        carriers = get_graph().carriers_for_lane(str(ids["origin_id"]), str(ids["destination_id"]))
        carrier_ids = [UUID(carrier["carrier_id"]) for carrier in carriers]
        names = {str(c.id): c.name for c in Carrier.objects.filter(id__in=carrier_ids).only("id", "name")}
        for carrier in carriers:
            carrier["carrier_name"] = names.get(carrier["carrier_id"])
        return Response({"results": carriers})


class PathsView(APIView):
    permission_classes = [OperatorsAndViewers]

    @extend_schema(
        parameters=[PathsQuery], responses=_results("RelayPaths", RelayPathSerializer), tags=["network"]
    )
    def get(self, request):
        """Relay paths through facilities, fastest total average transit first."""
        query = _valid(PathsQuery, request.query_params)
        paths = get_graph().relay_paths(
            str(query["from"]), str(query["to"]), max_hops=query["max_hops"], limit=query["limit"]
        )
        names = _facility_names([f for p in paths for f in p["facility_ids"]])
        for relay_path in paths:
            relay_path["facilities"] = [{"id": f, "name": names.get(f)} for f in relay_path["facility_ids"]]
        return Response({"results": paths})


urlpatterns = [
    path("network/lanes", LanesView.as_view(), name="network-lanes"),
    path(
        "network/lanes/<str:origin_id>/<str:destination_id>/carriers",
        LaneCarriersView.as_view(),
        name="network-lane-carriers",
    ),
    path("network/paths", PathsView.as_view(), name="network-paths"),
]
