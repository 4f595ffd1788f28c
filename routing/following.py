"""Route following, the computations: where a truck is on the current route of its load, whether it
has arrived or left the corridor, and when it will deliver. Reads only; the `route-follower`
consumer (routing.handlers) hands each fix to routing.services.apply_route_fix, which writes what
these conclude.

Stops: a route planned through the load's stops (`Route.legs`) is followed stop by stop. The next
stop is the first one after the last the truck reached: within ROUTING_ARRIVAL_RADIUS_M of it (the
follower's own cursor, RouteFollowing.reached_sequence), or with an actual arrival on the stop (the
facility geofence's). The fix is located on the leg to that stop; the ETA there is the rest of the
leg at the recent speed, and each later stop's follows from the planned legs, waiting for windows
and serving each stop. A stop reached after its window closes (`latest_at`) by more than
ROUTING_DELAY_GRACE_S delays the load, naming the first such stop. Reaching the last stop completes
the route. A route without legs (planned before stops) is followed to its destination against the
load's delivery time, as below.

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
from loads.models import Load, LoadStatus, Stop
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
class StopAhead:
    """A stop the truck has not reached yet, with the route's leg to it (an item of Route.legs)."""

    stop: Stop
    leg: dict[str, Any]
    starts_at_fraction: float  # where its leg starts along the path (the previous stop)


def stops_ahead(route: Route, *, reached_sequence: int) -> list[StopAhead]:
    """The route's stops after the last one reached (by the follower's cursor, or an actual
    arrival recorded on the stop), in order; one query."""
    stops = {
        str(stop.pk): stop for stop in Stop.objects.filter(load_id=route.load_id).select_related("facility")
    }
    arrived = [
        leg["sequence"]
        for leg in route.legs
        if stops.get(leg["stop_id"]) and stops[leg["stop_id"]].arrived_at
    ]
    reached = max([reached_sequence, *arrived])
    ahead, previous_fraction = [], 0.0
    for leg in route.legs:
        stop = stops.get(leg["stop_id"])
        if leg["sequence"] > reached and stop is not None:
            ahead.append(StopAhead(stop=stop, leg=leg, starts_at_fraction=previous_fraction))
        previous_fraction = leg["end_fraction"]
    return ahead


@dataclass(frozen=True)
class Position:
    """Where a fix lies relative to its route (and to the leg to the next stop, when given)."""

    distance_from_route_m: float
    distance_to_destination_m: float
    fraction_along: float
    # On the leg to the next stop: how far along it (0..1), and the distance to that stop.
    leg_fraction: float | None = None
    distance_to_stop_m: float | None = None

    @property
    def arrived(self) -> bool:
        return self.distance_to_destination_m <= settings.ROUTING_ARRIVAL_RADIUS_M

    @property
    def at_stop(self) -> bool:
        return (
            self.distance_to_stop_m is not None
            and self.distance_to_stop_m <= settings.ROUTING_ARRIVAL_RADIUS_M
        )

    @property
    def off_route(self) -> bool:
        return self.distance_from_route_m > settings.ROUTING_DEVIATION_CORRIDOR_M


def locate_on_route(
    route: Route, *, longitude: float, latitude: float, toward: StopAhead | None = None
) -> Position:
    """Geodesic distances (metres) from the fix to the path and the destination, and how far along
    the path its nearest point is (0..1); with `toward`, also how far along the leg to that stop
    (the part of the path between the previous stop and it: a path that passes a place twice puts
    the fix on the right pass) and the distance to the stop."""
    if toward is not None:
        return _locate_on_leg(route, longitude=longitude, latitude=latitude, toward=toward)
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


def _locate_on_leg(route: Route, *, longitude: float, latitude: float, toward: StopAhead) -> Position:
    start, end = toward.starts_at_fraction, toward.leg["end_fraction"]
    with connection.cursor() as cursor:
        cursor.execute(
            """
            WITH fix AS (SELECT ST_SetSRID(ST_MakePoint(%s, %s), 4326) AS point)
            SELECT ST_Distance(path::geography, fix.point::geography),
                   ST_Distance(destination, fix.point::geography),
                   ST_LineLocatePoint(path, fix.point),
                   CASE WHEN %s < %s
                        THEN ST_LineLocatePoint(ST_LineSubstring(path, %s, %s), fix.point) ELSE 1 END,
                   ST_Distance(%s::geography, fix.point::geography)
            FROM routes, fix WHERE id = %s
            """,
            [longitude, latitude, start, end, start, end, toward.stop.location.ewkt, route.pk],
        )
        to_path, to_destination, fraction, leg_fraction, to_stop = cursor.fetchone()
    return Position(to_path, to_destination, fraction, leg_fraction, to_stop)


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


@dataclass(frozen=True)
class StopEta:
    stop: Stop
    at: datetime
    lateness_s: int  # after the stop's window closes (negative: before)

    @property
    def late(self) -> bool:
        return self.lateness_s > settings.ROUTING_DELAY_GRACE_S


@dataclass(frozen=True)
class StopsEta:
    """When the truck will reach each stop ahead, from the rest of the current leg at `speed_kmh`
    and the planned legs after it."""

    stops: list[StopEta]
    remaining_m: float  # to the last stop
    speed_kmh: float
    measured: bool  # from the truck's recent fixes; False: the leg's planned speed

    @property
    def first_late(self) -> StopEta | None:
        return next((eta for eta in self.stops if eta.late), None)


def _planned_drive_s(leg: dict[str, Any]) -> int:
    in_traffic = leg.get("duration_in_traffic_s")
    return in_traffic if in_traffic is not None else leg["duration_s"]


def estimate_stop_etas(
    route: Route, *, ahead: list[StopAhead], position: Position, at: datetime
) -> StopsEta | None:
    """The ETA at the next stop is the rest of its leg (1 - leg_fraction of the leg's distance) at
    the average speed of the vehicle's recent fixes (ROUTING_ETA_SPEED_SAMPLES), or at the leg's
    planned speed when the truck stands still; each later stop is reached after waiting for the
    previous one's window to open, serving it, and driving the planned leg. None with nothing
    ahead or no speed to estimate with."""
    if not ahead:
        return None
    next_leg = ahead[0].leg
    speed_kmh = recent_speed_kmh(
        vehicle_id=route.vehicle_id, until=at, samples=settings.ROUTING_ETA_SPEED_SAMPLES
    )
    measured = speed_kmh is not None and speed_kmh > 0
    if not measured:
        planned_s = _planned_drive_s(next_leg)
        speed_kmh = next_leg["distance_m"] / planned_s * 3.6 if planned_s else 0
    if speed_kmh <= 0:
        return None
    leg_fraction = position.leg_fraction if position.leg_fraction is not None else 0.0
    remaining_m = max(0.0, 1.0 - leg_fraction) * next_leg["distance_m"]
    arrival = at + timedelta(seconds=round(remaining_m / (speed_kmh / 3.6)))
    etas = []
    for index, item in enumerate(ahead):
        if index:
            previous = ahead[index - 1].stop
            departure = max(arrival, previous.earliest_at) + previous.service_time
            arrival = departure + timedelta(seconds=_planned_drive_s(item.leg))
            remaining_m += item.leg["distance_m"]
        etas.append(StopEta(item.stop, arrival, round((arrival - item.stop.latest_at).total_seconds())))
    return StopsEta(stops=etas, remaining_m=remaining_m, speed_kmh=speed_kmh, measured=measured)
