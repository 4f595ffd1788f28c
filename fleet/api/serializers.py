"""What the fleet API takes and gives: DRF serializers, and the lean validation of GPS fixes in
batch bodies (validate_points), which shares its limits with the single-fix serializer."""

from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

from django.conf import settings
from django.utils import timezone
from rest_framework import serializers

from fleet.ingest import GpsFix
from fleet.models import MANUAL_VEHICLE_STATUSES, Carrier, Vehicle
from fleet.selectors import BUCKETS
from tms.api import (
    UNKNOWN_FIELD,
    BoundedDateTimeField,
    ModelSerializer,
    PagedQuery,
    PointField,
    Serializer,
    TypedJSONField,
)
from tms.api_defaults import is_operator
from tms.models import MAX_CLOCK_SKEW

# A fix's optional measurements as the API names them (the seed's "speed, heading, and telemetry
# data": `speed`, `heading`, `fuel_level`, `odometer`), in GpsFix's order: the API name, the
# column (GpsFix field) it is stored in, (lowest, highest) accepted, and the unit for the schema.
MEASUREMENTS: dict[str, tuple[str, tuple[float, float], str]] = {
    "speed": ("speed_kmh", (0, 300), "Speed, km/h."),
    "heading": ("heading", (0, 360), "Degrees clockwise from north."),
    "accuracy": ("accuracy_m", (0, 100_000), "Horizontal accuracy, metres."),
    "fuel_level": ("fuel_level_pct", (0, 100), "Fuel level, percent of the tank."),
    "odometer": ("odometer_km", (0, 100_000_000), "Odometer, km."),
    "engine_hours": ("engine_hours", (0, 10_000_000), "Engine hours."),
}
MEASUREMENT_FIELDS = tuple(MEASUREMENTS)
# What a fix in a batch may hold; anything else is an unknown field.
BATCH_POINT_FIELDS = frozenset({"vehicle_id", "longitude", "latitude", "recorded_at", *MEASUREMENTS})


def oldest_accepted(now: datetime) -> datetime:
    """Fixes older than the retention period would be dropped at once: they are refused."""
    return now - timedelta(days=settings.GPS_RETENTION_DAYS)


class CarrierSerializer(ModelSerializer):
    class Meta:
        model = Carrier
        fields = [
            "id",
            "name",
            "dot_number",
            "mc_number",
            "contact_email",
            "contact_phone",
            "is_active",
            "created_at",
            "updated_at",
        ]


