import django_filters

from loads.models import Facility, FacilityType, Load, LoadStatus
from tms.filters import MultipleChoiceFilter, NearbyFilterSet


class FacilityFilter(NearbyFilterSet):
    location_field = "location"
    facility_type = MultipleChoiceFilter(choices=FacilityType.choices)

    class Meta:
        model = Facility
        fields = ["facility_type", "state", "city", "timezone"]


class LoadFilter(django_filters.FilterSet):
    status = MultipleChoiceFilter(choices=LoadStatus.choices)
    pickup_after = django_filters.IsoDateTimeFilter(field_name="pickup_at", lookup_expr="gte")
    pickup_before = django_filters.IsoDateTimeFilter(field_name="pickup_at", lookup_expr="lt")
    delivery_after = django_filters.IsoDateTimeFilter(field_name="delivery_at", lookup_expr="gte")
    delivery_before = django_filters.IsoDateTimeFilter(field_name="delivery_at", lookup_expr="lt")
    min_weight_kg = django_filters.NumberFilter(field_name="weight_kg", lookup_expr="gte")
    max_weight_kg = django_filters.NumberFilter(field_name="weight_kg", lookup_expr="lte")

    class Meta:
        model = Load
        fields = ["status", "carrier", "vehicle", "driver", "shipper", "consignee"]
