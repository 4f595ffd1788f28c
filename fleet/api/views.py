from drf_spectacular.utils import extend_schema
from rest_framework.decorators import action
from rest_framework.response import Response

from fleet import services
from fleet.api.filters import CarrierFilter, VehicleFilter
from fleet.api.serializers import (
    CarrierSerializer,
    LocationInput,
    LocationResult,
    VehicleSerializer,
    VehicleStatusInput,
)
from fleet.models import Carrier, Vehicle
from tms.api import TmsModelViewSet


class CarrierViewSet(TmsModelViewSet):
    queryset = Carrier.objects.all()
    serializer_class = CarrierSerializer
    filterset_class = CarrierFilter
    search_fields = ["name", "dot_number", "mc_number"]
    ordering_fields = ["name", "created_at"]
    create_service = services.create_carrier
    update_service = services.update_carrier
    delete_service = services.delete_carrier

    def driver_queryset(self, queryset, user):
        return queryset.filter(drivers__user=user)


class VehicleViewSet(TmsModelViewSet):
    queryset = Vehicle.objects.all()
    serializer_class = VehicleSerializer
    filterset_class = VehicleFilter
    search_fields = ["unit_number", "vin", "license_plate", "make", "model"]
    ordering_fields = ["unit_number", "status", "capacity_weight_kg", "created_at"]
    create_service = services.create_vehicle
    update_service = services.update_vehicle
    delete_service = services.delete_vehicle

    def driver_queryset(self, queryset, user):
        return queryset.filter(carrier__drivers__user=user)

    @extend_schema(request=VehicleStatusInput, responses=VehicleSerializer)
    @action(detail=True, methods=["post"], url_path="status")
    def set_status(self, request, pk=None):
        """Takes a vehicle out of service (MAINTENANCE, OUT_OF_SERVICE) or back (AVAILABLE)."""
        return self.run_action(VehicleStatusInput, services.set_vehicle_status)

    @extend_schema(request=LocationInput, responses=LocationResult)
    @action(detail=True, methods=["put"], url_path="location")
    def location(self, request, pk=None):
        """Reports the vehicle's current position; an older fix than the stored one is ignored."""
        vehicle = self.get_object()
        payload = LocationInput(data=request.data)
        payload.is_valid(raise_exception=True)
        moved = services.update_vehicle_location(vehicle, by=request.user, **payload.validated_data)
        return Response({"moved": moved})
