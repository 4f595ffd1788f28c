"""API conventions every viewset shares: the error envelope, roles and permissions, pagination,
throttling, the router, and the base viewset whose writes go through services."""

import copy
import logging
import sys
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import redis
from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DatabaseError, IntegrityError, InterfaceError, OperationalError, models
from django.db.models import ProtectedError, RestrictedError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string
from django.urls import URLPattern
from django.urls.resolvers import RoutePattern
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import exceptions, mixins, serializers, status, viewsets
from rest_framework.authtoken.serializers import AuthTokenSerializer
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.routers import SimpleRouter
from rest_framework.settings import api_settings
from rest_framework.views import APIView, set_rollback
from rest_framework_gis.fields import GeometryField

from tms.api_defaults import (
    OPERATORS,
    VIEWER,
    AuthThrottle,
    is_list,
    paginator_query_params,
    reject_unknown_query_params,
    roles_of,
)
from tms.context import current_correlation_id
from tms.exceptions import DomainError
from tms.services import api_token_for, issue_ws_ticket

logger = logging.getLogger(__name__)


# --- Errors ---------------------------------------------------------------------------------------


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    return {
        "error": {
            "code": code,
            "message": message,
            "details": details if details is not None else {},
            "correlation_id": current_correlation_id(),
        }
    }


def error_response(status_code: int, code: str, message: str, details: Any = None) -> JsonResponse:
    return JsonResponse(error_body(code, message, details), status=status_code)


def _first_message(details: Any) -> str:
    """The first readable message in DRF's nested error structure, with its field path."""
    if isinstance(details, dict):
        for key, value in details.items():
            inner = _first_message(value)
            return inner if key == "non_field_errors" else f"{key}: {inner}"
    if isinstance(details, list) and details:
        return _first_message(details[0])
    return str(details)


_DRF_CODES: dict[type, str] = {
    exceptions.ParseError: "malformed_request",
    exceptions.NotAuthenticated: "not_authenticated",
    exceptions.AuthenticationFailed: "authentication_failed",
    exceptions.PermissionDenied: "permission_denied",
    exceptions.NotFound: "not_found",
    exceptions.MethodNotAllowed: "method_not_allowed",
    exceptions.NotAcceptable: "not_acceptable",
    exceptions.UnsupportedMediaType: "unsupported_media_type",
    exceptions.Throttled: "throttled",
}


UNAVAILABLE_MESSAGE = "A required service is unavailable; retry later."


def dependency_unavailable(exc: BaseException | None) -> bool:
    """PostgreSQL down, full or frozen (a pool or connect timeout is an OperationalError); Redis
    refusing connections, or frozen: the socket timeout (REDIS's socket_timeout) passes."""
    return isinstance(
        exc,
        OperationalError | InterfaceError | redis.exceptions.ConnectionError | redis.exceptions.TimeoutError,
    )


def _translate(exc: Exception) -> tuple[int, str, str, Any, dict[str, str]]:
    """(status, code, message, details, headers) for any exception a request can raise."""
    if isinstance(exc, DomainError):
        return exc.status_code, exc.code, exc.message, exc.details, {}
    if isinstance(exc, DjangoValidationError):
        details = exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        return 400, "validation_error", _first_message(details), details, {}
    if isinstance(exc, exceptions.ValidationError):
        return 400, "validation_error", _first_message(exc.detail), exc.detail, {}
    if isinstance(exc, Http404):
        return 404, "not_found", "Not found.", {}, {}
    if isinstance(exc, DjangoPermissionDenied):
        return 403, "permission_denied", "You do not have permission to perform this action.", {}, {}
    if isinstance(exc, exceptions.Throttled):
        headers = {"Retry-After": str(int(exc.wait))} if exc.wait is not None else {}
        return 429, "throttled", str(exc.detail), {"retry_after_s": exc.wait}, headers
    if isinstance(exc, exceptions.APIException):
        code = next((c for cls, c in _DRF_CODES.items() if isinstance(exc, cls)), "error")
        headers = {}
        if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
            headers["WWW-Authenticate"] = "Token"
        return exc.status_code, code, str(exc.detail), {}, headers
    if isinstance(exc, ProtectedError | RestrictedError):
        blocking = sorted({str(obj._meta.verbose_name_plural) for obj in exc.args[1]})
        return (
            409,
            "conflict",
            f"Still referenced by {', '.join(blocking)}; it cannot be deleted.",
            {"referenced_by": blocking},
            {},
        )
    if isinstance(exc, IntegrityError):
        return 409, "conflict", "The change conflicts with existing data.", {}, {}
    if dependency_unavailable(exc):
        logger.error("dependency unavailable: %s", exc)
        return 503, "dependency_unavailable", UNAVAILABLE_MESSAGE, {}, {}
    if isinstance(exc, DatabaseError):
        logger.exception("database error")
        return 400, "invalid_data", "The database refused the data.", {}, {}
    logger.exception("unhandled error")
    return 500, "internal_error", "An unexpected error occurred.", {}, {}


