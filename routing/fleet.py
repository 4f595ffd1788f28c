"""Fleet optimisation: which available truck and driver take which open loads, in which order.

`plan_fleet` reads the open loads, the available trucks and drivers and the drivers' hours of
service, builds a pickup-and-delivery model with time windows, solves it with VROOM
(routing.fleet_engines), checks every route against the rules below (`route_violations`) and turns
the solution into a plan a dispatcher can read and accept (routing.services.accept_fleet_plan).

The model, per truck (a "crew": a vehicle and the driver paired with it):

* The route starts where the truck is (`current_location`) and ends after its last delivery
  (open routes: no return to a terminal). Routes may run for days.
* Full truckload: one load on board at a time (the product's rule: one active load per vehicle),
  and each load must fit the truck's weight and volume capacity.
* Pickup between the scheduled pickup time and `pickup_window` later; delivery no later than the
  scheduled delivery time; `stop_time` at every stop for loading or unloading; waiting is free.
* Hours of service, as an upper bound on clock time (`Pace`): work (driving and stops) in
  stretches of at most `shift` (11 h at most) between 10-hour rests, and a 30-minute break per 8
  hours, so every hour of work takes (shift + 10) / shift + 1/16 hours on the clock (1.97 for 11 h
  stretches). A driver who is not rested (the engine in drivers.selectors says how much they may
  still drive before a 10-hour rest) starts later by the part of that rest not covered. Each route
  drives at most what is left of the driver's 60/70-hour cycle. The times a plan promises are
  "arrive by" times: the truck keeps them with every rest taken, and may well be early (up to a
  rest per stretch early on a long trip). Placing each rest exactly was tried twice: OR-Tools'
  break intervals made the search stall beyond a handful of trucks; VROOM's breaks place rests
  even in the middle of a leg, but their windows are times of day, not "after 11 hours of
  driving": the cadence that keeps every route legal serves fewer loads than this bound
  (bench/bench_fleet.py --breaks).
* Travel: great-circle distance x ROUTING_CIRCUITY_FACTOR at ROUTING_AVERAGE_SPEED_KMH: a matrix
  of street routes would cost one paid Directions call per pair; the accepted loads get their
  street route from `optimize-load`.
* Objective: serve as many loads as possible (VROOM ranks solutions by tasks served before cost),
  then the least distance driven (deadhead plus loaded, metres), then the fewest trucks.

A load that no single crew could serve alone is left out before solving, with the reason it
fails for the crew that came closest; a load the solver leaves out although some crew could
serve it alone is reported as `fleet_saturated`. A truck without a driver or a position is listed
as idle with its reason.

Vehicles and drivers are paired per carrier before solving: each driver to the nearest free
truck (by their last known positions; drivers with more legal driving time first).
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from uuid import UUID

import numpy as np
from django.conf import settings
from django.contrib.gis.geos import Point
from django.utils import timezone

from drivers.models import Driver
from drivers.planning import DUTY_PERIOD_DRIVING
from drivers.selectors import clocks_and_plans, dispatchable
from fleet.models import Vehicle, VehicleStatus
from loads.models import Load, LoadStatus
from routing import fleet_engines
from routing.fleet_engines import FleetModel, Shipment, Truck, TruckRoute
from tms.exceptions import DomainError
from tms.geo import EARTH_RADIUS_M, haversine_m, road_distance_m
from tms.times import rfc3339

# The engines work on integers: weights in tenths of a kilogram, volumes in hundredths of a m³
# (the columns' own precision), distances in metres, times in seconds.
WEIGHT_SCALE, VOLUME_SCALE = 10, 100
# What the plan keeps for itself out of the request's time limit, writing the plan out after the
# solver (~0.5 s for 1,000 loads on a busy machine), and at most this share of a short limit.
RESERVE_S, RESERVE_SHARE = 1.5, 0.25
REST_S = 10 * 3600  # the off-duty period that starts a new duty period (395.3(a)(1))
BREAK_S, BREAK_AFTER_S = 30 * 60, 8 * 3600  # the break 8 hours of driving require (395.3(a)(3)(ii))


@dataclass(frozen=True)
class PlanRequest:
    at: datetime
    horizon: timedelta
    time_limit_s: float
    pickup_window: timedelta
    stop_time: timedelta
    shift: timedelta
    load_ids: Sequence[UUID] | None = None
    vehicle_ids: Sequence[UUID] | None = None

    def as_json(self) -> dict:
        return {
            "at": rfc3339(self.at),
            "horizon_hours": self.horizon / timedelta(hours=1),
            "time_limit_s": self.time_limit_s,
            "pickup_window_minutes": self.pickup_window / timedelta(minutes=1),
            "stop_minutes": self.stop_time / timedelta(minutes=1),
            "shift_hours": self.shift / timedelta(hours=1),
            "load_ids": None if self.load_ids is None else [str(pk) for pk in self.load_ids],
            "vehicle_ids": None if self.vehicle_ids is None else [str(pk) for pk in self.vehicle_ids],
        }

    @classmethod
    def from_json(cls, data: dict) -> PlanRequest:
        return cls(
            at=datetime.fromisoformat(data["at"]),
            horizon=timedelta(hours=data["horizon_hours"]),
            time_limit_s=data["time_limit_s"],
            pickup_window=timedelta(minutes=data["pickup_window_minutes"]),
            stop_time=timedelta(minutes=data["stop_minutes"]),
            shift=timedelta(hours=data["shift_hours"]),
            load_ids=None if data.get("load_ids") is None else [UUID(pk) for pk in data["load_ids"]],
            vehicle_ids=None if data.get("vehicle_ids") is None else [UUID(pk) for pk in data["vehicle_ids"]],
        )


@dataclass(frozen=True)
class Crew:
    vehicle: Vehicle
    driver: Driver
    # Driving the engine allows from now before a 10-hour rest (None: rested, a full duty period).
    duty_left_s: int | None
    cycle_driving_s: int  # driving left in the 60/70-hour cycle: the most the whole route may drive


@dataclass(frozen=True)
class Window:
    start_s: int
    end_s: int


class _Clock:
    """Seconds from the plan's start, and back."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def seconds(self, moment: datetime) -> int:
        return math.floor((moment - self.at).total_seconds())

    def moment(self, seconds: int) -> datetime:
        return self.at + timedelta(seconds=seconds)


