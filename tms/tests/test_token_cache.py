"""API token authentication from the cache (tms.token_cache): no database read on a repeated
request, and every change that must refuse or narrow a token is seen on the very next request."""

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from tms.api_defaults import DISPATCHER, VIEWER
from tms.tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def _client(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


def _error_code(response) -> str:
    return response.json()["error"]["code"]


@pytest.fixture
def user():
    return UserFactory(username="cached-dispatcher", roles=[DISPATCHER])


@pytest.fixture
def client(user) -> APIClient:
    client = _client(user)
    assert client.get("/api/carriers/").status_code == 200  # cached from here on
    return client


def test_a_repeated_request_reads_no_token_or_user_from_the_database(client):
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/api/carriers/").status_code == 200
    tables = " ".join(query["sql"] for query in queries.captured_queries)
    assert "authtoken_token" not in tables and "auth_user" not in tables


def test_a_revoked_token_is_refused_at_once(client, user):
    Token.objects.filter(user=user).get().delete()
    response = client.get("/api/carriers/")
    assert response.status_code == 401
    assert _error_code(response) == "authentication_failed"


def test_a_deactivated_user_is_refused_at_once(client, user):
    user.is_active = False
    user.save()
    response = client.get("/api/carriers/")
    assert response.status_code == 401
    assert _error_code(response) == "authentication_failed"


def test_a_deleted_user_is_refused_at_once(client, user):
    user.delete()
    assert client.get("/api/carriers/").status_code == 401


def test_a_role_taken_away_narrows_the_next_request(client, user):
    dispatcher = Group.objects.get(name=DISPATCHER)
    user.groups.remove(dispatcher)
    user.groups.add(Group.objects.get_or_create(name=VIEWER)[0])
    response = client.post("/api/carriers/", {"name": "Refused", "dot_number": "999001"}, format="json")
    assert response.status_code == 403
    assert _error_code(response) == "permission_denied"
    from fleet.models import Carrier

    assert not Carrier.objects.filter(dot_number="999001").exists()


def test_a_role_taken_from_the_group_side_is_seen_at_once(client, user):
    Group.objects.get(name=DISPATCHER).user_set.remove(user)
    assert client.get("/api/carriers/").status_code == 403  # no role left


def test_a_role_group_renamed_is_seen_at_once(client):
    group = Group.objects.get(name=DISPATCHER)
    group.name = "FORMER-DISPATCHERS"
    group.save()
    assert client.get("/api/carriers/").status_code == 403


def test_the_cache_holds_neither_the_token_nor_the_password_hash(client, user):
    from django.core.cache import cache

    from tms.token_cache import cache_key

    key = client._credentials["HTTP_AUTHORIZATION"].split()[1]
    assert key not in cache_key(key)
    fields, roles = cache.get(cache_key(key))
    assert roles == {DISPATCHER}
    assert fields["username"] == "cached-dispatcher"
    assert "password" not in fields and user.password not in repr(fields)


def test_a_cached_user_is_the_same_user_to_the_views(client, user):
    """A write by a cached user is audited as theirs (the rebuilt user is the database's row)."""
    from events.models import AuditLog

    response = client.post("/api/carriers/", {"name": "Cached Co", "dot_number": "999002"}, format="json")
    assert response.status_code == 201, response.json()
    assert AuditLog.objects.filter(record_id=response.json()["id"]).get().user_id == user.pk


def test_a_cached_user_saved_keeps_its_password(client, user):
    """The cache holds no password hash: a cached user written back must not blank it."""
    from tms import token_cache

    key = client._credentials["HTTP_AUTHORIZATION"].split()[1]
    cached, _ = token_cache.get(key)
    cached.first_name = "Renamed"
    cached.save()
    user.refresh_from_db()
    assert user.first_name == "Renamed"
    assert user.check_password("pass-word-123")
    assert cached.check_password("pass-word-123")  # read from the database when asked for


def test_a_request_that_read_the_token_before_its_revocation_cannot_cache_it_again(client, user):
    """The race: a request reads the token from the database, the token is revoked (its entry
    dropped, at once and at commit), then that request stores what it read. The next request must
    still be refused."""
    from tms import token_cache

    key = client._credentials["HTTP_AUTHORIZATION"].split()[1]
    read_before, roles = token_cache.get(key)
    Token.objects.filter(key=key).get().delete()
    token_cache.put(key, read_before, roles)  # the slow request, after the revocation
    assert token_cache.get(key) is None
    assert _error_code(client.get("/api/carriers/")) == "authentication_failed"