def exception_handler(exc: Exception, context: dict) -> Response:
    """DRF's exception handler: every error leaves as the envelope, never a stack trace."""
    status_code, code, message, details, headers = _translate(exc)
    set_rollback()
    response = Response(error_body(code, message, details), status=status_code)
    for name, value in headers.items():
        response[name] = value
    return response


def _django_handler(status_code: int, code: str, message: str):
    def handler(request: HttpRequest, exception: Exception | None = None):
        return error_response(status_code, code, message)

    return handler


handler400 = _django_handler(400, "bad_request", "Bad request.")
handler403 = _django_handler(403, "permission_denied", "Permission denied.")
handler404 = _django_handler(404, "not_found", "Not found.")


def handler500(request: HttpRequest):
    """Every exception no view handled: a database or Redis that is down or frozen is a 503 (the
    admin's, whose views are not DRF's, included), anything else a 500. The back office gets a
    plain page that needs neither (no context processors: no session, no user); the API the
    envelope."""
    unavailable = dependency_unavailable(sys.exc_info()[1])
    if request.path.startswith("/admin/"):
        page = "errors/503.html" if unavailable else "errors/500.html"
        return HttpResponse(render_to_string(page), status=503 if unavailable else 500)
    if unavailable:
        return error_response(503, "dependency_unavailable", UNAVAILABLE_MESSAGE)
    return error_response(500, "internal_error", "An unexpected error occurred.")


# --- Routing -------------------------------------------------------------------------------------


# Every API URL answers with and without a trailing slash, as the same view: the seed writes them
# without (`/api/vehicles/{vehicle_id}/location`), and that is the form reverse(), the links in
# responses and the OpenAPI schema give. Viewsets get it from Router, other views from api_path;
# tms.tests.test_url_style walks every pattern.


class Router(SimpleRouter):
    """Routes with or without the trailing slash (`/api/vehicles/{id}/location` and `.../location/`)."""

    def __init__(self):
        super().__init__()
        self.trailing_slash = "/?"


class SlashOptionalRoutePattern(RoutePattern):
    """A path() route, written without its trailing slash, that also matches with one."""

    def __init__(self, route: str, name: str | None = None, is_endpoint: bool = False):
        super().__init__(route.removesuffix("/"), name=name, is_endpoint=is_endpoint)
        if is_endpoint:
            self._regex = self._regex.removesuffix(r"\Z") + r"/?\Z"


def api_path(route: str, view: Callable[..., Any], name: str | None = None) -> URLPattern:
    """django.urls.path for an API view: `api_path("routes/optimize-load", ...)` answers both
    `routes/optimize-load` and `routes/optimize-load/`."""
    return URLPattern(SlashOptionalRoutePattern(route, name=name, is_endpoint=True), view, None, name)