def _drive_s(metres: int) -> int:
    return math.ceil(metres / (settings.ROUTING_AVERAGE_SPEED_KMH / 3.6))


def _coordinates(points: Sequence[Point]) -> np.ndarray:
    """(longitude, latitude) rows, read from GEOS once: per pair it would be most of the time."""
    return np.array([(point.x, point.y) for point in points], dtype=float).reshape(-1, 2)


def _distance_matrix(origins: np.ndarray, destinations: np.ndarray) -> np.ndarray:
    """`road_distance_m` from every origin to every destination (tms.geo's haversine, vectorised)."""
    lon1, lat1 = np.radians(origins[:, 0])[:, None], np.radians(origins[:, 1])[:, None]
    lon2, lat2 = np.radians(destinations[:, 0])[None, :], np.radians(destinations[:, 1])[None, :]
    h = np.sin((lat2 - lat1) / 2) ** 2 + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
    great_circle = 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.minimum(1.0, h)))
    return np.rint(great_circle * settings.ROUTING_CIRCUITY_FACTOR).astype(np.int64)


def _drive_matrix_s(metres: np.ndarray) -> np.ndarray:
    return np.ceil(metres / (settings.ROUTING_AVERAGE_SPEED_KMH / 3.6)).astype(np.int64)


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:.1f}"


def _geojson(point: Point) -> dict:
    return {"type": "Point", "coordinates": [round(point.x, 6), round(point.y, 6)]}


# --------------------------------------------------------------------------- what is available


def open_loads(request: PlanRequest) -> list[Load]:
    """CREATED loads whose pickup is due within the horizon (or the ones asked for), earliest
    pickups first, at most ROUTING_FLEET_MAX_LOADS."""
    loads = Load.objects.filter(status=LoadStatus.CREATED).select_related("carrier")
    if request.load_ids is not None:
        loads = loads.filter(pk__in=request.load_ids)
    else:
        loads = loads.filter(pickup_datetime__lte=request.at + request.horizon)
    return list(loads.order_by("pickup_datetime", "pk")[: settings.ROUTING_FLEET_MAX_LOADS])