class VehicleSerializer(ModelSerializer):
    # Left out of the answer for those who do not manage trackers (to_representation).
    omitted_for_some_callers = ("tracker_device_id",)
    carrier_id = serializers.PrimaryKeyRelatedField(source="carrier", queryset=Carrier.objects.all())
    current_location = PointField(read_only=True)
    distance_m = serializers.SerializerMethodField(
        help_text="Distance from the `near` point, metres (only with ?near=)."
    )

    class Meta:
        model = Vehicle
        fields = [
            "id",
            "carrier_id",
            "vehicle_number",
            "vin",
            "license_plate",
            "make",
            "model",
            "year",
            "vehicle_type",
            "fuel_type",
            "capacity_weight",
            "capacity_volume",
            "temperature_min_c",
            "temperature_max_c",
            "fuel_consumption_l_per_100km",
            "status",
            "current_location",
            "location_updated_at",
            "tracker_device_id",
            "fuel_level",
            "odometer",
            "engine_hours",
            "last_maintenance_at",
            "distance_m",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["status", "location_updated_at", "fuel_level"]
        extra_kwargs = {
            "capacity_weight": {"min_value": 1},
            "capacity_volume": {"min_value": Decimal("0.01")},
            "odometer": {"min_value": 0},
            "engine_hours": {"min_value": 0},
            "fuel_consumption_l_per_100km": {"min_value": 1},
            "tracker_device_id": {
                "help_text": "The id the vehicle's OsmAnd tracker reports with: its credential. "
                "Sent to ADMIN and DISPATCHER only."
            },
        }

    def get_distance_m(self, vehicle) -> float | None:
        distance = getattr(vehicle, "distance", None)
        return round(distance.m, 1) if distance is not None else None

    def to_representation(self, vehicle):
        data = super().to_representation(vehicle)
        if not is_operator(getattr(self.context.get("request"), "user", None)):
            # The OsmAnd device id moves the vehicle: only those who manage trackers see it.
            del data["tracker_device_id"]
        return data

    def validate_tracker_device_id(self, value: str | None) -> str | None:
        return value or None  # blank is "no tracker": the column is unique but nullable


class VehicleStatusInput(Serializer):
    status = serializers.ChoiceField(choices=sorted(MANUAL_VEHICLE_STATUSES))
    reason = serializers.CharField(max_length=255, required=False, default="", allow_blank=True)


def _measurement(name: str) -> serializers.FloatField:
    column, (low, high), help_text = MEASUREMENTS[name]
    return serializers.FloatField(
        source=None if column == name else column,
        min_value=low,
        max_value=high,
        required=False,
        default=None,
        allow_null=True,
        help_text=help_text,
    )


class LocationInput(Serializer):
    """One fix, as the PUT endpoint takes it; the limits are those of the batch
    (fleet.api.serializers.validate_points)."""

    longitude = serializers.FloatField(min_value=-180, max_value=180)
    latitude = serializers.FloatField(min_value=-90, max_value=90)
    recorded_at = BoundedDateTimeField(
        required=False, default=None, allow_null=True, help_text="When the fix was taken; default: now."
    )
    speed = _measurement("speed")
    heading = _measurement("heading")
    accuracy = _measurement("accuracy")
    fuel_level = _measurement("fuel_level")
    odometer = _measurement("odometer")
    engine_hours = _measurement("engine_hours")

    def validate_recorded_at(self, value):
        now = timezone.now()
        if value is not None and value > now + MAX_CLOCK_SKEW:
            raise serializers.ValidationError("recorded_at is in the future.")
        if value is not None and value < oldest_accepted(now):
            raise serializers.ValidationError("recorded_at is older than the retention period.")
        return value


class BatchPointInput(LocationInput):
    """Documentation only: the batch is validated by fleet.api.serializers.validate_points, not by
    this serializer."""

    vehicle_id = serializers.UUIDField()
    recorded_at = serializers.DateTimeField()


class BatchInput(Serializer):
    points = BatchPointInput(many=True, help_text="At most 10,000 fixes, of any vehicles.")


class RejectedPoint(Serializer):
    index = serializers.IntegerField(help_text="Position of the fix in `points`.")
    errors = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()), help_text="Messages per field."
    )


class BatchResult(Serializer):
    accepted = serializers.IntegerField(help_text="Fixes stored now.")
    duplicates = serializers.IntegerField(help_text="Fixes already stored (same vehicle and recorded_at).")
    rejected = RejectedPoint(
        many=True, help_text="Fixes refused, with the reasons; nothing else was dropped."
    )


class TrackingQuery(PagedQuery):
    start = BoundedDateTimeField(required=False, help_text="Default: `end` minus 24 hours.")
    end = BoundedDateTimeField(required=False, help_text="Default: now.")
    bucket = serializers.ChoiceField(
        choices=list(BUCKETS), required=False, help_text="Aggregate into buckets of this size."
    )
    limit = serializers.IntegerField(
        min_value=1,
        max_value=10_000,
        default=1000,
        help_text="format=geojson without bucket: at most this many fixes in the line.",
    )

    def validate(self, data):
        end = data.get("end") or timezone.now()
        start = data.get("start") or end - timezone.timedelta(hours=24)
        if start >= end:
            raise serializers.ValidationError({"end": ["end must be after start."]})
        bucket = data.get("bucket")
        if bucket and (end - start) / BUCKETS[bucket] > 10_000:
            raise serializers.ValidationError(
                {"bucket": ["More than 10,000 buckets: widen them or narrow the window."]}
            )
        return {**data, "start": start, "end": end}


