"""Routing writes, each with its audit row and event in one transaction: a load's route (with its
costs and score), following it from the GPS stream, and fleet plans (requested, solved, accepted,
discarded, followed as trucks deliver)."""

import copy
import datetime
import itertools
import math
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from uuid import UUID

import kombu.exceptions
from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import ObjectDoesNotExist
from django.db import transaction
from django.utils import timezone

from drivers.models import Driver
from drivers.selectors import why_not_fit
from events.audit import changes, record, snapshot
from events.models import AuditAction
from events.outbox import emit
from events.taxonomy import EventType
from fleet.models import Vehicle
from loads.models import Load, LoadStatus, Stop
from loads.services import assign_load, delay_load, driving_need
from routing import fleet, following, maps, tasks
from routing.models import FLEET_PLAN_TRANSITIONS, FleetPlan, FleetPlanStatus, Route, RouteFollowing
from tms.context import current_correlation_id
from tms.exceptions import BusinessRuleViolation, Conflict, DependencyUnavailable, DomainError
from tms.geo import great_circle_m
from tms.models import check_transition
from tms.times import rfc3339

CENT = Decimal("0.01")
DECILITRE = Decimal("0.1")

# The score's weights; they sum to 1.
DETOUR_WEIGHT = Decimal("0.4")
TRAFFIC_WEIGHT = Decimal("0.3")
SLACK_WEIGHT = Decimal("0.3")
SCORE_FORMULA = (
    "score = 100 x (0.4 x detour + 0.3 x traffic + 0.3 x slack), each part clamped to 0..1: "
    "detour = 2 - distance / great-circle distance (1 on the straight line, 0 at twice it); "
    "traffic = 2 - duration in traffic / free-flow duration (1 without delay, 0 when traffic "
    "doubles the time); slack = time left before the delivery appointment at the planned arrival "
    "at the last stop (the drive, and the waits and service at the stops between) / "
    "ROUTING_SCORE_SLACK_TARGET_S (1 with at least that much margin, 0 when late)"
)

UNROUTABLE_STATUSES = {LoadStatus.DELIVERED, LoadStatus.CANCELLED}


def _clamp(value: Decimal) -> Decimal:
    return min(max(value, Decimal(0)), Decimal(1))


def _ratio(numerator: float, denominator: float) -> Decimal:
    return Decimal(1) if denominator <= 0 else Decimal(str(numerator)) / Decimal(str(denominator))


def route_score(
    *,
    distance_m: int,
    great_circle_distance_m: float,
    duration_s: int,
    duration_in_traffic_s: int | None,
    departure_at: datetime.datetime,
    delivery_datetime: datetime.datetime,
    slack_target_s: int,
    arrival_at: datetime.datetime | None = None,
) -> tuple[Decimal, dict[str, Any]]:
    """The route's score 0-100 (SCORE_FORMULA) and the figures behind it. `arrival_at`: the
    planned arrival at the last stop (plan_stop_times); without stops between, departure + the
    drive, its default."""
    detour_ratio = _ratio(distance_m, great_circle_distance_m)
    detour = _clamp(2 - detour_ratio)
    driving_s = duration_in_traffic_s if duration_in_traffic_s is not None else duration_s
    traffic_ratio = _ratio(driving_s, duration_s)
    traffic = _clamp(2 - traffic_ratio)
    if arrival_at is None:
        arrival_at = departure_at + datetime.timedelta(seconds=driving_s)
    slack_s = int((delivery_datetime - arrival_at).total_seconds())
    if slack_target_s > 0:
        slack = _clamp(Decimal(slack_s) / Decimal(slack_target_s))
    else:
        slack = Decimal(1) if slack_s >= 0 else Decimal(0)
    score = (100 * (DETOUR_WEIGHT * detour + TRAFFIC_WEIGHT * traffic + SLACK_WEIGHT * slack)).quantize(
        CENT, ROUND_HALF_UP
    )
    explanation = {
        "formula": SCORE_FORMULA,
        "score": float(score),
        "detour": {
            "weight": float(DETOUR_WEIGHT),
            "value": round(float(detour), 4),
            "distance_m": distance_m,
            "great_circle_m": round(great_circle_distance_m),
            "ratio": round(float(detour_ratio), 4),
        },
        "traffic": {
            "weight": float(TRAFFIC_WEIGHT),
            "value": round(float(traffic), 4),
            "duration_s": duration_s,
            "duration_in_traffic_s": duration_in_traffic_s,
            "ratio": round(float(traffic_ratio), 4),
        },
        "slack": {
            "weight": float(SLACK_WEIGHT),
            "value": round(float(slack), 4),
            "departure_at": rfc3339(departure_at),
            "arrival_at": rfc3339(arrival_at),
            "delivery_datetime": rfc3339(delivery_datetime),
            "slack_s": slack_s,
            "target_s": slack_target_s,
        },
    }
    return score, explanation


