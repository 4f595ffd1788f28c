"""The dashboard's and the scorecards' figures, each aggregated by the database in one statement.

Entities (loads, vehicles, drivers, violations, routes) are read from the default database; the
time series (the event store's status history, duty-status records, GPS fixes) from
`settings.TIMESERIES_DATABASE_ALIAS`, which may be another server: what a time-series statement
needs from the entities (a carrier's vehicle or driver ids, the loaded intervals of its trucks)
goes to it as array parameters, never as a cross-database join. The statements are plain SQL, the
same with TimescaleDB (hypertables) and without (plain tables with BRIN and B-tree indexes).

Every figure covers the half-open range [start, end); "elapsed" figures (utilisation, duty hours)
stop at the present when the range reaches into the future.
"""

import zoneinfo
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from uuid import UUID

from django.conf import settings
from django.db import connections, transaction
from django.utils import timezone

from events.taxonomy import TOPICS, EventType
from fleet import odometer
from fleet.models import VehicleStatus
from loads.models import LoadStatus

METRES_PER_MILE = 1609.344
BUSY_VEHICLE_STATUSES = [VehicleStatus.ASSIGNED.value, VehicleStatus.IN_TRANSIT.value]
ON_DUTY_STATUSES = ("DRIVING", "ON_DUTY")
DUTY_STATUSES = ("OFF_DUTY", "SLEEPER_BERTH", "DRIVING", "ON_DUTY")
EXCEPTIONS_LISTED = 20


@dataclass(frozen=True)
class Scope:
    """What the figures are about: a time range and the filters that narrow the loads.

    `carrier_id` narrows every figure; `driver_id` (a scorecard) the loads, duty hours and
    violations to one driver; the facility and state filters narrow the load figures (a lane), and
    so leave out the figures that are not about loads (fleet utilisation, duty hours, violations,
    events) only in the sense that those ignore them.
    """

    start: datetime
    end: datetime
    carrier_id: UUID | None = None
    driver_id: UUID | None = None
    origin_facility_id: UUID | None = None
    destination_facility_id: UUID | None = None
    origin_state: str | None = None
    destination_state: str | None = None

    @property
    def has_lane_filter(self) -> bool:
        return any(
            value is not None
            for value in (
                self.origin_facility_id,
                self.destination_facility_id,
                self.origin_state,
                self.destination_state,
            )
        )

    def elapsed_end(self, now: datetime) -> datetime:
        return min(self.end, now)


def _rows(
    sql: str, params: dict[str, Any], *, using: str = "default", jit: bool = True, work_mem: str | None = None
) -> list[tuple]:
    """The statement's rows. `jit=False` for a statement whose estimated cost (PostGIS functions are
    costed high, and a month's rows of 100,000 loads) makes PostgreSQL compile it first: compiling
    took longer than running it (the on-time figures: 24 ms of 128; the old GPS miles: ~0.8 s).
    `work_mem` for a statement whose sort would spill to disk with the server's default."""
    if jit and work_mem is None:
        with connections[using].cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall()
    with transaction.atomic(using=using), connections[using].cursor() as cursor:
        if not jit:
            cursor.execute("SET LOCAL jit = off")
        if work_mem is not None:
            cursor.execute("SELECT set_config('work_mem', %s, true)", [work_mem])
        cursor.execute(sql, params)
        return cursor.fetchall()


def _timeseries() -> str:
    return settings.TIMESERIES_DATABASE_ALIAS


def _load_filter(scope: Scope) -> tuple[str, dict[str, Any]]:
    """WHERE clauses (after the range's) on `loads l`, shipper `s` and consignee `c`."""
    clauses, params = [], {}
    for column, name in (
        ("l.carrier_id", "carrier_id"),
        ("l.driver_id", "driver_id"),
        ("l.shipper_id", "origin_facility_id"),
        ("l.consignee_id", "destination_facility_id"),
        ("s.state", "origin_state"),
        ("c.state", "destination_state"),
    ):
        value = getattr(scope, name)
        if value is not None:
            clauses.append(f"{column} = %({name})s")
            params[name] = value
    return "".join(f" AND {clause}" for clause in clauses), params


