import django_filters
from django.db.models import Q
from django.db.models.functions import Upper

from customers.models import Customer
from drivers.models import Driver
from fleet.models import Carrier, Vehicle, VehicleType
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
    required_equipment = MultipleChoiceFilter(
        choices=VehicleType.choices, label="Loads whose freight needs any of these equipment types"
    )
    carrier_id = django_filters.ModelChoiceFilter(field_name="carrier", queryset=Carrier.objects.all())
    vehicle_id = django_filters.ModelChoiceFilter(field_name="vehicle", queryset=Vehicle.objects.all())
    driver_id = django_filters.ModelChoiceFilter(field_name="driver", queryset=Driver.objects.all())
    shipper_id = django_filters.ModelChoiceFilter(field_name="shipper", queryset=Facility.objects.all())
    consignee_id = django_filters.ModelChoiceFilter(field_name="consignee", queryset=Facility.objects.all())
    pickup_after = django_filters.IsoDateTimeFilter(field_name="pickup_datetime", lookup_expr="gte")
    pickup_before = django_filters.IsoDateTimeFilter(field_name="pickup_datetime", lookup_expr="lt")
    delivery_after = django_filters.IsoDateTimeFilter(field_name="delivery_datetime", lookup_expr="gte")
    delivery_before = django_filters.IsoDateTimeFilter(field_name="delivery_datetime", lookup_expr="lt")
    customer_id = django_filters.ModelChoiceFilter(field_name="customer", queryset=Customer.objects.all())
    reference = django_filters.CharFilter(
        method="filter_reference",
        label="A PO number, BOL number or customer reference, exactly (any letter case).",
    )
    min_weight = django_filters.NumberFilter(field_name="weight", lookup_expr="gte", label="kg")
    max_weight = django_filters.NumberFilter(field_name="weight", lookup_expr="lte", label="kg")

    class Meta:
        model = Load
        fields = [
            "status",
            "carrier_id",
            "vehicle_id",
            "driver_id",
            "shipper_id",
            "consignee_id",
            "customer_id",
        ]

    def filter_reference(self, queryset, name, value):
        # Upper(column) = UPPER(value): the expression indexes of loads.models.Load serve each arm.
        wanted = value.strip().upper()
        return queryset.alias(
            po=Upper("po_number"), bol=Upper("bol_number"), ref=Upper("customer_reference")
        ).filter(Q(po=wanted) | Q(bol=wanted) | Q(ref=wanted))