def route_costs(*, distance_m: int, vehicle: Vehicle) -> dict[str, Decimal]:
    """Fuel litres from the vehicle's consumption, their cost at ROUTING_FUEL_PRICE_PER_L, and a toll
    estimate at ROUTING_TOLL_RATE_PER_KM on the whole distance: Google's Directions API gives no
    truck tolls, so the toll figure is a planning estimate, not a quote."""
    fuel_l = (Decimal(distance_m) * vehicle.fuel_consumption_l_per_100km / Decimal(100_000)).quantize(
        DECILITRE, ROUND_HALF_UP
    )
    fuel_price = Decimal(str(settings.ROUTING_FUEL_PRICE_PER_L))
    toll_rate = Decimal(str(settings.ROUTING_TOLL_RATE_PER_KM))
    fuel_cost = (fuel_l * fuel_price).quantize(CENT, ROUND_HALF_UP)
    toll = (Decimal(distance_m) / 1000 * toll_rate).quantize(CENT, ROUND_HALF_UP)
    return {"fuel_estimate_l": fuel_l, "fuel_cost_estimate": fuel_cost, "toll_estimate": toll}


def check_routable(load: Load) -> None:
    if load.status in UNROUTABLE_STATUSES:
        raise BusinessRuleViolation(
            f"Load {load.load_number} is {load.status}; it needs no route.",
            details={"status": load.status},
        )


def plan_stop_times(
    stops: list[Stop], legs: list[maps.Leg], *, arrive_first_at: datetime.datetime
) -> list[tuple[datetime.datetime, datetime.datetime]]:
    """Planned arrival and departure at each stop: the truck reaches the first stop at
    `arrive_first_at`, waits there and at every later stop for the window to open (`earliest_at`),
    serves it (`Stop.service_time`) and drives the next leg (in traffic when the provider says how
    long that takes, else free flow)."""
    times = []
    arrival = arrive_first_at
    for index, stop in enumerate(stops):
        if index:
            leg = legs[index - 1]
            drive_s = leg.duration_in_traffic_s if leg.duration_in_traffic_s is not None else leg.duration_s
            arrival = times[-1][1] + datetime.timedelta(seconds=drive_s)
        departure = max(arrival, stop.earliest_at) + stop.service_time
        times.append((arrival, departure))
    return times


class StopsChanged(Conflict):
    code = "stops_changed"


def _stop_points(stops: list[Stop]) -> list[tuple[str, tuple[float, float]]]:
    return [(str(stop.pk), stop.location.coords) for stop in stops]


def _route_legs(
    stops: list[Stop], result: maps.RouteResult, times: list[tuple[datetime.datetime, datetime.datetime]]
) -> list[dict[str, Any]]:
    legs = [maps.Leg(0, 0, None, 0.0), *result.legs]
    return [
        {
            "stop_id": str(stop.pk),
            "sequence": stop.sequence,
            "kind": stop.kind,
            "facility_id": str(stop.facility_id),
            "distance_m": leg.distance_m,
            "duration_s": leg.duration_s,
            "duration_in_traffic_s": leg.duration_in_traffic_s,
            "end_fraction": leg.end_fraction,
            "service_s": int(stop.service_time.total_seconds()),
            "planned_arrival_at": rfc3339(arrival),
            "planned_departure_at": rfc3339(departure),
        }
        for stop, leg, (arrival, departure) in zip(stops, legs, times, strict=True)
    ]