def available_vehicles(request: PlanRequest) -> tuple[list[Vehicle], list[dict]]:
    """AVAILABLE trucks of active carriers (or of the ones asked for), and the asked-for trucks
    that are not, as idle with the reason."""
    vehicles = Vehicle.objects.select_related("carrier").order_by("vehicle_number")
    if request.vehicle_ids is None:
        return list(vehicles.filter(status=VehicleStatus.AVAILABLE, carrier__is_active=True)), []
    ready, idle = [], []
    for vehicle in vehicles.filter(pk__in=request.vehicle_ids):
        if vehicle.status != VehicleStatus.AVAILABLE:
            idle.append(_idle(vehicle, "not_available", f"The truck is {vehicle.status}."))
        elif not vehicle.carrier.is_active:
            idle.append(
                _idle(vehicle, "carrier_inactive", f"{vehicle.carrier.name} is not an active carrier.")
            )
        else:
            ready.append(vehicle)
    return ready, idle


def form_crews(vehicles: Sequence[Vehicle], request: PlanRequest) -> tuple[list[Crew], list[dict]]:
    """Pairs each truck with a free driver of its carrier; returns the crews and the idle trucks."""
    idle: list[dict] = []
    located = []
    for vehicle in vehicles:
        if vehicle.current_location is None:
            idle.append(_idle(vehicle, "no_location", "No known position: the truck has never reported one."))
        else:
            located.append(vehicle)
    carriers = {vehicle.carrier_id for vehicle in located}
    drivers = list(
        dispatchable(
            Driver.objects.filter(carrier_id__in=carriers, license_expiry__gte=timezone.localdate())
        ).order_by("pk")
    )
    outlook = clocks_and_plans(drivers, request.at)
    by_carrier: dict[UUID, list[Driver]] = {}
    for driver in drivers:
        by_carrier.setdefault(driver.carrier_id, []).append(driver)

    crews: list[Crew] = []
    for carrier_id, trucks in itertools.groupby(
        sorted(located, key=lambda v: str(v.carrier_id)), lambda v: v.carrier_id
    ):
        trucks = list(trucks)
        candidates = by_carrier.get(carrier_id, [])
        # Positions read from GEOS once (per pair, 200 trucks' worth took seconds).
        at = {
            item.pk: item.current_location.coords for item in (*trucks, *candidates) if item.current_location
        }
        # Nearest pairs first; a driver with no known position goes last, most hours first.
        pairs = sorted(
            (
                (
                    haversine_m(*at[driver.pk], *at[truck.pk]) if driver.pk in at else math.inf,
                    -outlook[driver.pk][1].driving.total_seconds(),
                    str(truck.pk),
                    str(driver.pk),
                ),
                truck,
                driver,
            )
            for truck in trucks
            for driver in candidates
        )
        taken_trucks: set[UUID] = set()
        taken_drivers: set[UUID] = set()
        for _, truck, driver in pairs:
            if truck.pk in taken_trucks or driver.pk in taken_drivers:
                continue
            taken_trucks.add(truck.pk)
            taken_drivers.add(driver.pk)
            crews.append(_crew(truck, driver, *outlook[driver.pk]))
        for truck in trucks:
            if truck.pk not in taken_trucks:
                idle.append(_idle_without_driver(truck, candidates))
    crews.sort(key=lambda crew: crew.vehicle.vehicle_number)
    return crews, idle


def _crew(truck: Vehicle, driver: Driver, hos_clock, plan) -> Crew:
    rested = hos_clock.window_end is None and plan.driving >= DUTY_PERIOD_DRIVING
    return Crew(
        vehicle=truck,
        driver=driver,
        duty_left_s=None if rested else int(plan.driving.total_seconds()),
        cycle_driving_s=int(hos_clock.cycle_remaining.total_seconds()),
    )


@dataclass(frozen=True)
class Pace:
    """Clock time for work, rests included, as an upper bound (see the module docstring).

    Work (driving and stops) runs in stretches of at most `stretch_s` between 10-hour rests, with a
    30-minute break per 8 hours, so W seconds of work take at most `factor` x W on the clock. A
    driver with only D < stretch left before a rest pays `delay_s(crew)` = 10 h x (1 - D /
    stretch) + 30 min once at the start, which covers the early rest (D = 0: the whole rest).
    """

    stretch_s: int

    @property
    def factor(self) -> float:
        return (self.stretch_s + REST_S) / self.stretch_s + BREAK_S / BREAK_AFTER_S

    def clock_s(self, work_s: int) -> int:
        return math.ceil(work_s * self.factor)

    def delay_s(self, crew: Crew) -> int:
        if crew.duty_left_s is None or crew.duty_left_s >= self.stretch_s:
            return 0
        return math.ceil(REST_S * (1 - crew.duty_left_s / self.stretch_s)) + BREAK_S


