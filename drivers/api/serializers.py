from django.utils import timezone
from rest_framework import serializers

from drivers.models import MANUAL_DRIVER_STATUSES, Driver, DutyStatus
from fleet.api.serializers import MAX_CLOCK_SKEW
from tms.api import PointField


class DriverSerializer(serializers.ModelSerializer):
    current_location = PointField(read_only=True)
    full_name = serializers.CharField(read_only=True)
    distance_m = serializers.SerializerMethodField(
        help_text="Distance from the `near` point, metres (only with ?near=)."
    )

    class Meta:
        model = Driver
        fields = [
            "id",
            "carrier",
            "user",
            "employee_number",
            "first_name",
            "last_name",
            "full_name",
            "phone",
            "email",
            "license_number",
            "license_state",
            "license_class",
            "license_expiry",
            "status",
            "duty_status",
            "hours_remaining",
            "current_location",
            "location_updated_at",
            "distance_m",
            "created_at",
            "updated_at",
        ]
        read_only_fields = [
            "status",
            "duty_status",
            "hours_remaining",
            "location_updated_at",
        ]

    def get_distance_m(self, driver) -> float | None:
        distance = getattr(driver, "distance", None)
        return round(distance.m, 1) if distance is not None else None


class DriverStatusInput(serializers.Serializer):
    status = serializers.ChoiceField(choices=sorted(MANUAL_DRIVER_STATUSES), required=False)
    duty_status = serializers.ChoiceField(choices=DutyStatus.choices, required=False)
    reason = serializers.CharField(max_length=255, required=False, default="", allow_blank=True)

    def validate(self, attrs):
        if "status" not in attrs and "duty_status" not in attrs:
            raise serializers.ValidationError("Send status, duty_status or both.")
        return attrs


class DriverLocationInput(serializers.Serializer):
    longitude = serializers.FloatField(min_value=-180, max_value=180)
    latitude = serializers.FloatField(min_value=-90, max_value=90)
    recorded_at = serializers.DateTimeField(required=False, default=None, allow_null=True)

    def validate_recorded_at(self, value):
        if value is not None and value > timezone.now() + MAX_CLOCK_SKEW:
            raise serializers.ValidationError("recorded_at is in the future.")
        return value
