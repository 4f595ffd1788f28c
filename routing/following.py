"""The route follower: each vehicle fix checked against the current route of the vehicle's load.

Deviation: a run of fixes farther than the corridor from the path, lasting ROUTING_DEVIATION_MIN_S,
is one excursion and one ROUTE_DEVIATION; a fix back inside the corridor ends it. Arrival within
ROUTING_ARRIVAL_RADIUS_M of the destination completes the route once. ETA: the remaining share of
the route at the recent speed; a load late by more than ROUTING_DELAY_GRACE_S is delayed, at most
one prediction per route and hour. Fixes older than the newest one applied are ignored, so a fix
replayed or delivered out of order never reports twice.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, connections, router, transaction
from django.utils.dateparse import parse_datetime

from events.consumers import register
from events.outbox import emit
from events.taxonomy import EventType
from fleet.models import GpsPoint
from loads import services as load_services
from loads.models import Load, LoadStatus
from routing.models import Route, RouteFollowing

ETA_MODEL = "eta-linear-v1"
PREDICTION_INTERVAL = timedelta(hours=1)
# A route is followed once the freight is on the truck (a load delayed before pickup is not): before
# pickup the truck drives elsewhere.
FOLLOWED_STATUSES = [LoadStatus.PICKED_UP, LoadStatus.IN_TRANSIT, LoadStatus.DELAYED]


def _setting(name: str, default: float) -> float:
    return getattr(settings, name, default)


@dataclass(frozen=True)
class Position:
    """Where a fix lies relative to its route."""

    distance_from_route_m: float
    distance_to_destination_m: float
    fraction_along: float


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


@register("route-follower", types=[EventType.VEHICLE_LOCATION_UPDATED])
def follow_route(envelope: dict) -> None:
    """Applies one VEHICLE_LOCATION_UPDATED fix to the route its vehicle is following."""
    data = envelope["data"]
    recorded_at = parse_datetime(data["recorded_at"])
    load = (
        Load.objects.filter(
            vehicle_id=data["vehicle_id"], status__in=FOLLOWED_STATUSES, picked_up_at__isnull=False
        )
        .order_by("created_at")
        .first()
    )
    route = load and Route.objects.filter(load=load, is_current=True).first()
    if route is None:
        return
    with transaction.atomic():
        RouteFollowing.objects.get_or_create(route=route)
        state = RouteFollowing.objects.select_for_update().get(route=route)
        if state.completed_at is not None or (state.last_fix_at and recorded_at <= state.last_fix_at):
            return
        state.last_fix_at = recorded_at
        position = locate_on_route(route, longitude=data["longitude"], latitude=data["latitude"])
        if position.distance_to_destination_m <= _setting("ROUTING_ARRIVAL_RADIUS_M", 300):
            _complete(route, load, state, recorded_at)
        else:
            _check_corridor(route, load, state, position, data, recorded_at)
            _check_eta(route, load, state, position, recorded_at)
        state.save()


def _complete(route: Route, load: Load, state: RouteFollowing, arrived_at: datetime) -> None:
    started_at = load.in_transit_at or load.picked_up_at
    driven_m = driven_distance_m(vehicle_id=route.vehicle_id, since=started_at, until=arrived_at)
    state.completed_at = arrived_at
    emit(
        EventType.ROUTE_COMPLETED,
        subject=route.pk,
        data={
            "route_id": route.pk,
            "load_id": load.pk,
            "vehicle_id": route.vehicle_id,
            "planned_distance_m": route.distance_m,
            "actual_distance_m": round(driven_m) if driven_m is not None else route.distance_m,
            "planned_duration_s": route.duration_s,
            "actual_duration_s": max(0, round((arrived_at - started_at).total_seconds())),
        },
    )


def _check_corridor(
    route: Route, load: Load, state: RouteFollowing, position: Position, data: dict, recorded_at: datetime
) -> None:
    if position.distance_from_route_m <= _setting("ROUTING_DEVIATION_CORRIDOR_M", 500):
        state.excursion_started_at = None
        state.excursion_reported = False
        return
    if state.excursion_started_at is None:
        state.excursion_started_at = recorded_at
    sustained_s = (recorded_at - state.excursion_started_at).total_seconds()
    if state.excursion_reported or sustained_s < _setting("ROUTING_DEVIATION_MIN_S", 120):
        return
    state.excursion_reported = True
    emit(
        EventType.ROUTE_DEVIATION,
        subject=route.pk,
        data={
            "route_id": route.pk,
            "load_id": load.pk,
            "vehicle_id": route.vehicle_id,
            "distance_from_route_m": position.distance_from_route_m,
            "longitude": data["longitude"],
            "latitude": data["latitude"],
            "started_at": state.excursion_started_at,
        },
    )


def _check_eta(
    route: Route, load: Load, state: RouteFollowing, position: Position, recorded_at: datetime
) -> None:
    if state.last_prediction_at and recorded_at - state.last_prediction_at < PREDICTION_INTERVAL:
        return
    samples = int(_setting("ROUTING_ETA_SPEED_SAMPLES", 5))
    speed_kmh = recent_speed_kmh(vehicle_id=route.vehicle_id, until=recorded_at, samples=samples)
    # A stopped truck has no finite ETA: the planned average speed is the estimate then.
    measured = speed_kmh is not None and speed_kmh > 0
    if not measured:
        speed_kmh = route.distance_m / route.duration_s * 3.6 if route.duration_s else 0
    if speed_kmh <= 0:
        return
    remaining_m = max(0.0, 1.0 - position.fraction_along) * route.distance_m
    eta = recorded_at + timedelta(seconds=round(remaining_m / (speed_kmh / 3.6)))
    lateness_s = round((eta - load.delivery_at).total_seconds())
    if lateness_s <= _setting("ROUTING_DELAY_GRACE_S", 900):
        return
    state.last_prediction_at = recorded_at
    if load.status != LoadStatus.DELAYED:
        load_services.delay_load(
            load, by=None, reason=f"ETA {eta.isoformat()} from route following", expected_delivery_at=eta
        )
    emit(
        EventType.AI_PREDICTION,
        subject=load.pk,
        data={
            "model": ETA_MODEL,
            "subject_type": "load",
            "subject_id": str(load.pk),
            "prediction": {
                "eta": eta.isoformat(),
                "predicted_lateness_s": lateness_s,
                "remaining_m": round(remaining_m),
                "speed_kmh": round(speed_kmh, 1),
            },
            # The planned average speed alone is a weak guess at how this truck is moving.
            "confidence": 0.8 if measured else 0.3,
        },
    )