def _idle(vehicle: Vehicle, code: str, reason: str) -> dict:
    return {
        "vehicle_id": str(vehicle.pk),
        "vehicle_number": vehicle.vehicle_number,
        "code": code,
        "reason": reason,
    }


def _idle_without_driver(truck: Vehicle, candidates: Sequence[Driver]) -> dict:
    if not candidates:
        return _idle(truck, "no_driver", f"No available driver of {truck.carrier.name} with a valid licence.")
    return _idle(
        truck, "no_driver", f"Every available driver of {truck.carrier.name} is paired with another truck."
    )


# --------------------------------------------------------------------------- one load, one crew


@dataclass(frozen=True)
class _Job:
    load: Load
    pickup: Window
    delivery: Window
    loaded_m: int
    loaded_s: int
    delivery_day: date  # a driver's licence must be valid that day


def _job(load: Load, request: PlanRequest, clock: _Clock) -> _Job:
    loaded_m = road_distance_m(load.pickup_location, load.delivery_location)
    return _Job(
        load=load,
        pickup=Window(
            max(0, clock.seconds(load.pickup_datetime)),
            clock.seconds(load.pickup_datetime + request.pickup_window),
        ),
        delivery=Window(0, clock.seconds(load.delivery_datetime)),
        loaded_m=loaded_m,
        loaded_s=_drive_s(loaded_m),
        delivery_day=timezone.localdate(load.delivery_datetime),
    )


# The checks a load passes for one crew, in order; a load no crew passes all of is reported with
# the check its best crew failed.
CHECKS = (
    "carrier",
    "license_expires",
    "over_capacity",
    "pickup_passed",
    "hours_of_service",
    "pickup_unreachable",
    "delivery_unreachable",
)


def first_failures(
    jobs: Sequence[_Job], crews: Sequence[Crew], request: PlanRequest, pace: Pace
) -> np.ndarray:
    """Per load and crew (jobs x crews), the index in CHECKS of the first check the load fails on
    that crew alone; len(CHECKS) where it passes them all. The timing is the model's own: a route
    with this load alone. (Vectorised: 1,000 loads x 200 crews is 200,000 pairs.)"""
    if not jobs or not crews:
        return np.zeros((len(jobs), len(crews)), dtype=np.int64)
    deadhead_s = _drive_matrix_s(
        _distance_matrix(
            _coordinates([job.load.pickup_location for job in jobs]),
            _coordinates([crew.vehicle.current_location for crew in crews]),
        )
    )

    def per_job(values) -> np.ndarray:
        return np.array(values)[:, None]

    def per_crew(values) -> np.ndarray:
        return np.array(values)[None, :]

    carriers = {carrier: index for index, carrier in enumerate({crew.vehicle.carrier_id for crew in crews})}
    load_carrier = per_job(
        [carriers.get(job.load.carrier_id, -2) if job.load.carrier_id else -1 for job in jobs]
    )
    crew_carrier = per_crew([carriers[crew.vehicle.carrier_id] for crew in crews])
    pickup_start, pickup_end = (
        per_job([job.pickup.start_s for job in jobs]),
        per_job([job.pickup.end_s for job in jobs]),
    )
    loaded_s = per_job([job.loaded_s for job in jobs])
    stop_s = int(request.stop_time.total_seconds())
    pickup_s = np.maximum(
        per_crew([pace.delay_s(crew) for crew in crews]) + np.ceil(deadhead_s * pace.factor), pickup_start
    )
    delivered_s = pickup_s + np.ceil((stop_s + loaded_s) * pace.factor)
    failed = np.stack(
        np.broadcast_arrays(
            (load_carrier != -1) & (load_carrier != crew_carrier),
            per_crew([crew.driver.license_expiry.toordinal() for crew in crews])
            < per_job([job.delivery_day.toordinal() for job in jobs]),
            (
                per_job([int(job.load.weight * WEIGHT_SCALE) for job in jobs])
                > per_crew([int(crew.vehicle.capacity_weight * WEIGHT_SCALE) for crew in crews])
            )
            | (
                per_job([int(job.load.volume * VOLUME_SCALE) for job in jobs])
                > per_crew([int(crew.vehicle.capacity_volume * VOLUME_SCALE) for crew in crews])
            ),
            pickup_end < 0,
            deadhead_s + loaded_s > per_crew([crew.cycle_driving_s for crew in crews]),
            pickup_s > pickup_end,
            delivered_s > per_job([job.delivery.end_s for job in jobs]),
        )
    )
    # The first failed check, or len(CHECKS): a row of "passed" appended below the checks.
    failed = np.concatenate([failed, np.ones((1, *failed.shape[1:]), dtype=bool)])
    return np.argmax(failed, axis=0)


