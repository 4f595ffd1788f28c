from drf_spectacular.utils import extend_schema
from rest_framework.decorators import action

from loads import services
from loads.api.filters import FacilityFilter, LoadFilter
from loads.api.serializers import (
    AssignInput,
    CancelInput,
    DelayInput,
    FacilitySerializer,
    LoadSerializer,
    MilestoneInput,
    StopEventSerializer,
)
from loads.models import Facility, Load, StopEvent
from tms.api import TmsModelViewSet


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


class LoadViewSet(TmsModelViewSet):
    """Loads are never deleted: cancel them (POST /api/loads/{id}/cancel/)."""

    queryset = Load.objects.all()
    serializer_class = LoadSerializer
    filterset_class = LoadFilter
    search_fields = [
        "load_number",
        "commodity",
        "pickup_address",
        "delivery_address",
        "po_number",
        "bol_number",
        "customer_reference",
    ]
    ordering_fields = ["pickup_datetime", "delivery_datetime", "status", "rate", "weight", "created_at"]
    http_method_names = ["get", "post", "put", "patch", "head", "options"]
    create_service = services.create_load
    update_service = services.update_load

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

    @extend_schema(responses=StopEventSerializer(many=True), filters=False)
    @action(detail=True, methods=["get"])
    def stops(self, request, pk=None):
        """The load's stops at its pickup and delivery facilities, oldest first."""
        load = self.get_object()  # the load's visibility rules (a driver reads only theirs) apply
        stops = StopEvent.objects.filter(load=load).select_related("facility").order_by("arrived_at")
        page = self.paginate_queryset(stops)
        context = {**self.get_serializer_context(), "load": load}
        serializer = StopEventSerializer(page, many=True, context=context)
        return self.get_paginated_response(serializer.data)
