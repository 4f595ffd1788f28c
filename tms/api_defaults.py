"""The classes named as defaults in settings.REST_FRAMEWORK: roles and permission, pagination,
throttling.

Kept apart from tms/api.py: DRF imports these while its own views module loads, so this module
must not import DRF's views.
"""

from django.conf import settings
from django.contrib.auth.models import AnonymousUser, Group
from django.contrib.postgres.expressions import ArraySubquery
from django.core.cache import cache
from django.db.models import OuterRef
from django_filters.rest_framework import DjangoFilterBackend
from rest_framework import authentication, exceptions
from rest_framework.authtoken.models import Token
from rest_framework.filters import BaseFilterBackend, OrderingFilter, SearchFilter
from rest_framework.mixins import ListModelMixin
from rest_framework.pagination import PageNumberPagination
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.settings import api_settings
from rest_framework.throttling import AnonRateThrottle, SimpleRateThrottle, UserRateThrottle

from tms.net import client_ip

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


TOKEN_MAX_LENGTH = 40  # DRF's keys: 40 hex characters


def is_well_formed_token(key: str) -> bool:
    """Worth looking up: printable ASCII that fits the column. A NUL byte made PostgreSQL refuse
    the query (a 500 on /ws)."""
    return 0 < len(key) <= TOKEN_MAX_LENGTH and key.isascii() and key.isprintable() and " " not in key


class TokenAuthentication(authentication.TokenAuthentication):
    """DRF's token authentication, the user and their roles from the cache (tms.token_cache: a
    revoked token or a changed user drops its entry at once), else read in one query (the roles
    by an array subquery) and cached."""

    def authenticate_credentials(self, key):
        if not is_well_formed_token(key):
            raise exceptions.AuthenticationFailed("Invalid token.")
        from tms import token_cache  # not at import: DRF imports this module while settings load

        hit = token_cache.get(key)
        if hit is not None:
            user, roles = hit
            user._tms_roles = roles
            return user, Token(key=key, user=user)
        roles = Group.objects.filter(user=OuterRef("user_id"), name__in=ROLES).values("name")
        token = (
            Token.objects.select_related("user").annotate(roles=ArraySubquery(roles)).filter(key=key).first()
        )
        if token is None:
            raise exceptions.AuthenticationFailed("Invalid token.")
        if not token.user.is_active:
            raise exceptions.AuthenticationFailed("User inactive or deleted.")
        token.user._tms_roles = frozenset(token.roles) | ({ADMIN} if token.user.is_superuser else frozenset())
        token_cache.put(key, token.user, token.user._tms_roles)
        return token.user, token


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


class AdminsOnly(BasePermission):
    """ADMIN only, reads included: for the system's own configuration (webhook subscriptions)."""

    def has_permission(self, request, view) -> bool:
        return bool(request.user and request.user.is_authenticated and ADMIN in roles_of(request.user))


class Pagination(PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = 500


class SettingsRateThrottle(SimpleRateThrottle):
    """The base of every throttle: reads its scope's rate from settings.REST_FRAMEWORK at request
    time, so operators (and tests) can change it; a scope without a rate is not throttled.

    A fixed-window counter in Redis, one round trip per request (INCR, and EXPIRE on the window's
    first request): DRF's own keeps every request's timestamp in a list that it reads, unpickles,
    rewrites and repickles each time, up to 6,000 floats for a busy API user. A client gets at most
    the rate's count per window (the window is the rate's period, aligned to the clock).
    """

    def get_rate(self):
        return settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"].get(self.scope)

    def allow_request(self, request, view) -> bool:
        if self.rate is None:
            return True
        self.key = self.get_cache_key(request, view)
        if self.key is None:
            return True
        now = self.timer()
        window = int(now // self.duration)
        self.retry_after_s = self.duration - (now - window * self.duration)
        key = cache.make_and_validate_key(f"{self.key}:{window}")
        client = cache._cache.get_client(key, write=True)  # Django's RedisCache: the redis-py client
        pipe = client.pipeline(transaction=False)
        pipe.incr(key)
        pipe.expire(key, self.duration + 1, nx=True)
        count, _ = pipe.execute()
        return count <= self.num_requests

    def wait(self) -> float:
        return self.retry_after_s

    def get_ident(self, request) -> str:
        # DRF's own believes any client's X-Forwarded-For.
        return client_ip(request)


class AnonThrottle(SettingsRateThrottle, AnonRateThrottle):
    pass


class UserThrottle(SettingsRateThrottle, UserRateThrottle):
    pass


class AuthThrottle(SettingsRateThrottle, AnonRateThrottle):
    """Login attempts per client address: slows password guessing."""

    scope = "auth"


class RejectUnknownQueryParams(BaseFilterBackend):
    """A list request's query parameter that nothing reads is a 400 naming it, as an unknown body
    field is (tms.api.RejectUnknownFields): `?statuss=CREATED` would otherwise answer every load,
    and the client would believe it filtered. The known ones are what the view's other backends
    and its paginator read: the filter set's fields, `ordering`, `search`, `page`, `page_size`
    and DRF's `format`. First in DEFAULT_FILTER_BACKENDS; only lists are checked here (every other
    request is checked by tms.api.ChecksQueryString)."""

    def filter_queryset(self, request, queryset, view):
        if not is_list(view):
            return queryset
        known = _known_query_params.get(type(view))
        if known is None:
            known = _known_query_params[type(view)] = known_query_params(request, queryset, view)
        reject_unknown_query_params(request, known)
        return queryset


def is_list(view) -> bool:
    """A viewset's list action, or a generic list view (which has no action)."""
    if hasattr(view, "action"):
        return view.action == "list"
    return isinstance(view, ListModelMixin)


def reject_unknown_query_params(request, known) -> None:
    """A 400 naming each query parameter of the request that is not in `known`."""
    unknown = sorted(set(request.query_params) - set(known))
    if unknown:
        raise exceptions.ValidationError({name: ["Unknown query parameter."] for name in unknown})


def paginator_query_params(paginator) -> set[str]:
    """The query parameters a paginator reads."""
    names = ("page_query_param", "page_size_query_param", "cursor_query_param")
    return {name for name in (getattr(paginator, attribute, None) for attribute in names) if name}


# Per list view class: what its paginator and filter backends read (they do not change at run time).
_known_query_params: dict[type, frozenset[str]] = {}


def known_query_params(request, queryset, view) -> frozenset[str]:
    known = {api_settings.URL_FORMAT_OVERRIDE}
    paginator = getattr(view, "paginator", None)
    if paginator is not None:
        known |= paginator_query_params(paginator)
    for backend_class in getattr(view, "filter_backends", ()):
        backend = backend_class()
        if isinstance(backend, DjangoFilterBackend):
            filterset_class = backend.get_filterset_class(view, queryset)
            if filterset_class is not None:
                known |= set(filterset_class(request=request, queryset=queryset).form.fields)
        elif isinstance(backend, OrderingFilter):
            if backend.get_valid_fields(queryset, view, {"request": request}):
                known.add(backend.ordering_param)
        elif isinstance(backend, SearchFilter) and backend.get_search_fields(view, request):
            known.add(backend.search_param)
    return frozenset(known)