def _loads_from(scope: Scope) -> str:
    """`loads l`, joined to its shipper `s` and consignee `c` only when a state filter needs them
    (every load has both: the joins never drop a row, they only cost)."""
    if scope.origin_state is None and scope.destination_state is None:
        return " FROM loads l "
    return """
    FROM loads l
    JOIN facilities s ON s.id = l.shipper_id
    JOIN facilities c ON c.id = l.consignee_id
"""


def loads_by_status(scope: Scope) -> dict[str, int]:
    """The loads to be picked up in the range, by status (every status present, zeros included)."""
    where, params = _load_filter(scope)
    rows = _rows(
        f"SELECT l.status, count(*) {_loads_from(scope)}"
        f" WHERE l.pickup_datetime >= %(start)s AND l.pickup_datetime < %(end)s{where}"
        " GROUP BY l.status",
        {"start": scope.start, "end": scope.end, **params},
    )
    counts = dict.fromkeys(LoadStatus.values, 0)
    counts.update(dict(rows))
    return counts


def daily_trend(scope: Scope, time_zone: str) -> list[dict[str, Any]]:
    """Loads booked (created_at) and delivered (delivered_at) per day of the operator's time zone,
    every day of the range listed, zeros included."""
    where, params = _load_filter(scope)
    rows = _rows(
        f"""
        SELECT 'created', (l.created_at AT TIME ZONE %(tz)s)::date AS day, count(*) {_loads_from(scope)}
        WHERE l.created_at >= %(start)s AND l.created_at < %(end)s{where}
        GROUP BY day
        UNION ALL
        SELECT 'delivered', (l.delivered_at AT TIME ZONE %(tz)s)::date AS day, count(*) {_loads_from(scope)}
        WHERE l.delivered_at >= %(start)s AND l.delivered_at < %(end)s{where}
        GROUP BY day
        """,
        {"start": scope.start, "end": scope.end, "tz": time_zone, **params},
        jit=False,
    )
    counts = {(kind, day): count for kind, day, count in rows}
    zone = zoneinfo.ZoneInfo(time_zone)
    first = scope.start.astimezone(zone).date()
    last = (scope.end - timedelta(microseconds=1)).astimezone(zone).date()
    days: list[date] = []
    day = first
    while day <= last:
        days.append(day)
        day += timedelta(days=1)
    return [
        {
            "date": day,
            "created": counts.get(("created", day), 0),
            "delivered": counts.get(("delivered", day), 0),
        }
        for day in days
    ]


def service_figures(scope: Scope) -> dict[str, Any]:
    """On-time pickups and deliveries, revenue and billed miles, in one statement.

    A pickup (delivery) counts in the range when the load was picked up (delivered) in it. It was
    on time when the truck got there by the scheduled `pickup_datetime` (`delivery_datetime`):
    "got there" is the earlier of its first arrival at the facility's geofence (stop events) and
    the recorded status change, so a truck that waited at the dock is not blamed for the wait.
    Revenue is the rate of the loads delivered in the range; their miles are the current route's
    distance, or the load's estimate where it was never routed.
    """
    where, params = _load_filter(scope)
    ((pickups, pickups_on_time, deliveries, deliveries_on_time, revenue, billed_m),) = _rows(
        f"""
        SELECT
            count(*) FILTER (WHERE picked_up),
            count(*) FILTER (
                WHERE picked_up AND least(l.picked_up_at, st.pickup_arrival) <= st.pickup_due
            ),
            count(*) FILTER (WHERE delivered),
            count(*) FILTER (
                WHERE delivered AND least(l.delivered_at, st.delivery_arrival) <= l.delivery_datetime
            ),
            coalesce(sum(l.rate) FILTER (WHERE delivered), 0),
            coalesce(sum(coalesce(r.distance_m, l.estimated_distance_m)) FILTER (WHERE delivered), 0)
        FROM (
            SELECT l.*,
                   l.picked_up_at >= %(start)s AND l.picked_up_at < %(end)s AS picked_up,
                   l.status = 'DELIVERED' AND l.delivered_at >= %(start)s AND l.delivered_at < %(end)s
                       AS delivered
            {_loads_from(scope)}
            WHERE ((l.picked_up_at >= %(start)s AND l.picked_up_at < %(end)s)
                   OR (l.delivered_at >= %(start)s AND l.delivered_at < %(end)s)){where}
        ) l
        LEFT JOIN LATERAL (
            -- The first pickup and the last delivery, as the load's seed times are: arriving by
            -- the close of the first pickup's window, and at the last drop by the load's delivery
            -- time (that drop's close); an earlier drop's arrival says nothing of the last one.
            SELECT coalesce((array_agg(latest_at ORDER BY sequence) FILTER (WHERE kind = 'PICKUP'))[1],
                            l.pickup_datetime) AS pickup_due,
                   (array_agg(arrived_at ORDER BY sequence) FILTER (WHERE kind = 'PICKUP'))[1]
                       AS pickup_arrival,
                   (array_agg(arrived_at ORDER BY sequence DESC) FILTER (WHERE kind = 'DELIVERY'))[1]
                       AS delivery_arrival
            FROM load_stops WHERE load_stops.load_id = l.id
        ) st ON true
        LEFT JOIN routes r ON r.load_id = l.id AND r.is_current
        """,
        {"start": scope.start, "end": scope.end, **params},
        jit=False,
    )
    billed_miles = billed_m / METRES_PER_MILE
    return {
        "pickups": pickups,
        "pickups_on_time": pickups_on_time,
        "on_time_pickup_rate": _share(pickups_on_time, pickups),
        "deliveries": deliveries,
        "deliveries_on_time": deliveries_on_time,
        "on_time_delivery_rate": _share(deliveries_on_time, deliveries),
        "revenue": float(revenue),
        "billed_miles": round(billed_miles, 1),
        "rate_per_mile": round(float(revenue) / billed_miles, 2) if billed_miles else None,
    }


