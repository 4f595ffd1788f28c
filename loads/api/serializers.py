from decimal import Decimal

from django.utils import timezone
from rest_framework import serializers

from drivers.models import Driver
from fleet.models import Vehicle
from loads.geofence import suggested_transition
from loads.models import TRANSITION_FIELDS, Facility, Load, StopEvent
from tms.api import BoundedDateTimeField, ModelSerializer, PointField
from tms.models import MAX_CLOCK_SKEW


class FacilitySerializer(ModelSerializer):
    location = PointField()

    class Meta:
        model = Facility
        fields = [
            "id",
            "name",
            "facility_type",
            "address",
            "city",
            "state",
            "postal_code",
            "country",
            "location",
            "timezone",
            "contact_name",
            "contact_phone",
            "created_at",
            "updated_at",
        ]


class LoadSerializer(ModelSerializer):
    pickup_location = PointField(required=False, help_text="Defaults to the shipper's location.")
    delivery_location = PointField(required=False, help_text="Defaults to the consignee's location.")

    class Meta:
        model = Load
        fields = [
            "id",
            "load_number",
            "status",
            "shipper",
            "consignee",
            "carrier",
            "vehicle",
            "driver",
            "pickup_location",
            "pickup_address",
            "pickup_at",
            "delivery_location",
            "delivery_address",
            "delivery_at",
            "commodity",
            "weight_kg",
            "volume_m3",
            "rate",
            "estimated_distance_m",
            "estimated_driving_hours",
            "assigned_at",
            "picked_up_at",
            "in_transit_at",
            "delivered_at",
            "cancelled_at",
            "cancellation_reason",
            "delay_reason",
            "expected_delivery_at",
            "notes",
            "created_at",
            "updated_at",
        ]
        read_only_fields = TRANSITION_FIELDS
        extra_kwargs = {
            "load_number": {"required": False, "help_text": "Generated when omitted."},
            "pickup_address": {"required": False},
            "delivery_address": {"required": False},
            "weight_kg": {"min_value": Decimal("0.1")},
            "volume_m3": {"min_value": Decimal("0.01")},
            "rate": {"min_value": 0},
        }

    def validate(self, attrs):
        pickup_at = attrs.get("pickup_at", getattr(self.instance, "pickup_at", None))
        delivery_at = attrs.get("delivery_at", getattr(self.instance, "delivery_at", None))
        if pickup_at and delivery_at and delivery_at <= pickup_at:
            raise serializers.ValidationError({"delivery_at": "Delivery must be after pickup."})
        shipper = attrs.get("shipper", getattr(self.instance, "shipper", None))
        consignee = attrs.get("consignee", getattr(self.instance, "consignee", None))
        if shipper and shipper == consignee:
            raise serializers.ValidationError({"consignee": "The consignee must differ from the shipper."})
        return attrs


class AssignInput(serializers.Serializer):
    vehicle = serializers.PrimaryKeyRelatedField(queryset=Vehicle.objects.select_related("carrier"))
    driver = serializers.PrimaryKeyRelatedField(queryset=Driver.objects.all())


class MilestoneInput(serializers.Serializer):
    at = BoundedDateTimeField(
        required=False, default=None, allow_null=True, help_text="When it happened; now if omitted."
    )

    def validate_at(self, value):
        if value is not None and value > timezone.now() + MAX_CLOCK_SKEW:
            raise serializers.ValidationError("This cannot be in the future.")
        return value


class CancelInput(serializers.Serializer):
    reason = serializers.CharField(max_length=255)


class DelayInput(serializers.Serializer):
    reason = serializers.CharField(max_length=255)
    expected_delivery_at = BoundedDateTimeField(required=False, default=None, allow_null=True)


# A stop of the load in the context (`load`), with the status change it suggests.
class StopEventSerializer(ModelSerializer):
    facility_name = serializers.CharField(source="facility.name", read_only=True)
    suggested_transition = serializers.SerializerMethodField(
        help_text="The load's next status this stop supports (PICKED_UP, IN_TRANSIT, DELIVERED), or null."
    )
    suggested_at = serializers.SerializerMethodField(
        help_text="When it happened by GPS: the `at` to send with the transition."
    )

    class Meta:
        model = StopEvent
        fields = [
            "id",
            "load",
            "vehicle",
            "facility",
            "facility_name",
            "kind",
            "arrived_at",
            "departed_at",
            "dwell_s",
            "suggested_transition",
            "suggested_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def _suggestion(self, stop):
        return suggested_transition(stop, self.context["load"])

    def get_suggested_transition(self, stop) -> str | None:
        suggestion = self._suggestion(stop)
        return suggestion.status if suggestion else None

    def get_suggested_at(self, stop) -> str | None:
        suggestion = self._suggestion(stop)
        return serializers.DateTimeField().to_representation(suggestion.at) if suggestion else None
