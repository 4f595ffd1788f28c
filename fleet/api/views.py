"""The fleet's REST API under /api/: carriers, vehicles (status, location, recorded track) and GPS
batches. The OsmAnd protocol is fleet.api.osmand."""

from datetime import datetime
from typing import Any

import orjson
from django.conf import settings
from django.http import Http404
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions
from rest_framework.decorators import action
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param
from rest_framework.views import APIView

from fleet import selectors, services
from fleet.api.filters import CarrierFilter, VehicleFilter
from fleet.api.serializers import (
    MEASUREMENTS,
    BatchInput,
    BatchResult,
    CarrierSerializer,
    LocationInput,
    LocationResult,
    TrackFeatureCollection,
    TrackingQuery,
    TrackPage,
    VehicleSerializer,
    VehicleStatusInput,
    validate_points,
)
from fleet.models import Carrier, Vehicle
from tms.api import UNKNOWN_FIELD, ChecksQueryString, TmsModelViewSet
from tms.api_defaults import Pagination
from tms.exceptions import TooManyPoints
from tms.times import rfc3339


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


class GeoJSONRenderer(JSONRenderer):
    media_type = "application/geo+json"
    format = "geojson"


def _geojson_point(longitude: float | None, latitude: float | None) -> dict | None:
    if longitude is None:
        return None
    return {"type": "Point", "coordinates": [longitude, latitude]}


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


class TrackPagination(Pagination):
    """The project's pagination for a track, with larger pages, and with the window resolved
    from the first request (`end` defaults to now) pinned in the links, so that paging through
    a track reads the same fixes however long it takes."""

    page_size = 1000
    max_page_size = 10_000

    def __init__(self, *, window: dict[str, str]):
        self.window = window

    def get_next_link(self) -> str | None:
        return self._pinned(super().get_next_link())

    def get_previous_link(self) -> str | None:
        return self._pinned(super().get_previous_link())

    def _pinned(self, link: str | None) -> str | None:
        for name, value in self.window.items():
            link = link and replace_query_param(link, name, value)
        return link


class _RecordedFixes:
    """A vehicle's fixes in [start, end) as Django's paginator reads a queryset: count() for the
    total, a slice for one page (LIMIT/OFFSET on gps_points)."""

    def __init__(self, vehicle_id, start: datetime, end: datetime):
        self.vehicle_id, self.start, self.end = vehicle_id, start, end

    def count(self) -> int:
        return selectors.count_points_between(self.vehicle_id, start=self.start, end=self.end)

    def __getitem__(self, page: slice) -> list[dict[str, Any]]:
        if page.stop <= page.start:
            return []
        points = selectors.points_between(
            self.vehicle_id, start=self.start, end=self.end, limit=page.stop - page.start, offset=page.start
        )
        return [
            {
                "recorded_at": point["recorded_at"],
                "location": _geojson_point(point["longitude"], point["latitude"]),
                **{name: point[column] for name, (column, _, _) in MEASUREMENTS.items()},
            }
            for point in points
        ]


