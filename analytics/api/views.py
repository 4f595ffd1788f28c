"""GET /api/dashboard and the scorecards: thin views over analytics.selectors, cached."""

from typing import Any
from uuid import UUID

from django.conf import settings
from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.generics import GenericAPIView

from analytics import selectors
from analytics.api.serializers import (
    CarrierScorecardSerializer,
    DashboardQuery,
    DashboardSerializer,
    DriverScorecardSerializer,
    RangeQuery,
)
from analytics.cache import cached
from drivers.models import Driver
from fleet.models import Carrier
from tms.api_defaults import VIEWER, OperatorsAndViewers, RolePermission, is_operator, roles_of

_FILTERS = (
    "carrier_id",
    "origin_facility_id",
    "destination_facility_id",
    "origin_state",
    "destination_state",
)


def _valid(serializer_class, data) -> dict[str, Any]:
    query = serializer_class(data=data)
    query.is_valid(raise_exception=True)
    return query.validated_data


def _json(body: bytes) -> HttpResponse:
    # Rendered once, when computed: the cached bytes go out as they are.
    return HttpResponse(body, content_type="application/json")


def _range(query: dict[str, Any]) -> dict[str, Any]:
    return {"start": query["start"], "end": query["end"], "time_zone": settings.TMS_TIME_ZONE}


class DashboardView(GenericAPIView):
    permission_classes = [OperatorsAndViewers]
    filter_backends: list = []
    pagination_class = None

    @extend_schema(parameters=[DashboardQuery], responses=DashboardSerializer, tags=["analytics"])
    def get(self, request):
        """Operational figures for a range (default: today in the operator's time zone), cached."""
        query = _valid(DashboardQuery, request.query_params)
        filters = {name: query.get(name) for name in _FILTERS}
        scope = selectors.Scope(start=query["start"], end=query["end"], **filters)

        def compute() -> dict[str, Any]:
            figures = selectors.dashboard(scope, time_zone=settings.TMS_TIME_ZONE)
            return DashboardSerializer({"range": _range(query), **figures}).data

        return _json(cached("dashboard", {**filters, "start": scope.start, "end": scope.end}, compute))


class DriverScorecardView(GenericAPIView):
    permission_classes = [RolePermission]
    filter_backends: list = []
    pagination_class = None

    @extend_schema(
        parameters=[RangeQuery],
        responses={
            200: DriverScorecardSerializer,
            404: OpenApiResponse(description="No such driver, or not the requesting driver's own."),
        },
        tags=["drivers"],
    )
    def get(self, request, driver_id: UUID):
        """A driver's loads, miles, on-time rates, violations and utilisation over a range; a
        driver reads their own only."""
        drivers = Driver.objects.all()
        if not (is_operator(request.user) or VIEWER in roles_of(request.user)):
            drivers = drivers.filter(user=request.user)
        driver = get_object_or_404(drivers.only("id", "carrier_id"), pk=driver_id)
        query = _valid(RangeQuery, request.query_params)
        scope = selectors.Scope(start=query["start"], end=query["end"], driver_id=driver.pk)

        def compute() -> dict[str, Any]:
            figures = selectors.driver_scorecard(scope)
            return DriverScorecardSerializer({"driver_id": driver.pk, "range": _range(query), **figures}).data

        return _json(
            cached("driver", {"driver_id": driver.pk, "start": scope.start, "end": scope.end}, compute)
        )


class CarrierScorecardView(GenericAPIView):
    permission_classes = [OperatorsAndViewers]
    filter_backends: list = []
    pagination_class = None

    @extend_schema(parameters=[RangeQuery], responses=CarrierScorecardSerializer, tags=["carriers"])
    def get(self, request, carrier_id: UUID):
        """A carrier's loads, miles, on-time rates, violations, fleet utilisation and capacity
        over a range."""
        carrier = get_object_or_404(Carrier.objects.only("id"), pk=carrier_id)
        query = _valid(RangeQuery, request.query_params)
        scope = selectors.Scope(start=query["start"], end=query["end"], carrier_id=carrier.pk)

        def compute() -> dict[str, Any]:
            figures = selectors.carrier_scorecard(scope)
            return CarrierScorecardSerializer(
                {"carrier_id": carrier.pk, "range": _range(query), **figures}
            ).data

        return _json(
            cached("carrier", {"carrier_id": carrier.pk, "start": scope.start, "end": scope.end}, compute)
        )