def optimize_load_route(
    load: Load, *, vehicle: Vehicle, driver: Driver | None = None, by: User | None
) -> Route:
    """Routes the load through every stop in sequence on the vehicle and makes it the load's
    current route.

    The street route comes from the provider layer (Google with the stops between the first and the
    last as waypoints, in order, else the great-circle estimate; the route records which), with a
    leg per stop. Each stop's planned arrival and departure follow from it (`plan_stop_times`:
    the truck reaches the first stop when its window opens, or now), each changed stop with its
    audit row. The previous current route stays as history with is_current=False. A delivered or
    cancelled load is not routed. The provider is asked before the transaction, so no row lock
    waits on the network; stops changed meanwhile (a reorder) refuse the route (409, nothing
    written).
    """
    check_routable(load)
    stops = list(load.stops.order_by("sequence"))
    if len(stops) < 2:
        raise BusinessRuleViolation(f"Load {load.load_number} needs at least two stops to be routed.")
    first, *between, last = stops
    arrive_first_at = max(timezone.now(), first.earliest_at)
    result = maps.compute_route(
        first.location,
        last.location,
        waypoints=[stop.location for stop in between],
        departure_at=max(arrive_first_at, first.earliest_at) + first.service_time,
    )
    times = plan_stop_times(stops, result.legs, arrive_first_at=arrive_first_at)
    score, explanation = route_score(
        distance_m=result.distance_m,
        great_circle_distance_m=sum(
            great_circle_m(a.location, b.location) for a, b in itertools.pairwise(stops)
        ),
        duration_s=result.duration_s,
        duration_in_traffic_s=result.duration_in_traffic_s,
        departure_at=result.departure_at,
        arrival_at=times[-1][0],
        delivery_datetime=load.delivery_datetime,
        slack_target_s=settings.ROUTING_SCORE_SLACK_TARGET_S,
    )
    explanation["provider"] = result.provider
    explanation["fallback_reason"] = result.fallback_reason
    costs = route_costs(distance_m=result.distance_m, vehicle=vehicle)
    legs = _route_legs(stops, result, times)

    with transaction.atomic():
        # Locking the load serialises re-optimisations of the same load.
        load = Load.objects.select_for_update().get(pk=load.pk)
        check_routable(load)
        locked = list(Stop.objects.select_for_update().filter(load=load).order_by("sequence"))
        if _stop_points(locked) != _stop_points(stops):
            raise StopsChanged(
                f"The stops of load {load.load_number} changed while its route was computed; route it again."
            )
        previous = list(Route.objects.select_for_update().filter(load=load, is_current=True).order_by("pk"))
        Route.objects.filter(pk__in=[route.pk for route in previous]).update(is_current=False)
        for route in previous:
            record(
                instance=route, action=AuditAction.UPDATE, changed_data={"is_current": [True, False]}, by=by
            )
        route = Route.objects.create(
            load=load,
            vehicle=vehicle,
            driver=driver,
            origin=first.location,
            destination=last.location,
            path=result.path,
            distance_m=result.distance_m,
            duration_s=result.duration_s,
            duration_in_traffic_s=result.duration_in_traffic_s,
            score=score,
            score_explanation=explanation,
            provider=result.provider,
            steps=result.steps,
            legs=legs,
            is_current=True,
            **costs,
        )
        record(instance=route, action=AuditAction.CREATE, changed_data=snapshot(route), by=by)
        for stop, (arrival, departure) in zip(locked, times, strict=True):
            _plan_stop(stop, arrival=arrival, departure=departure, by=by)
        _emit_route_event(
            EventType.ROUTE_OPTIMIZED,
            route,
            driver_id=driver.pk if driver else None,
            provider=route.provider,
            distance_m=route.distance_m,
            duration_s=route.duration_s,
            score=float(score),
            stops=[
                {
                    "stop_id": leg["stop_id"],
                    "sequence": leg["sequence"],
                    "leg_distance_m": leg["distance_m"],
                    "leg_duration_s": leg["duration_s"],
                    "planned_arrival_at": arrival,
                    "planned_departure_at": departure,
                }
                for leg, (arrival, departure) in zip(legs, times, strict=True)
            ],
        )
    return route


STOP_PLAN_FIELDS = ["planned_arrival_at", "planned_departure_at"]


def _plan_stop(
    stop: Stop, *, arrival: datetime.datetime, departure: datetime.datetime, by: User | None
) -> None:
    """A locked stop's planned times, with its audit row when they change."""
    before = snapshot(stop, STOP_PLAN_FIELDS)
    stop.planned_arrival_at, stop.planned_departure_at = arrival, departure
    changed = changes(before, snapshot(stop, STOP_PLAN_FIELDS))
    if changed:
        stop.save(update_fields=[*STOP_PLAN_FIELDS, "updated_at"])
        record(instance=stop, action=AuditAction.UPDATE, changed_data=changed, by=by)


def _emit_route_event(event_type: EventType, route: Route, **data: Any) -> None:
    """An event about the route (tms.routes): its subject, and the route's, load's and vehicle's ids
    before the event's own fields."""
    emit(
        event_type,
        subject=route.pk,
        data={"route_id": route.pk, "load_id": route.load_id, "vehicle_id": route.vehicle_id, **data},
    )


# --------------------------------------------------------------------------- route following


def apply_route_fix(
    route: Route, *, load: Load, longitude: float, latitude: float, recorded_at: datetime.datetime
) -> RouteFollowing:
    """Applies one GPS fix of the truck carrying `load` to `route`, the load's current route
    (routing.following computes; this writes). Arrival completes the route once (ROUTE_COMPLETED,
    planned against driven); a run outside the corridor lasting long enough is one ROUTE_DEVIATION;
    an ETA too late for the delivery delays the load (loads.services.delay_load: LOAD_DELAYED) and
    is an AI_PREDICTION, at most one per route and hour. A fix no newer than the newest applied, or
    after the route was completed, changes nothing.

    Unaudited progress: the RouteFollowing row is the follower's cursor (last fix applied, the
    excursion under way, the last prediction), written on every fix of every followed truck; that
    write has no audit row, or audit_logs would grow by a row per GPS fix. A fix that makes the
    route report something (completion, deviation, prediction) writes the row's audit row with
    its event.
    """
    with transaction.atomic():
        RouteFollowing.objects.get_or_create(route=route)
        state = RouteFollowing.objects.select_for_update().get(route=route)
        if state.completed_at is not None or (state.last_fix_at and recorded_at <= state.last_fix_at):
            return state
        before = snapshot(state)
        state.last_fix_at = recorded_at
        if route.legs:
            reported = _follow_stops(
                route, state, load=load, longitude=longitude, latitude=latitude, at=recorded_at
            )
        else:  # a route planned before stops: to its destination, against the delivery time
            position = following.locate_on_route(route, longitude=longitude, latitude=latitude)
            if position.arrived:
                _complete_route(route, state, load=load, arrived_at=recorded_at)
                reported = True
            else:
                deviated = _follow_corridor(
                    route, state, position=position, longitude=longitude, latitude=latitude, at=recorded_at
                )
                predicted = _follow_eta(route, state, load=load, position=position, at=recorded_at)
                reported = deviated or predicted
        state.save()
        if reported:
            record(
                instance=state,
                action=AuditAction.UPDATE,
                changed_data=changes(before, snapshot(state)),
                by=None,
            )
    return state


