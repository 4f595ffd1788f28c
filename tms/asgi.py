"""The ASGI application: HTTP through Django, WebSockets (/ws) through Channels."""

import asyncio
import os

import django
from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.handlers.asgi import ASGIHandler
from django.db import close_old_connections

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tms.settings")
django.setup(set_prefix=False)


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

    def _respond(self, request):
        """The response, with this thread's database connections back in the pool before the slot
        is freed (not after the body is sent): the next request in the slot finds one free."""
        try:
            return self.get_response(request)
        finally:
            close_old_connections()


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
