"""One URL style: every API route answers with and without its trailing slash, as the same view;
reverse(), links and the OpenAPI schema give the seed's form, without it (issue 12, item 2)."""

import uuid

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, resolve, reverse
from django.urls.exceptions import Resolver404

pytestmark = pytest.mark.django_db


def api_patterns(patterns=None, prefix: str = "") -> list[tuple[str, URLPattern]]:
    """(the route's prefix, pattern) of every URL pattern under api/."""
    found = []
    for pattern in get_resolver().url_patterns if patterns is None else patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            found += api_patterns(pattern.url_patterns, route)
        elif route.lstrip("^").startswith("api/"):
            found.append((route, pattern))
    return found


def sample_url(pattern: URLPattern) -> str:
    """The pattern's URL, with an id wherever it takes one."""
    kwargs = {name: str(uuid.uuid4()) for name in pattern.pattern.regex.groupindex}
    kwargs |= {name: str(uuid.uuid4()) for name in getattr(pattern.pattern, "converters", {})}
    return reverse(pattern.name, kwargs=kwargs)


PATTERNS = api_patterns()


def test_the_walk_finds_every_kind_of_api_route():
    names = {pattern.name for _, pattern in PATTERNS}
    assert {
        "vehicle-list",
        "vehicle-detail",
        "vehicle-location",
        "route-optimize-load",
        "route-job",
        "event-list",
        "event-publish",
        "tracking-batch",
        "auth-token",
        "schema",
    } <= names
    assert all(pattern.name for _, pattern in PATTERNS)


@pytest.mark.parametrize(("route", "pattern"), PATTERNS, ids=[route for route, _ in PATTERNS])
def test_both_forms_resolve_to_the_same_view(route, pattern):
    url = sample_url(pattern)
    assert not url.endswith("/"), f"{pattern.name} reverses to {url}: the seed's form has no trailing slash"
    without, with_slash = resolve(url), resolve(url + "/")
    assert without.func is with_slash.func is pattern.callback
    assert without.kwargs == with_slash.kwargs
    assert without.url_name == with_slash.url_name == pattern.name


def test_an_unknown_path_is_still_404_in_both_forms():
    for url in ("/api/vehicle", "/api/vehicle/", "/api/routes/1/2", "/api/routes/1/2/"):
        with pytest.raises(Resolver404):
            resolve(url)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("post", "/api/routes/optimize-load"),
        ("post", "/api/routes/optimize-load/"),
        ("post", "/api/events/publish/"),
        ("get", "/api/events/topics/"),
        ("get", "/api/events"),
        ("get", "/api/network/lanes/"),
        ("post", "/api/auth/token"),
    ],
)
def test_custom_paths_answer_in_both_forms(dispatcher, method, path):
    """They used to 404 in one of the forms; an empty body is refused by the view itself."""
    response = getattr(dispatcher, method)(path, {}, format="json")
    assert response.status_code in (200, 400), (path, response.status_code)


def test_the_schema_shows_each_operation_once_without_the_trailing_slash(client):
    paths = client.get("/api/schema?format=json").json()["paths"]
    assert "/api/vehicles/{id}/location" in paths
    assert "/api/routes/optimize-load" in paths
    assert "/api/events/publish" in paths
    assert [path for path in paths if path.endswith("/")] == []
