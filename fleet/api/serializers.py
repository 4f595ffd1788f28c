from decimal import Decimal

from django.utils import timezone
from rest_framework import serializers

from fleet.models import MANUAL_VEHICLE_STATUSES, Carrier, Vehicle
from tms.api import PointField

# A fix more than this far in the future is a device clock error, not a position.
MAX_CLOCK_SKEW = timezone.timedelta(minutes=5)


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


class VehicleStatusInput(serializers.Serializer):
    status = serializers.ChoiceField(choices=sorted(MANUAL_VEHICLE_STATUSES))
    reason = serializers.CharField(max_length=255, required=False, default="", allow_blank=True)


class LocationInput(serializers.Serializer):
    longitude = serializers.FloatField(min_value=-180, max_value=180)
    latitude = serializers.FloatField(min_value=-90, max_value=90)
    recorded_at = serializers.DateTimeField(required=False, default=None, allow_null=True)
    speed_kmh = serializers.DecimalField(
        max_digits=5, decimal_places=1, min_value=0, max_value=300, required=False, default=None
    )
    heading = serializers.DecimalField(
        max_digits=4, decimal_places=1, min_value=0, max_value=360, required=False, default=None
    )

    def validate_recorded_at(self, value):
        if value is not None and value > timezone.now() + MAX_CLOCK_SKEW:
            raise serializers.ValidationError("recorded_at is in the future.")
        return value


class LocationResult(serializers.Serializer):
    moved = serializers.BooleanField(
        help_text="False when the fix is older than the stored location (kept, not applied)."
    )
