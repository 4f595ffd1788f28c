import datetime

from django.conf import settings
from django.utils import timezone
from rest_framework import serializers
from rest_framework_gis.fields import GeometryField

from drivers.models import Driver
from fleet.models import Vehicle
from loads.models import Load, LoadStatus, StopKind
from routing.fleet import PlanRequest
from routing.graph import MAX_HOPS
from routing.models import FleetPlan, Route
from tms.api import (
    BoundedDateTimeField,
    ModelSerializer,
    PagedQuery,
    PointField,
    QuerySerializer,
    Serializer,
    TypedJSONField,
)

# --- What the JSON columns hold, for the schema (each is sent as stored) ------------------------------


class RouteStep(Serializer):
    instruction = serializers.CharField(help_text="The provider's instruction, as text.")
    distance_m = serializers.IntegerField()
    duration_s = serializers.IntegerField()


class RouteLeg(Serializer):
    stop_id = serializers.UUIDField()
    sequence = serializers.IntegerField(help_text="The stop's position in the load, from 1.")
    kind = serializers.CharField(help_text="PICKUP or DELIVERY.")
    facility_id = serializers.UUIDField()
    distance_m = serializers.IntegerField(
        help_text="Driven to this stop from the previous one (0 at the first)."
    )
    duration_s = serializers.IntegerField()
    duration_in_traffic_s = serializers.IntegerField(allow_null=True)
    end_fraction = serializers.FloatField(help_text="Where the stop lies along the path, 0..1.")
    service_s = serializers.IntegerField(help_text="Loading or unloading time planned at the stop.")
    planned_arrival_at = serializers.DateTimeField()
    planned_departure_at = serializers.DateTimeField()


class ScoreDetour(Serializer):
    weight = serializers.FloatField()
    value = serializers.FloatField(help_text="0..1: 2 - distance / great circle, clamped.")
    distance_m = serializers.IntegerField()
    great_circle_m = serializers.IntegerField()
    ratio = serializers.FloatField()


class ScoreTraffic(Serializer):
    weight = serializers.FloatField()
    value = serializers.FloatField(help_text="0..1: 2 - duration in traffic / duration, clamped.")
    duration_s = serializers.IntegerField()
    duration_in_traffic_s = serializers.IntegerField(allow_null=True)
    ratio = serializers.FloatField()


class ScoreSlack(Serializer):
    weight = serializers.FloatField()
    value = serializers.FloatField(help_text="0..1: slack before the delivery time / target, clamped.")
    departure_at = serializers.DateTimeField()
    arrival_at = serializers.DateTimeField(
        required=False,
        help_text="The planned arrival at the last stop, waits and service at the stops between "
        "included (absent from routes scored before it was recorded).",
    )
    delivery_datetime = serializers.DateTimeField(help_text="The load's delivery_datetime.")
    slack_s = serializers.IntegerField(help_text="delivery_datetime - arrival_at, in seconds.")
    target_s = serializers.IntegerField()


class ScoreExplanation(Serializer):
    """The score's formula and the figures behind it; empty for a route stored without a score."""

    formula = serializers.CharField(required=False)
    score = serializers.FloatField(required=False)
    detour = ScoreDetour(required=False)
    traffic = ScoreTraffic(required=False)
    slack = ScoreSlack(required=False)
    provider = serializers.CharField(required=False)
    fallback_reason = serializers.CharField(required=False, allow_null=True)


