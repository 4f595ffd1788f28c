import django_filters

from routing.models import Route, RouteProvider
from tms.filters import MultipleChoiceFilter


class RouteFilter(django_filters.FilterSet):
    provider = MultipleChoiceFilter(choices=RouteProvider.choices)

    class Meta:
        model = Route
        fields = ["load", "vehicle", "driver", "provider", "is_current"]