def schema_paths_without_trailing_slash(endpoints: list, **kwargs) -> list:
    """drf-spectacular preprocessing hook: each operation once, in the form the seed writes
    (`/api/vehicles/{id}/location`, not the `/?` of the router's regex shown as `/`)."""
    return [
        (path.removesuffix("/") if path != "/" else path, path_regex, method, callback)
        for path, path_regex, method, callback in endpoints
    ]


# --- Fields --------------------------------------------------------------------------------------


class PointField(GeometryField):
    """A GeoJSON Point in WGS84 with its coordinates checked: longitude first, then latitude."""

    def __init__(self, **kwargs):
        kwargs.setdefault("help_text", 'GeoJSON Point, {"type": "Point", "coordinates": [lon, lat]}')
        super().__init__(**kwargs)

    def to_internal_value(self, value):
        if not isinstance(value, dict) or value.get("type") != "Point":
            raise serializers.ValidationError(
                'Expected a GeoJSON Point: {"type": "Point", "coordinates": [longitude, latitude]}.'
            )
        coordinates = value.get("coordinates")
        if (
            not isinstance(coordinates, list)
            or len(coordinates) != 2
            or not all(isinstance(c, int | float) and not isinstance(c, bool) for c in coordinates)
        ):
            raise serializers.ValidationError("coordinates must be [longitude, latitude] numbers.")
        validate_lon_lat(*coordinates)
        # Only type and coordinates reach GDAL: a "crs" member could name a remote resource.
        point = super().to_internal_value({"type": "Point", "coordinates": coordinates})
        point.srid = 4326
        return point

    def to_representation(self, value):
        # Straight from the coordinates: GDAL's GeoJSON writer costs ~10x more for a point.
        return None if value is None else {"type": "Point", "coordinates": [value.x, value.y]}


class TypedJSONField(serializers.JSONField):
    """A JSON column sent as stored, documented in the schema by `schema` (a serializer class, a
    serializer with many=True, a list of serializer classes for an array whose items are any of
    them, or a JSON Schema dict): what a client receives is typed even where the row keeps free
    JSON."""

    def __init__(self, *, schema, **kwargs):
        self.documented_schema = schema
        super().__init__(**kwargs)


EARLIEST_TIME = datetime(1970, 1, 1, tzinfo=UTC)
LATEST_TIME = datetime(2100, 1, 1, tzinfo=UTC)


class BoundedDateTimeField(serializers.DateTimeField):
    """A time between 1970 and 2100 (UTC): dates at the ends of the calendar (0001-01-01,
    9999-12-31) are refused before anything adds or subtracts a duration to them, which overflowed
    into 500s. Every time a client sends goes through it (ModelSerializer maps model DateTimeFields
    to it)."""

    def to_internal_value(self, value):
        try:
            moment = super().to_internal_value(value)
        except OverflowError as error:  # a valid ISO string whose offset takes it past year 9999
            raise serializers.ValidationError(self.out_of_range_message) from error
        if not EARLIEST_TIME <= moment < LATEST_TIME:
            raise serializers.ValidationError(self.out_of_range_message)
        return moment

    out_of_range_message = (
        f"Expected a time from {EARLIEST_TIME:%Y-%m-%d} to before {LATEST_TIME:%Y-%m-%d} (UTC)."
    )


def validate_lon_lat(longitude: float, latitude: float) -> None:
    if not -180 <= longitude <= 180:
        raise serializers.ValidationError(f"longitude {longitude} is outside -180..180.")
    if not -90 <= latitude <= 90:
        raise serializers.ValidationError(f"latitude {latitude} is outside -90..90.")


# --- Serializers ---------------------------------------------------------------------------------

UNKNOWN_FIELD = "Unknown field."
READ_ONLY_FIELD = "This field is read-only."