def _follow_stops(
    route: Route,
    state: RouteFollowing,
    *,
    load: Load,
    longitude: float,
    latitude: float,
    at: datetime.datetime,
) -> bool:
    """One fix on a route through the load's stops (routing.following): the truck reaching the next
    stop moves the cursor (the last stop completes the route); otherwise the corridor, and the ETA
    at each stop ahead. True when the fix reported something."""
    ahead = following.stops_ahead(route, reached_sequence=state.reached_sequence)
    if not ahead:  # the last stop's arrival was recorded on the stop itself
        _complete_route(route, state, load=load, arrived_at=at)
        return True
    position = following.locate_on_route(route, longitude=longitude, latitude=latitude, toward=ahead[0])
    if position.at_stop:
        state.reached_sequence = ahead[0].stop.sequence
        if len(ahead) == 1:
            _complete_route(route, state, load=load, arrived_at=at)
            return True
        return False
    deviated = _follow_corridor(
        route, state, position=position, longitude=longitude, latitude=latitude, at=at
    )
    if not following.prediction_due(last_prediction_at=state.last_prediction_at, at=at):
        return deviated
    etas = following.estimate_stop_etas(route, ahead=ahead, position=position, at=at)
    late = etas and etas.first_late
    if not late:
        return deviated
    state.last_prediction_at = at
    delivery = etas.stops[-1]
    if load.status != LoadStatus.DELAYED:
        stop = late.stop
        delay_load(
            load,
            by=None,
            reason=(
                f"ETA {rfc3339(late.at)} at stop {stop.sequence} ({stop.facility.name}), "
                f"{late.lateness_s // 60} min after its window closes, from route following"
            ),
            expected_delivery_at=delivery.at,
            stop={
                "stop_id": stop.pk,
                "sequence": stop.sequence,
                "kind": stop.kind,
                "facility_id": stop.facility_id,
                "facility_name": stop.facility.name,
                "latest_at": stop.latest_at,
                "eta": late.at,
                "lateness_s": late.lateness_s,
            },
        )
    _predict_delivery(
        load,
        eta=delivery.at,
        lateness_s=round((delivery.at - load.delivery_datetime).total_seconds()),
        remaining_m=etas.remaining_m,
        speed_kmh=etas.speed_kmh,
        measured=etas.measured,
        stops=[
            {
                "stop_id": str(eta.stop.pk),
                "sequence": eta.stop.sequence,
                "eta": rfc3339(eta.at),
                "lateness_s": eta.lateness_s,
            }
            for eta in etas.stops
        ],
    )
    return True


def _complete_route(
    route: Route, state: RouteFollowing, *, load: Load, arrived_at: datetime.datetime
) -> None:
    started_at = load.in_transit_at or load.picked_up_at
    driven_m = following.driven_distance_m(vehicle_id=route.vehicle_id, since=started_at, until=arrived_at)
    state.completed_at = arrived_at
    _emit_route_event(
        EventType.ROUTE_COMPLETED,
        route,
        planned_distance_m=route.distance_m,
        actual_distance_m=round(driven_m) if driven_m is not None else route.distance_m,
        planned_duration_s=route.duration_s,
        actual_duration_s=max(0, round((arrived_at - started_at).total_seconds())),
    )


def _follow_corridor(
    route: Route,
    state: RouteFollowing,
    *,
    position: following.Position,
    longitude: float,
    latitude: float,
    at: datetime.datetime,
) -> bool:
    """Tracks the excursion outside the corridor; True when it has just become a deviation."""
    if not position.off_route:
        state.excursion_started_at = None
        state.excursion_reported = False
        return False
    if state.excursion_started_at is None:
        state.excursion_started_at = at
    if state.excursion_reported or not following.deviation_sustained(
        excursion_started_at=state.excursion_started_at, at=at
    ):
        return False
    state.excursion_reported = True
    _emit_route_event(
        EventType.ROUTE_DEVIATION,
        route,
        distance_from_route_m=position.distance_from_route_m,
        longitude=longitude,
        latitude=latitude,
        started_at=state.excursion_started_at,
    )
    return True


