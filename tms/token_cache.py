"""API tokens' users in the Redis cache: token authentication without a database read per request.

A request with `Authorization: Token <key>` used to cost a query (token, user and roles in one),
two thirds of a cached dashboard answer's time. TokenAuthentication (tms.api_defaults) now reads
the user, their roles and their token from the cache (one Redis GET), and on a miss from the
database, storing what it read for TMS_TOKEN_CACHE_TTL_S.

What drops an entry at once (signals below, connected in tms.apps): the token deleted (revoked,
or its user deleted: the cascade deletes it); the user saved (deactivated, made superuser or not,
renamed...); the user's groups changed (a role given or taken), from either side; a role group
renamed or deleted. Each replaces it with a tombstone, when the change happens and again when its
transaction commits, for TOMBSTONE_S; entries are stored only where none is (SET NX), so a request
that read the token before the change and stores it after cannot put the old state back. A
change that bypasses the models' signals (a queryset .update(), raw SQL) is seen within the TTL.
"""

import hashlib

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.cache import cache
from django.db import transaction
from django.db.models.signals import m2m_changed, post_delete, post_save, pre_delete
from rest_framework.authtoken.models import Token


def cache_key(token_key: str) -> str:
    # Hashed: the cache never holds a usable token.
    return "auth:token:" + hashlib.sha256(token_key.encode()).hexdigest()


# What is kept of the user: never the password hash.
_USER_FIELDS = (
    "id", "username", "first_name", "last_name", "email", "is_staff", "is_active", "is_superuser",
    "last_login", "date_joined",
)  # fmt: skip


# What a dropped entry holds for a while: longer than any request takes between reading a token
# from the database and storing it.
TOMBSTONE, TOMBSTONE_S = "dropped", 30


def get(token_key: str):
    """(user, roles) cached for the key, or None. The user is rebuilt from its cached fields as
    the default database's row with the password deferred, as `.only()` would read it: reading
    the password loads it, and a save() writes only the fields it holds, so a cached user saved by
    mistake keeps its password."""
    hit = cache.get(cache_key(token_key))
    if hit is None or hit == TOMBSTONE:
        return None
    fields, roles = hit
    model = get_user_model()
    names = [field.attname for field in model._meta.concrete_fields if field.attname in fields]
    user = model.from_db("default", names, [fields[name] for name in names])
    return user, roles


def put(token_key: str, user, roles: frozenset[str]) -> None:
    fields = {name: getattr(user, name) for name in _USER_FIELDS}
    # Only where no entry is: not over a tombstone (see the module).
    cache.add(cache_key(token_key), (fields, roles), timeout=settings.TMS_TOKEN_CACHE_TTL_S)


def forget(token_keys) -> None:
    """Puts tombstones in place of the entries, now and once the current transaction commits."""
    tombstones = dict.fromkeys((cache_key(key) for key in token_keys), TOMBSTONE)
    if not tombstones:
        return
    cache.set_many(tombstones, timeout=TOMBSTONE_S)
    transaction.on_commit(lambda: cache.set_many(tombstones, timeout=TOMBSTONE_S))


def forget_users(user_ids) -> None:
    forget(Token.objects.filter(user_id__in=list(user_ids)).values_list("key", flat=True))


def _token_deleted(sender, instance, **kwargs) -> None:
    forget([instance.key])


def _user_saved(sender, instance, update_fields=None, **kwargs) -> None:
    if update_fields is not None and set(update_fields) <= {"last_login"}:
        return  # a session login: nothing a token's request reads
    forget_users([instance.pk])


def _groups_changed(sender, instance, action, reverse, model, pk_set, **kwargs) -> None:
    if action not in {"post_add", "post_remove", "pre_clear", "post_clear"}:
        return
    if isinstance(instance, Group):  # group.user_set.add(...): the users are in pk_set
        forget_users(pk_set if pk_set else instance.user_set.values_list("pk", flat=True))
    else:
        forget_users([instance.pk])


def _group_changed(sender, instance, **kwargs) -> None:
    forget_users(instance.user_set.values_list("pk", flat=True))


def connect() -> None:
    user_model = get_user_model()
    post_delete.connect(_token_deleted, sender=Token, dispatch_uid="token_cache_token_deleted")
    post_save.connect(_user_saved, sender=user_model, dispatch_uid="token_cache_user_saved")
    m2m_changed.connect(_groups_changed, sender=user_model.groups.through, dispatch_uid="token_cache_groups")
    post_save.connect(_group_changed, sender=Group, dispatch_uid="token_cache_group_saved")
    pre_delete.connect(_group_changed, sender=Group, dispatch_uid="token_cache_group_deleted")