class RejectUnknownFields:
    """Nothing a client sends is dropped silently: a body key the serializer has no field for is
    a 400 naming it ("Unknown field."), and one it only reads out is too ("This field is
    read-only."): a client that PUTs back what it got learns which fields it cannot set rather
    than believing it set them. Checked in to_internal_value, so nested serializers and every item
    of a list body are checked the same way, and reported beside the other fields' errors."""

    def to_internal_value(self, data):
        rejected: dict[str, list[str]] = {}
        if isinstance(data, Mapping):
            fields = self.fields
            for name in data:
                field = fields.get(name)
                if field is None:
                    rejected[name] = [UNKNOWN_FIELD]
                elif field.read_only:
                    rejected[name] = [READ_ONLY_FIELD]
        try:
            value = super().to_internal_value(data)
        except exceptions.ValidationError as error:
            if rejected and isinstance(error.detail, dict):
                raise exceptions.ValidationError({**error.detail, **rejected}) from error
            raise
        if rejected:
            raise exceptions.ValidationError(rejected)
        return value


class Serializer(RejectUnknownFields, serializers.Serializer):
    """The base of every API serializer that is not a ModelSerializer (bodies and responses)."""


class QuerySerializer(RejectUnknownFields, serializers.Serializer):
    """Validates an endpoint's own query parameters: a key it has no field for is a 400 naming it,
    except DRF's `format` (and the paginator's, for a PagedQuery). List endpoints check theirs with
    tms.api_defaults.RejectUnknownQueryParams."""

    PASSED_ON: tuple[str, ...] = ("format",)

    def to_internal_value(self, data):
        if isinstance(data, Mapping) and any(name in data for name in self.PASSED_ON):
            data = data.copy()  # a QueryDict's copy is mutable and keeps repeated keys
            for name in self.PASSED_ON:
                data.pop(name, None)
        return super().to_internal_value(data)


class PagedQuery(QuerySerializer):
    """The query of an endpoint that pages its answer itself: `page` and `page_size` are the
    paginator's."""

    PASSED_ON = ("page", "page_size", "format")


class ModelSerializer(RejectUnknownFields, serializers.ModelSerializer):
    """DRF's ModelSerializer, with its fields built from the model once per class instead of for
    every instance (the model introspection was a third of a detail request's time); each instance
    gets a deep copy, as DRF itself gives each instance of its declared fields. A subclass whose
    fields depend on the instance or the request overrides get_fields, as before."""

    serializer_field_mapping = {
        **serializers.ModelSerializer.serializer_field_mapping,
        models.DateTimeField: BoundedDateTimeField,
    }

    def get_fields(self):
        template = type(self).__dict__.get("_field_template")
        if template is None:
            template = super().get_fields()
            type(self)._field_template = template
        return copy.deepcopy(template)


# --- Viewsets ------------------------------------------------------------------------------------


def json_object(request) -> dict:
    """The request body, refused (400) unless it is a JSON object: serializers take lists too."""
    if not isinstance(request.data, dict):
        raise exceptions.ValidationError({"non_field_errors": ["Expected a JSON object."]})
    return request.data


class ChecksQueryString:
    """Mixed into the API's views: a query parameter that the request's view does not read is a 400
    naming it, and nothing runs. Lists are checked by RejectUnknownQueryParams (their filter set,
    ordering, search and paginator say what they read). A view or action that validates its own
    query names its QuerySerializer in `query_serializer` (an @action keyword) and is left to it;
    a paged action that reads nothing else says `paged=True`. Every other request reads only DRF's
    `format`, so `GET /api/loads/{id}?fields=id` is refused rather than answered whole."""

    query_serializer: type[QuerySerializer] | None = None
    paged = False

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        if self.query_serializer is not None or is_list(self):
            return
        known = {api_settings.URL_FORMAT_OVERRIDE}
        if self.paged and request.method == "GET":
            known |= paginator_query_params(self.paginator)
        reject_unknown_query_params(request, known)