def _local(moment: datetime) -> str:
    return f"{timezone.localtime(moment):%Y-%m-%d %H:%M %Z}"


def _reason(code: str, job: _Job, crews: Sequence[Crew], request: PlanRequest) -> str:
    load = job.load
    closes = _local(load.pickup_datetime + request.pickup_window)
    if code == "carrier":
        carrier = load.carrier.name if load.carrier else "its carrier"
        return f"Tendered to {carrier}; none of its trucks is available with a driver."
    if code == "license_expires":
        delivery_day = timezone.localdate(load.delivery_datetime)
        return f"Every available driver's licence expires before the delivery on {delivery_day}."
    if code == "over_capacity":
        return f"{load.weight} kg / {load.volume} m³ is more than any available truck carries."
    if code == "pickup_passed":
        return f"The pickup window closed at {closes}."
    if code == "hours_of_service":
        most = max(crew.cycle_driving_s for crew in crews)
        return (
            f"Needs {_hours(job.loaded_s)} h of driving with the load, plus the deadhead to the pickup; "
            f"no available driver has that much left in their 60/70-hour cycle (most: {_hours(most)} h)."
        )
    if code == "pickup_unreachable":
        return (
            f"No available truck can reach the pickup before its window closes at {closes}, "
            "with the rests its driver needs on the way."
        )
    if code == "delivery_unreachable":
        return (
            f"No available truck can deliver by the appointment at {_local(load.delivery_datetime)}, "
            "with the rests its driver needs on the way."
        )
    return "Every truck that could take it is used better by other loads in this plan."


# --------------------------------------------------------------------------- the plan


class PlanInvalid(DomainError):
    """The engine's plan breaks a rule our own check enforces: a bug, never proposed (the plan is
    FAILED with this code)."""

    code = "plan_invalid"


def plan_fleet(request: PlanRequest, *, engine: str = "vroom") -> dict:
    """Solves and describes the plan: routes, unserved loads and idle trucks (see the module).

    The whole plan, reading and writing included, comes back within the request's time limit;
    every route passes `route_violations` before it is proposed. `engine` is VROOM; OR-Tools
    (`ortools`) is there for bench/bench_fleet.py's comparison, which it loses (README)."""
    started = time.monotonic()
    clock = _Clock(request.at)
    pace = Pace(int(request.shift.total_seconds()))
    loads = open_loads(request)
    vehicles, refused = available_vehicles(request)
    crews, idle = form_crews(vehicles, request)
    idle += refused
    jobs = [_job(load, request, clock) for load in loads]
    unserved: list[dict] = []
    feasible: list[tuple[_Job, list[int]]] = []
    for job, failures in zip(jobs, first_failures(jobs, crews, request, pace).tolist(), strict=True):
        allowed = [index for index, failure in enumerate(failures) if failure == len(CHECKS)]
        if allowed:
            feasible.append((job, allowed))
        else:
            code = CHECKS[max(failures)] if failures else "no_trucks"
            reason = (
                _reason(code, job, crews, request) if failures else "No truck is available with a driver."
            )
            unserved.append(_unserved(job.load, code, reason))

    routes: list[dict] = []
    if feasible:
        model = _model(crews, feasible, request, clock, pace)
        reserve = min(RESERVE_S, RESERVE_SHARE * request.time_limit_s)
        budget = request.time_limit_s - (time.monotonic() - started) - reserve
        found = fleet_engines.solve(model, engine=engine, time_limit_s=budget)
        served = set()
        for truck_route in found:
            crew = crews[truck_route.truck]
            violations = route_violations(crew, truck_route, feasible, request, pace)
            if violations:
                raise PlanInvalid(
                    f"The {engine} plan for {crew.vehicle.vehicle_number} breaks a rule: {violations[0]}"
                )
            routes.append(_route(crew, truck_route, feasible, clock))
            served |= {feasible[visit.shipment][0].load.pk for visit in truck_route.visits}
        for job, _ in feasible:
            if job.load.pk not in served:
                unserved.append(
                    _unserved(job.load, "fleet_saturated", _reason("fleet_saturated", job, crews, request))
                )

    used = {route["vehicle_id"] for route in routes}
    idle += [
        _idle(
            crew.vehicle, "not_needed", "Not needed: the loads are served with less driving by other trucks."
        )
        for crew in crews
        if str(crew.vehicle.pk) not in used
    ]
    unserved.sort(key=lambda item: item["load_number"])
    deadhead_m = sum(route["deadhead_m"] for route in routes)
    loaded_m = sum(route["loaded_m"] for route in routes)
    return {
        "summary": {
            "loads_considered": len(jobs),
            "loads_planned": sum(len(route["load_ids"]) for route in routes),
            "loads_unserved": len(unserved),
            "vehicles_available": len(crews),
            "vehicles_used": len(routes),
            "distance_m": deadhead_m + loaded_m,
            "deadhead_m": deadhead_m,
            "loaded_m": loaded_m,
            "solve_seconds": round(time.monotonic() - started, 2),
            "objective": "most loads served, then least distance (deadhead + loaded), then fewest trucks",
            "travel_model": f"great circle x {settings.ROUTING_CIRCUITY_FACTOR} "
            f"at {settings.ROUTING_AVERAGE_SPEED_KMH} km/h",
        },
        "routes": routes,
        "unserved": unserved,
        "idle_vehicles": sorted(idle, key=lambda item: item["vehicle_number"]),
    }


