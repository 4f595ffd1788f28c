import datetime

from django.conf import settings
from django.utils import timezone
from rest_framework import serializers
from rest_framework_gis.fields import GeometryField

from drivers.models import Driver
from fleet.models import Vehicle
from loads.models import Load, LoadStatus
from routing.fleet import PlanRequest
from routing.graph import MAX_HOPS
from routing.models import FleetPlan, Route
from tms.api import BoundedDateTimeField, ModelSerializer, PointField, QuerySerializer, Serializer


class RouteSerializer(ModelSerializer):
    origin = PointField(read_only=True)
    destination = PointField(read_only=True)
    path = GeometryField(read_only=True, help_text="GeoJSON LineString, [lon, lat] pairs.")

    class Meta:
        model = Route
        fields = [
            "id",
            "load",
            "vehicle",
            "driver",
            "origin",
            "destination",
            "path",
            "distance_m",
            "duration_s",
            "duration_in_traffic_s",
            "score",
            "score_explanation",
            "fuel_estimate_l",
            "fuel_cost_estimate",
            "toll_estimate",
            "provider",
            "steps",
            "is_current",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class OptimizeLoadRouteSerializer(Serializer):
    load = serializers.PrimaryKeyRelatedField(queryset=Load.objects.all())
    vehicle = serializers.PrimaryKeyRelatedField(queryset=Vehicle.objects.all())
    driver = serializers.PrimaryKeyRelatedField(
        queryset=Driver.objects.all(), required=False, allow_null=True
    )


class RouteJobSerializer(Serializer):
    job_id = serializers.UUIDField()
    status = serializers.ChoiceField(choices=["PENDING", "SUCCEEDED", "FAILED"])
    route = serializers.UUIDField(required=False, allow_null=True)
    error = serializers.CharField(required=False, allow_null=True)
    status_url = serializers.CharField(required=False)


class OptimizeFleetSerializer(Serializer):
    """What to plan; every field is optional. Defaults come from the ROUTING_FLEET_* settings."""

    loads = serializers.ListField(
        child=serializers.UUIDField(),
        required=False,
        min_length=1,
        help_text="CREATED loads to plan; default: every CREATED load picked up within the horizon.",
    )
    vehicles = serializers.ListField(
        child=serializers.UUIDField(),
        required=False,
        min_length=1,
        max_length=1000,
        help_text="Trucks to plan with; default: every AVAILABLE truck of an active carrier.",
    )
    at = BoundedDateTimeField(required=False, help_text="When the plan starts; default now.")
    horizon_hours = serializers.IntegerField(
        min_value=1, max_value=168, required=False, help_text="Plan the loads picked up within this."
    )
    time_limit_s = serializers.IntegerField(min_value=1, max_value=120, required=False)
    pickup_window_minutes = serializers.IntegerField(
        min_value=0,
        max_value=24 * 60,
        required=False,
        help_text="How late after `pickup_datetime` a pickup may be.",
    )
    stop_minutes = serializers.IntegerField(
        min_value=0, max_value=8 * 60, required=False, help_text="Loading or unloading time at each stop."
    )
    shift_hours = serializers.IntegerField(
        min_value=1,
        max_value=11,
        required=False,
        help_text="Longest stretch of work (driving and stops) between two 10-hour rests.",
    )

    def validate_loads(self, value: list) -> list:
        if len(value) > settings.ROUTING_FLEET_MAX_LOADS:
            raise serializers.ValidationError(f"At most {settings.ROUTING_FLEET_MAX_LOADS} loads per plan.")
        found = dict(Load.objects.filter(pk__in=value).values_list("pk", "status"))
        unknown = [str(pk) for pk in value if pk not in found]
        if unknown:
            raise serializers.ValidationError(f"Unknown loads: {', '.join(unknown)}.")
        open_ = [str(pk) for pk, status in found.items() if status != LoadStatus.CREATED]
        if open_:
            raise serializers.ValidationError(
                f"Only CREATED loads can be planned; not: {', '.join(sorted(open_))}."
            )
        return list(dict.fromkeys(value))

    def validate_vehicles(self, value: list) -> list:
        found = set(Vehicle.objects.filter(pk__in=value).values_list("pk", flat=True))
        unknown = [str(pk) for pk in value if pk not in found]
        if unknown:
            raise serializers.ValidationError(f"Unknown vehicles: {', '.join(unknown)}.")
        return list(dict.fromkeys(value))

    def validate_at(self, value):
        now = timezone.now()
        if not now - datetime.timedelta(hours=1) <= value <= now + datetime.timedelta(days=7):
            raise serializers.ValidationError("Must be within the last hour or the next 7 days.")
        return value

    def plan_request(self) -> PlanRequest:
        data = self.validated_data
        return PlanRequest(
            at=data.get("at") or timezone.now(),
            horizon=datetime.timedelta(hours=data.get("horizon_hours", settings.ROUTING_FLEET_HORIZON_HOURS)),
            time_limit_s=data.get("time_limit_s", settings.ROUTING_FLEET_TIME_LIMIT_S),
            pickup_window=datetime.timedelta(
                minutes=data.get("pickup_window_minutes", settings.ROUTING_FLEET_PICKUP_WINDOW_MINUTES)
            ),
            stop_time=datetime.timedelta(
                minutes=data.get("stop_minutes", settings.ROUTING_FLEET_STOP_MINUTES)
            ),
            shift=datetime.timedelta(hours=data.get("shift_hours", settings.ROUTING_FLEET_SHIFT_HOURS)),
            load_ids=data.get("loads"),
            vehicle_ids=data.get("vehicles"),
        )


class FleetPlanSerializer(ModelSerializer):
    class Meta:
        model = FleetPlan
        fields = [
            "id",
            "status",
            "planned_at",
            "request",
            "loads_planned",
            "loads_unserved",
            "vehicles_used",
            "distance_m",
            "result",
            "error",
            "requested_by",
            "solved_at",
            "accepted_at",
            "accepted_by",
            "acceptance",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class AcceptFleetPlanSerializer(Serializer):
    vehicles = serializers.ListField(
        child=serializers.UUIDField(),
        required=False,
        min_length=1,
        help_text="Accept only these trucks' routes; default: every route.",
    )


class DiscardFleetPlanSerializer(Serializer):
    pass


# --------------------------------------------------------------------------- the freight network


class LaneSerializer(Serializer):
    origin_id = serializers.UUIDField()
    origin_name = serializers.CharField(allow_null=True)
    destination_id = serializers.UUIDField()
    destination_name = serializers.CharField(allow_null=True)
    load_count = serializers.IntegerField()
    total_rate = serializers.FloatField(help_text="USD")
    average_rate = serializers.FloatField(help_text="USD")
    total_transit_s = serializers.FloatField()
    average_transit_s = serializers.FloatField()


class LaneCarrierSerializer(Serializer):
    carrier_id = serializers.UUIDField()
    carrier_name = serializers.CharField(allow_null=True)
    load_count = serializers.IntegerField()


class RelayFacilitySerializer(Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField(allow_null=True)


class RelayPathSerializer(Serializer):
    facility_ids = serializers.ListField(child=serializers.UUIDField())
    facilities = RelayFacilitySerializer(many=True)
    hops = serializers.IntegerField()
    total_average_transit_s = serializers.FloatField()


class LanesQuery(QuerySerializer):
    limit = serializers.IntegerField(min_value=1, max_value=100, default=10)


class LaneIds(Serializer):
    origin_id = serializers.UUIDField()
    destination_id = serializers.UUIDField()


class PathsQuery(QuerySerializer):
    # "from" is a Python keyword: the fields are declared below under their query names.
    max_hops = serializers.IntegerField(min_value=1, max_value=MAX_HOPS, default=3)
    limit = serializers.IntegerField(min_value=1, max_value=20, default=5)

    def get_fields(self):
        fields = super().get_fields()
        fields["from"] = serializers.UUIDField()
        fields["to"] = serializers.UUIDField()
        return fields