def _follow_eta(
    route: Route, state: RouteFollowing, *, load: Load, position: following.Position, at: datetime.datetime
) -> bool:
    """Predicts the delivery when one is due; True when the load is late (delayed and predicted)."""
    if not following.prediction_due(last_prediction_at=state.last_prediction_at, at=at):
        return False
    eta = following.estimate_eta(route, load=load, position=position, at=at)
    if eta is None or not eta.late:
        return False
    state.last_prediction_at = at
    if load.status != LoadStatus.DELAYED:
        delay_load(
            load,
            by=None,
            reason=f"ETA {rfc3339(eta.at)} from route following",
            expected_delivery_at=eta.at,
        )
    _predict_delivery(
        load,
        eta=eta.at,
        lateness_s=eta.lateness_s,
        remaining_m=eta.remaining_m,
        speed_kmh=eta.speed_kmh,
        measured=eta.measured,
    )
    return True


def _predict_delivery(
    load: Load,
    *,
    eta: datetime.datetime,
    lateness_s: int,
    remaining_m: float,
    speed_kmh: float,
    measured: bool,
    stops: list[dict] | None = None,
) -> None:
    """The AI_PREDICTION of a late load's delivery (and, routed through its stops, each stop's)."""
    prediction = {
        "eta": rfc3339(eta),
        "predicted_lateness_s": lateness_s,
        "remaining_m": round(remaining_m),
        "speed_kmh": round(speed_kmh, 1),
    }
    if stops is not None:
        prediction["stops"] = stops
    emit(
        EventType.AI_PREDICTION,
        subject=load.pk,
        data={
            "model": following.ETA_MODEL,
            "subject_type": "load",
            "subject_id": str(load.pk),
            "prediction": prediction,
            # The planned average speed alone is a weak guess at how this truck is moving.
            "confidence": 0.8 if measured else 0.3,
        },
    )


# --------------------------------------------------------------------------- fleet plans

# The plan's columns an audit row shows; `result` (the routes) stays in the plan itself.
PLAN_AUDIT_FIELDS = [
    "status",
    "planned_at",
    "request",
    "error",
    "loads_planned",
    "loads_unserved",
    "vehicles_used",
    "distance_m",
    "solved_at",
    "accepted_at",
    "accepted_by",
    "acceptance",
]


class PlanExpired(Conflict):
    code = "plan_expired"


def _plan_transition(plan: FleetPlan, target: str, *, by: User | None, **fields: Any) -> None:
    """Moves a locked plan to `target` with its audit row (the audit shows the summary columns)."""
    check_transition(FLEET_PLAN_TRANSITIONS, plan.status, target, entity="fleet plan")
    before = snapshot(plan, PLAN_AUDIT_FIELDS)
    plan.status = target
    for name, value in fields.items():
        setattr(plan, name, value)
    plan.save()
    record(
        instance=plan,
        action=AuditAction.TRANSITION,
        changed_data=changes(before, snapshot(plan, PLAN_AUDIT_FIELDS)),
        by=by,
    )


def request_fleet_plan(request: fleet.PlanRequest, *, by: User | None) -> FleetPlan:
    """Records a QUEUED plan; `solve_fleet_plan` (a Celery job) fills it in.

    Audited, no event: a queued plan is a request that nobody can act on yet. FLEET_PLAN_PROPOSED
    announces the plan once it is PROPOSED or FAILED (the job queue being down included); its
    schema knows only those two outcomes.
    """
    with transaction.atomic():
        plan = FleetPlan.objects.create(requested_by=by, planned_at=request.at, request=request.as_json())
        record(
            instance=plan, action=AuditAction.CREATE, changed_data=snapshot(plan, PLAN_AUDIT_FIELDS), by=by
        )
    return plan


def start_fleet_plan(request: fleet.PlanRequest, *, by: User | None) -> FleetPlan:
    """Records a QUEUED plan and queues its solver job (the API's and the back office's way in).
    With the job queue down the plan is FAILED and DependencyUnavailable (503) raised."""
    plan = request_fleet_plan(request, by=by)
    try:
        _queue_solver(plan, by=by)
    except kombu.exceptions.OperationalError as error:
        message = "The job queue is unavailable; retry later."
        fail_fleet_plan(plan, code="queue_unavailable", message=message, by=by)
        raise DependencyUnavailable(message) from error
    plan.refresh_from_db()
    return plan


def _queue_solver(plan: FleetPlan, *, by: User | None) -> None:
    tasks.optimize_fleet_task.apply_async(
        args=[str(plan.pk), getattr(by, "pk", None)], kwargs={"correlation_id": current_correlation_id()}
    )


