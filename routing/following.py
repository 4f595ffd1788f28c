"""Route following, the computations: where a truck is on the current route of its load, whether it
has arrived or left the corridor, and when it will deliver. Reads only; the `route-follower`
consumer (routing.handlers) hands each fix to routing.services.apply_route_fix, which writes what
these conclude.

Deviation: a run of fixes farther than ROUTING_DEVIATION_CORRIDOR_M from the path, lasting
ROUTING_DEVIATION_MIN_S, is one excursion and one ROUTE_DEVIATION; a fix back inside the corridor
ends it. Arrival within ROUTING_ARRIVAL_RADIUS_M of the destination completes the route once. ETA:
the remaining share of the route at the recent speed; a load late by more than
ROUTING_DELAY_GRACE_S is delayed, at most one prediction per route and PREDICTION_INTERVAL. Fixes
older than the newest one applied are ignored, so a fix replayed or delivered out of order never
reports twice.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, connections, router

from fleet.models import GpsPoint
from loads.models import Load, LoadStatus
from routing.models import Route

ETA_MODEL = "eta-linear-v1"
PREDICTION_INTERVAL = timedelta(hours=1)
# A route is followed once the freight is on the truck (a load delayed before pickup is not): before
# pickup the truck drives elsewhere.
FOLLOWED_STATUSES = [LoadStatus.PICKED_UP, LoadStatus.IN_TRANSIT, LoadStatus.DELAYED]


def followed_route(*, vehicle_id: Any) -> tuple[Load, Route] | None:
    """The load the vehicle carries and that load's current route; None if it follows none."""
    load = (
        Load.objects.filter(vehicle_id=vehicle_id, status__in=FOLLOWED_STATUSES, picked_up_at__isnull=False)
        .order_by("created_at")
        .first()
    )
    route = load and Route.objects.filter(load=load, is_current=True).first()
    return None if route is None else (load, route)


@dataclass(frozen=True)
class Position:
    """Where a fix lies relative to its route."""

    distance_from_route_m: float
    distance_to_destination_m: float
    fraction_along: float

    @property
    def arrived(self) -> bool:
        return self.distance_to_destination_m <= settings.ROUTING_ARRIVAL_RADIUS_M

    @property
    def off_route(self) -> bool:
        return self.distance_from_route_m > settings.ROUTING_DEVIATION_CORRIDOR_M


def locate_on_route(route: Route, *, longitude: float, latitude: float) -> Position:
    """Geodesic distances (metres) from the fix to the path and the destination, and how far along
    the path its nearest point is (0..1)."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            WITH fix AS (SELECT ST_SetSRID(ST_MakePoint(%s, %s), 4326) AS point)
            SELECT ST_Distance(path::geography, fix.point::geography),
                   ST_Distance(destination, fix.point::geography),
                   ST_LineLocatePoint(path, fix.point)
            FROM routes, fix WHERE id = %s
            """,
            [longitude, latitude, route.pk],
        )
        to_path, to_destination, fraction = cursor.fetchone()
    return Position(to_path, to_destination, fraction)


def deviation_sustained(*, excursion_started_at: datetime, at: datetime) -> bool:
    """The excursion has lasted ROUTING_DEVIATION_MIN_S: it is a deviation."""
    return (at - excursion_started_at).total_seconds() >= settings.ROUTING_DEVIATION_MIN_S


def driven_distance_m(*, vehicle_id: Any, since: datetime, until: datetime) -> float | None:
    """Length of the vehicle's GPS track between two times, or None with fewer than two fixes."""
    with connections[router.db_for_read(GpsPoint)].cursor() as cursor:
        cursor.execute(
            """
            SELECT count(*), ST_Length(ST_MakeLine(location::geometry ORDER BY recorded_at)::geography)
            FROM gps_points WHERE vehicle_id = %s AND recorded_at BETWEEN %s AND %s
            """,
            [vehicle_id, since, until],
        )
        fixes, length_m = cursor.fetchone()
    return length_m if fixes >= 2 else None


def recent_speed_kmh(*, vehicle_id: Any, until: datetime, samples: int) -> float | None:
    """Average reported speed of the vehicle's last `samples` fixes up to `until`."""
    speeds = list(
        GpsPoint.objects.filter(vehicle_id=vehicle_id, recorded_at__lte=until, speed_kmh__isnull=False)
        .order_by("-recorded_at")
        .values_list("speed_kmh", flat=True)[:samples]
    )
    return sum(speeds) / len(speeds) if speeds else None


def prediction_due(*, last_prediction_at: datetime | None, at: datetime) -> bool:
    """At most one ETA prediction per route and PREDICTION_INTERVAL."""
    return last_prediction_at is None or at - last_prediction_at >= PREDICTION_INTERVAL


@dataclass(frozen=True)
class Eta:
    """When the truck will reach the destination, and how late that is for the delivery."""

    at: datetime
    lateness_s: int
    remaining_m: float
    speed_kmh: float
    # From the truck's recent fixes; False: the route's planned average speed, a weak guess.
    measured: bool

    @property
    def late(self) -> bool:
        return self.lateness_s > settings.ROUTING_DELAY_GRACE_S


def estimate_eta(route: Route, *, load: Load, position: Position, at: datetime) -> Eta | None:
    """The remaining share of the route at the average speed of the vehicle's recent fixes
    (ROUTING_ETA_SPEED_SAMPLES); None when there is no speed to estimate with."""
    speed_kmh = recent_speed_kmh(
        vehicle_id=route.vehicle_id, until=at, samples=settings.ROUTING_ETA_SPEED_SAMPLES
    )
    # A stopped truck has no finite ETA: the planned average speed is the estimate then.
    measured = speed_kmh is not None and speed_kmh > 0
    if not measured:
        speed_kmh = route.distance_m / route.duration_s * 3.6 if route.duration_s else 0
    if speed_kmh <= 0:
        return None
    remaining_m = max(0.0, 1.0 - position.fraction_along) * route.distance_m
    eta = at + timedelta(seconds=round(remaining_m / (speed_kmh / 3.6)))
    return Eta(
        at=eta,
        lateness_s=round((eta - load.delivery_datetime).total_seconds()),
        remaining_m=remaining_m,
        speed_kmh=speed_kmh,
        measured=measured,
    )