class VehicleViewSet(TmsModelViewSet):
    queryset = Vehicle.objects.all()
    serializer_class = VehicleSerializer
    filterset_class = VehicleFilter
    search_fields = ["vehicle_number", "vin", "license_plate", "make", "model"]
    ordering_fields = ["vehicle_number", "status", "capacity_weight", "created_at"]
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
        """Reports a fix of the vehicle: stored in its track, and its current position if newer
        than the stored one (an older fix is kept in the track but does not move the vehicle)."""
        vehicle = self.get_object()
        payload = LocationInput(data=request.data)
        payload.is_valid(raise_exception=True)
        moved = services.update_vehicle_location(vehicle, by=request.user, **payload.validated_data)
        return Response({"moved": moved})

    def perform_content_negotiation(self, request, force=False):
        try:
            return super().perform_content_negotiation(request, force)
        except Http404 as error:  # DRF's answer to an unknown ?format=
            if self.action == "history":
                raise exceptions.ValidationError({"format": ["Expected format=geojson or none."]}) from error
            raise

    @extend_schema(
        parameters=[
            TrackingQuery,
            OpenApiParameter("format", OpenApiTypes.STR, enum=["geojson"], description="GeoJSON for maps."),
            OpenApiParameter("page", OpenApiTypes.INT, description="Page number (JSON only)."),
            OpenApiParameter("page_size", OpenApiTypes.INT, description="Rows per page (1000, max 10,000)."),
        ],
        responses={
            (200, "application/json"): TrackPage,
            (200, "application/geo+json"): TrackFeatureCollection,
        },
    )
    @action(
        detail=True,
        methods=["get"],
        url_path="tracking",
        renderer_classes=[JSONRenderer, GeoJSONRenderer],
        filter_backends=[],
        query_serializer=TrackingQuery,
    )
    def history(self, request, pk=None):
        """The vehicle's track between `start` and `end`: its fixes oldest first, or with `bucket`
        one row per time bucket: fixes, average and maximum speed (km/h), distance travelled
        (metres, between consecutive fixes on the spheroid) and last position; both paged like
        every list (`count, next, previous, results`; `page`, `page_size` up to 10,000), the links
        holding the window fixed. `format=geojson` gives a FeatureCollection: the track as a
        LineString (at most `limit` fixes), and with `bucket` a Point per bucket."""
        vehicle = self.get_object()
        query = self.query_serializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        start, end = query.validated_data["start"], query.validated_data["end"]
        as_geojson = request.accepted_renderer.format == "geojson"
        if "bucket" in query.validated_data:
            bucket = query.validated_data["bucket"]
            if as_geojson:
                return Response(self._buckets(vehicle, start, end, bucket, as_geojson=True))
            return self._paged(
                request, self._buckets(vehicle, start, end, bucket, as_geojson=False), start, end
            )
        if as_geojson:
            return Response(self._track(vehicle, start, end, query.validated_data["limit"]))
        return self._paged(request, _RecordedFixes(vehicle.pk, start, end), start, end)

    def _paged(self, request, rows, start: datetime, end: datetime) -> Response:
        paginator = TrackPagination(window={"start": rfc3339(start), "end": rfc3339(end)})
        return paginator.get_paginated_response(paginator.paginate_queryset(rows, request, view=self))

    @staticmethod
    def _track(vehicle, start: datetime, end: datetime, limit: int) -> dict[str, Any]:
        track = selectors.track_between(vehicle.pk, start=start, end=end, limit=limit)
        return {
            "type": "FeatureCollection",
            "features": [
                {
                    "type": "Feature",
                    "geometry": orjson.loads(track["geometry"]) if track["geometry"] else None,
                    "properties": {
                        "vehicle_id": str(vehicle.pk),
                        "start": start,
                        "end": end,
                        "points": track["points"],
                        "truncated": track["points"] == limit,
                        "distance_m": round(track["distance_m"], 1),
                    },
                }
            ],
        }

    @staticmethod
    def _buckets(vehicle, start: datetime, end: datetime, bucket: str, *, as_geojson: bool):
        """The rows (a list), or with `as_geojson` the FeatureCollection."""
        width = selectors.BUCKETS[bucket]
        start, end = selectors.align_to_buckets(start, end, width)
        buckets = selectors.buckets_between(vehicle.pk, start=start, end=end, bucket=width)
        rows = [
            {
                "start": row["bucket"],
                "end": row["bucket"] + width,
                "points": row["points"],
                "avg_speed_kmh": _round(row["avg_speed_kmh"], 2),
                "max_speed_kmh": _round(row["max_speed_kmh"], 2),
                "distance_m": round(row["distance_m"], 1),
                "last_recorded_at": row["last_recorded_at"],
                "last_location": _geojson_point(row["longitude"], row["latitude"]),
            }
            for row in buckets
        ]
        if not as_geojson:
            return rows
        path = [row["last_location"]["coordinates"] for row in rows]
        return {
            "type": "FeatureCollection",
            "features": [
                {
                    "type": "Feature",
                    "geometry": {"type": "LineString", "coordinates": path} if len(path) > 1 else None,
                    "properties": {
                        "vehicle_id": str(vehicle.pk),
                        "start": start,
                        "end": end,
                        "bucket": bucket,
                        "distance_m": round(sum(row["distance_m"] for row in buckets), 1),
                    },
                },
                *(
                    {
                        "type": "Feature",
                        "geometry": row["last_location"],
                        "properties": {key: value for key, value in row.items() if key != "last_location"},
                    }
                    for row in rows
                ),
            ],
        }


# --- Batches ---------------------------------------------------------------------------------------


class TrackingBatchView(ChecksQueryString, APIView):
    """Fixes of many vehicles in one request (ADMIN and DISPATCHER)."""

    @extend_schema(request=BatchInput, responses=BatchResult, tags=["tracking"])
    def post(self, request):
        """Stores up to 10,000 fixes of any vehicles. Each fix is checked on its own: the good ones
        are stored, the others come back in `rejected` with their index and the reasons, and a fix
        already stored counts as a duplicate. The answer is 200 whenever the batch was processed,
        even if some fixes (or all) were refused: read `rejected`. More fixes than the limit: 413,
        and nothing is stored."""
        body = request.data
        if not isinstance(body, dict) or not isinstance(body.get("points"), list):
            raise exceptions.ValidationError({"points": ['Expected {"points": [...]}.']})
        if unknown := body.keys() - {"points"}:
            raise exceptions.ValidationError({name: [UNKNOWN_FIELD] for name in sorted(unknown)})
        points = body["points"]
        limit = settings.GPS_BATCH_MAX_POINTS
        if len(points) > limit:
            raise TooManyPoints(
                f"{len(points)} fixes in one batch; the limit is {limit}. Split the batch.",
                details={"limit": limit, "received": len(points)},
            )
        fixes, rejected = validate_points(
            points, now=timezone.now(), known_vehicles=selectors.known_vehicle_ids
        )
        result = services.record_gps_fixes(fixes)
        return Response({"accepted": result.accepted, "duplicates": result.duplicates, "rejected": rejected})
