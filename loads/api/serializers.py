from decimal import Decimal

from django.utils import timezone
from rest_framework import serializers

from customers.models import Customer
from drivers.models import Driver
from fleet.models import Carrier, Vehicle
from loads.geofence import suggested_transition
from loads.models import TRANSITION_FIELDS, Facility, Load, StopEvent
from tms.api import BoundedDateTimeField, ModelSerializer, PointField, Serializer
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
    shipper_id = serializers.PrimaryKeyRelatedField(
        source="shipper", queryset=Facility.objects.all(), help_text="The pickup facility."
    )
    consignee_id = serializers.PrimaryKeyRelatedField(
        source="consignee", queryset=Facility.objects.all(), help_text="The delivery facility."
    )
    carrier_id = serializers.PrimaryKeyRelatedField(
        source="carrier",
        queryset=Carrier.objects.all(),
        required=False,
        allow_null=True,
        help_text="The carrier the load is tendered to; set from the vehicle when assigned.",
    )
    vehicle_id = serializers.UUIDField(
        read_only=True, allow_null=True, help_text="Set by assignment (POST .../assign)."
    )
    driver_id = serializers.UUIDField(
        read_only=True, allow_null=True, help_text="Set by assignment (POST .../assign)."
    )
    customer_id = serializers.PrimaryKeyRelatedField(
        source="customer",
        queryset=Customer.objects.all(),
        required=False,
        allow_null=True,
        help_text="Who pays for the load (the bill-to customer); an inactive customer is refused.",
    )
    pickup_location = PointField(required=False, help_text="Defaults to the shipper's location.")
    delivery_location = PointField(required=False, help_text="Defaults to the consignee's location.")

    class Meta:
        model = Load
        fields = [
            "id",
            "load_number",
            "status",
            "shipper_id",
            "consignee_id",
            "carrier_id",
            "vehicle_id",
            "driver_id",
            "pickup_location",
            "pickup_address",
            "pickup_datetime",
            "delivery_location",
            "delivery_address",
            "delivery_datetime",
            "commodity",
            "required_equipment",
            "temperature_min_c",
            "temperature_max_c",
            "weight",
            "volume",
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
            "customer_id",
            "po_number",
            "bol_number",
            "customer_reference",
            "created_at",
            "updated_at",
        ]
        read_only_fields = [name for name in TRANSITION_FIELDS if name not in ("vehicle", "driver")]
        extra_kwargs = {
            "load_number": {"required": False, "help_text": "Generated when omitted."},
            "pickup_address": {"required": False},
            "delivery_address": {"required": False},
            "weight": {"min_value": Decimal("0.1")},
            "volume": {"min_value": Decimal("0.01")},
            "rate": {"min_value": 0},
        }

    def validate(self, attrs):
        pickup_datetime = attrs.get("pickup_datetime", getattr(self.instance, "pickup_datetime", None))
        delivery_datetime = attrs.get("delivery_datetime", getattr(self.instance, "delivery_datetime", None))
        if pickup_datetime and delivery_datetime and delivery_datetime <= pickup_datetime:
            raise serializers.ValidationError({"delivery_datetime": "Delivery must be after pickup."})
        shipper = attrs.get("shipper", getattr(self.instance, "shipper", None))
        consignee = attrs.get("consignee", getattr(self.instance, "consignee", None))
        if shipper and shipper == consignee:
            raise serializers.ValidationError({"consignee_id": "The consignee must differ from the shipper."})
        return attrs


class AssignInput(Serializer):
    vehicle_id = serializers.PrimaryKeyRelatedField(
        source="vehicle", queryset=Vehicle.objects.select_related("carrier")
    )
    driver_id = serializers.PrimaryKeyRelatedField(source="driver", queryset=Driver.objects.all())


class MilestoneInput(Serializer):
    at = BoundedDateTimeField(
        required=False, default=None, allow_null=True, help_text="When it happened; now if omitted."
    )

    def validate_at(self, value):
        if value is not None and value > timezone.now() + MAX_CLOCK_SKEW:
            raise serializers.ValidationError("This cannot be in the future.")
        return value


class CancelInput(Serializer):
    reason = serializers.CharField(max_length=255)


class DelayInput(Serializer):
    reason = serializers.CharField(max_length=255)
    expected_delivery_at = BoundedDateTimeField(required=False, default=None, allow_null=True)


# A stop of the load in the context (`load`), with the status change it suggests.
class StopEventSerializer(ModelSerializer):
    load_id = serializers.UUIDField(read_only=True)
    vehicle_id = serializers.UUIDField(read_only=True)
    facility_id = serializers.UUIDField(read_only=True)
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
            "load_id",
            "vehicle_id",
            "facility_id",
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
