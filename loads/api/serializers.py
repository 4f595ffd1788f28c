from decimal import Decimal

from django.utils import timezone
from rest_framework import serializers

from customers.models import Customer
from drivers.models import Driver
from fleet.models import Carrier, Vehicle
from loads.geofence import suggested_transition
from loads.models import TRANSITION_FIELDS, Facility, Load, Stop, StopEvent
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


# What the geofence and the planners set on a stop: read-only in the API.
STOP_READ_ONLY = [
    "id",
    "load_id",
    "sequence",
    "planned_arrival_at",
    "planned_departure_at",
    "arrived_at",
    "departed_at",
    "created_at",
    "updated_at",
]


class StopSerializer(ModelSerializer):
    """A planned stop of a load, with its actual arrival and departure (the geofence's)."""

    load_id = serializers.UUIDField(read_only=True)
    facility_id = serializers.PrimaryKeyRelatedField(source="facility", queryset=Facility.objects.all())
    location = PointField(required=False, help_text="Where the truck stops; defaults to the facility's.")

    class Meta:
        model = Stop
        fields = [
            "id",
            "load_id",
            "sequence",
            "kind",
            "facility_id",
            "location",
            "address",
            "earliest_at",
            "latest_at",
            "service_minutes",
            "pieces",
            "weight",
            "instructions",
            "planned_arrival_at",
            "planned_departure_at",
            "arrived_at",
            "departed_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = STOP_READ_ONLY
        extra_kwargs = {
            "address": {"required": False, "help_text": "Defaults to the facility's address."},
            "earliest_at": {"help_text": "The appointment window opens (RFC 3339)."},
            "latest_at": {"help_text": "The appointment window closes; equal to earliest_at: a fixed time."},
            "weight": {"min_value": Decimal("0")},
        }

    def validate(self, attrs):
        earliest = attrs.get("earliest_at", getattr(self.instance, "earliest_at", None))
        latest = attrs.get("latest_at", getattr(self.instance, "latest_at", None))
        if earliest and latest and latest < earliest:
            raise serializers.ValidationError({"latest_at": "The window cannot close before it opens."})
        return attrs


class StopAddInput(StopSerializer):
    """A stop to add: `sequence` is where (1 first; omitted: at the end)."""

    sequence = serializers.IntegerField(
        required=False, min_value=1, max_value=1000, help_text="Where it goes, from 1; omitted: last."
    )


class StopChangeInput(StopSerializer):
    """A change of a stop: its kind and place in the order are not changed here (remove and add,
    or reorder)."""

    kind = serializers.CharField(read_only=True)


class ReorderInput(Serializer):
    stop_ids = serializers.ListField(
        child=serializers.UUIDField(),
        min_length=2,
        max_length=1000,
        help_text="Every stop of the load, each once, in the new order.",
    )


class LoadSerializer(ModelSerializer):
    shipper_id = serializers.PrimaryKeyRelatedField(
        source="shipper",
        queryset=Facility.objects.all(),
        required=False,
        help_text="The pickup facility (the first pickup stop's); required without `stops`.",
    )
    consignee_id = serializers.PrimaryKeyRelatedField(
        source="consignee",
        queryset=Facility.objects.all(),
        required=False,
        help_text="The delivery facility (the last delivery stop's); required without `stops`.",
    )
    stops = StopSerializer(
        many=True,
        required=False,
        help_text="The planned stops in order (at least a pickup first and a delivery last). On "
        "create, optional: without it the shipper, consignee and pickup/delivery fields make the two "
        "stops; with it those fields are derived (send them only equal). Not accepted on update: "
        "change stops at /api/loads/{id}/stops.",
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
            "stops",
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
            "pickup_datetime": {
                "required": False,
                "help_text": "Scheduled pickup: the first pickup's window opening; required without `stops`.",
            },
            "delivery_datetime": {
                "required": False,
                "help_text": "Scheduled delivery: the last delivery's window close; required without stops.",
            },
            "pickup_address": {"required": False},
            "delivery_address": {"required": False},
            "weight": {"min_value": Decimal("0.1")},
            "volume": {"min_value": Decimal("0.01")},
            "rate": {"min_value": 0},
        }

    def validate(self, attrs):
        if "stops" in attrs:
            if self.instance is not None:
                message = "Change a load's stops at /api/loads/{id}/stops (add, change, remove, reorder)."
                raise serializers.ValidationError({"stops": message})
            if len(attrs["stops"]) < 2:
                raise serializers.ValidationError({"stops": "At least a pickup and a delivery."})
            return attrs
        if self.instance is None:
            required = ["shipper_id", "consignee_id", "pickup_datetime", "delivery_datetime"]
            missing = [name for name in required if attrs.get(name.removesuffix("_id")) is None]
            if missing:
                raise serializers.ValidationError(
                    {name: "This field is required (or send `stops`)." for name in missing}
                )
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


# A geofence visit of the load in the context (`load`, and its `last_stop` id), with the status
# change it suggests.
class StopEventSerializer(ModelSerializer):
    load_id = serializers.UUIDField(read_only=True)
    vehicle_id = serializers.UUIDField(read_only=True)
    facility_id = serializers.UUIDField(read_only=True)
    facility_name = serializers.CharField(source="facility.name", read_only=True)
    stop_id = serializers.UUIDField(
        read_only=True, allow_null=True, help_text="The planned stop the visit served (null: before stops)."
    )
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
            "stop_id",
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
        return suggested_transition(stop, self.context["load"], last_stop=self.context["last_stop"])

    def get_suggested_transition(self, stop) -> str | None:
        suggestion = self._suggestion(stop)
        return suggestion.status if suggestion else None

    def get_suggested_at(self, stop) -> str | None:
        suggestion = self._suggestion(stop)
        return serializers.DateTimeField().to_representation(suggestion.at) if suggestion else None
