"""Distance and duration estimates without a street router (the embedded routing default)."""

import math
from decimal import Decimal

from django.conf import settings
from django.contrib.gis.geos import Point

EARTH_RADIUS_M = 6_371_008.8


def haversine_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Great-circle distance between two WGS84 positions in degrees, metres."""
    lon1, lat1, lon2, lat2 = map(math.radians, (lon1, lat1, lon2, lat2))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(min(1.0, h)))


def great_circle_m(a: Point, b: Point) -> float:
    """Haversine distance between two WGS84 points, metres."""
    return haversine_m(a.x, a.y, b.x, b.y)


def road_distance_m(a: Point, b: Point) -> int:
    """The road distance estimate: great circle x ROUTING_CIRCUITY_FACTOR, metres."""
    return round(great_circle_m(a, b) * settings.ROUTING_CIRCUITY_FACTOR)


def estimate_road_trip(a: Point, b: Point) -> tuple[int, Decimal]:
    """(road distance in metres, driving hours): great circle x circuity factor at average speed."""
    distance_m = great_circle_m(a, b) * settings.ROUTING_CIRCUITY_FACTOR
    hours = distance_m / 1000 / settings.ROUTING_AVERAGE_SPEED_KMH
    return round(distance_m), Decimal(str(round(hours, 2)))
