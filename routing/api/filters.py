import django_filters

from drivers.models import Driver
from fleet.models import Vehicle
from loads.models import Load
from routing.models import Route, RouteProvider
from tms.filters import MultipleChoiceFilter


class RouteFilter(django_filters.FilterSet):
    load_id = django_filters.ModelChoiceFilter(field_name="load", queryset=Load.objects.all())
    vehicle_id = django_filters.ModelChoiceFilter(field_name="vehicle", queryset=Vehicle.objects.all())
    driver_id = django_filters.ModelChoiceFilter(field_name="driver", queryset=Driver.objects.all())
    provider = MultipleChoiceFilter(choices=RouteProvider.choices)

    class Meta:
        model = Route
        fields = ["load_id", "vehicle_id", "driver_id", "provider", "is_current"]
