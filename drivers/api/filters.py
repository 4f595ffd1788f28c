from datetime import timedelta

import django_filters
from django.utils import timezone

from drivers import selectors
from drivers.models import Driver, DriverStatus
from drivers.planning import DUTY_PERIOD_DRIVING
from fleet.models import Carrier
from tms.filters import MultipleChoiceFilter, NearbyFilterSet


class DriverFilter(NearbyFilterSet):
    carrier_id = django_filters.ModelChoiceFilter(field_name="carrier", queryset=Carrier.objects.all())
    status = MultipleChoiceFilter(choices=DriverStatus.choices)
    on_load = django_filters.BooleanFilter(
        method="filter_on_load", label="on an active load (current_load_id is set) or not"
    )
    available_for_hours = django_filters.NumberFilter(
        min_value=0,
        max_value=24,
        label=(
            "Active drivers on no load who may legally drive this many hours from now, taking 30-minute "
            "breaks as required, before the next 10-hour break (computed from their duty-status logs)"
        ),
        method="_applied_last",
    )
    license_valid_on = django_filters.DateFilter(field_name="license_expiry", lookup_expr="gte")

    class Meta:
        model = Driver
        fields = ["carrier_id", "status", "is_active", "license_state"]

    def filter_on_load(self, queryset, name, value):
        return queryset.filter(current_load_id__isnull=not value)

    def _applied_last(self, queryset, name, value):
        return queryset  # see filter_queryset

    def filter_queryset(self, queryset):
        """The hours filter runs the engine per driver, so it runs last, on the candidates every
        other filter left."""
        queryset = super().filter_queryset(queryset)
        value = self.form.cleaned_data.get("available_for_hours")
        if value is None:
            return queryset
        queryset = selectors.dispatchable(queryset)
        needed = timedelta(hours=float(value))
        if not needed:
            return queryset
        if needed > DUTY_PERIOD_DRIVING:
            return queryset.none()
        candidates = list(queryset.values_list("pk", "hos_cycle", "short_haul_exception"))
        able = selectors.drivers_able_to_drive(candidates, needed, timezone.now())
        return queryset.filter(pk__in=able)
