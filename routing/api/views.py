import uuid
from uuid import UUID

import kombu.exceptions
from celery.result import AsyncResult
from django.conf import settings
from django.core.cache import cache
from django.http import Http404
from django.urls import reverse
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from fleet.models import Carrier
from loads.models import Facility
from routing import services
from routing.api.filters import RouteFilter
from routing.api.serializers import (
    AcceptFleetPlanSerializer,
    DiscardFleetPlanSerializer,
    FleetPlanSerializer,
    LaneCarrierSerializer,
    LaneSerializer,
    LanesQuery,
    OptimizeFleetSerializer,
    OptimizeLoadRouteSerializer,
    PathsQuery,
    RelayPathSerializer,
    RouteJobSerializer,
    RouteSerializer,
)
from routing.graph import get_graph
from routing.models import FleetPlan, FleetPlanStatus, Route
from routing.services import check_routable
from routing.tasks import optimize_load_route_task
from tms.api import ChecksQueryString, TmsModelViewSet, TmsReadOnlyViewSet, json_object
from tms.api_defaults import OperatorsAndViewers, OperatorsOnly
from tms.context import current_correlation_id
from tms.exceptions import DependencyUnavailable, DomainError


class RouteViewSet(TmsModelViewSet):
    """Routes are computed by the routing service; the API reads them."""

    queryset = Route.objects.all()
    serializer_class = RouteSerializer
    filterset_class = RouteFilter
    ordering_fields = ["created_at", "distance_m", "score"]
    http_method_names = ["get", "head", "options"]

    def driver_queryset(self, queryset, user):
        return queryset.filter(load__driver__user=user)


def _job_key(job_id: str) -> str:
    return f"routing:job:{job_id}"


def _status_url(request, job_id: str) -> str:
    return request.build_absolute_uri(reverse("route-job", kwargs={"job_id": job_id}))


class OptimizeLoadRouteView(ChecksQueryString, APIView):
    """Queues the routing of a load on a vehicle; the job's status URL tells how it ended."""

    permission_classes = [OperatorsOnly]

    @extend_schema(request=OptimizeLoadRouteSerializer, responses={202: RouteJobSerializer}, tags=["routes"])
    def post(self, request):
        payload = OptimizeLoadRouteSerializer(data=json_object(request))
        payload.is_valid(raise_exception=True)
        load, vehicle, driver = (payload.validated_data.get(name) for name in ("load", "vehicle", "driver"))
        check_routable(load)  # refused now rather than as a failed job
        job_id = str(uuid.uuid4())
        # Only jobs started here are readable at the status URL, for as long as Celery keeps results
        # (0 is Celery's "keep them for ever": then a day).
        ttl = settings.CELERY_RESULT_EXPIRES or 86_400
        cache.set(_job_key(job_id), {"load": str(load.pk)}, timeout=ttl)
        try:
            optimize_load_route_task.apply_async(
                args=[str(load.pk), str(vehicle.pk), str(driver.pk) if driver else None, request.user.pk],
                kwargs={"correlation_id": current_correlation_id()},
                task_id=job_id,
            )
        except kombu.exceptions.OperationalError as error:
            cache.delete(_job_key(job_id))
            raise DependencyUnavailable("The job queue is unavailable; retry later.") from error
        body = {"job_id": job_id, "status": "PENDING", "status_url": _status_url(request, job_id)}
        return Response(body, status=status.HTTP_202_ACCEPTED)


class RouteJobView(ChecksQueryString, APIView):
    """A routing job's state: PENDING, SUCCEEDED with the route's id, or FAILED with the error."""

    permission_classes = [OperatorsOnly]

    @extend_schema(responses=RouteJobSerializer, tags=["routes"])
    def get(self, request, job_id: UUID):
        job_id = str(job_id)
        if cache.get(_job_key(job_id)) is None:
            raise Http404
        result = AsyncResult(job_id, app=optimize_load_route_task.app)
        body: dict = {"job_id": job_id, "status": "PENDING", "route_id": None, "error": None}
        if result.successful():
            body.update(status="SUCCEEDED", route_id=result.result)
        elif result.failed():
            error = result.result
            if isinstance(error, DomainError):
                body.update(status="FAILED", error={"code": error.code, "message": error.message})
            else:
                body.update(
                    status="FAILED",
                    error={"code": "routing_failed", "message": "The route could not be computed."},
                )
        return Response(body)


PlanQueued = inline_serializer(
    "FleetPlanQueued",
    {
        "id": serializers.UUIDField(),
        "status": serializers.ChoiceField(choices=FleetPlanStatus.choices),
        "status_url": serializers.CharField(),
    },
)