def _share(part: float, whole: float) -> float | None:
    return round(part / whole, 4) if whole else None


def vehicle_utilisation(scope: Scope, now: datetime) -> dict[str, Any]:
    """The share of the fleet's time (vehicles x elapsed range) spent ASSIGNED or IN_TRANSIT, from
    the status history: the VEHICLE_STATUS_CHANGED events of the event store. A vehicle keeps a
    status until its next change; a vehicle with no change yet was AVAILABLE."""
    end = scope.elapsed_end(now)
    vehicle_params: dict[str, Any] = {"end": end}
    carrier_clause = ""
    if scope.carrier_id is not None:
        carrier_clause = " AND carrier_id = %(carrier_id)s"
        vehicle_params["carrier_id"] = scope.carrier_id
    # The fleet counted, and every vehicle's id (the subjects of the status history below).
    ((vehicles, subjects),) = _rows(
        f"SELECT count(*) FILTER (WHERE created_at < %(end)s{carrier_clause}),"
        " coalesce(array_agg(id::text), '{}') FROM vehicles",
        vehicle_params,
    )
    if end <= scope.start or not vehicles:
        return {"vehicles": vehicles, "busy_hours": 0.0, "utilisation": None}
    event_carrier = (
        " AND envelope -> 'data' ->> 'carrier_id' = %(carrier_id)s" if scope.carrier_id is not None else ""
    )
    # Only the changes in the range count, and each vehicle's last change before it (its status
    # at the start): an earlier change ends before the range. That last one is an index probe per
    # vehicle (event_store_type_subject_time), not a window over the whole history.
    ((busy_s,),) = _rows(
        f"""
        WITH changes AS (
            SELECT subject, time, event_id, envelope -> 'data' ->> 'status' AS status
            FROM event_store
            WHERE type = %(type)s AND time >= %(start)s AND time < %(end)s{event_carrier}
            UNION ALL
            SELECT last.* FROM unnest(%(subjects)s::varchar[]) AS vehicle (subject)
            CROSS JOIN LATERAL (
                SELECT subject, time, event_id, envelope -> 'data' ->> 'status' AS status
                FROM event_store
                WHERE type = %(type)s AND subject = vehicle.subject AND time < %(start)s{event_carrier}
                ORDER BY time DESC, event_id DESC LIMIT 1
            ) last
        ),
        spans AS (
            SELECT time, status, lead(time) OVER (PARTITION BY subject ORDER BY time, event_id) AS until
            FROM changes
        )
        SELECT coalesce(sum(extract(epoch FROM least(coalesce(until, %(end)s), %(end)s)
                                               - greatest(time, %(start)s))), 0)
        FROM spans
        WHERE status = ANY(%(busy)s) AND coalesce(until, 'infinity') > %(start)s
        """,
        {
            "type": EventType.VEHICLE_STATUS_CHANGED.value,
            "start": scope.start,
            "end": end,
            "busy": BUSY_VEHICLE_STATUSES,
            "carrier_id": str(scope.carrier_id) if scope.carrier_id else None,
            "subjects": subjects,
        },
        using=_timeseries(),
        jit=False,
    )
    capacity_s = vehicles * (end - scope.start).total_seconds()
    return {
        "vehicles": vehicles,
        "busy_hours": round(float(busy_s) / 3600, 2),
        "utilisation": _share(float(busy_s), capacity_s),
    }


