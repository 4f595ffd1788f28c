"""The provider layer: Google Directions answers recorded in the documented JSON shape, mocked at
the HTTP layer (`responses`), the circuit breaker and answer cache in the real Redis, and the
great-circle fallback."""

import datetime
import json
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
import requests
import responses
from django.contrib.gis.geos import Point
from django.utils import timezone

from routing import maps
from routing.models import RouteProvider
from tms.geo import estimate_road_trip

DIRECTIONS_URL = "https://maps.googleapis.com/maps/api/directions/json"
FIXTURES = Path(__file__).parent / "fixtures"
CHICAGO = Point(-87.6298, 41.8781, srid=4326)
INDIANAPOLIS = Point(-86.1581, 39.7684, srid=4326)


def directions(name: str) -> dict:
    return json.loads((FIXTURES / f"directions_{name}.json").read_text())


@pytest.fixture
def google(settings):
    settings.GOOGLE_MAPS_API_KEY = "AIzaTestKeyForRecordedAnswers"
    settings.ROUTING_BREAKER_FAILURES = 3
    settings.ROUTING_BREAKER_COOLDOWN_S = 60
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def departure():
    # A minute into a 15-minute departure bucket, so "+30 s" stays in the same bucket.
    tomorrow = int((timezone.now() + datetime.timedelta(days=1)).timestamp())
    return datetime.datetime.fromtimestamp(tomorrow // 900 * 900 + 60, tz=datetime.UTC)


def route(departure, **kwargs):
    return maps.compute_route(CHICAGO, INDIANAPOLIS, departure_at=departure, **kwargs)


def query_of(call) -> dict[str, list[str]]:
    return parse_qs(urlparse(call.request.url).query)


def test_a_google_answer_becomes_the_route(google, departure):
    google.get(DIRECTIONS_URL, json=directions("ok"))

    result = route(departure)

    assert result.provider == RouteProvider.GOOGLE_MAPS
    assert result.fallback_reason == ""
    assert (result.distance_m, result.duration_s, result.duration_in_traffic_s) == (290_000, 10_200, 11_220)
    assert result.path.srid == 4326
    assert [tuple(round(c, 5) for c in xy) for xy in result.path.coords] == [
        (-87.6298, 41.8781),
        (-87.4, 41.5),
        (-86.9, 40.9),
        (-86.4, 40.2),
        (-86.1581, 39.7684),
    ]
    assert result.steps == [
        {
            "instruction": "Head south on S State St toward W Madison St",
            "distance_m": 1200,
            "duration_s": 200,
        },
        {"instruction": "Merge onto I-65 S. Toll road", "distance_m": 288_000, "duration_s": 9800},
        {"instruction": "Turn left onto W Washington St & continue", "distance_m": 800, "duration_s": 200},
    ]


def test_the_request_is_traffic_aware_avoids_ferries_and_carries_waypoints(google, departure, settings):
    settings.ROUTING_GOOGLE_AVOID = ["ferries", "tolls"]
    google.get(DIRECTIONS_URL, json=directions("ok"))

    route(departure, waypoints=[Point(-87.4, 41.5, srid=4326)])

    (call,) = google.calls
    query = query_of(call)
    assert query["origin"] == ["41.8781,-87.6298"]
    assert query["destination"] == ["39.7684,-86.1581"]
    assert query["waypoints"] == ["41.5,-87.4"]
    assert query["mode"] == ["driving"]
    assert query["avoid"] == ["ferries|tolls"]
    assert query["departure_time"] == [str(int(departure.timestamp()))]
    assert query["traffic_model"] == ["best_guess"]
    assert query["key"] == ["AIzaTestKeyForRecordedAnswers"]


def test_a_past_pickup_departs_now(google):
    google.get(DIRECTIONS_URL, json=directions("ok"))
    before = int(timezone.now().timestamp())

    maps.compute_route(CHICAGO, INDIANAPOLIS, departure_at=timezone.now() - datetime.timedelta(hours=3))

    sent = int(query_of(google.calls[0])["departure_time"][0])
    assert before <= sent <= int(timezone.now().timestamp())


def test_without_a_key_the_great_circle_answers_and_google_is_not_called(google, departure, settings):
    settings.GOOGLE_MAPS_API_KEY = None

    result = route(departure)

    assert len(google.calls) == 0
    distance_m, _hours = estimate_road_trip(CHICAGO, INDIANAPOLIS)
    assert result.provider == RouteProvider.GREAT_CIRCLE
    assert result.fallback_reason == "no_api_key"
    assert result.distance_m == distance_m
    assert result.duration_s == round(distance_m / 1000 / settings.ROUTING_AVERAGE_SPEED_KMH * 3600)
    assert result.duration_in_traffic_s is None
    assert list(result.path.coords) == [(CHICAGO.x, CHICAGO.y), (INDIANAPOLIS.x, INDIANAPOLIS.y)]
    assert result.steps == []


def test_a_cached_answer_avoids_the_second_http_call(google, departure):
    google.get(DIRECTIONS_URL, json=directions("ok"))

    first = route(departure)
    second = route(departure + datetime.timedelta(seconds=30))  # same departure bucket

    assert len(google.calls) == 1
    assert second.provider == RouteProvider.GOOGLE_MAPS
    assert (second.distance_m, second.steps, second.path.coords) == (
        first.distance_m,
        first.steps,
        first.path.coords,
    )


def test_another_departure_bucket_asks_google_again(google, departure, settings):
    settings.ROUTING_DEPARTURE_BUCKET_S = 900
    google.get(DIRECTIONS_URL, json=directions("ok"))

    route(departure)
    route(departure + datetime.timedelta(hours=2))

    assert len(google.calls) == 2


def test_quota_exhaustion_falls_back_at_once_and_opens_the_breaker(google, departure):
    google.get(DIRECTIONS_URL, json=directions("over_query_limit"))

    result = route(departure)

    assert len(google.calls) == 1  # not retried
    assert result.provider == RouteProvider.GREAT_CIRCLE
    assert result.fallback_reason == "quota_exhausted"
    assert maps.google_breaker.state() == "OPEN"


@pytest.mark.parametrize("status", ["REQUEST_DENIED", "INVALID_REQUEST", "UNKNOWN_ERROR"])
def test_an_error_status_falls_back_to_the_great_circle(google, departure, status):
    google.get(DIRECTIONS_URL, json={"error_message": "refused", "routes": [], "status": status})

    result = route(departure)

    assert result.provider == RouteProvider.GREAT_CIRCLE
    assert result.fallback_reason == "provider_error"
    assert maps.google_breaker.state() == "CLOSED"  # one failure is below the threshold


def test_a_network_failure_falls_back_to_the_great_circle(google, departure):
    google.get(DIRECTIONS_URL, body=requests.ConnectionError("connection refused"))

    result = route(departure)

    assert result.provider == RouteProvider.GREAT_CIRCLE
    assert result.fallback_reason == "provider_error"


def test_zero_results_is_no_road_route_and_not_a_provider_failure(google, departure):
    google.get(DIRECTIONS_URL, json=directions("zero_results"))

    with pytest.raises(maps.NoRoadRoute):
        route(departure)

    assert maps.google_breaker.state() == "CLOSED"


def test_the_breaker_opens_after_consecutive_failures_and_stops_calling(google, departure):
    google.get(DIRECTIONS_URL, json=directions("request_denied"))

    reasons = [route(departure).fallback_reason for _ in range(4)]

    assert reasons == ["provider_error", "provider_error", "provider_error", "breaker_open"]
    assert len(google.calls) == 3
    assert maps.google_breaker.state() == "OPEN"


def test_a_success_resets_the_failure_count(google, departure):
    google.get(DIRECTIONS_URL, json=directions("request_denied"))
    route(departure)
    route(departure)
    google.replace(responses.GET, DIRECTIONS_URL, json=directions("ok"))
    route(departure)
    google.replace(responses.GET, DIRECTIONS_URL, json=directions("request_denied"))

    # Different departures, so the cached success does not answer.
    route(departure + datetime.timedelta(hours=1))
    route(departure + datetime.timedelta(hours=2))

    assert maps.google_breaker.state() == "CLOSED"


def test_the_breaker_closes_after_the_cool_down_when_the_trial_succeeds(google, departure, monkeypatch):
    google.get(DIRECTIONS_URL, json=directions("request_denied"))
    for _ in range(3):
        route(departure)
    assert maps.google_breaker.state() == "OPEN"

    later = maps._now() + 61
    monkeypatch.setattr(maps, "_now", lambda: later)
    assert maps.google_breaker.state() == "HALF_OPEN"
    google.replace(responses.GET, DIRECTIONS_URL, json=directions("ok"))

    result = route(departure)

    assert result.provider == RouteProvider.GOOGLE_MAPS
    assert len(google.calls) == 4
    assert maps.google_breaker.state() == "CLOSED"


def test_a_failed_half_open_trial_opens_the_breaker_again(google, departure, monkeypatch):
    google.get(DIRECTIONS_URL, json=directions("request_denied"))
    for _ in range(3):
        route(departure)
    later = maps._now() + 61
    monkeypatch.setattr(maps, "_now", lambda: later)

    trial = route(departure)
    after = route(departure)

    assert (trial.fallback_reason, after.fallback_reason) == ("provider_error", "breaker_open")
    assert len(google.calls) == 4
    assert maps.google_breaker.state() == "OPEN"


def test_only_one_caller_gets_the_half_open_trial(google, monkeypatch):
    breaker = maps.CircuitBreaker("trial-test")
    breaker.trip()
    later = maps._now() + 61
    monkeypatch.setattr(maps, "_now", lambda: later)

    assert [breaker.allow() for _ in range(3)] == [True, False, False]


def test_fallbacks_are_not_cached(google, departure):
    google.get(DIRECTIONS_URL, json=directions("request_denied"))
    route(departure)
    google.replace(responses.GET, DIRECTIONS_URL, json=directions("ok"))

    assert route(departure).provider == RouteProvider.GOOGLE_MAPS


def test_a_malformed_key_falls_back(google, departure, settings):
    settings.GOOGLE_MAPS_API_KEY = "not-a-google-key"

    result = route(departure)

    assert (result.provider, result.fallback_reason) == (RouteProvider.GREAT_CIRCLE, "provider_error")
    assert len(google.calls) == 0


@pytest.mark.parametrize(
    ("html_instruction", "text"),
    [
        ("Head <b>north</b>", "Head north"),
        ('Keep <b>left</b><div style="font-size:0.9em">Toll road</div>', "Keep left. Toll road"),
        ("Take exit &amp; merge", "Take exit & merge"),
        ("", ""),
    ],
)
def test_instructions_lose_their_html(html_instruction, text):
    assert maps.strip_html(html_instruction) == text