def requeue_stale_fleet_plans(*, now: datetime.datetime | None = None) -> list[FleetPlan]:
    """Queues again the solver job of each plan still QUEUED after ROUTING_FLEET_REQUEUE_AFTER_S
    (its job was lost: Redis restarted without it, a worker died); after
    ROUTING_FLEET_MAX_QUEUE_ATTEMPTS the plan is FAILED (`job_lost`) instead. The plan's state lives
    here, in PostgreSQL; a job that was only slow and now runs twice is harmless (the second finds
    the plan solved). Audited; Celery beat runs it every minute."""
    now = now or timezone.now()
    stale_before = now - datetime.timedelta(seconds=settings.ROUTING_FLEET_REQUEUE_AFTER_S)
    requeued = []
    stale = FleetPlan.objects.filter(status=FleetPlanStatus.QUEUED, updated_at__lt=stale_before)
    for plan_id in stale.values_list("pk", flat=True):
        with transaction.atomic():
            plan = (
                FleetPlan.objects.select_for_update(skip_locked=True)
                .filter(pk=plan_id, status=FleetPlanStatus.QUEUED, updated_at__lt=stale_before)
                .first()
            )
            if plan is None:
                continue
            if plan.queue_attempts >= settings.ROUTING_FLEET_MAX_QUEUE_ATTEMPTS:
                message = f"The solver job was lost {plan.queue_attempts} times."
                requeued.append(fail_fleet_plan(plan, code="job_lost", message=message, by=None))
                continue
            before = {"queue_attempts": plan.queue_attempts}
            plan.queue_attempts += 1
            plan.save(update_fields=["queue_attempts", "updated_at"])
            record(
                instance=plan,
                action=AuditAction.UPDATE,
                changed_data=changes(before, {"queue_attempts": plan.queue_attempts}),
                by=None,
            )
            transaction.on_commit(lambda plan=plan: _queue_solver(plan, by=plan.requested_by))
            requeued.append(plan)
    return requeued


def _emit_proposed(plan: FleetPlan) -> None:
    emit(
        EventType.FLEET_PLAN_PROPOSED,
        subject=plan.pk,
        data={
            "plan_id": plan.pk,
            "status": plan.status,
            "loads_planned": plan.loads_planned or 0,
            "loads_unserved": plan.loads_unserved or 0,
            "vehicles_used": plan.vehicles_used or 0,
            "distance_m": plan.distance_m or 0,
        },
    )


def solve_fleet_plan(plan_id: UUID | str, *, by: User | None) -> FleetPlan:
    """Solves a QUEUED plan (outside any transaction: the solver runs for its time limit) and
    stores it as PROPOSED, or FAILED with the error; either way FLEET_PLAN_PROPOSED says so."""
    plan = FleetPlan.objects.get(pk=plan_id)
    if plan.status != FleetPlanStatus.QUEUED:
        return plan  # a retried job: solved already
    try:
        result = fleet.plan_fleet(fleet.PlanRequest.from_json(plan.request))
    except DomainError as error:
        fail_fleet_plan(plan, code=error.code, message=error.message, by=by)
        raise
    except Exception:
        fail_fleet_plan(plan, code="planning_failed", message="The fleet plan could not be computed.", by=by)
        raise
    summary = result["summary"]
    with transaction.atomic():
        plan = FleetPlan.objects.select_for_update().get(pk=plan_id)
        if plan.status != FleetPlanStatus.QUEUED:
            return plan
        _plan_transition(
            plan,
            FleetPlanStatus.PROPOSED,
            by=by,
            result=result,
            solved_at=timezone.now(),
            loads_planned=summary["loads_planned"],
            loads_unserved=summary["loads_unserved"],
            vehicles_used=summary["vehicles_used"],
            distance_m=summary["distance_m"],
        )
        _emit_proposed(plan)
    return plan


def fail_fleet_plan(plan: FleetPlan, *, code: str, message: str, by: User | None) -> FleetPlan:
    """A QUEUED plan that will not be solved: FAILED with the error, and FLEET_PLAN_PROPOSED."""
    with transaction.atomic():
        plan = FleetPlan.objects.select_for_update().get(pk=plan.pk)
        if plan.status == FleetPlanStatus.QUEUED:
            error = {"code": code, "message": message}
            _plan_transition(plan, FleetPlanStatus.FAILED, by=by, solved_at=timezone.now(), error=error)
            _emit_proposed(plan)
    return plan