def _driver_ids(scope: Scope) -> list[UUID] | None:
    """The drivers a time-series statement is narrowed to (None: every driver)."""
    if scope.driver_id is not None:
        return [scope.driver_id]
    if scope.carrier_id is not None:
        return [
            row[0]
            for row in _rows("SELECT id FROM drivers WHERE carrier_id = %(c)s", {"c": scope.carrier_id})
        ]
    return None


# A duty record's period [started_at, ended_at), as the GiST index duty_status_records_period spells
# it (drivers.models.DutyStatusRecord): a record overlaps [start, end) when its period && the range's.
DUTY_PERIOD_SQL = "tstzrange(started_at, coalesce(ended_at, 'infinity'::timestamptz))"


def driver_activity(scope: Scope, now: datetime) -> dict[str, Any]:
    """Hours by duty status within the elapsed range, from the duty-status records (the ELD log),
    and how many drivers were on duty (driving or on duty) at some point in it."""
    end = scope.elapsed_end(now)
    hours = dict.fromkeys(DUTY_STATUSES, 0.0)
    if end <= scope.start:
        return {"hours_by_duty_status": hours, "drivers_on_duty": 0}
    drivers = _driver_ids(scope)
    driver_clause = " AND driver_id = ANY(%(drivers)s)" if drivers is not None else ""
    rows = _rows(
        f"""
        SELECT status,
               sum(extract(epoch FROM least(coalesce(ended_at, %(end)s), %(end)s)
                                      - greatest(started_at, %(start)s))),
               count(DISTINCT driver_id) FILTER (WHERE status = ANY(%(on_duty)s))
        FROM duty_status_records
        WHERE {DUTY_PERIOD_SQL} && tstzrange(%(start)s, %(end)s){driver_clause}
        GROUP BY ROLLUP (status)
        """,
        {"start": scope.start, "end": end, "drivers": drivers, "on_duty": list(ON_DUTY_STATUSES)},
        using=_timeseries(),
        jit=False,
        work_mem="32MB",  # a month's 50,000 records sorted for count(DISTINCT): 3 MB on disk at 4 MB
    )
    on_duty = 0
    for status, seconds, drivers_on_duty in rows:
        if status is None:
            on_duty = drivers_on_duty
        else:
            hours[status] = round(float(seconds) / 3600, 2)
    return {"hours_by_duty_status": hours, "drivers_on_duty": on_duty}


# A load's time on its truck [pickup, delivery or cancellation), as the GiST index
# loads_loaded_period spells it (loads.models.Load): it overlaps [start, end) when && the range's.
LOADED_PERIOD_SQL = (
    "tstzrange(l.picked_up_at, coalesce(l.delivered_at, l.cancelled_at, 'infinity'::timestamptz))"
)