class TmsReadOnlyViewSet(ChecksQueryString, viewsets.ReadOnlyModelViewSet):
    """Reads narrowed for DRIVER-only users by `driver_queryset(queryset, user)`, and actions
    that run a service (`run_action`)."""

    driver_actions: tuple[str, ...] = ()

    def get_queryset(self):
        queryset = super().get_queryset()
        roles = roles_of(self.request.user)
        if roles and not roles & (OPERATORS | {VIEWER}):
            queryset = self.driver_queryset(queryset, self.request.user)
        return queryset

    def driver_queryset(self, queryset, user):
        return queryset.none()

    def filter_queryset(self, queryset):
        """Lists are filtered, searched and ordered; a detail route looks one object up by its id,
        where django-filter would only build (and validate) a whole filterset for nothing."""
        return queryset if self.detail else super().filter_queryset(queryset)

    def is_own(self, user, obj) -> bool:
        return False

    def run_action(self, input_serializer_class, service: Callable[..., Any], **extra) -> Response:
        """Validates the body with `input_serializer_class`, calls the service, and answers with the
        object the service returns (every service returns the object it changed)."""
        instance = self.get_object()
        payload = input_serializer_class(
            data=json_object(self.request), context=self.get_serializer_context()
        )
        payload.is_valid(raise_exception=True)
        changed = service(instance, by=self.request.user, **payload.validated_data, **extra)
        return Response(self.get_serializer(changed).data, status=status.HTTP_200_OK)


class TmsModelViewSet(
    mixins.CreateModelMixin, mixins.UpdateModelMixin, mixins.DestroyModelMixin, TmsReadOnlyViewSet
):
    """CRUD whose writes go through services.

    Subclasses name the services: `create_service(*, by, **fields)`,
    `update_service(instance, *, by, **fields)` and `delete_service(instance, *, by)`.
    """

    create_service: Callable[..., Any] | None = None
    update_service: Callable[..., Any] | None = None
    delete_service: Callable[..., Any] | None = None

    def perform_create(self, serializer):
        serializer.instance = type(self).create_service(by=self.request.user, **serializer.validated_data)

    def perform_update(self, serializer):
        type(self).update_service(serializer.instance, by=self.request.user, **serializer.validated_data)

    def perform_destroy(self, instance):
        type(self).delete_service(instance, by=self.request.user)


# --- Auth ----------------------------------------------------------------------------------------


class TokenRequest(RejectUnknownFields, AuthTokenSerializer):
    """DRF's username and password, and nothing else."""


class ObtainTokenView(ChecksQueryString, APIView):
    """Exchanges a username and password for an API token."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = [AuthThrottle]

    def get_authenticate_header(self, request) -> str:
        # Without one, DRF turns a failed login's 401 into 403.
        return "Token"

    @extend_schema(
        request=TokenRequest,
        responses=inline_serializer(
            "TokenResponse",
            {"token": serializers.CharField(), "roles": serializers.ListField(child=serializers.CharField())},
        ),
        tags=["auth"],
    )
    def post(self, request):
        serializer = TokenRequest(data=request.data, context={"request": request})
        try:
            serializer.is_valid(raise_exception=True)
        except exceptions.ValidationError as error:
            if "authorization" in str(error.get_codes()):
                raise exceptions.AuthenticationFailed(
                    "Unable to log in with the provided credentials."
                ) from error
            raise
        user = serializer.validated_data["user"]
        return Response({"token": api_token_for(user=user).key, "roles": sorted(roles_of(user))})


class WebSocketTicketView(ChecksQueryString, APIView):
    """A single-use ticket for `/ws?ticket=...` (tms/ws.py), for clients that cannot send the
    Authorization header on a WebSocket (browsers): the API token never goes in a URL."""

    permission_classes = [IsAuthenticated]

    @extend_schema(
        request=None,
        responses=inline_serializer(
            "WebSocketTicket",
            {
                "ticket": serializers.CharField(help_text="Open /ws?ticket=TICKET with it, once."),
                "expires_in_s": serializers.IntegerField(help_text="It must be used within this."),
            },
        ),
        tags=["auth"],
        summary="A single-use ticket for the /ws live stream",
    )
    def post(self, request):
        ticket = issue_ws_ticket(user=request.user)
        response = Response({"ticket": ticket, "expires_in_s": settings.TMS_WS_TICKET_TTL_S})
        response["Cache-Control"] = "no-store"
        return response
