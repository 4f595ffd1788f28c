"""Street routing providers: Google Directions behind a circuit breaker and an answer cache, with the
great-circle estimate (tms.geo) as the fallback that always answers.

Settings (read at call time; their defaults are in tms/settings.py): GOOGLE_MAPS_API_KEY (unset:
great circle only), ROUTING_GOOGLE_TIMEOUT_S, ROUTING_GOOGLE_RETRY_TIMEOUT_S, ROUTING_GOOGLE_AVOID,
ROUTING_GOOGLE_TRAFFIC_MODEL, ROUTING_BREAKER_FAILURES, ROUTING_BREAKER_COOLDOWN_S,
ROUTING_CACHE_TTL_S, ROUTING_DEPARTURE_BUCKET_S.
"""

import datetime
import hashlib
import html
import itertools
import json
import logging
import re
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import googlemaps
from django.conf import settings
from django.contrib.gis.geos import LineString, Point
from django.core.cache import cache
from django.utils import timezone

from routing.models import RouteProvider
from tms.exceptions import BusinessRuleViolation
from tms.geo import estimate_road_trip

logger = logging.getLogger(__name__)

QUOTA_STATUSES = {"OVER_QUERY_LIMIT", "OVER_DAILY_LIMIT"}
_TAG = re.compile(r"<[^>]+>")
_BLOCK_TAG = re.compile(r"<div[^>]*>", re.IGNORECASE)


class NoRoadRoute(BusinessRuleViolation):
    """The provider answered, and there is no road between the points (ZERO_RESULTS)."""

    code = "no_road_route"


class ProviderFailed(Exception):
    """The provider did not give a usable answer; `quota` when its quota is exhausted."""

    def __init__(self, message: str, *, quota: bool = False):
        super().__init__(message)
        self.quota = quota


@dataclass
class Leg:
    """The drive from one stop to the next; `end_fraction`: where it ends along the route's path
    (0..1, as PostGIS's ST_LineLocatePoint measures the path: planar, in degrees)."""

    distance_m: int
    duration_s: int
    duration_in_traffic_s: int | None
    end_fraction: float


def _planar_fractions(coords: Sequence[tuple[float, float]]) -> list[float]:
    """Each vertex's fraction of the path's planar length (ST_LineLocatePoint's measure)."""
    lengths = [0.0]
    for (x1, y1), (x2, y2) in itertools.pairwise(coords):
        lengths.append(lengths[-1] + ((x2 - x1) ** 2 + (y2 - y1) ** 2) ** 0.5)
    total = lengths[-1]
    return [length / total if total else 0.0 for length in lengths]


def leg_end_fractions(
    coords: Sequence[tuple[float, float]], ends: Sequence[tuple[float, float]]
) -> list[float]:
    """Where each leg's end (lng, lat) lies along the path: at the nearest vertex not before the
    previous leg's end, so a route that passes a stop twice (a milk run back through its pickup)
    puts each leg's end on its own pass. The last leg ends at 1."""
    fractions = _planar_fractions(coords)
    found, start = [], 0
    for x, y in ends[:-1]:
        index = min(
            range(start, len(coords)), key=lambda i: (coords[i][0] - x) ** 2 + (coords[i][1] - y) ** 2
        )
        found.append(fractions[index])
        start = index
    return [*found, 1.0] if ends else []


@dataclass
class RouteResult:
    provider: str
    path: LineString
    distance_m: int
    duration_s: int
    duration_in_traffic_s: int | None
    departure_at: datetime.datetime
    steps: list[dict[str, Any]] = field(default_factory=list)
    # Why the fallback answered instead of the street router ("" when it did not).
    fallback_reason: str = ""
    # One per pair of consecutive points (origin, waypoints in order, destination).
    legs: list[Leg] = field(default_factory=list)

    def to_cache(self) -> dict[str, Any]:
        data = asdict(self)
        data["path"] = list(self.path.coords)
        data["departure_at"] = self.departure_at.isoformat()
        return data

    @classmethod
    def from_cache(cls, data: dict[str, Any]) -> "RouteResult":
        data = dict(data)
        data["path"] = LineString([tuple(c) for c in data["path"]], srid=4326)
        data["departure_at"] = datetime.datetime.fromisoformat(data["departure_at"])
        data["legs"] = [Leg(**leg) for leg in data.get("legs", [])]
        return cls(**data)


# --- Circuit breaker ------------------------------------------------------------------------------


def _now() -> float:
    return time.time()


