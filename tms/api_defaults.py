"""The classes named as defaults in settings.REST_FRAMEWORK: roles and permission, pagination,
throttling.

Kept apart from tms/api.py: DRF imports these while its own views module loads, so this module
must not import DRF's views.
"""

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from rest_framework.pagination import PageNumberPagination
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.throttling import AnonRateThrottle, SimpleRateThrottle, UserRateThrottle

ADMIN, DISPATCHER, DRIVER, VIEWER = "ADMIN", "DISPATCHER", "DRIVER", "VIEWER"
ROLES = (ADMIN, DISPATCHER, DRIVER, VIEWER)
OPERATORS = {ADMIN, DISPATCHER}


def roles_of(user) -> frozenset[str]:
    """The user's roles (Django groups named after them), read once per request."""
    if user is None or isinstance(user, AnonymousUser) or not user.is_authenticated:
        return frozenset()
    cached = getattr(user, "_tms_roles", None)
    if cached is None:
        cached = frozenset(user.groups.filter(name__in=ROLES).values_list("name", flat=True))
        if user.is_superuser:
            cached |= {ADMIN}
        user._tms_roles = cached
    return cached


def is_operator(user) -> bool:
    return bool(roles_of(user) & OPERATORS)


class RolePermission(BasePermission):
    """Reads for every role; writes for ADMIN and DISPATCHER.

    A viewset lists in `driver_actions` the actions a DRIVER may take, and decides in
    `is_own(user, obj)` whether the object is theirs.
    """

    def has_permission(self, request, view) -> bool:
        roles = roles_of(request.user)
        if not request.user or not request.user.is_authenticated:
            return False
        if not roles:
            return False
        if request.method in SAFE_METHODS or roles & OPERATORS:
            return True
        return DRIVER in roles and getattr(view, "action", None) in getattr(view, "driver_actions", ())

    def has_object_permission(self, request, view, obj) -> bool:
        roles = roles_of(request.user)
        if request.method in SAFE_METHODS or roles & OPERATORS:
            return True
        return view.is_own(request.user, obj)


class OperatorsAndViewers(RolePermission):
    """RolePermission without drivers: for data about everyone's work (the event stream, the
    freight network's lanes and rates, fleet plans)."""

    def has_permission(self, request, view) -> bool:
        return super().has_permission(request, view) and bool(roles_of(request.user) & (OPERATORS | {VIEWER}))


class OperatorsOnly(BasePermission):
    """ADMIN and DISPATCHER only, reads included: for dispatch work (routing jobs, fleet planning)."""

    def has_permission(self, request, view) -> bool:
        return bool(request.user and request.user.is_authenticated and is_operator(request.user))


class Pagination(PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = 500


class SettingsRateThrottle(SimpleRateThrottle):
    """The base of every throttle: reads its scope's rate from settings.REST_FRAMEWORK at request
    time, so operators (and tests) can change it; a scope without a rate is not throttled."""

    def get_rate(self):
        return settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"].get(self.scope)


class AnonThrottle(SettingsRateThrottle, AnonRateThrottle):
    pass


class UserThrottle(SettingsRateThrottle, UserRateThrottle):
    pass


class AuthThrottle(SettingsRateThrottle, AnonRateThrottle):
    """Login attempts per client address: slows password guessing."""

    scope = "auth"