def _loaded_spans(scope: Scope, end: datetime) -> list[odometer.Span]:
    """The loaded stretches of time of the scope's trucks within [start, end), as odometer spans.

    A load is on its truck from its pickup to its delivery (or cancellation; still on board: no
    end). A truck's overlapping loads are merged first (a new group starts at a pickup after every
    earlier load's end), then each merged interval (pickup, drop] is clipped to the range: from
    after the pickup (the reading at it inclusive) or from the start, to through the drop or to
    before the end. Ids and times come back as text and go to the time-series statement as they
    are: a month holds ~8,000 intervals, and parsing them to Python and back cost more than the
    statement."""
    where, params = _load_filter(scope)
    rows = _rows(
        f"""
        WITH intervals AS (
            SELECT l.vehicle_id, l.picked_up_at AS pickup,
                   coalesce(l.delivered_at, l.cancelled_at, 'infinity') AS drop
            {_loads_from(scope)}
            WHERE l.picked_up_at IS NOT NULL AND l.vehicle_id IS NOT NULL
              AND {LOADED_PERIOD_SQL} && tstzrange(%(start)s, %(end)s){where}
        ),
        groups AS (
            SELECT *, count(*) FILTER (WHERE starts_group) OVER (w ROWS UNBOUNDED PRECEDING) AS grp
            FROM (
                SELECT *,
                       coalesce(pickup > max(drop) OVER (w ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING),
                                true) AS starts_group
                FROM intervals
                WINDOW w AS (PARTITION BY vehicle_id ORDER BY pickup, drop)
            ) flagged
            WINDOW w AS (PARTITION BY vehicle_id ORDER BY pickup, drop)
        ),
        merged AS (
            SELECT vehicle_id, min(pickup) AS pickup, max(drop) AS drop FROM groups GROUP BY vehicle_id, grp
        )
        SELECT vehicle_id::text, greatest(pickup, %(start)s)::text, pickup >= %(start)s,
               least(drop, %(end)s)::text, drop < %(end)s
        FROM merged
        """,
        {"start": scope.start, "end": end, **params},
        jit=False,
    )
    return [odometer.Span(*row) for row in rows]


def gps_miles(scope: Scope, now: datetime) -> dict[str, float | None]:
    """Miles driven in the elapsed range from the GPS history: loaded (a load on the truck) and
    empty (deadhead), read from the GPS odometer (fleet.odometer), not from the fixes one by one.

    Which stretch counts: a stretch between two consecutive fixes of a vehicle belongs to the
    instant of its later fix. It counts in the range when that fix was recorded in [start, end),
    and loaded when, in addition, it was recorded after a pickup and at or before that load's
    delivery (or cancellation; still on board: until the range's end). So ranges add up, and the
    stretch that brings a truck to its delivery is loaded, the one that brings it to a pickup is
    not. A truck's overlapping loads are merged first: a stretch is loaded once however many loads
    ride. Empty = each vehicle's whole distance in the range minus its loaded distance; each figure
    is two odometer readings per truck and per merged interval (_loaded_spans).

    With a lane filter only the lane's loaded miles mean something (empty miles are a truck's, not a
    lane's): `empty_miles` is None then; for one driver, too.
    """
    end = scope.elapsed_end(now)
    lane_or_driver = scope.has_lane_filter or scope.driver_id is not None
    if end <= scope.start:
        return {"loaded_miles": 0.0, "empty_miles": None if lane_or_driver else 0.0}
    spans = _loaded_spans(scope, end)
    fleet: list[str] = []
    if not lane_or_driver:
        clause, params = "", {}
        if scope.carrier_id is not None:
            clause, params = " WHERE carrier_id = %(c)s", {"c": scope.carrier_id}
        fleet = [row[0] for row in _rows(f"SELECT id::text FROM vehicles{clause}", params)]
    loaded_spans = len(spans)
    spans += [odometer.Span(vehicle, scope.start, False, end, False) for vehicle in fleet]
    metres = odometer.span_metres(spans, using=_timeseries())
    loaded_by_vehicle: dict[str, float] = {}
    for span, distance in zip(spans[:loaded_spans], metres, strict=False):
        loaded_by_vehicle[span.vehicle_id] = loaded_by_vehicle.get(span.vehicle_id, 0.0) + max(distance, 0.0)
    empty_m = sum(
        max(whole - loaded_by_vehicle.get(vehicle, 0.0), 0.0)
        for vehicle, whole in zip(fleet, metres[loaded_spans:], strict=True)
    )
    return {
        "loaded_miles": round(sum(loaded_by_vehicle.values()) / METRES_PER_MILE, 1),
        "empty_miles": None if lane_or_driver else round(empty_m / METRES_PER_MILE, 1),
    }


