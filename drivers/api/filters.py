import django_filters

from drivers.models import Driver, DriverStatus, DutyStatus
from tms.filters import NearbyFilterSet


class DriverFilter(NearbyFilterSet):
    status = django_filters.MultipleChoiceFilter(choices=DriverStatus.choices)
    duty_status = django_filters.MultipleChoiceFilter(choices=DutyStatus.choices)
    available_for_hours = django_filters.NumberFilter(
        field_name="hours_remaining",
        lookup_expr="gte",
        min_value=0,
        max_value=24,
        label="AVAILABLE drivers with at least this many driving hours left",
        method="filter_available_for_hours",
    )
    license_valid_on = django_filters.DateFilter(field_name="license_expiry", lookup_expr="gte")

    class Meta:
        model = Driver
        fields = ["carrier", "status", "duty_status", "license_state"]

    def filter_available_for_hours(self, queryset, name, value):
        return queryset.filter(status=DriverStatus.AVAILABLE, hours_remaining__gte=value)
