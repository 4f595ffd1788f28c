import django_filters

from routing.models import Route, RouteProvider


class RouteFilter(django_filters.FilterSet):
    provider = django_filters.MultipleChoiceFilter(choices=RouteProvider.choices)

    class Meta:
        model = Route
        fields = ["load", "vehicle", "driver", "provider", "is_current"]
