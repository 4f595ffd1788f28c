"""Geofences around facilities: how a GPS fix makes or moves a visit (arrival, dwell, departure) at a
load's planned stop, and the load's next status that a visit supports. The decisions only:
loads.services writes the visits and the stops' actual times (`record_vehicle_fix`) and applies the
suggestions (`advance_load`).

A visit serves the planned stop the truck is bound for at that facility: the first one in sequence
not yet departed (a milk run may come back to a facility: its second visit serves the later stop).

A facility's geofence is its polygon when it has one, else a circle of `geofence_radius_m` around
its location. A vehicle arrives with its first fix inside the geofence and departs with its first
later fix beyond the geofence plus TMS_GEOFENCE_EXIT_MARGIN_M: fixes in the band between the two
boundaries keep the visit going, so GPS jitter at the edge neither ends a visit nor starts a new one.
The times of a stop are those of the fixes that established it: their accuracy is the reporting
interval.

Fixes can arrive late, twice, or out of order. The rules below never create a second stop for a
visit: a late fix inside the geofence before a recorded arrival moves the arrival earlier, one
inside a visit only extends it, and a late fix beyond the exit boundary between the last fix
inside and the recorded departure moves the departure earlier. (A departure fix processed before
any fix of its visit is lost: the next fix beyond the boundary departs instead.)
"""

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from django.conf import settings
from django.db import connection

from loads.models import ACTIVE_LOAD_STATUSES, Load, LoadStatus, StopEvent, StopKind

# --- Where is the fix? -----------------------------------------------------------------------------


class Zone:
    INSIDE = "INSIDE"  # inside the geofence: arrives, or stays
    BAND = "BAND"  # beyond the geofence but within the exit margin: stays if there, does not arrive
    OUTSIDE = "OUTSIDE"  # beyond the exit margin: departs


@dataclass(frozen=True)
class FenceHit:
    load_id: UUID
    stop_id: UUID  # the planned stop (loads.models.Stop) a visit there serves
    facility_id: UUID
    kind: str
    zone: str
    has_stop: bool  # an open visit, or one that departed after the fix


# The facilities to test a fix against: for the vehicle's active load, the stop it is bound for at
# each facility (the first one in sequence not yet departed: a facility can come twice in a load,
# and a visit serves the earlier stop first), and the planned stops with a visit still open (or
# departed after the fix, for late fixes).
_FENCE_HITS_SQL = """
WITH fix AS (
    SELECT ST_SetSRID(ST_MakePoint(%(longitude)s, %(latitude)s), 4326)::geography AS point
),
bound_for AS (
    SELECT DISTINCT ON (s.load_id, s.facility_id) s.load_id, s.id AS stop_id, s.facility_id, s.kind
      FROM load_stops s
      JOIN loads l ON l.id = s.load_id
     WHERE l.vehicle_id = %(vehicle_id)s AND l.status = ANY(%(active)s) AND s.departed_at IS NULL
     ORDER BY s.load_id, s.facility_id, s.sequence
),
candidate AS (
    SELECT load_id, stop_id, facility_id, kind FROM bound_for
    UNION
    SELECT load_id, stop_id, facility_id, kind
      FROM stop_events
     WHERE vehicle_id = %(vehicle_id)s AND stop_id IS NOT NULL
       AND (departed_at IS NULL OR departed_at > %(recorded_at)s)
)
SELECT candidate.load_id,
       candidate.stop_id,
       candidate.facility_id,
       candidate.kind,
       CASE WHEN f.geofence IS NULL THEN ST_DWithin(f.location, fix.point, f.geofence_radius_m)
            ELSE ST_Covers(f.geofence, fix.point) END AS inside,
       CASE WHEN f.geofence IS NULL
            THEN ST_DWithin(f.location, fix.point, f.geofence_radius_m + %(margin)s)
            ELSE ST_DWithin(f.geofence, fix.point, %(margin)s) END AS within_exit,
       EXISTS (
           SELECT 1 FROM stop_events s
            WHERE s.vehicle_id = %(vehicle_id)s AND s.stop_id = candidate.stop_id
              AND (s.departed_at IS NULL OR s.departed_at > %(recorded_at)s)
       ) AS has_stop
  FROM candidate
  JOIN facilities f ON f.id = candidate.facility_id
 CROSS JOIN fix
 ORDER BY candidate.load_id, candidate.stop_id
"""