def accept_fleet_plan(
    plan: FleetPlan, *, by: User | None, vehicle_ids: list[UUID | str] | None = None
) -> FleetPlan:
    """Assigns the first load of each route (all routes, or those of the trucks `vehicle_ids`) through
    `loads.services.assign_load`, which checks everything again as of now.

    Full truckload: a vehicle works one load at a time, so a route's later loads stay CREATED
    (PLANNED) until its truck delivers; then `assign_next_planned_load` (the fleet-plan-follower
    consumer of LOAD_DELIVERED) assigns the next one. Each assignment runs in its own savepoint: one that
    fails (the truck was taken meanwhile, the driver's hours changed) is reported with its error
    and the others stand. The plan, its audit row and FLEET_PLAN_ACCEPTED commit with them.
    """
    with transaction.atomic():
        plan = FleetPlan.objects.select_for_update().get(pk=plan.pk)
        check_transition(FLEET_PLAN_TRANSITIONS, plan.status, FleetPlanStatus.ACCEPTED, entity="fleet plan")
        ttl = datetime.timedelta(seconds=settings.ROUTING_FLEET_PLAN_TTL_S)
        if plan.solved_at is not None and timezone.now() - plan.solved_at > ttl:
            raise PlanExpired(
                f"The plan was solved at {plan.solved_at:%Y-%m-%d %H:%M %Z}, more than {ttl} ago; "
                "loads, trucks and hours have moved since: request a new plan.",
                details={"solved_at": plan.solved_at, "ttl_s": int(ttl.total_seconds())},
            )
        routes = plan.result.get("routes", [])
        if vehicle_ids is not None:
            wanted = {str(pk) for pk in vehicle_ids}
            unknown = wanted - {route["vehicle_id"] for route in routes}
            if unknown:
                raise BusinessRuleViolation(
                    "These vehicles have no route in the plan.", details={"vehicle_ids": sorted(unknown)}
                )
            routes = [route for route in routes if route["vehicle_id"] in wanted]
        outcomes, assigned, failed = [], [], []
        for route in routes:
            first, *later = route["load_ids"]
            outcome = _assign_planned(first, route, by=by)
            (assigned if outcome["status"] == "ASSIGNED" else failed).append(first)
            outcomes.append(outcome)
            outcomes += [
                {"load_id": load_id, "vehicle_id": route["vehicle_id"], "status": "PLANNED"}
                for load_id in later
            ]
        _plan_transition(
            plan,
            FleetPlanStatus.ACCEPTED,
            by=by,
            accepted_at=timezone.now(),
            accepted_by=by if getattr(by, "pk", None) else None,
            acceptance={"loads": outcomes},
        )
        emit(
            EventType.FLEET_PLAN_ACCEPTED,
            subject=plan.pk,
            data={"plan_id": plan.pk, "assigned_load_ids": assigned, "failed_load_ids": failed},
        )
    return plan


def _assign_planned(load_id: UUID | str, route: dict, *, by: User | None) -> dict:
    """Assigns one planned load to its route's truck and driver in a savepoint; the outcome."""
    outcome: dict[str, Any] = {"load_id": str(load_id), "vehicle_id": route["vehicle_id"]}
    try:
        with transaction.atomic():
            assign_load(
                Load.objects.get(pk=load_id),
                by=by,
                vehicle=Vehicle.objects.get(pk=route["vehicle_id"]),
                driver=Driver.objects.get(pk=route["driver_id"]),
            )
    except DomainError as error:
        return {**outcome, "status": "FAILED", "error": {"code": error.code, "message": error.message}}
    except ObjectDoesNotExist as error:  # the truck or driver was deleted since the plan
        return {**outcome, "status": "FAILED", "error": {"code": "not_found", "message": str(error)}}
    return {**outcome, "status": "ASSIGNED"}


def assign_next_planned_load(
    *, load_id: UUID | str, vehicle_id: UUID | str, by: User | None
) -> FleetPlan | None:
    """When a truck delivers a load of an accepted fleet plan, the next load the plan has for it
    (PLANNED) is assigned to it and its driver through `assign_load`, which checks it all again;
    the plan's `acceptance` records the outcome (ASSIGNED, or FAILED with the error: the load was
    assigned elsewhere meanwhile...). Returns the plan, or None if it has nothing planned next
    for the truck.

    A driver who cannot take the load (went off duty after the plan was accepted, out of hours by
    the HOS engine, licence, another load) does not stop the truck: it is re-paired with another
    legal driver of its carrier (`_follow_with_a_legal_driver`), FLEET_PLAN_DRIVER_CHANGED says so,
    and the truck keeps that driver for the rest of its route. With no legal driver the load is
    FAILED (`no_legal_driver`) with the reason each colleague was passed over.

    Audited; the assignment is announced by the LOAD_ASSIGNED that `assign_load` emits, a
    re-pairing by FLEET_PLAN_DRIVER_CHANGED; a FAILED outcome changes only the plan's record of
    it. FLEET_PLAN_ACCEPTED announces a dispatcher's acceptance, not these follow-ups.
    """
    with transaction.atomic():
        plan = (
            FleetPlan.objects.select_for_update()
            .filter(
                status=FleetPlanStatus.ACCEPTED,
                acceptance__loads__contains=[{"load_id": str(load_id), "vehicle_id": str(vehicle_id)}],
            )
            .order_by("-accepted_at")
            .first()
        )
        if plan is None:
            return None
        outcomes = copy.deepcopy(plan.acceptance["loads"])
        mine = [index for index, item in enumerate(outcomes) if item["vehicle_id"] == str(vehicle_id)]
        delivered = next(index for index in mine if outcomes[index]["load_id"] == str(load_id))
        planned = [index for index in mine if index > delivered and outcomes[index]["status"] == "PLANNED"]
        if not planned:
            return None
        route = next(route for route in plan.result["routes"] if route["vehicle_id"] == str(vehicle_id))
        # The truck's driver now: the route's, or the one a re-pairing gave it since.
        driver_id = next(
            (outcomes[index]["driver_id"] for index in reversed(mine) if "driver_id" in outcomes[index]),
            route["driver_id"],
        )
        before = snapshot(plan, PLAN_AUDIT_FIELDS)
        outcomes[planned[0]] = _follow_with_a_legal_driver(
            plan, outcomes[planned[0]]["load_id"], {**route, "driver_id": driver_id}, by=by
        )
        plan.acceptance = {**plan.acceptance, "loads": outcomes}
        plan.save(update_fields=["acceptance", "updated_at"])
        record(
            instance=plan,
            action=AuditAction.UPDATE,
            changed_data=changes(before, snapshot(plan, PLAN_AUDIT_FIELDS)),
            by=by,
        )
    return plan


