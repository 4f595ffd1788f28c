import re
import time
import zoneinfo

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils import timezone

from tms import metrics
from tms.api import error_response
from tms.context import accept_or_new, actor, correlation_id


class CorrelationIdMiddleware:
    """Takes X-Request-ID from the client (or makes one) and echoes it on the response."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.correlation_id = accept_or_new(request.headers.get("X-Request-ID"))
        token = correlation_id.set(request.correlation_id)
        try:
            response = self.get_response(request)
        finally:
            correlation_id.reset(token)
        response["X-Request-ID"] = request.correlation_id
        return response


class ActorMiddleware:
    """Makes the request's user the actor of the events the request emits (their `actor`).

    The user is read when an event is emitted, not here: the admin's session user is known now,
    but DRF authenticates a token inside the view (and then sets `request.user`).
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        token = actor.set(lambda: _user_id(request))
        try:
            return self.get_response(request)
        finally:
            actor.reset(token)


def _user_id(request: HttpRequest) -> int | None:
    user = getattr(request, "user", None)
    return user.pk if user is not None and user.is_authenticated else None


# POST /api/loads/{id}/documents/ (documents.api.urls), and the room its multipart form needs
# beside the file (boundaries, headers, the kind and stop fields).
DOCUMENT_UPLOAD = re.compile(r"^/api/loads/[0-9a-fA-F-]{36}/documents/?$")
MULTIPART_ALLOWANCE_BYTES = 64 * 1024


class RequestSizeLimitMiddleware:
    """Refuses oversize bodies before anything reads them.

    Django checks DATA_UPLOAD_MAX_MEMORY_SIZE only when `request.body` is read; DRF's parsers read
    the stream directly, so the limit is enforced here on the declared length.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        if limit is not None and request.method == "POST" and DOCUMENT_UPLOAD.match(request.path_info):
            # A document upload carries a file up to TMS_DOCUMENT_MAX_BYTES, in multipart form.
            limit = max(limit, settings.TMS_DOCUMENT_MAX_BYTES + MULTIPART_ALLOWANCE_BYTES)
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if limit is not None and length > limit:
            return error_response(
                413,
                "request_too_large",
                f"Request body is {length} bytes; the limit is {limit} bytes.",
                {"limit_bytes": limit},
            )
        return self.get_response(request)


class MetricsMiddleware:
    """Times every request into tms_http_request_duration_seconds, labelled by the route pattern
    (bounded, unlike the path), and samples the database pool."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        match = request.resolver_match
        route = match.route if match is not None else "unmatched"
        metrics.HTTP_REQUEST_SECONDS.labels(request.method, route, str(response.status_code)).observe(
            time.perf_counter() - started
        )
        metrics.sample_database_pool(connection)
        return response


class BackOfficeTimeZoneMiddleware:
    """The back office (/admin/) shows and reads the times not tied to a facility in the operator's
    time zone (TMS_TIME_ZONE), written with the zone named (tms/formats); facility times are on
    the facility's clock (tms.times.local_time). The API stays in UTC."""

    def __init__(self, get_response):
        self.get_response = get_response
        self.prefix: str | None = None

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if self.prefix is None:
            self.prefix = reverse("admin:index")
        if not request.path.startswith(self.prefix):
            return self.get_response(request)
        with timezone.override(zoneinfo.ZoneInfo(settings.TMS_TIME_ZONE)):
            return self.get_response(request)
