from drf_spectacular.utils import extend_schema
from rest_framework.decorators import action
from rest_framework.response import Response

from drivers import services
from drivers.api.filters import DriverFilter
from drivers.api.serializers import DriverLocationInput, DriverSerializer, DriverStatusInput
from drivers.models import Driver
from fleet.api.serializers import LocationResult
from tms.api import TmsModelViewSet


class DriverViewSet(TmsModelViewSet):
    queryset = Driver.objects.all()
    serializer_class = DriverSerializer
    filterset_class = DriverFilter
    search_fields = ["first_name", "last_name", "employee_number", "license_number"]
    ordering_fields = ["last_name", "hours_remaining", "license_expiry", "created_at"]
    create_service = services.create_driver
    update_service = services.update_driver
    delete_service = services.delete_driver
    driver_actions = ("status", "location")

    def driver_queryset(self, queryset, user):
        return queryset.filter(user=user)

    def is_own(self, user, driver) -> bool:
        return driver.user_id == user.pk

    @extend_schema(request=DriverStatusInput, responses=DriverSerializer)
    @action(detail=True, methods=["put"], url_path="status")
    def status(self, request, pk=None):
        """Reports a duty-status change (OFF_DUTY, SLEEPER_BERTH, DRIVING, ON_DUTY) and/or
        availability (AVAILABLE, OFF_DUTY, INACTIVE). Drivers may report their own."""
        return self.run_action(DriverStatusInput, services.report_driver_status)

    @extend_schema(request=DriverLocationInput, responses=LocationResult)
    @action(detail=True, methods=["put"], url_path="location")
    def location(self, request, pk=None):
        """Reports the driver's current position; an older fix than the stored one is ignored."""
        driver = self.get_object()
        payload = DriverLocationInput(data=request.data)
        payload.is_valid(raise_exception=True)
        moved = services.update_driver_location(driver, by=request.user, **payload.validated_data)
        return Response({"moved": moved})