class LocationResult(Serializer):
    moved = serializers.BooleanField(
        help_text="False when the fix is older than the stored location (kept, not applied)."
    )


# --- Batches: lean validation of GPS fixes ---------------------------------------------------------
# A batch holds up to 10,000 fixes: a DRF serializer per item costs ~150 us, this ~4 us. The limits
# are those of LocationInput, so both accept the same fixes. Every problem of an item is reported
# with its field, as DRF would.


def is_number(value: Any) -> bool:
    return (type(value) is float or type(value) is int) and value == value  # not bool, not NaN


def parse_recorded_at(
    value: Any, *, now: datetime, oldest: datetime | None = None
) -> tuple[datetime | None, str | None]:
    """(time, None) or (None, the error). Pass `oldest` (oldest_accepted(now)) when parsing many."""
    if not isinstance(value, str):
        return None, "Expected an ISO 8601 date-time string."
    try:
        recorded_at = datetime.fromisoformat(value)
    except ValueError:
        return None, "Expected an ISO 8601 date-time, e.g. 2026-11-25T08:30:00Z."
    if recorded_at.tzinfo is None:
        return None, "recorded_at needs a UTC offset, e.g. 2026-11-25T08:30:00Z."
    if recorded_at > now + MAX_CLOCK_SKEW:
        return None, "recorded_at is more than 5 minutes in the future."
    if recorded_at < (oldest or oldest_accepted(now)):
        return None, "recorded_at is older than the retention period."
    return recorded_at, None


def validate_points(
    items: list[Any], *, now: datetime, known_vehicles: Callable[[set[UUID]], set[UUID]]
) -> tuple[list[GpsFix], list[dict[str, Any]]]:
    """The valid fixes, and `{"index", "errors"}` for each item refused (in index order).

    `known_vehicles(ids)` returns those of `ids` that exist; it is called once for the batch.
    """
    candidates: list[tuple[int, GpsFix]] = []
    rejected: list[dict[str, Any]] = []
    vehicle_ids: dict[str, UUID | None] = {}
    oldest = oldest_accepted(now)
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            rejected.append({"index": index, "errors": {"non_field_errors": ["Expected a JSON object."]}})
            continue
        errors: dict[str, list[str]] = {}
        raw_id = item.get("vehicle_id")
        vehicle_id = None
        if raw_id is None:
            errors["vehicle_id"] = ["This field is required."]
        elif isinstance(raw_id, str):
            if raw_id not in vehicle_ids:
                try:
                    vehicle_ids[raw_id] = UUID(raw_id)
                except ValueError:
                    vehicle_ids[raw_id] = None
            vehicle_id = vehicle_ids[raw_id]
            if vehicle_id is None:
                errors["vehicle_id"] = ["Must be a valid UUID."]
        else:
            errors["vehicle_id"] = ["Must be a valid UUID."]
        longitude = item.get("longitude")
        if longitude is None:
            errors["longitude"] = ["This field is required."]
        elif not is_number(longitude) or not -180 <= longitude <= 180:
            errors["longitude"] = ["Expected a number within -180..180."]
        latitude = item.get("latitude")
        if latitude is None:
            errors["latitude"] = ["This field is required."]
        elif not is_number(latitude) or not -90 <= latitude <= 90:
            errors["latitude"] = ["Expected a number within -90..90."]
        raw_time = item.get("recorded_at")
        recorded_at = None
        if raw_time is None:
            errors["recorded_at"] = ["This field is required."]
        else:
            recorded_at, error = parse_recorded_at(raw_time, now=now, oldest=oldest)
            if error:
                errors["recorded_at"] = [error]
        for field in item.keys() - BATCH_POINT_FIELDS:
            errors[field] = [UNKNOWN_FIELD]
        measurements = []
        for field in MEASUREMENT_FIELDS:
            value = item.get(field)
            if value is not None:
                low, high = MEASUREMENTS[field][1]
                if not is_number(value) or not low <= value <= high:
                    errors[field] = [f"Expected a number within {low}..{high}."]
                    continue
                value = float(value)
            measurements.append(value)
        if errors:
            rejected.append({"index": index, "errors": errors})
            continue
        candidates.append(
            (index, GpsFix(vehicle_id, recorded_at, float(longitude), float(latitude), *measurements))
        )
    known = known_vehicles({fix.vehicle_id for _, fix in candidates}) if candidates else set()
    fixes = []
    for index, fix in candidates:
        if fix.vehicle_id in known:
            fixes.append(fix)
        else:
            rejected.append({"index": index, "errors": {"vehicle_id": ["Unknown vehicle."]}})
    rejected.sort(key=lambda rejection: rejection["index"])
    return fixes, rejected