class CircuitBreaker:
    """Consecutive-failure breaker whose state lives in the shared cache (Redis), so every worker
    sees it. Closed: calls pass. After `failures` consecutive failures it opens for `cooldown_s`;
    then one caller gets a half-open trial: success closes it, failure opens it again."""

    def __init__(self, name: str):
        self.prefix = f"routing:breaker:{name}"

    @property
    def threshold(self) -> int:
        return settings.ROUTING_BREAKER_FAILURES

    @property
    def cooldown_s(self) -> float:
        return settings.ROUTING_BREAKER_COOLDOWN_S

    def state(self) -> str:
        open_until = cache.get(f"{self.prefix}:open_until")
        if open_until is None:
            return "CLOSED"
        return "OPEN" if _now() < open_until else "HALF_OPEN"

    def allow(self) -> bool:
        state = self.state()
        if state == "CLOSED":
            return True
        if state == "OPEN":
            return False
        # Half-open: only the caller that claims the trial goes through.
        return cache.add(f"{self.prefix}:trial", 1, timeout=max(int(self.cooldown_s), 1))

    def record_success(self) -> None:
        cache.delete_many([f"{self.prefix}:failures", f"{self.prefix}:open_until", f"{self.prefix}:trial"])

    def record_failure(self) -> None:
        if self.state() == "HALF_OPEN":
            self.trip()
            return
        key = f"{self.prefix}:failures"
        cache.add(key, 0, timeout=None)
        if cache.incr(key) >= self.threshold:
            self.trip()

    def trip(self) -> None:
        cache.set(f"{self.prefix}:open_until", _now() + self.cooldown_s, timeout=None)
        cache.delete_many([f"{self.prefix}:failures", f"{self.prefix}:trial"])


# --- Providers -----------------------------------------------------------------------------------


def _departure(departure_at: datetime.datetime | None) -> datetime.datetime:
    # Google refuses a departure time in the past; a pickup already due leaves now.
    now = timezone.now()
    return now if departure_at is None or departure_at < now else departure_at


class GreatCircle:
    """Great circle x circuity factor at the average truck speed, on a straight path."""

    provider = RouteProvider.GREAT_CIRCLE

    def route(
        self,
        origin: Point,
        destination: Point,
        *,
        waypoints: Sequence[Point] = (),
        departure_at: datetime.datetime | None = None,
        fallback_reason: str = "",
    ) -> RouteResult:
        points = [origin, *waypoints, destination]
        coords = [(p.x, p.y) for p in points]
        fractions = _planar_fractions(coords)
        legs = []
        for index, (a, b) in enumerate(itertools.pairwise(points), start=1):
            leg_m, _hours = estimate_road_trip(a, b)
            leg_s = round(leg_m / 1000 / settings.ROUTING_AVERAGE_SPEED_KMH * 3600)
            legs.append(Leg(leg_m, leg_s, None, 1.0 if index == len(coords) - 1 else fractions[index]))
        return RouteResult(
            provider=self.provider,
            path=LineString(coords, srid=4326),
            distance_m=sum(leg.distance_m for leg in legs),
            duration_s=sum(leg.duration_s for leg in legs),
            duration_in_traffic_s=None,
            departure_at=_departure(departure_at),
            steps=[],
            fallback_reason=fallback_reason,
            legs=legs,
        )


def strip_html(instruction: str) -> str:
    """Google's html_instructions as plain text ("Turn <b>left</b><div>Toll road</div>")."""
    text = _BLOCK_TAG.sub(". ", instruction)
    text = html.unescape(_TAG.sub("", text))
    return re.sub(r"\s+", " ", text).strip()


def _lat_lng(point: Point) -> tuple[float, float]:
    return (point.y, point.x)