def fence_hits(
    *, vehicle_id: UUID, longitude: float, latitude: float, recorded_at: datetime
) -> list[FenceHit]:
    """Where the fix lies relative to each facility the vehicle is bound for or stopped at (one query)."""
    with connection.cursor() as cursor:
        cursor.execute(
            _FENCE_HITS_SQL,
            {
                "longitude": longitude,
                "latitude": latitude,
                "vehicle_id": vehicle_id,
                "recorded_at": recorded_at,
                "active": [str(status) for status in ACTIVE_LOAD_STATUSES],
                "margin": settings.TMS_GEOFENCE_EXIT_MARGIN_M,
            },
        )
        rows = cursor.fetchall()
    return [
        FenceHit(
            load_id=load_id,
            stop_id=stop_id,
            facility_id=facility_id,
            kind=kind,
            zone=Zone.INSIDE if inside else Zone.BAND if within_exit else Zone.OUTSIDE,
            has_stop=has_stop,
        )
        for load_id, stop_id, facility_id, kind, inside, within_exit, has_stop in rows
    ]


# --- Stops ---------------------------------------------------------------------------------------


def _set_departure(stop: StopEvent, departed_at: datetime) -> None:
    stop.departed_at = departed_at
    stop.dwell_s = round((departed_at - stop.arrived_at).total_seconds())


def apply_fix(stops: list[StopEvent], *, at: datetime, zone: str) -> tuple[StopEvent | None, bool]:
    """Applies one fix to the visits of a vehicle at one facility (sorted by arrival).

    Returns (the stop to save or create, or None; whether its arrival or departure changed).
    A new stop comes back unsaved, without load, vehicle or facility.
    """
    if any(stop.departed_at == at for stop in stops):
        return None, False  # the fix that departed, or a contradictory twin of it
    visit = next(
        (s for s in stops if s.arrived_at <= at and (s.departed_at is None or at < s.departed_at)), None
    )
    if zone == Zone.OUTSIDE:
        if visit is not None and at > visit.last_inside_at:
            _set_departure(visit, at)  # the first fix beyond the margin after the last one inside
            return visit, True
        return None, False
    if visit is not None:
        if at <= visit.last_inside_at:
            return None, False
        visit.last_inside_at = at
        return visit, False
    if zone == Zone.BAND:
        return None, False  # near the edge without having arrived: approaching, or jitter
    later = next((s for s in stops if s.arrived_at > at), None)
    if later is not None:
        later.arrived_at = at  # a late fix: the vehicle was already inside
        if later.departed_at is not None:
            _set_departure(later, later.departed_at)
        return later, True
    return StopEvent(arrived_at=at, last_inside_at=at), True


# --- The load's next status ------------------------------------------------------------------------


def _progress(load: Load) -> int:
    """How far a load has come, from its milestones: a DELAYED load resumes where it was."""
    if load.delivered_at is not None:
        return 3
    if load.in_transit_at is not None:
        return 2
    return 1 if load.picked_up_at is not None else 0


@dataclass(frozen=True)
class Suggestion:
    status: str
    at: datetime


def last_stop_id(load: Load) -> UUID | None:
    """The load's last stop (its last delivery)."""
    return load.stops.order_by("-sequence").values_list("pk", flat=True).first()


def suggested_transition(
    stop: StopEvent, load: Load | None = None, *, last_stop: UUID | None = None
) -> Suggestion | None:
    """The load's next status that this visit supports, and when it happened, or None.

    Arrival at the first pickup suggests PICKED_UP (the truck is at the dock; the dispatcher
    confirms the freight is on), departure from it IN_TRANSIT (after PICKED_UP if that is still
    open, at the arrival), and arrival at the last delivery DELIVERED once the load is in transit.
    The stops between only record their arrival and departure. Nothing is suggested for a load
    that is no longer active on this visit's vehicle. `last_stop`: the load's last stop's id when
    the caller knows it (else one query). A visit recorded before planned stops existed (no
    `stop`) counts as at the first pickup or the last delivery, by its kind.
    """
    load = load or stop.load
    if load.status not in ACTIVE_LOAD_STATUSES or load.vehicle_id != stop.vehicle_id:
        return None
    progress = _progress(load)
    if stop.kind == StopKind.PICKUP:
        if stop.stop_id is not None and stop.stop.sequence != 1:
            return None
        if progress == 0:
            return Suggestion(LoadStatus.PICKED_UP, stop.arrived_at)
        if progress == 1 and stop.departed_at is not None:
            return Suggestion(LoadStatus.IN_TRANSIT, stop.departed_at)
        return None
    if stop.stop_id is not None and stop.stop_id != (last_stop or last_stop_id(load)):
        return None
    if progress == 2:
        return Suggestion(LoadStatus.DELIVERED, stop.arrived_at)
    return None
