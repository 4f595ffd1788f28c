from django.db.models import Prefetch
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.response import Response

from loads import services
from loads.api.filters import FacilityFilter, LoadFilter
from loads.api.serializers import (
    AssignInput,
    CancelInput,
    DelayInput,
    FacilitySerializer,
    LoadSerializer,
    MilestoneInput,
    ReorderInput,
    StopAddInput,
    StopChangeInput,
    StopEventSerializer,
    StopSerializer,
)
from loads.geofence import last_stop_id
from loads.models import LOAD_SEARCH_TEXT_FIELDS, Facility, Load, Stop, StopEvent
from tms.api import TmsModelViewSet, TmsReadOnlyViewSet, json_object

_STOP_ID = OpenApiParameter("stop_id", str, OpenApiParameter.PATH, description="The stop's id (UUID).")


class FacilityViewSet(TmsModelViewSet):
    queryset = Facility.objects.all()
    serializer_class = FacilitySerializer
    filterset_class = FacilityFilter
    search_fields = ["name", "city", "address", "postal_code"]
    ordering_fields = ["name", "city", "state", "created_at"]
    create_service = services.create_facility
    update_service = services.update_facility
    delete_service = services.delete_facility

    def driver_queryset(self, queryset, user):
        return queryset  # drivers need every site's address and hours