class GoogleDirections:
    """Google Maps Directions (driving, traffic-aware) through the official client."""

    provider = RouteProvider.GOOGLE_MAPS

    def __init__(self, key: str):
        try:
            self.client = googlemaps.Client(
                key=key,
                timeout=settings.ROUTING_GOOGLE_TIMEOUT_S,
                retry_timeout=settings.ROUTING_GOOGLE_RETRY_TIMEOUT_S,
                # Quota exhaustion is answered by the fallback at once, not retried for retry_timeout.
                retry_over_query_limit=False,
            )
        except ValueError as error:  # a malformed key
            raise ProviderFailed(f"Google Directions: {error}") from error

    def request_params(
        self,
        origin: Point,
        destination: Point,
        *,
        waypoints: Sequence[Point] = (),
        departure_at: datetime.datetime,
    ) -> dict[str, Any]:
        return {
            "origin": _lat_lng(origin),
            "destination": _lat_lng(destination),
            "mode": "driving",
            "waypoints": [_lat_lng(p) for p in waypoints] or None,
            "avoid": "|".join(settings.ROUTING_GOOGLE_AVOID) or None,
            "departure_time": departure_at,
            "traffic_model": settings.ROUTING_GOOGLE_TRAFFIC_MODEL,
            "units": "metric",
        }

    def route(
        self,
        origin: Point,
        destination: Point,
        *,
        waypoints: Sequence[Point] = (),
        departure_at: datetime.datetime,
    ) -> RouteResult:
        params = self.request_params(origin, destination, waypoints=waypoints, departure_at=departure_at)
        try:
            routes = self.client.directions(**params)
        except googlemaps.exceptions.ApiError as error:
            quota = error.status in QUOTA_STATUSES
            raise ProviderFailed(f"Google Directions: {error}", quota=quota) from error
        except (
            googlemaps.exceptions.TransportError,
            googlemaps.exceptions.Timeout,
            ValueError,
            KeyError,
        ) as error:
            raise ProviderFailed(f"Google Directions: {error!r}") from error
        if not routes:
            raise NoRoadRoute("Google Directions found no road route between the load's stops.")
        try:
            return self._parse(routes[0], departure_at)
        except (KeyError, IndexError, TypeError, ValueError) as error:
            raise ProviderFailed(f"Google Directions: unexpected answer ({error!r})") from error

    def _parse(self, route: dict[str, Any], departure_at: datetime.datetime) -> RouteResult:
        legs = route["legs"]
        polyline = googlemaps.convert.decode_polyline(route["overview_polyline"]["points"])
        coords = [(p["lng"], p["lat"]) for p in polyline]
        if len(coords) < 2:
            raise ValueError("overview polyline has fewer than two points")
        in_traffic = [leg.get("duration_in_traffic", {}).get("value") for leg in legs]
        ends = leg_end_fractions(
            coords, [(leg["end_location"]["lng"], leg["end_location"]["lat"]) for leg in legs]
        )
        steps = [
            {
                "instruction": strip_html(step.get("html_instructions", "")),
                "distance_m": step["distance"]["value"],
                "duration_s": step["duration"]["value"],
            }
            for leg in legs
            for step in leg["steps"]
        ]
        return RouteResult(
            provider=self.provider,
            path=LineString(coords, srid=4326),
            distance_m=sum(leg["distance"]["value"] for leg in legs),
            duration_s=sum(leg["duration"]["value"] for leg in legs),
            duration_in_traffic_s=sum(in_traffic) if all(v is not None for v in in_traffic) else None,
            departure_at=departure_at,
            steps=steps,
            legs=[
                Leg(leg["distance"]["value"], leg["duration"]["value"], traffic_s, end)
                for leg, traffic_s, end in zip(legs, in_traffic, ends, strict=True)
            ],
        )


# --- The entry point -----------------------------------------------------------------------------

google_breaker = CircuitBreaker("google")


def _cache_key(
    origin: Point, destination: Point, waypoints: Sequence[Point], departure_at: datetime.datetime
) -> str:
    bucket_s = settings.ROUTING_DEPARTURE_BUCKET_S
    request = {
        "origin": [round(origin.x, 5), round(origin.y, 5)],
        "destination": [round(destination.x, 5), round(destination.y, 5)],
        "waypoints": [[round(p.x, 5), round(p.y, 5)] for p in waypoints],
        "departure_bucket": int(departure_at.timestamp()) // bucket_s,
        "avoid": list(settings.ROUTING_GOOGLE_AVOID),
        "traffic_model": settings.ROUTING_GOOGLE_TRAFFIC_MODEL,
    }
    digest = hashlib.sha256(json.dumps(request, sort_keys=True).encode()).hexdigest()
    # v2: answers carry their legs.
    return f"routing:directions:v2:{digest}"


def compute_route(
    origin: Point,
    destination: Point,
    *,
    waypoints: Sequence[Point] = (),
    departure_at: datetime.datetime | None = None,
) -> RouteResult:
    """The street route from Google when it can answer, else the great-circle estimate.

    Google's answers are cached per request (points, waypoints, departure bucket) for
    ROUTING_CACHE_TTL_S; fallbacks are not cached, so Google answers again once it is back.
    Raises NoRoadRoute when Google says no road connects the points.
    """
    departure_at = _departure(departure_at)
    key = settings.GOOGLE_MAPS_API_KEY
    if not key:
        return GreatCircle().route(
            origin, destination, waypoints=waypoints, departure_at=departure_at, fallback_reason="no_api_key"
        )
    cache_key = _cache_key(origin, destination, waypoints, departure_at)
    cached = cache.get(cache_key)
    if cached is not None:
        result = RouteResult.from_cache(cached)
        result.departure_at = departure_at  # the same bucket, this caller's departure
        return result
    if not google_breaker.allow():
        return GreatCircle().route(
            origin,
            destination,
            waypoints=waypoints,
            departure_at=departure_at,
            fallback_reason="breaker_open",
        )
    try:
        result = GoogleDirections(key).route(
            origin, destination, waypoints=waypoints, departure_at=departure_at
        )
    except ProviderFailed as error:
        logger.warning("routing falls back to the great circle: %s", error)
        if error.quota:
            google_breaker.trip()  # a spent quota does not come back within seconds
        else:
            google_breaker.record_failure()
        return GreatCircle().route(
            origin,
            destination,
            waypoints=waypoints,
            departure_at=departure_at,
            fallback_reason="quota_exhausted" if error.quota else "provider_error",
        )
    except NoRoadRoute:
        google_breaker.record_success()
        raise
    google_breaker.record_success()
    cache.set(cache_key, result.to_cache(), timeout=settings.ROUTING_CACHE_TTL_S)
    return result