def hos_violations(scope: Scope) -> dict[str, Any]:
    """Hours-of-service violations that started in the range, by rule."""
    clauses, params = "", {"start": scope.start, "end": scope.end}
    if scope.carrier_id is not None:
        clauses += " AND d.carrier_id = %(carrier_id)s"
        params["carrier_id"] = scope.carrier_id
    if scope.driver_id is not None:
        clauses += " AND v.driver_id = %(driver_id)s"
        params["driver_id"] = scope.driver_id
    rows = _rows(
        f"""
        SELECT v.rule, count(*) FROM hos_violations v JOIN drivers d ON d.id = v.driver_id
        WHERE v.start >= %(start)s AND v.start < %(end)s{clauses}
        GROUP BY v.rule ORDER BY v.rule
        """,
        params,
    )
    return {"total": sum(count for _, count in rows), "by_rule": dict(rows)}


def events_per_topic(scope: Scope) -> list[dict[str, Any]]:
    """Events stored in the range, per Kafka topic (every topic listed); with a carrier filter, the
    events whose data name that carrier."""
    carrier_clause = ""
    params: dict[str, Any] = {"start": scope.start, "end": scope.end}
    if scope.carrier_id is not None:
        carrier_clause = " AND envelope -> 'data' ->> 'carrier_id' = %(carrier_id)s"
        params["carrier_id"] = str(scope.carrier_id)
    rows = _rows(
        f"SELECT type, count(*) FROM event_store WHERE time >= %(start)s AND time < %(end)s{carrier_clause}"
        " GROUP BY type",
        params,
        using=_timeseries(),
        jit=False,
    )
    topics = dict.fromkeys(sorted(set(TOPICS.values())), 0)
    for event_type, count in rows:
        topic = TOPICS.get(EventType(event_type)) if event_type in EventType.__members__ else None
        if topic is not None:
            topics[topic] += count
    return [{"topic": topic, "events": count} for topic, count in topics.items()]


def open_exceptions(scope: Scope, today: date) -> dict[str, Any]:
    """What needs a dispatcher now, whatever the range: delayed loads, trucks off their route
    (a deviation reported and not over), and active drivers whose licence expires within
    TMS_LICENSE_EXPIRY_WARNING_DAYS (or has expired). Counts, and the first few of each."""
    where, params = _load_filter(scope)
    delayed = _rows(
        f"""
        SELECT l.id, l.load_number, l.delivery_datetime, l.expected_delivery_at, l.delay_reason,
               count(*) OVER ()
        {_loads_from(scope)}
        WHERE l.status = 'DELAYED'{where}
        ORDER BY l.delivery_datetime, l.id LIMIT {EXCEPTIONS_LISTED}
        """,
        params,
    )
    deviations = _rows(
        f"""
        SELECT l.id, l.load_number, r.vehicle_id, f.excursion_started_at, count(*) OVER ()
        FROM route_followings f
        JOIN routes r ON r.id = f.route_id
        JOIN loads l ON l.id = r.load_id
        JOIN facilities s ON s.id = l.shipper_id
        JOIN facilities c ON c.id = l.consignee_id
        WHERE f.excursion_reported AND f.excursion_started_at IS NOT NULL AND f.completed_at IS NULL
          AND r.is_current AND l.status = ANY(%(active)s){where}
        ORDER BY f.excursion_started_at, l.id LIMIT {EXCEPTIONS_LISTED}
        """,
        {**params, "active": ["ASSIGNED", "PICKED_UP", "IN_TRANSIT", "DELAYED"]},
    )
    driver_clauses, driver_params = (
        "",
        {"until": today + timedelta(days=settings.TMS_LICENSE_EXPIRY_WARNING_DAYS)},
    )
    if scope.carrier_id is not None:
        driver_clauses += " AND carrier_id = %(carrier_id)s"
        driver_params["carrier_id"] = scope.carrier_id
    if scope.driver_id is not None:
        driver_clauses += " AND id = %(driver_id)s"
        driver_params["driver_id"] = scope.driver_id
    licences = _rows(
        f"""
        SELECT id, name, license_expiry, count(*) OVER ()
        FROM drivers
        WHERE is_active AND license_expiry <= %(until)s{driver_clauses}
        ORDER BY license_expiry, id LIMIT {EXCEPTIONS_LISTED}
        """,
        driver_params,
    )
    return {
        "delayed_loads": {
            "count": delayed[0][-1] if delayed else 0,
            "items": [
                {
                    "load_id": row[0],
                    "load_number": row[1],
                    "delivery_datetime": row[2],
                    "expected_delivery_at": row[3],
                    "reason": row[4],
                }
                for row in delayed
            ],
        },
        "route_deviations": {
            "count": deviations[0][-1] if deviations else 0,
            "items": [
                {"load_id": row[0], "load_number": row[1], "vehicle_id": row[2], "started_at": row[3]}
                for row in deviations
            ],
        },
        "expiring_licences": {
            "count": licences[0][-1] if licences else 0,
            "items": [
                {"driver_id": row[0], "name": row[1], "license_expiry": row[2], "expired": row[2] < today}
                for row in licences
            ],
        },
    }