def _follow_with_a_legal_driver(plan: FleetPlan, load_id: str, route: dict, *, by: User | None) -> dict:
    """Assigns the planned load to the truck and `route["driver_id"]`, or, when that driver cannot
    take it (drivers.selectors.why_not_fit), to the nearest legal driver of the truck's carrier
    who is AVAILABLE (most recently positioned nearest the truck first; no position last). The
    outcome of a re-pairing names the new driver, the one replaced and why, and
    FLEET_PLAN_DRIVER_CHANGED is emitted with it (inside the caller's transaction)."""
    load = Load.objects.filter(pk=load_id).first()
    vehicle = Vehicle.objects.select_related("carrier").filter(pk=route["vehicle_id"]).first()
    if load is None or vehicle is None or load.status != LoadStatus.CREATED:
        return _assign_planned(load_id, route, by=by)  # nothing a driver could change: as it fails
    need = driving_need(load)
    planned = Driver.objects.filter(pk=route["driver_id"]).first()
    if planned is None:
        refusal = "The planned driver is no longer on file"
    else:
        refusal = why_not_fit([planned], need, ready_for_dispatch=False, off_duty_since=plan.accepted_at)[
            planned.pk
        ]
        if refusal is None:
            return _assign_planned(load_id, route, by=by)
    colleagues = list(Driver.objects.filter(carrier_id=vehicle.carrier_id).exclude(pk=route["driver_id"]))
    refusals = why_not_fit(colleagues, need, ready_for_dispatch=True)

    def distance(driver: Driver) -> float:
        if driver.current_location is None or vehicle.current_location is None:
            return math.inf
        return great_circle_m(driver.current_location, vehicle.current_location)

    for driver in sorted(colleagues, key=lambda driver: (distance(driver), driver.name, str(driver.pk))):
        if refusals[driver.pk] is not None:
            continue
        outcome = _assign_planned(load_id, {**route, "driver_id": str(driver.pk)}, by=by)
        if outcome["status"] != "ASSIGNED":
            refusals[driver.pk] = outcome["error"]["message"].rstrip(".")
            continue
        reason = f"{refusal}."
        emit(
            EventType.FLEET_PLAN_DRIVER_CHANGED,
            subject=plan.pk,
            data={
                "plan_id": plan.pk,
                "load_id": load.pk,
                "vehicle_id": vehicle.pk,
                "previous_driver_id": route["driver_id"],
                "driver_id": driver.pk,
                "reason": reason,
            },
        )
        return {
            **outcome,
            "driver_id": str(driver.pk),
            "replaced_driver_id": route["driver_id"],
            "reason": reason,
        }
    passed_over = "; ".join(refusals[driver.pk] for driver in sorted(colleagues, key=lambda d: d.name))
    message = (
        f"{refusal}, and no other driver of {vehicle.carrier.name} can take load {load.load_number}: "
        f"{passed_over or 'it has no other driver'}."
    )
    return {
        "load_id": str(load_id),
        "vehicle_id": route["vehicle_id"],
        "status": "FAILED",
        "error": {"code": "no_legal_driver", "message": message},
    }


@transaction.atomic
def discard_fleet_plan(plan: FleetPlan, *, by: User | None) -> FleetPlan:
    """Sets a PROPOSED plan aside: it can no longer be accepted.

    Audited, no event: a proposed plan has assigned nothing, so discarding it changes no load,
    truck or driver and leaves consumers nothing to react to; the plan's page and list show it
    DISCARDED.
    """
    plan = FleetPlan.objects.select_for_update().get(pk=plan.pk)
    _plan_transition(plan, FleetPlanStatus.DISCARDED, by=by)
    return plan
