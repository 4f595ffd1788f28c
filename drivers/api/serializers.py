from uuid import UUID

from django.utils import timezone
from rest_framework import serializers

from drivers import selectors
from drivers.models import Driver, DriverStatus
from drivers.planning import Limit
from fleet.models import Carrier
from tms.api import BoundedDateTimeField, ModelSerializer, PointField, QuerySerializer, Serializer
from tms.models import MAX_CLOCK_SKEW

# A violations window longer than this is a report, not a clock: FMCSA keeps logs for 6 months.
MAX_VIOLATIONS_WINDOW = timezone.timedelta(days=184)


class DriverSerializer(ModelSerializer):
    carrier_id = serializers.PrimaryKeyRelatedField(source="carrier", queryset=Carrier.objects.all())
    current_location = PointField(read_only=True)
    current_load_id = serializers.SerializerMethodField(
        help_text="The load the driver is on (ASSIGNED, PICKED_UP, IN_TRANSIT or DELAYED), or null."
    )
    distance_m = serializers.SerializerMethodField(
        help_text="Distance from the `near` point, metres (only with ?near=)."
    )
    hours_remaining = serializers.SerializerMethodField(
        help_text=(
            "Driving hours the driver may legally do from now before the next 10-hour break, taking "
            "30-minute breaks as required, rounded down to the hundredth: derived from the duty-status "
            "log at this read, the same number as `legal_driving_h` of GET /api/drivers/{id}/hos."
        )
    )

    class Meta:
        model = Driver
        fields = [
            "id",
            "carrier_id",
            "user",
            "employee_number",
            "name",
            "phone",
            "email",
            "license_number",
            "license_state",
            "license_class",
            "license_expiry",
            "status",
            "is_active",
            "current_load_id",
            "hours_remaining",
            "hos_cycle",
            "short_haul_exception",
            "home_terminal_timezone",
            "current_location",
            "location_updated_at",
            "distance_m",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["status", "location_updated_at"]

    def get_hours_remaining(self, driver) -> float:
        # A page of drivers has them already (DriverViewSet.get_serializer): one read of the logs.
        hours = getattr(driver, "hours_remaining_now", None)
        if hours is None:
            hours = selectors.hours_remaining([driver], timezone.now())[driver.pk]
        return hours

    def get_current_load_id(self, driver) -> UUID | None:
        return selectors.current_load_id(driver)

    def get_distance_m(self, driver) -> float | None:
        distance = getattr(driver, "distance", None)
        return round(distance.m, 1) if distance is not None else None


class DriverStatusInput(Serializer):
    status = serializers.ChoiceField(
        choices=DriverStatus.choices,
        help_text="The duty status now; AVAILABLE is on duty, not driving, ready for dispatch.",
    )
    reason = serializers.CharField(max_length=255, required=False, default="", allow_blank=True)
    at = BoundedDateTimeField(
        required=False,
        default=None,
        allow_null=True,
        help_text="When the status changed (default now); not before the current log record's start.",
    )

    def validate_at(self, value):
        if value is not None and value > timezone.now() + MAX_CLOCK_SKEW:
            raise serializers.ValidationError("at is more than 5 minutes in the future.")
        return value


class DriverLocationInput(Serializer):
    longitude = serializers.FloatField(min_value=-180, max_value=180)
    latitude = serializers.FloatField(min_value=-90, max_value=90)
    recorded_at = BoundedDateTimeField(required=False, default=None, allow_null=True)

    def validate_recorded_at(self, value):
        if value is not None and value > timezone.now() + MAX_CLOCK_SKEW:
            raise serializers.ValidationError("recorded_at is in the future.")
        return value


class _QueryDateTimeField(BoundedDateTimeField):
    def to_internal_value(self, value):
        # An unencoded "+" in a query string arrives as a space: 10:00:00 02:00 means +02:00.
        if isinstance(value, str) and "T" in value and " " in value:
            value = value.replace(" ", "+")
        return super().to_internal_value(value)


class HosQuery(QuerySerializer):
    at = _QueryDateTimeField(required=False, help_text="The instant of the clock (default now).")
    start = _QueryDateTimeField(required=False, help_text="Violations from (default end - 8 days).")
    end = _QueryDateTimeField(required=False, help_text="Violations until (default `at`).")

    def validate(self, attrs):
        attrs["at"] = attrs.get("at") or timezone.now()
        attrs["end"] = attrs.get("end") or attrs["at"]
        attrs["start"] = attrs.get("start") or attrs["end"] - timezone.timedelta(days=8)
        if attrs["start"] >= attrs["end"]:
            raise serializers.ValidationError({"start": ["start must be before end."]})
        if attrs["end"] - attrs["start"] > MAX_VIOLATIONS_WINDOW:
            raise serializers.ValidationError({"start": ["The window is limited to 184 days."]})
        return attrs


class HosViolationOutput(Serializer):
    rule = serializers.CharField(help_text="49 CFR 395 paragraph, e.g. 395.3(a)(3)(i).")
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    message = serializers.CharField()


class HosClockOutput(Serializer):
    driver_id = serializers.UUIDField()
    at = serializers.DateTimeField()
    time_zone = serializers.CharField(help_text="Home terminal zone; the explanations use its local times.")
    cycle = serializers.CharField()
    short_haul_exception = serializers.BooleanField()
    drive_remaining_h = serializers.FloatField(help_text="Driving left under the 11-hour limit.")
    window_remaining_h = serializers.FloatField(help_text="Time left in the 14-hour duty window.")
    window_end = serializers.DateTimeField(allow_null=True, help_text="Null while the window is not open.")
    break_required_in_h = serializers.FloatField(
        allow_null=True, help_text="Driving left before a 30-minute break; null when short-haul exempt."
    )
    cycle_remaining_h = serializers.FloatField()
    cycle_used_h = serializers.FloatField()
    restart_completed_at = serializers.DateTimeField(allow_null=True)
    in_violation = serializers.BooleanField(help_text="Driving past a limit at `at`.")
    legal_driving_h = serializers.FloatField(
        help_text="Driving the driver may legally do from `at`, with 30-minute breaks as required."
    )
    binding_limit = serializers.ChoiceField(choices=[limit.value for limit in Limit], allow_null=True)
    violations_start = serializers.DateTimeField()
    violations_end = serializers.DateTimeField()
    violations = HosViolationOutput(many=True)
    explanations = serializers.DictField(child=serializers.CharField())