class LoadViewSet(mixins.CreateModelMixin, mixins.UpdateModelMixin, TmsReadOnlyViewSet):
    """Loads are never deleted: cancel them (POST /api/loads/{id}/cancel/). (No destroy action:
    DELETE is for a load's stops, /api/loads/{id}/stops/{stop_id}.)"""

    queryset = Load.objects.prefetch_related(Prefetch("stops", queryset=Stop.objects.order_by("sequence")))
    serializer_class = LoadSerializer
    filterset_class = LoadFilter
    search_fields = list(LOAD_SEARCH_TEXT_FIELDS)  # each with a trigram index, as the admin's search
    ordering_fields = ["pickup_datetime", "delivery_datetime", "status", "rate", "weight", "created_at"]
    # Actions that answer stops or visits, not the load: its stops need no prefetch.
    STOP_ACTIONS = frozenset({"stops", "stop", "visits"})

    def get_queryset(self):
        queryset = super().get_queryset()
        return queryset.prefetch_related(None) if self.action in self.STOP_ACTIONS else queryset

    http_method_names = ["get", "post", "put", "patch", "delete", "head", "options"]

    def perform_create(self, serializer):
        serializer.instance = services.create_load(by=self.request.user, **serializer.validated_data)

    def perform_update(self, serializer):
        services.update_load(serializer.instance, by=self.request.user, **serializer.validated_data)

    def driver_queryset(self, queryset, user):
        return queryset.filter(driver__user=user)

    @extend_schema(request=AssignInput, responses=LoadSerializer)
    @action(detail=True, methods=["post"])
    def assign(self, request, pk=None):
        """Assigns (or reassigns) the load to a vehicle and driver of one carrier."""
        return self.run_action(AssignInput, services.assign_load)

    @extend_schema(request=MilestoneInput, responses=LoadSerializer)
    @action(detail=True, methods=["post"], url_path="pickup")
    def pick_up(self, request, pk=None):
        """The freight is loaded (ASSIGNED -> PICKED_UP)."""
        return self.run_action(MilestoneInput, services.pick_up_load)

    @extend_schema(request=MilestoneInput, responses=LoadSerializer)
    @action(detail=True, methods=["post"], url_path="in-transit")
    def in_transit(self, request, pk=None):
        """The truck is on its way (PICKED_UP -> IN_TRANSIT)."""
        return self.run_action(MilestoneInput, services.start_transit)

    @extend_schema(request=MilestoneInput, responses=LoadSerializer)
    @action(detail=True, methods=["post"])
    def deliver(self, request, pk=None):
        """The consignee has the freight (IN_TRANSIT -> DELIVERED)."""
        return self.run_action(MilestoneInput, services.deliver_load)

    @extend_schema(request=CancelInput, responses=LoadSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        """Cancels a load that is not delivered, freeing its vehicle and driver."""
        return self.run_action(CancelInput, services.cancel_load)

    @extend_schema(request=DelayInput, responses=LoadSerializer)
    @action(detail=True, methods=["post"])
    def delay(self, request, pk=None):
        """Flags the load as running late, with a reason and a revised delivery estimate."""
        return self.run_action(DelayInput, services.delay_load)

    @extend_schema(methods=["GET"], responses=StopSerializer(many=True), filters=False)
    @extend_schema(methods=["POST"], request=StopAddInput, responses={201: StopSerializer})
    @action(detail=True, methods=["get", "post"], paged=True)
    def stops(self, request, pk=None):
        """GET: the load's planned stops in order, with their actual arrival and departure.
        POST: adds a stop (at `sequence`, or last)."""
        load = self.get_object()  # the load's visibility rules (a driver reads only theirs) apply
        if request.method == "POST":
            payload = StopAddInput(data=json_object(request), context=self.get_serializer_context())
            payload.is_valid(raise_exception=True)
            stop = services.add_stop(load, by=request.user, **payload.validated_data)
            return Response(StopSerializer(stop).data, status=status.HTTP_201_CREATED)
        stops = Stop.objects.filter(load=load).order_by("sequence")
        page = self.paginate_queryset(stops)
        return self.get_paginated_response(StopSerializer(page, many=True).data)

    @extend_schema(methods=["GET"], parameters=[_STOP_ID], responses=StopSerializer, filters=False)
    @extend_schema(
        methods=["PATCH"], parameters=[_STOP_ID], request=StopChangeInput, responses=StopSerializer
    )
    @extend_schema(methods=["DELETE"], parameters=[_STOP_ID], responses={204: None})
    @action(
        detail=True,
        methods=["get", "patch", "delete"],
        url_path=r"stops/(?P<stop_id>[0-9a-fA-F-]{36})",
        url_name="stop",
    )
    def stop(self, request, pk=None, stop_id=None):
        """One stop of the load: read, change (window, facility, place, freight, service time,
        instructions) or remove."""
        load = self.get_object()
        stop = get_object_or_404(Stop.objects.select_related("load"), load=load, pk=stop_id)
        if request.method == "DELETE":
            services.remove_stop(stop, by=request.user)
            return Response(status=status.HTTP_204_NO_CONTENT)
        if request.method == "PATCH":
            payload = StopChangeInput(
                stop, data=json_object(request), partial=True, context=self.get_serializer_context()
            )
            payload.is_valid(raise_exception=True)
            stop = services.update_stop(stop, by=request.user, **payload.validated_data)
        return Response(StopSerializer(stop).data)

    @extend_schema(request=ReorderInput, responses=LoadSerializer)
    @action(detail=True, methods=["post"], url_path="stops/reorder")
    def reorder_stops(self, request, pk=None):
        """Puts the load's stops in the order of `stop_ids` (visited stops keep their places)."""
        return self.run_action(ReorderInput, services.reorder_stops)

    @extend_schema(responses=StopEventSerializer(many=True), filters=False)
    @action(detail=True, methods=["get"], paged=True)
    def visits(self, request, pk=None):
        """The geofence's visits of the load's truck at its stops' facilities, oldest first, with
        the status change each suggests."""
        load = self.get_object()  # the load's visibility rules (a driver reads only theirs) apply
        visits = StopEvent.objects.filter(load=load).select_related("facility", "stop").order_by("arrived_at")
        page = self.paginate_queryset(visits)
        context = {**self.get_serializer_context(), "load": load, "last_stop": last_stop_id(load)}
        serializer = StopEventSerializer(page, many=True, context=context)
        return self.get_paginated_response(serializer.data)