def _unserved(load: Load, code: str, reason: str) -> dict:
    return {"load_id": str(load.pk), "load_number": load.load_number, "code": code, "reason": reason}


def _model(
    crews: Sequence[Crew],
    feasible: Sequence[tuple[_Job, list[int]]],
    request: PlanRequest,
    clock: _Clock,
    pace: Pace,
) -> FleetModel:
    """Nodes: each crew's start (its truck's position), then a pickup and a delivery per load."""
    fleet = len(crews)
    points = [crew.vehicle.current_location for crew in crews]
    for job, _ in feasible:
        points += [job.load.pickup_location, job.load.delivery_location]
    coordinates = _coordinates(points)
    distance = _distance_matrix(coordinates, coordinates)
    return FleetModel(
        distance=distance,
        driving=_drive_matrix_s(distance),
        stop_s=int(request.stop_time.total_seconds()),
        pace=pace.factor,
        # Past every window, and past every rest: a truck whose driver rests beyond the plan's
        # windows is simply not used (a horizon it cannot start in made the model infeasible).
        horizon_s=max(
            clock.seconds(request.at + request.horizon),
            *(job.delivery.end_s for job, _ in feasible),
            *(pace.delay_s(crew) for crew in crews),
        ),
        trucks=[
            Truck(
                start=index,
                weight=int(crew.vehicle.capacity_weight * WEIGHT_SCALE),
                volume=int(crew.vehicle.capacity_volume * VOLUME_SCALE),
                ready_s=pace.delay_s(crew),
                max_driving_s=crew.cycle_driving_s,
            )
            for index, crew in enumerate(crews)
        ],
        shipments=[
            Shipment(
                pickup=fleet + 2 * index,
                delivery=fleet + 2 * index + 1,
                pickup_window=(job.pickup.start_s, job.pickup.end_s),
                delivery_window=(job.pickup.start_s, job.delivery.end_s),
                weight=int(job.load.weight * WEIGHT_SCALE),
                volume=int(job.load.volume * VOLUME_SCALE),
                trucks=tuple(allowed),
            )
            for index, (job, allowed) in enumerate(feasible)
        ],
    )


