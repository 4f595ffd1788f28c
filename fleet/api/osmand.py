"""The OsmAnd protocol, as Traccar Client and many trackers speak it: one fix per request, the
device id as the only credential, mounted at /osmand/ (fleet.api.urls).

The throttles live here with the view: they are the protocol's, keyed on its device id.
"""

import hashlib
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from django.http import HttpResponse
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions
from rest_framework.parsers import FormParser
from rest_framework.permissions import AllowAny
from rest_framework.renderers import JSONRenderer
from rest_framework.views import APIView

from fleet import services
from fleet.api.serializers import parse_recorded_at, validate_points
from fleet.ingest import Publish
from fleet.models import Vehicle
from tms.api_defaults import SettingsRateThrottle
from tms.parsers import JSONParser

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


class OsmAndDeviceThrottle(SettingsRateThrottle):
    """Fixes per device id: a phone reports every few seconds at most."""

    scope = "osmand"

    def get_cache_key(self, request, view):
        device = _device_id(request) or ""
        return self.cache_format % {"scope": self.scope, "ident": hashlib.sha256(device.encode()).hexdigest()}


class OsmAndAddressThrottle(SettingsRateThrottle):
    """Requests per client address: slows guessing of device ids."""

    scope = "osmand_address"

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
        "speed": None if speed_knots is None else speed_knots * KNOTS_TO_KMH,
        "heading": heading if heading is not None else _number(params, "heading"),
        "accuracy": _number(params, "accuracy"),
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
        "speed": speed * MPS_TO_KMH if speed is not None and speed >= 0 else None,
        "heading": heading if heading is not None and heading >= 0 else None,
        "accuracy": accuracy if accuracy is not None and accuracy >= 0 else None,
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
