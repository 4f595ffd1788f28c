import hashlib
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import orjson
from django.conf import settings
from django.http import Http404, HttpResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions
from rest_framework.decorators import action
from rest_framework.parsers import BaseParser, FormParser, JSONParser
from rest_framework.permissions import AllowAny
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.throttling import SimpleRateThrottle
from rest_framework.views import APIView

from fleet import selectors, services
from fleet.api.filters import CarrierFilter, VehicleFilter
from fleet.api.points import MEASUREMENTS, parse_recorded_at, validate_points
from fleet.api.serializers import (
    BatchInput,
    BatchResult,
    CarrierSerializer,
    LocationInput,
    LocationResult,
    TrackingQuery,
    VehicleSerializer,
    VehicleStatusInput,
)
from fleet.ingest import Publish
from fleet.models import Carrier, Vehicle
from tms.api import TmsModelViewSet
from tms.exceptions import DomainError


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
        ],
        responses={200: OpenApiTypes.OBJECT},
    )
    @action(
        detail=True,
        methods=["get"],
        url_path="tracking",
        renderer_classes=[JSONRenderer, GeoJSONRenderer],
        filter_backends=[],
    )
    def history(self, request, pk=None):
        """The vehicle's track between `start` and `end`: its fixes oldest first (at most `limit`,
        then `next`), or with `bucket` one row per time bucket: fixes, average and maximum speed
        (km/h), distance travelled (metres, between consecutive fixes on the spheroid) and last
        position. `format=geojson` gives a FeatureCollection: the track as a LineString, and with
        `bucket` a Point per bucket."""
        vehicle = self.get_object()
        query = TrackingQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        start, end = query.validated_data["start"], query.validated_data["end"]
        as_geojson = request.accepted_renderer.format == "geojson"
        if "bucket" in query.validated_data:
            return Response(self._buckets(vehicle, start, end, query.validated_data["bucket"], as_geojson))
        limit = query.validated_data["limit"]
        if as_geojson:
            return Response(self._track(vehicle, start, end, limit))
        points = selectors.points_between(vehicle.pk, start=start, end=end, limit=limit)
        following = None
        if len(points) == limit:
            after = points[-1]["recorded_at"] + timedelta(microseconds=1)
            following = self._url_with(request, start=after.isoformat(), end=end.isoformat())
        return Response(
            {
                "vehicle_id": vehicle.pk,
                "start": start,
                "end": end,
                "count": len(points),
                "next": following,
                "points": [
                    {
                        "recorded_at": point["recorded_at"],
                        "location": _geojson_point(point["longitude"], point["latitude"]),
                        **{field: point[field] for field in MEASUREMENTS},
                    }
                    for point in points
                ],
            }
        )

    @staticmethod
    def _url_with(request, **changes: str) -> str:
        params = {**request.query_params.dict(), **changes}
        return request.build_absolute_uri(f"{request.path}?{urlencode(params)}")

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
    def _buckets(vehicle, start: datetime, end: datetime, bucket: str, as_geojson: bool) -> dict[str, Any]:
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
            return {"vehicle_id": vehicle.pk, "start": start, "end": end, "bucket": bucket, "buckets": rows}
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


class TooManyPoints(DomainError):
    status_code = 413
    code = "too_many_points"


class FastJSONParser(BaseParser):
    """orjson: a 10,000-fix body parses in ~5 ms (json: ~20 ms); NaN and Infinity are refused."""

    media_type = "application/json"

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return orjson.loads(stream.read() if stream is not None else b"")
        except orjson.JSONDecodeError as error:
            raise exceptions.ParseError(f"JSON parse error - {error}") from error


class TrackingBatchView(APIView):
    """Fixes of many vehicles in one request (ADMIN and DISPATCHER)."""

    parser_classes = [FastJSONParser]

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


# --- OsmAnd (Traccar Client) -------------------------------------------------------------------------

KNOTS_TO_KMH = 1.852
MPS_TO_KMH = 3.6


def _device_id(request) -> str | None:
    device = request.query_params.get("id") or request.query_params.get("deviceid")
    if device:
        return device
    data = request.data
    if isinstance(data, Mapping):
        device = data.get("device_id") or data.get("id") or data.get("deviceid")
    return device if isinstance(device, str) else None


class _SettingsRateThrottle(SimpleRateThrottle):
    default_rate = ""

    def get_rate(self):
        return settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"].get(self.scope, self.default_rate)


class OsmAndDeviceThrottle(_SettingsRateThrottle):
    """Fixes per device id: a phone reports every few seconds at most."""

    scope = "osmand"
    default_rate = "120/minute"

    def get_cache_key(self, request, view):
        device = _device_id(request) or ""
        return self.cache_format % {"scope": self.scope, "ident": hashlib.sha256(device.encode()).hexdigest()}


class OsmAndAddressThrottle(_SettingsRateThrottle):
    """Requests per client address: slows guessing of device ids."""

    scope = "osmand_address"
    default_rate = "1200/minute"

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


def _number(params: Mapping[str, Any], name: str) -> float | None:
    value = params.get(name)
    if value in (None, ""):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError) as error:
        raise exceptions.ValidationError({name: ["Expected a number."]}) from error
    if number != number or number in (float("inf"), float("-inf")):
        raise exceptions.ValidationError({name: ["Expected a number."]})
    return number


