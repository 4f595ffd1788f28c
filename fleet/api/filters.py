import django_filters

from fleet.models import Carrier, Vehicle, VehicleStatus, VehicleType
from tms.filters import NearbyFilterSet


class CarrierFilter(django_filters.FilterSet):
    class Meta:
        model = Carrier
        fields = ["is_active", "dot_number"]


class VehicleFilter(NearbyFilterSet):
    status = django_filters.MultipleChoiceFilter(choices=VehicleStatus.choices)
    vehicle_type = django_filters.MultipleChoiceFilter(choices=VehicleType.choices)
    available = django_filters.BooleanFilter(method="filter_available", label="status is AVAILABLE")
    min_capacity_weight_kg = django_filters.NumberFilter(field_name="capacity_weight_kg", lookup_expr="gte")
    min_capacity_volume_m3 = django_filters.NumberFilter(field_name="capacity_volume_m3", lookup_expr="gte")

    class Meta:
        model = Vehicle
        fields = ["carrier", "status", "vehicle_type", "fuel_type"]

    def filter_available(self, queryset, name, value):
        if value:
            return queryset.filter(status=VehicleStatus.AVAILABLE)
        return queryset.exclude(status=VehicleStatus.AVAILABLE)