def route_violations(
    crew: Crew,
    route: TruckRoute,
    feasible: Sequence[tuple[_Job, list[int]]],
    request: PlanRequest,
    pace: Pace,
) -> list[str]:
    """What is wrong with an engine's route, checked from the loads and the crew themselves (not
    from the engine's model): each load picked up, then delivered, before the next (full
    truckload); the truck may carry it and its carrier may take it; the driver's licence holds;
    every stop inside its window; the clock leaves room for the work and the rests before each
    stop (`Pace`, from the departure, which waits for the driver's rest); the route drives no
    more than the driver's cycle allows. Empty when the route is sound."""
    problems = []
    vehicle, stop_s = crew.vehicle, int(request.stop_time.total_seconds())
    position, ready_s, driving_s, on_board = vehicle.current_location, route.depart_s, 0, None
    if route.depart_s < pace.delay_s(crew):
        problems.append(f"leaves at {_hours(route.depart_s)} h, before the driver's rest ends")
    for index, visit in enumerate(route.visits):
        job = feasible[visit.shipment][0]
        load = job.load
        kind = "pickup" if visit.pickup else "delivery"
        location = load.pickup_location if visit.pickup else load.delivery_location
        leg_s = _drive_s(road_distance_m(position, location))
        driving_s += leg_s
        work_s = leg_s + (stop_s if index else 0)  # the previous stop's loading or unloading, then the leg
        if visit.at_s < ready_s + pace.clock_s(work_s):
            problems.append(
                f"{load.load_number} {kind}: too soon after the previous stop for the work and rests"
            )
        if visit.pickup:
            if on_board is not None:
                problems.append(f"{load.load_number} picked up with {on_board.load_number} on board")
            on_board = load
            if not job.pickup.start_s <= visit.at_s <= job.pickup.end_s:
                problems.append(f"{load.load_number} pickup outside its window")
            if load.carrier_id is not None and load.carrier_id != vehicle.carrier_id:
                problems.append(f"{load.load_number} is tendered to another carrier")
            if load.weight > vehicle.capacity_weight or load.volume > vehicle.capacity_volume:
                problems.append(f"{load.load_number} is more than the truck carries")
            if crew.driver.license_expiry < job.delivery_day:
                problems.append(f"{load.load_number}: the driver's licence expires before the delivery")
        else:
            if on_board is None or on_board.pk != load.pk:
                problems.append(f"{load.load_number} delivered without being on board")
            on_board = None
            if visit.at_s > job.delivery.end_s:
                problems.append(f"{load.load_number} delivered after its appointment")
        position, ready_s = location, visit.at_s
    if on_board is not None:
        problems.append(f"{on_board.load_number} is never delivered")
    if driving_s > crew.cycle_driving_s:
        problems.append(f"drives {_hours(driving_s)} h, more than the {_hours(crew.cycle_driving_s)} h left")
    return problems


def _route(crew: Crew, route: TruckRoute, feasible: Sequence[tuple[_Job, list[int]]], clock: _Clock) -> dict:
    position = crew.vehicle.current_location
    stops, deadhead_m, loaded_m, driving_s = [], 0, 0, 0
    for visit in route.visits:
        job = feasible[visit.shipment][0]
        kind = "PICKUP" if visit.pickup else "DELIVERY"
        location = job.load.pickup_location if visit.pickup else job.load.delivery_location
        leg_m = road_distance_m(position, location)
        driving_s += _drive_s(leg_m)
        if visit.pickup:
            deadhead_m += leg_m
        else:
            loaded_m += leg_m
        position = location
        window = job.pickup if visit.pickup else job.delivery
        stops.append(
            {
                "load_id": str(job.load.pk),
                "load_number": job.load.load_number,
                "kind": kind,
                "location": _geojson(location),
                "address": job.load.pickup_address if visit.pickup else job.load.delivery_address,
                "arrive_by": rfc3339(clock.moment(visit.at_s)),
                "window_start": rfc3339(clock.moment(max(window.start_s, 0))) if visit.pickup else None,
                "window_end": rfc3339(clock.moment(window.end_s)),
                "leg_m": leg_m,
            }
        )
    load_ids = list(dict.fromkeys(stop["load_id"] for stop in stops))
    return {
        "vehicle_id": str(crew.vehicle.pk),
        "vehicle_number": crew.vehicle.vehicle_number,
        "driver_id": str(crew.driver.pk),
        "driver_name": crew.driver.name,
        "carrier_id": str(crew.vehicle.carrier_id),
        "start_location": _geojson(crew.vehicle.current_location),
        # A driver who is not rested rests first, then leaves.
        "depart_at": rfc3339(clock.moment(route.depart_s)),
        "finish_at": rfc3339(clock.moment(route.finish_s)),
        "driving_hours": round(driving_s / 3600, 2),
        "cycle_hours_left": round(crew.cycle_driving_s / 3600, 2),
        "distance_m": deadhead_m + loaded_m,
        "deadhead_m": deadhead_m,
        "loaded_m": loaded_m,
        "load_ids": load_ids,
        "stops": stops,
    }