def dashboard(scope: Scope, *, time_zone: str, now: datetime | None = None) -> dict[str, Any]:
    """Every figure of GET /api/dashboard for the scope."""
    now = now or timezone.now()
    return {
        "loads_by_status": loads_by_status(scope),
        "trend": daily_trend(scope, time_zone),
        "service": service_figures(scope),
        "miles": gps_miles(scope, now),
        "vehicle_utilisation": vehicle_utilisation(scope, now),
        "driver_activity": driver_activity(scope, now),
        "hos_violations": hos_violations(scope),
        "events_per_topic": events_per_topic(scope),
        "open_exceptions": open_exceptions(scope, now.astimezone(zoneinfo.ZoneInfo(time_zone)).date()),
    }


def driver_scorecard(scope: Scope, *, now: datetime | None = None) -> dict[str, Any]:
    """One driver's figures: their loads, miles, on-time rates, violations, and utilisation (the
    share of the elapsed range on duty: driving or on duty not driving)."""
    now = now or timezone.now()
    activity = driver_activity(scope, now)
    end = scope.elapsed_end(now)
    elapsed_h = max((end - scope.start).total_seconds(), 0) / 3600
    on_duty_h = sum(activity["hours_by_duty_status"][status] for status in ON_DUTY_STATUSES)
    return {
        "loads_by_status": loads_by_status(scope),
        "service": service_figures(scope),
        "miles": gps_miles(scope, now),
        "hos_violations": hos_violations(scope),
        "driver_activity": activity,
        "utilisation": _share(on_duty_h, elapsed_h),
    }


def carrier_scorecard(scope: Scope, *, now: datetime | None = None) -> dict[str, Any]:
    """One carrier's figures: loads, miles, on-time rates, violations of its drivers, its fleet's
    utilisation, and its trucks now (total and available: its capacity)."""
    now = now or timezone.now()
    return {
        "loads_by_status": loads_by_status(scope),
        "service": service_figures(scope),
        "miles": gps_miles(scope, now),
        "hos_violations": hos_violations(scope),
        "vehicle_utilisation": vehicle_utilisation(scope, now),
        "capacity": carrier_capacity(scope.carrier_id),
    }


def carrier_capacity(carrier_id: UUID) -> dict[str, int]:
    """A carrier's trucks, and how many are AVAILABLE for a load now."""
    ((available, total),) = _rows(
        "SELECT count(*) FILTER (WHERE status = 'AVAILABLE'), count(*)"
        " FROM vehicles WHERE carrier_id = %(c)s",
        {"c": carrier_id},
    )
    return {"available_vehicles": available, "total_vehicles": total}


def carrier_performance(carrier_id: UUID, *, until: datetime, days: int) -> dict[str, Any]:
    """A carrier's delivery record over the `days` up to and including `until`
    (CARRIER_PERFORMANCE_UPDATED): the loads it delivered then, and the share on time."""
    start = until - timedelta(days=days)
    figures = service_figures(
        Scope(start=start, end=until + timedelta(microseconds=1), carrier_id=carrier_id)
    )
    return {
        "period_start": start,
        "period_end": until,
        "loads_delivered": figures["deliveries"],
        "on_time_rate": figures["on_time_delivery_rate"] or 0.0,
    }
