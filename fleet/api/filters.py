import json

import django_filters
from django import forms
from django.contrib.gis.db.models import PointField
from django.contrib.gis.gdal import GDALException
from django.contrib.gis.geos import GEOSException, GEOSGeometry, Polygon
from django.db.models import FloatField, Func, Value
from django.db.models.functions import Cast
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field

from fleet.models import Carrier, Vehicle, VehicleStatus, VehicleType
from fleet.rules import vehicle_types_for
from tms import parsers
from tms.filters import MultipleChoiceFilter, NearbyFilterSet


class CarrierFilter(django_filters.FilterSet):
    class Meta:
        model = Carrier
        fields = ["is_active", "dot_number"]


class KnnDistance(Func):
    """`a <-> b`: PostGIS's index-assisted distance, for ORDER BY with a GiST index (KNN)."""

    arg_joiner = " <-> "
    template = "%(expressions)s"
    output_field = FloatField()


class AreaField(forms.CharField):
    """A GeoJSON Polygon (or MultiPolygon), or a bbox `minlon,minlat,maxlon,maxlat`, in WGS84."""

    def clean(self, value):
        value = super().clean(value)
        if not value:
            return None
        if value.lstrip().startswith("{"):
            return self._polygon(value)
        try:
            min_lon, min_lat, max_lon, max_lat = (float(part) for part in value.split(","))
        except ValueError as error:
            raise forms.ValidationError(
                "Expected a GeoJSON Polygon or minlon,minlat,maxlon,maxlat, e.g. within=-88,41,-87,42."
            ) from error
        if not (-180 <= min_lon < max_lon <= 180 and -90 <= min_lat < max_lat <= 90):
            raise forms.ValidationError(
                "The bbox must be minlon,minlat,maxlon,maxlat within -180..180, -90..90."
            )
        return Polygon.from_bbox((min_lon, min_lat, max_lon, max_lat))

    def _polygon(self, value: str):
        try:
            geojson = parsers.loads(value)
        except ValueError as error:
            raise forms.ValidationError("within is not valid JSON.") from error
        if not isinstance(geojson, dict) or geojson.get("type") not in ("Polygon", "MultiPolygon"):
            raise forms.ValidationError('Expected a GeoJSON {"type": "Polygon", "coordinates": [...]}.')
        try:
            # Only type and coordinates reach GDAL/GEOS: a "crs" member could name a remote resource.
            area = GEOSGeometry(
                json.dumps({"type": geojson["type"], "coordinates": geojson.get("coordinates")})
            )
        except (GDALException, GEOSException, ValueError, TypeError) as error:
            raise forms.ValidationError("within is not a valid GeoJSON polygon.") from error
        if area.empty:  # GEOS has no extent for it
            raise forms.ValidationError("within is an empty polygon.")
        min_lon, min_lat, max_lon, max_lat = area.extent
        if min_lon < -180 or max_lon > 180 or min_lat < -90 or max_lat > 90:
            raise forms.ValidationError(
                "Polygon coordinates must be longitude, latitude within -180..180, -90..90."
            )
        if not area.valid:
            raise forms.ValidationError(f"The polygon is invalid: {area.valid_reason}.")
        return area


@extend_schema_field(OpenApiTypes.STR)
class AreaFilter(django_filters.Filter):
    field_class = AreaField

    def filter(self, queryset, area):
        if area is None:
            return queryset
        area.srid = 4326
        # GeoJSON edges are straight lines in longitude/latitude (RFC 7946), so the test is planar,
        # on the geometry cast that vehicles_location_geom_gist indexes.
        return queryset.alias(location_geometry=Cast("current_location", PointField(srid=4326))).filter(
            location_geometry__intersects=area
        )


class VehicleFilter(NearbyFilterSet):
    status = MultipleChoiceFilter(choices=VehicleStatus.choices)
    vehicle_type = MultipleChoiceFilter(choices=VehicleType.choices)
    available = django_filters.BooleanFilter(method="filter_available", label="status is AVAILABLE")
    required_equipment = django_filters.ChoiceFilter(
        choices=VehicleType.choices,
        method="filter_required_equipment",
        label="Only vehicles whose type may haul freight needing this equipment (a reefer also takes "
        "DRY_VAN freight, a step deck FLATBED freight)",
    )
    carrier_id = django_filters.ModelChoiceFilter(field_name="carrier", queryset=Carrier.objects.all())
    min_capacity_weight = django_filters.NumberFilter(
        field_name="capacity_weight", lookup_expr="gte", label="kg"
    )
    min_capacity_volume = django_filters.NumberFilter(
        field_name="capacity_volume", lookup_expr="gte", label="m3"
    )
    within = AreaFilter(
        label="Only vehicles inside this GeoJSON Polygon or bbox minlon,minlat,maxlon,maxlat (WGS84)"
    )

    class Meta:
        model = Vehicle
        fields = ["carrier_id", "status", "vehicle_type", "fuel_type"]

    def filter_required_equipment(self, queryset, name, value):
        return queryset.filter(vehicle_type__in=vehicle_types_for(value))

    def filter_available(self, queryset, name, value):
        if value:
            return queryset.filter(status=VehicleStatus.AVAILABLE)
        return queryset.exclude(status=VehicleStatus.AVAILABLE)

    def filter_queryset(self, queryset):
        """Nearest first by KNN: `current_location <-> point` walks the geography GiST index in
        distance order, where ordering by ST_Distance computes and sorts every row. `<->` on
        geography is the distance on the sphere; the reported distance stays ST_Distance on the
        spheroid. No tie-breaker: a second sort key would stop the index from giving the order."""
        point = self.form.cleaned_data.get("near")
        queryset = super().filter_queryset(queryset)
        if point is None:
            return queryset
        return queryset.order_by(
            KnnDistance("current_location", Value(point, output_field=PointField(geography=True)))
        )