# --- The recorded track (GET /api/vehicles/{id}/tracking), for the schema ---------------------------


class TrackPoint(Serializer):
    recorded_at = serializers.DateTimeField()
    location = PointField()

    def get_fields(self):
        # The measurements a fix may carry, null when the tracker did not send them.
        return {
            **super().get_fields(),
            **{
                name: serializers.FloatField(allow_null=True, help_text=unit)
                for name, (_, _, unit) in MEASUREMENTS.items()
            },
        }


class TrackBucket(Serializer):
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    points = serializers.IntegerField(help_text="Fixes in the bucket.")
    avg_speed_kmh = serializers.FloatField(allow_null=True)
    max_speed_kmh = serializers.FloatField(allow_null=True)
    distance_m = serializers.FloatField(help_text="Between consecutive fixes, on the spheroid.")
    last_recorded_at = serializers.DateTimeField()
    last_location = PointField()


class TrackPage(Serializer):
    """One page of the list envelope, the window pinned in its links: raw fixes oldest first, or
    with `bucket` one row per time bucket that holds fixes."""

    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = TypedJSONField(schema=[TrackPoint, TrackBucket])


class TrackFeatureProperties(Serializer):
    """The track's feature: vehicle_id, start, end, points, truncated, distance_m (and bucket);
    a bucket's feature: its row (start, end, points, speeds, distance_m, last_recorded_at)."""

    vehicle_id = serializers.UUIDField(required=False)
    start = serializers.DateTimeField(required=False)
    end = serializers.DateTimeField(required=False)
    bucket = serializers.CharField(required=False)
    points = serializers.IntegerField(required=False)
    truncated = serializers.BooleanField(required=False)
    distance_m = serializers.FloatField(required=False)
    avg_speed_kmh = serializers.FloatField(required=False, allow_null=True)
    max_speed_kmh = serializers.FloatField(required=False, allow_null=True)
    last_recorded_at = serializers.DateTimeField(required=False)


TRACK_GEOMETRY = {
    "description": "GeoJSON LineString (the track, [lon, lat] pairs) or Point (a bucket's last "
    "position); null when the window holds too few fixes for a line.",
    "nullable": True,
    "type": "object",
    "properties": {
        "type": {"type": "string", "enum": ["LineString", "Point"]},
        "coordinates": {
            "oneOf": [
                {"type": "array", "items": {"type": "number"}, "minItems": 2, "maxItems": 2},
                {
                    "type": "array",
                    "items": {"type": "array", "items": {"type": "number"}, "minItems": 2, "maxItems": 2},
                },
            ],
            "example": [[-87.6298, 41.8781], [-86.1581, 39.7684]],
        },
    },
    "required": ["type", "coordinates"],
}


class TrackFeature(Serializer):
    type = serializers.ChoiceField(choices=["Feature"])
    geometry = TypedJSONField(schema=TRACK_GEOMETRY, allow_null=True)
    properties = TrackFeatureProperties()


class TrackFeatureCollection(Serializer):
    """With `format=geojson`: the track as a LineString feature, and with `bucket` a Point feature
    per bucket."""

    type = serializers.ChoiceField(choices=["FeatureCollection"])
    features = TrackFeature(many=True)