def _osmand_time(value: Any, now: datetime) -> datetime:
    """Unix seconds (milliseconds above 2^31, as Traccar reads them), ISO 8601, or
    "yyyy-MM-dd HH:mm:ss"; a time without an offset is UTC."""
    if value in (None, ""):
        return now
    text = str(value).strip()
    try:
        epoch = float(text)
    except ValueError:
        epoch = None
    if epoch is not None:
        try:
            recorded_at = datetime.fromtimestamp(epoch / 1000 if epoch >= 2**31 else epoch, tz=UTC)
        except (OverflowError, OSError, ValueError) as error:
            raise exceptions.ValidationError({"timestamp": ["Out of range."]}) from error
        text = recorded_at.isoformat()
    elif "T" not in text and " " in text:
        text = text.replace(" ", "T")
    if len(text) >= 19 and text[10] == "T" and not any(c in text[19:] for c in "Z+-"):
        text += "+00:00"
    recorded_at, error = parse_recorded_at(text, now=now)
    if error:
        raise exceptions.ValidationError({"timestamp": [error]})
    return recorded_at


def _osmand_fix(params: Mapping[str, Any], now: datetime) -> dict[str, Any] | None:
    """The fix in query or form parameters (speed in knots), or None when the device says it is
    not valid."""
    if str(params.get("valid", "true")).lower() in ("false", "0"):
        return None
    latitude, longitude = _number(params, "lat"), _number(params, "lon")
    if latitude is None and longitude is None and params.get("location"):
        parts = str(params["location"]).split(",")
        if len(parts) != 2:
            raise exceptions.ValidationError({"location": ["Expected latitude,longitude."]})
        latitude, longitude = _number({"lat": parts[0]}, "lat"), _number({"lon": parts[1]}, "lon")
    speed_knots = _number(params, "speed")
    heading = _number(params, "bearing")
    return {
        "latitude": latitude,
        "longitude": longitude,
        "recorded_at": _osmand_time(params.get("timestamp"), now),
        "speed_kmh": None if speed_knots is None else speed_knots * KNOTS_TO_KMH,
        "heading": heading if heading is not None else _number(params, "heading"),
        "accuracy_m": _number(params, "accuracy"),
    }


def _traccar_json_fix(body: Mapping[str, Any], now: datetime) -> dict[str, Any] | None:
    """The fix of Traccar Client 9+'s JSON body (speed in m/s; a negative value means unknown)."""
    location = body.get("location")
    coords = location.get("coords") if isinstance(location, Mapping) else None
    if not isinstance(coords, Mapping):
        raise exceptions.ValidationError({"location": ["Expected location.coords."]})
    speed, heading, accuracy = (_number(coords, name) for name in ("speed", "heading", "accuracy"))
    return {
        "latitude": _number(coords, "latitude"),
        "longitude": _number(coords, "longitude"),
        "recorded_at": _osmand_time(location.get("timestamp"), now),
        "speed_kmh": speed * MPS_TO_KMH if speed is not None and speed >= 0 else None,
        "heading": heading if heading is not None and heading >= 0 else None,
        "accuracy_m": accuracy if accuracy is not None and accuracy >= 0 else None,
    }


class OsmAndView(APIView):
    """The OsmAnd protocol, as Traccar Client and many trackers speak it.

    `GET or POST /osmand/?id=DEVICE&lat=..&lon=..&timestamp=..&speed=..&bearing=..&accuracy=..`
    (query or form parameters, speed in knots), or Traccar Client 9's JSON body. The device id,
    matched against Vehicle.tracker_device_id, is the only credential: the app cannot send a token.
    200 with an empty body when stored (or a duplicate), 400 for bad parameters, 404 for an unknown
    device, 429 when throttled. `altitude`, `hdop`, `batt` and the rest are accepted and ignored; a
    fix with `valid=false` is acknowledged and not stored.
    """

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = [OsmAndAddressThrottle, OsmAndDeviceThrottle]
    parser_classes = [JSONParser, FormParser]
    renderer_classes = [JSONRenderer]

    @extend_schema(exclude=True)
    def get(self, request):
        return self._report(request)

    @extend_schema(exclude=True)
    def post(self, request):
        return self._report(request)

    def _report(self, request):
        device = _device_id(request)
        if not device:
            raise exceptions.ValidationError({"id": ["The device id is required."]})
        now = timezone.now()
        body = request.data if isinstance(request.data, Mapping) else {}
        if "location" in body and isinstance(body.get("location"), Mapping):
            fix = _traccar_json_fix(body, now)
        else:
            fix = _osmand_fix({**body, **request.query_params.dict()}, now)
        vehicle = Vehicle.objects.filter(tracker_device_id=device).only("pk", "carrier_id").first()
        if vehicle is None:
            raise exceptions.NotFound("Unknown device.")
        if fix is None:
            return HttpResponse(status=200)
        fixes, rejected = validate_points(
            [{"vehicle_id": str(vehicle.pk), **fix, "recorded_at": fix["recorded_at"].isoformat()}],
            now=now,
            known_vehicles=lambda ids: ids,
        )
        if rejected:
            raise exceptions.ValidationError(rejected[0]["errors"])
        services.record_gps_fixes(fixes, publish=Publish.OUTBOX)
        return HttpResponse(status=200)
