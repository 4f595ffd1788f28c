"""The project's own writes: API tokens and WebSocket tickets (the events and domain apps have
their own services)."""

import re
import secrets

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.core.cache import cache
from rest_framework.authtoken.models import Token

_TICKET = re.compile(r"[A-Za-z0-9_-]{43}")  # secrets.token_urlsafe(32)


def api_token_for(*, user: AbstractBaseUser) -> Token:
    """The user's API token, created on first use and the same one afterwards (one per user).
    A credential, not a domain change: no audit row and no event."""
    token, _ = Token.objects.get_or_create(user=user)
    return token


def issue_ws_ticket(*, user: AbstractBaseUser) -> str:
    """A ticket that opens one /ws connection as `user` (`/ws?ticket=...`), redeemable once within
    TMS_WS_TICKET_TTL_S: browsers cannot set headers on a WebSocket, and an API token in the URL
    lands in access logs. Kept in Redis (the cache), shared by every web process; no audit row."""
    ticket = secrets.token_urlsafe(32)
    cache.set(_ticket_key(ticket), user.pk, timeout=settings.TMS_WS_TICKET_TTL_S)
    return ticket


def redeem_ws_ticket(ticket: str) -> int | None:
    """The ticket's user id, once: the first redeemer deletes it (Redis DEL is atomic); None for
    an unknown, used or expired ticket."""
    if not _TICKET.fullmatch(ticket):
        return None
    key = _ticket_key(ticket)
    user_id = cache.get(key)
    return user_id if user_id is not None and cache.delete(key) else None


def _ticket_key(ticket: str) -> str:
    return f"ws-ticket:{ticket}"