class OptimizeFleetView(ChecksQueryString, APIView):
    """Queues a fleet plan: which available trucks and drivers take which open loads, in which
    order. The plan's URL shows it QUEUED, then PROPOSED (or FAILED); FLEET_PLAN_PROPOSED on
    tms.routes announces the result over /ws."""

    permission_classes = [OperatorsOnly]

    @extend_schema(request=OptimizeFleetSerializer, responses={202: PlanQueued}, tags=["routes"])
    def post(self, request):
        payload = OptimizeFleetSerializer(data=json_object(request))
        payload.is_valid(raise_exception=True)
        plan = services.start_fleet_plan(payload.plan_request(), by=request.user)
        url = request.build_absolute_uri(reverse("fleet-plan-detail", kwargs={"pk": plan.pk}))
        return Response(
            {"id": plan.pk, "status": plan.status, "status_url": url}, status=status.HTTP_202_ACCEPTED
        )


class FleetPlanViewSet(TmsReadOnlyViewSet):
    """Fleet plans: read them, accept one (assigns the first load of each route) or discard it."""

    queryset = FleetPlan.objects.all()
    serializer_class = FleetPlanSerializer
    permission_classes = [OperatorsAndViewers]
    filterset_fields = ["status"]
    ordering_fields = ["created_at", "distance_m"]

    @extend_schema(request=AcceptFleetPlanSerializer, responses=FleetPlanSerializer)
    @action(detail=True, methods=["post"])
    def accept(self, request, pk=None):
        """Assigns each route's first load to its truck and driver through the load services (a
        vehicle works one load at a time; later loads stay CREATED, marked PLANNED). Per-load
        failures are listed in `acceptance`; the others stand."""
        return self.run_action(AcceptFleetPlanSerializer, services.accept_fleet_plan)

    @extend_schema(request=DiscardFleetPlanSerializer, responses=FleetPlanSerializer)
    @action(detail=True, methods=["post"])
    def discard(self, request, pk=None):
        """Sets a proposed plan aside."""
        return self.run_action(DiscardFleetPlanSerializer, services.discard_fleet_plan)


# --------------------------------------------------------------------------- the freight network
# The busiest lanes, who serves a lane, relay paths between two facilities: reads of the graph
# (routing.graph), with names from the database; paged like every list.


def _valid(serializer_class, data) -> dict:
    payload = serializer_class(data=data)
    payload.is_valid(raise_exception=True)
    return payload.validated_data


def _facility_names(ids) -> dict[str, str]:
    return {str(f.id): f.name for f in Facility.objects.filter(id__in=set(ids)).only("id", "name")}


class LanesView(ChecksQueryString, GenericAPIView):
    permission_classes = [OperatorsAndViewers]
    filter_backends: list = []
    query_serializer = LanesQuery

    @extend_schema(parameters=[LanesQuery], responses=LaneSerializer(many=True), tags=["network"])
    def get(self, request):
        """The busiest lanes: delivered loads, rates and transit times per origin and destination."""
        query = _valid(self.query_serializer, request.query_params)
        lanes = get_graph().top_lanes(limit=query["limit"])
        names = _facility_names([lane[end] for lane in lanes for end in ("origin_id", "destination_id")])
        for lane in lanes:
            lane["origin_name"] = names.get(lane["origin_id"])
            lane["destination_name"] = names.get(lane["destination_id"])
        return self.get_paginated_response(self.paginate_queryset(lanes))


class LaneCarriersView(ChecksQueryString, GenericAPIView):
    permission_classes = [OperatorsAndViewers]
    filter_backends: list = []
    paged = True

    @extend_schema(responses=LaneCarrierSerializer(many=True), tags=["network"])
    def get(self, request, origin_id: UUID, destination_id: UUID):
        """The carriers that delivered loads on a lane, most loads first."""
        carriers = get_graph().carriers_for_lane(str(origin_id), str(destination_id))
        carrier_ids = [UUID(carrier["carrier_id"]) for carrier in carriers]
        names = {str(c.id): c.name for c in Carrier.objects.filter(id__in=carrier_ids).only("id", "name")}
        for carrier in carriers:
            carrier["carrier_name"] = names.get(carrier["carrier_id"])
        return self.get_paginated_response(self.paginate_queryset(carriers))


class PathsView(ChecksQueryString, GenericAPIView):
    permission_classes = [OperatorsAndViewers]
    filter_backends: list = []
    query_serializer = PathsQuery

    @extend_schema(parameters=[PathsQuery], responses=RelayPathSerializer(many=True), tags=["network"])
    def get(self, request):
        """Relay paths through facilities, fastest total average transit first."""
        query = _valid(self.query_serializer, request.query_params)
        paths = get_graph().relay_paths(
            str(query["from"]), str(query["to"]), max_hops=query["max_hops"], limit=query["limit"]
        )
        names = _facility_names([f for p in paths for f in p["facility_ids"]])
        for relay_path in paths:
            relay_path["facilities"] = [{"id": f, "name": names.get(f)} for f in relay_path["facility_ids"]]
        return self.get_paginated_response(self.paginate_queryset(paths))
