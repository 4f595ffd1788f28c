"""WebSocket URL patterns, mounted by tms/asgi.py."""

from django.urls import re_path

from events.ws import LiveStreamConsumer

websocket_urlpatterns = [
    re_path(r"^ws/?$", LiveStreamConsumer.as_asgi()),
]
