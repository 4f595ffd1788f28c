"""The ASGI application: HTTP through Django, WebSockets (/ws) through Channels."""

import asyncio
import gc
import os
import tempfile

import django
from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.exceptions import RequestAborted
from django.core.handlers.asgi import ASGIHandler
from django.db import close_old_connections
from django.urls import get_resolver

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tms.settings")
django.setup(set_prefix=False)

from tms.api import error_response  # noqa: E402  (needs Django set up first)


class SyncMiddlewareASGIHandler(ASGIHandler):
    """Django's ASGI handler with the middleware chain and the view run together, synchronously,
    in the request's worker thread: one hop from the event loop per request.

    Django's own ASGI handler runs the chain in async mode, where each of its MiddlewareMixin
    middleware (sessions, CSRF, auth, messages, security, ...) calls its process_request and
    process_response through sync_to_async: two thread hops each, about 16 per request, which cost
    more than the view itself under load (GET one load: 60 req/s through uvicorn against 160 from
    the same code in-process). Every view of the TMS is synchronous, so nothing is lost.

    At most WEB_REQUEST_CONCURRENCY requests run their view at once in each process (by default
    the database pool's size): more wait their turn in the event loop, where waiting is cheap, not
    in threads that would each wait for a pooled connection and time out into 503s under a burst
    of a thousand clients.
    """

    def __init__(self):
        super().__init__()
        self._slots = asyncio.Semaphore(settings.WEB_REQUEST_CONCURRENCY)

    def load_middleware(self, is_async=False):
        super().load_middleware(is_async=False)

    async def get_response_async(self, request):
        async with self._slots:
            return await sync_to_async(self._respond, thread_sensitive=True)(request)

    # --- Bodies: read whatever their framing, and never more than the limit ---------------------
    # A chunked body has no Content-Length, and DRF reads a request without one as empty (a chunked
    # create answered "name: This field is required"); Django reads the whole body before anything
    # can refuse it, so a chunked one escaped the 413 of RequestSizeLimitMiddleware, which sees only
    # the declared length. Here a declared length over the limit is refused before the body is read,
    # a body is read only up to the limit, and the request gets the length actually read.

    async def handle(self, scope, receive, send):
        declared = _declared_length(scope)
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        if declared is not None and limit is not None and declared > limit:
            await self._refuse(_too_large(declared, limit), send)
            return
        await super().handle(scope, receive, send)

    async def read_body(self, receive):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        # Returned open, as Django's own read_body does: the request owns it.
        body_file = tempfile.SpooledTemporaryFile(max_size=settings.FILE_UPLOAD_MAX_MEMORY_SIZE, mode="w+b")  # noqa: SIM115
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                body_file.close()
                raise RequestAborted()
            chunk = message.get("body", b"")
            size += len(chunk)
            if limit is not None and size > limit:
                body_file.close()
                return _BodyTooLarge(size, limit)
            body_file.write(chunk)
            if not message.get("more_body", False):
                break
        body_file.seek(0)
        body_file.tms_length = size
        return body_file

    def create_request(self, scope, body_file):
        if isinstance(body_file, _BodyTooLarge):
            return None, _too_large(body_file.size, body_file.limit, read=True)
        if _declared_length(scope) is None and body_file.tms_length:
            headers = [(name, value) for name, value in scope["headers"] if name != b"content-length"]
            scope = {**scope, "headers": [*headers, (b"content-length", str(body_file.tms_length).encode())]}
        return super().create_request(scope, body_file)

    async def _refuse(self, response, send):
        await self.send_response(response, send)
        await sync_to_async(response.close)()

    def _respond(self, request):
        """The response, with this thread's database connections back in the pool before the slot
        is freed (not after the body is sent): the next request in the slot finds one free."""
        try:
            return self.get_response(request)
        finally:
            close_old_connections()


class _BodyTooLarge:
    """What read_body returns for a body that outgrew the limit (it stopped reading)."""

    def __init__(self, size: int, limit: int) -> None:
        self.size, self.limit = size, limit

    def close(self) -> None:
        pass


def _declared_length(scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _too_large(size: int, limit: int, *, read: bool = False):
    what = f"Request body is over {limit} bytes" if read else f"Request body is {size} bytes"
    return error_response(
        413, "request_too_large", f"{what}; the limit is {limit} bytes.", {"limit_bytes": limit}
    )


django_asgi_app = SyncMiddlewareASGIHandler()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402  (needs Django set up first)

from tms.ws import websocket_urlpatterns  # noqa: E402

# No origin check on WebSockets: they authenticate with the API token (query or header), never
# with the session cookie, so another site's page cannot ride a user's login.
application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": URLRouter(websocket_urlpatterns),
    }
)


def freeze_startup_heap() -> None:
    """Imports every view now (the URLconf is otherwise loaded by the first request), then moves
    everything the process has built so far into the collector's permanent generation.

    Django, DRF, the models, serializers and schemas are hundreds of thousands of objects that live
    as long as the process; every full collection walked them all, a pause of tens of milliseconds
    that landed on whichever requests were running. Served at 32 connections, the cached
    dashboard's p99 went from 185-520 ms to 62-83 ms and its throughput up 10-15% (four rounds
    against the same code without it, one run; README, operations)."""
    get_resolver().url_patterns  # noqa: B018  (the import is the point)
    gc.freeze()


freeze_startup_heap()
