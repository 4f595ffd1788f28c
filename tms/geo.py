"""Distance and duration estimates without a street router (the embedded routing default)."""

import math
from decimal import Decimal

from django.conf import settings
from django.contrib.gis.geos import Point

EARTH_RADIUS_M = 6_371_008.8


def great_circle_m(a: Point, b: Point) -> float:
    """Haversine distance between two WGS84 points, metres."""
    lon1, lat1, lon2, lat2 = map(math.radians, (a.x, a.y, b.x, b.y))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(h))


def estimate_road_trip(a: Point, b: Point) -> tuple[int, Decimal]:
    """(road distance in metres, driving hours): great circle x circuity factor at average speed."""
    distance_m = great_circle_m(a, b) * settings.ROUTING_CIRCUITY_FACTOR
    hours = distance_m / 1000 / settings.ROUTING_AVERAGE_SPEED_KMH
    return round(distance_m), Decimal(str(round(hours, 2)))
