from rest_framework import serializers
from rest_framework_gis.fields import GeometryField

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
