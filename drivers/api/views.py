from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.decorators import action
from rest_framework.response import Response

from drivers import selectors, services
from drivers.api.explanations import hos_report
from drivers.api.filters import DriverFilter
from drivers.api.serializers import (
    DriverLocationInput,
    DriverSerializer,
    DriverStatusInput,
    HosClockOutput,
    HosQuery,
)
from drivers.models import Driver
from fleet.api.serializers import LocationResult
from tms.api import TmsModelViewSet


class DriverViewSet(TmsModelViewSet):
    queryset = selectors.with_current_load(Driver.objects.all())
    serializer_class = DriverSerializer
    filterset_class = DriverFilter
    search_fields = ["name", "employee_number", "license_number"]
    # Not hours_remaining: it is derived from each driver's log at the read, not a column to sort
    # on; ?available_for_hours= finds the drivers with enough of it.
    ordering_fields = ["name", "license_expiry", "created_at"]
    create_service = services.create_driver
    update_service = services.update_driver
    delete_service = services.delete_driver
    driver_actions = ("status", "location")

    def get_serializer(self, *args, **kwargs):
        """A page of drivers gets its `hours_remaining` from one read of all their logs."""
        if kwargs.get("many") and args:
            drivers = list(args[0])
            hours = selectors.hours_remaining(drivers, timezone.now())
            for driver in drivers:
                driver.hours_remaining_now = hours[driver.pk]
            args = (drivers, *args[1:])
        return super().get_serializer(*args, **kwargs)

    def driver_queryset(self, queryset, user):
        return queryset.filter(user=user)

    def is_own(self, user, driver) -> bool:
        return driver.user_id == user.pk

    @extend_schema(request=DriverStatusInput, responses=DriverSerializer)
    @action(detail=True, methods=["put"], url_path="status")
    def status(self, request, pk=None):
        """Reports the driver's status: DRIVING, ON_DUTY, OFF_DUTY, SLEEPER_BERTH, or AVAILABLE (on
        duty, not driving, ready for dispatch). Drivers may report their own.

        A change of duty status is appended to the driver's ELD log as of `at` (default now; 400
        if more than 5 minutes ahead, 422 if not after the current record's start; AVAILABLE is
        logged as ON_DUTY), DRIVER_STATUS_CHANGED is emitted with the hours remaining from now,
        and each new hours-of-service violation emits DRIVER_HOS_VIOLATION once."""
        return self.run_action(DriverStatusInput, services.report_driver_status)

    @extend_schema(
        summary="Hours-of-service clock",
        description=(
            "The driver's hours-of-service clock under 49 CFR 395 (property-carrying, 2020 rule) at "
            "`at`, computed from the duty-status log: driving left under the 11-hour limit, time "
            "left in the 14-hour window, driving before the 30-minute break (null when short-haul "
            "exempt), the 60/70-hour cycle, the last 34-hour restart, whether the driver is "
            "driving past a limit, and how much they may legally drive from `at` with breaks as "
            "required. Lists the violations in [`start`, `end`] (default the 8 days before `at`) "
            "and explains each number in a sentence, in the home terminal's local time. Time not "
            "covered by the log counts as off duty. Drivers may read only their own."
        ),
        parameters=[
            OpenApiParameter("at", OpenApiTypes.DATETIME, description="Instant of the clock (default now)."),
            OpenApiParameter(
                "start", OpenApiTypes.DATETIME, description="Violations from (default end - 8 days)."
            ),
            OpenApiParameter("end", OpenApiTypes.DATETIME, description="Violations until (default `at`)."),
        ],
        responses={
            200: HosClockOutput,
            400: OpenApiResponse(description="A malformed `at`, `start` or `end`."),
            404: OpenApiResponse(description="No such driver, or not the requesting driver's own."),
        },
        filters=False,
    )
    @action(detail=True, methods=["get"], url_path="hos", filter_backends=[], query_serializer=HosQuery)
    def hos(self, request, pk=None):
        driver = self.get_object()
        query = self.query_serializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        report = hos_report(driver, **query.validated_data)
        return Response(HosClockOutput(report).data)

    @extend_schema(request=DriverLocationInput, responses=LocationResult)
    @action(detail=True, methods=["put"], url_path="location")
    def location(self, request, pk=None):
        """Reports the driver's current position; an older fix than the stored one is ignored."""
        driver = self.get_object()
        payload = DriverLocationInput(data=request.data)
        payload.is_valid(raise_exception=True)
        moved = services.update_driver_location(driver, by=request.user, **payload.validated_data)
        return Response({"moved": moved is not None})
