from rest_framework import serializers
from rest_framework_gis.fields import GeometryField

from drivers.models import Driver
from fleet.models import Vehicle
from loads.models import Load
from routing.models import Route
from tms.api import PointField


class RouteSerializer(serializers.ModelSerializer):
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


class OptimizeLoadRouteSerializer(serializers.Serializer):
    load = serializers.PrimaryKeyRelatedField(queryset=Load.objects.all())
    vehicle = serializers.PrimaryKeyRelatedField(queryset=Vehicle.objects.all())
    driver = serializers.PrimaryKeyRelatedField(
        queryset=Driver.objects.all(), required=False, allow_null=True
    )


class RouteJobSerializer(serializers.Serializer):
    job_id = serializers.UUIDField()
    status = serializers.ChoiceField(choices=["PENDING", "SUCCEEDED", "FAILED"])
    route = serializers.UUIDField(required=False, allow_null=True)
    error = serializers.CharField(required=False, allow_null=True)
    status_url = serializers.CharField(required=False)