class RouteSerializer(ModelSerializer):
    load_id = serializers.UUIDField(read_only=True)
    vehicle_id = serializers.UUIDField(read_only=True)
    driver_id = serializers.UUIDField(read_only=True, allow_null=True)
    origin = PointField(read_only=True)
    destination = PointField(read_only=True)
    path = GeometryField(read_only=True, help_text="GeoJSON LineString, [lon, lat] pairs.")
    score_explanation = TypedJSONField(schema=ScoreExplanation, read_only=True)
    steps = TypedJSONField(schema=RouteStep(many=True), read_only=True, help_text="Turn by turn (Google).")
    legs = TypedJSONField(
        schema=RouteLeg(many=True),
        read_only=True,
        help_text="Per stop of the load, in order: the leg to it and its planned times (empty on routes "
        "planned before stops).",
    )

    class Meta:
        model = Route
        fields = [
            "id",
            "load_id",
            "vehicle_id",
            "driver_id",
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
            "legs",
            "is_current",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class OptimizeLoadRouteSerializer(Serializer):
    load_id = serializers.PrimaryKeyRelatedField(source="load", queryset=Load.objects.all())
    vehicle_id = serializers.PrimaryKeyRelatedField(source="vehicle", queryset=Vehicle.objects.all())
    driver_id = serializers.PrimaryKeyRelatedField(
        source="driver", queryset=Driver.objects.all(), required=False, allow_null=True
    )


class ProblemSerializer(Serializer):
    """Why a job (or one load of a plan) failed: the error's code and message, as in the API's errors."""

    code = serializers.CharField()
    message = serializers.CharField()


class RouteJobSerializer(Serializer):
    job_id = serializers.UUIDField()
    status = serializers.ChoiceField(choices=["PENDING", "SUCCEEDED", "FAILED"])
    route_id = serializers.UUIDField(required=False, allow_null=True, help_text="Set when SUCCEEDED.")
    error = ProblemSerializer(required=False, allow_null=True, help_text="Set when FAILED.")
    status_url = serializers.CharField(required=False)


class OptimizeFleetSerializer(Serializer):
    """What to plan; every field is optional. Defaults come from the ROUTING_FLEET_* settings."""

    load_ids = serializers.ListField(
        child=serializers.UUIDField(),
        required=False,
        min_length=1,
        help_text="CREATED loads to plan; default: every CREATED load picked up within the horizon.",
    )
    vehicle_ids = serializers.ListField(
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

    def validate_load_ids(self, value: list) -> list:
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

    def validate_vehicle_ids(self, value: list) -> list:
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
            load_ids=data.get("load_ids"),
            vehicle_ids=data.get("vehicle_ids"),
        )


class PlanRequestSerializer(Serializer):
    at = serializers.DateTimeField()
    horizon_hours = serializers.FloatField()
    time_limit_s = serializers.IntegerField()
    pickup_window_minutes = serializers.FloatField()
    stop_minutes = serializers.FloatField()
    shift_hours = serializers.FloatField()
    load_ids = serializers.ListField(child=serializers.UUIDField(), allow_null=True)
    vehicle_ids = serializers.ListField(child=serializers.UUIDField(), allow_null=True)


class PlanSummary(Serializer):
    loads_considered = serializers.IntegerField()
    loads_planned = serializers.IntegerField()
    loads_unserved = serializers.IntegerField()
    vehicles_available = serializers.IntegerField()
    vehicles_used = serializers.IntegerField()
    distance_m = serializers.IntegerField()
    deadhead_m = serializers.IntegerField()
    loaded_m = serializers.IntegerField()
    solve_seconds = serializers.FloatField()
    objective = serializers.CharField()
    travel_model = serializers.CharField()


class PlanStop(Serializer):
    load_id = serializers.UUIDField()
    load_number = serializers.CharField()
    # Absent from plans solved before stops.
    stop_id = serializers.UUIDField(required=False)
    sequence = serializers.IntegerField(required=False, help_text="The stop's position in its load, from 1.")
    kind = serializers.ChoiceField(choices=StopKind.choices)
    location = PointField()
    address = serializers.CharField()
    arrive_by = serializers.DateTimeField()
    window_start = serializers.DateTimeField(allow_null=True, help_text="Null: a delivery by window_end.")
    window_end = serializers.DateTimeField()
    leg_m = serializers.IntegerField(help_text="Driven to this stop from the truck's previous stop.")


class PlanRoute(Serializer):
    vehicle_id = serializers.UUIDField()
    vehicle_number = serializers.CharField()
    driver_id = serializers.UUIDField()
    driver_name = serializers.CharField()
    carrier_id = serializers.UUIDField()
    start_location = PointField()
    depart_at = serializers.DateTimeField()
    finish_at = serializers.DateTimeField()
    driving_hours = serializers.FloatField()
    cycle_hours_left = serializers.FloatField()
    distance_m = serializers.IntegerField()
    deadhead_m = serializers.IntegerField()
    loaded_m = serializers.IntegerField()
    load_ids = serializers.ListField(child=serializers.UUIDField(), help_text="In the order driven.")
    stops = PlanStop(many=True)


class PlanUnservedLoad(Serializer):
    load_id = serializers.UUIDField()
    load_number = serializers.CharField()
    code = serializers.CharField()
    reason = serializers.CharField()


class PlanIdleVehicle(Serializer):
    vehicle_id = serializers.UUIDField()
    vehicle_number = serializers.CharField()
    code = serializers.CharField()
    reason = serializers.CharField()


class PlanResult(Serializer):
    """The solved plan; empty while QUEUED or when FAILED."""

    summary = PlanSummary(required=False)
    routes = PlanRoute(many=True, required=False)
    unserved = PlanUnservedLoad(many=True, required=False)
    idle_vehicles = PlanIdleVehicle(many=True, required=False)


class PlanLoadOutcome(Serializer):
    load_id = serializers.UUIDField()
    vehicle_id = serializers.UUIDField()
    status = serializers.ChoiceField(choices=["ASSIGNED", "FAILED", "PLANNED"])
    error = ProblemSerializer(required=False)


class PlanAcceptance(Serializer):
    loads = PlanLoadOutcome(many=True)


class FleetPlanSerializer(ModelSerializer):
    request = TypedJSONField(schema=PlanRequestSerializer, read_only=True)
    result = TypedJSONField(schema=PlanResult, read_only=True)
    error = TypedJSONField(schema=ProblemSerializer, read_only=True, help_text="Set when FAILED.")
    acceptance = TypedJSONField(schema=PlanAcceptance, read_only=True, help_text="Set when ACCEPTED.")
    requested_by_id = serializers.IntegerField(read_only=True, allow_null=True)
    accepted_by_id = serializers.IntegerField(read_only=True, allow_null=True)

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
            "requested_by_id",
            "solved_at",
            "accepted_at",
            "accepted_by_id",
            "acceptance",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class AcceptFleetPlanSerializer(Serializer):
    vehicle_ids = serializers.ListField(
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


class LanesQuery(PagedQuery):
    limit = serializers.IntegerField(min_value=1, max_value=100, default=10)


class PathsQuery(QuerySerializer):
    # "from" is a Python keyword: the fields are declared below under their query names.
    max_hops = serializers.IntegerField(min_value=1, max_value=MAX_HOPS, default=3)
    limit = serializers.IntegerField(min_value=1, max_value=20, default=5)

    def get_fields(self):
        fields = super().get_fields()
        fields["from"] = serializers.UUIDField()
        fields["to"] = serializers.UUIDField()
        return fields
