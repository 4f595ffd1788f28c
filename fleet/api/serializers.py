from decimal import Decimal

from django.utils import timezone
from rest_framework import serializers

from fleet.api.points import MEASUREMENTS, oldest_accepted
from fleet.models import MANUAL_VEHICLE_STATUSES, Carrier, Vehicle
from fleet.tracking import BUCKETS
from tms.api import PointField
from tms.models import MAX_CLOCK_SKEW


class CarrierSerializer(serializers.ModelSerializer):
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


class VehicleSerializer(serializers.ModelSerializer):
    current_location = PointField(read_only=True)
    distance_m = serializers.SerializerMethodField(
        help_text="Distance from the `near` point, metres (only with ?near=)."
    )

    class Meta:
        model = Vehicle
        fields = [
            "id",
            "carrier",
            "unit_number",
            "vin",
            "license_plate",
            "make",
            "model",
            "year",
            "vehicle_type",
            "fuel_type",
            "capacity_weight_kg",
            "capacity_volume_m3",
            "fuel_consumption_l_per_100km",
            "status",
            "current_location",
            "location_updated_at",
            "tracker_device_id",
            "odometer_km",
            "engine_hours",
            "last_maintenance_at",
            "distance_m",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["status", "location_updated_at"]
        extra_kwargs = {
            "capacity_weight_kg": {"min_value": 1},
            "capacity_volume_m3": {"min_value": Decimal("0.01")},
            "odometer_km": {"min_value": 0},
            "engine_hours": {"min_value": 0},
            "fuel_consumption_l_per_100km": {"min_value": 1},
        }

    def get_distance_m(self, vehicle) -> float | None:
        distance = getattr(vehicle, "distance", None)
        return round(distance.m, 1) if distance is not None else None

    def validate_tracker_device_id(self, value: str | None) -> str | None:
        return value or None  # blank is "no tracker": the column is unique but nullable


class VehicleStatusInput(serializers.Serializer):
    status = serializers.ChoiceField(choices=sorted(MANUAL_VEHICLE_STATUSES))
    reason = serializers.CharField(max_length=255, required=False, default="", allow_blank=True)


def _measurement(field: str, help_text: str) -> serializers.FloatField:
    low, high = MEASUREMENTS[field]
    return serializers.FloatField(
        min_value=low, max_value=high, required=False, default=None, allow_null=True, help_text=help_text
    )


class LocationInput(serializers.Serializer):
    """One fix, as the PUT endpoint takes it; the limits are those of the batch (fleet.api.points)."""

    longitude = serializers.FloatField(min_value=-180, max_value=180)
    latitude = serializers.FloatField(min_value=-90, max_value=90)
    recorded_at = serializers.DateTimeField(
        required=False, default=None, allow_null=True, help_text="When the fix was taken; default: now."
    )
    speed_kmh = _measurement("speed_kmh", "Speed, km/h.")
    heading = _measurement("heading", "Degrees clockwise from north.")
    accuracy_m = _measurement("accuracy_m", "Horizontal accuracy, metres.")
    fuel_level_pct = _measurement("fuel_level_pct", "Fuel level, percent of the tank.")
    odometer_km = _measurement("odometer_km", "Odometer, km.")
    engine_hours = _measurement("engine_hours", "Engine hours.")

    def validate_recorded_at(self, value):
        now = timezone.now()
        if value is not None and value > now + MAX_CLOCK_SKEW:
            raise serializers.ValidationError("recorded_at is in the future.")
        if value is not None and value < oldest_accepted(now):
            raise serializers.ValidationError("recorded_at is older than the retention period.")
        return value


class BatchPointInput(LocationInput):
    """Documentation only: the batch is validated by fleet.api.points, not by this serializer."""

    vehicle_id = serializers.UUIDField()
    recorded_at = serializers.DateTimeField()


class BatchInput(serializers.Serializer):
    points = BatchPointInput(many=True, help_text="At most 10,000 fixes, of any vehicles.")


class RejectedPoint(serializers.Serializer):
    index = serializers.IntegerField(help_text="Position of the fix in `points`.")
    errors = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()), help_text="Messages per field."
    )


class BatchResult(serializers.Serializer):
    accepted = serializers.IntegerField(help_text="Fixes stored now.")
    duplicates = serializers.IntegerField(help_text="Fixes already stored (same vehicle and recorded_at).")
    rejected = RejectedPoint(
        many=True, help_text="Fixes refused, with the reasons; nothing else was dropped."
    )


class TrackingQuery(serializers.Serializer):
    start = serializers.DateTimeField(required=False, help_text="Default: `end` minus 24 hours.")
    end = serializers.DateTimeField(required=False, help_text="Default: now.")
    bucket = serializers.ChoiceField(
        choices=list(BUCKETS), required=False, help_text="Aggregate into buckets of this size."
    )
    limit = serializers.IntegerField(
        min_value=1, max_value=10_000, default=1000, help_text="Raw fixes: at most this many per page."
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


class LocationResult(serializers.Serializer):
    moved = serializers.BooleanField(
        help_text="False when the fix is older than the stored location (kept, not applied)."
    )
