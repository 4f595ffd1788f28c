import django_filters

from routing.api.serializers import RouteSerializer
from routing.models import Route, RouteProvider
from tms.api import TmsModelViewSet


class RouteFilter(django_filters.FilterSet):
    provider = django_filters.MultipleChoiceFilter(choices=RouteProvider.choices)

    class Meta:
        model = Route
        fields = ["load", "vehicle", "driver", "provider", "is_current"]


class RouteViewSet(TmsModelViewSet):
    """Routes are computed by the routing service; the API reads them."""

    queryset = Route.objects.all()
    serializer_class = RouteSerializer
    filterset_class = RouteFilter
    ordering_fields = ["created_at", "distance_m", "score"]
    http_method_names = ["get", "head", "options"]

    def driver_queryset(self, queryset, user):
        return queryset.filter(load__driver__user=user)
