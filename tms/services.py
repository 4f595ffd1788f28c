"""The project's own writes: API tokens (the events and domain apps have their own services)."""

from django.contrib.auth.base_user import AbstractBaseUser
from rest_framework.authtoken.models import Token


def api_token_for(*, user: AbstractBaseUser) -> Token:
    """The user's API token, created on first use and the same one afterwards (one per user).
    A credential, not a domain change: no audit row and no event."""
    token, _ = Token.objects.get_or_create(user=user)
    return token
