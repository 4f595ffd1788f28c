"""Fleet optimisation: which available truck and driver take which open loads, in which order.

`plan_fleet` reads the open loads, the available trucks and drivers and the drivers' hours of
service, builds a pickup-and-delivery model with time windows for OR-Tools (routing.vrp) and turns
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
  rest per stretch early on a long trip). OR-Tools' break intervals would place each rest exactly,
  but made the search stall beyond a handful of trucks.
* Travel: great-circle distance x ROUTING_CIRCUITY_FACTOR at ROUTING_AVERAGE_SPEED_KMH: a matrix
  of street routes would cost one paid Directions call per pair; the accepted loads get their
  street route from `optimize-load`.
* Objective: serve as many loads as possible (an unserved load costs more than any detour), then
  the least distance driven (deadhead plus loaded, metres), then the fewest trucks.

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
from datetime import datetime, timedelta
from uuid import UUID

from django.conf import settings
from django.contrib.gis.geos import Point
from django.utils import timezone

from drivers.models import Driver
from drivers.planning import DUTY_PERIOD_DRIVING
from drivers.selectors import clocks_and_plans, dispatchable
from fleet.models import Vehicle, VehicleStatus
from loads.models import Load, LoadStatus
from routing import vrp
from tms.geo import great_circle_m, haversine_m, road_distance_m
from tms.times import rfc3339

# OR-Tools works on integers: weights in tenths of a kilogram, volumes in hundredths of a m³
# (the columns' own precision), distances in metres, times in seconds.
WEIGHT_SCALE, VOLUME_SCALE = 10, 100
FULL_TRUCKLOAD = 1  # loads on board at once
# Guided local search from parallel cheapest insertion. OR-Tools 9.x's iterated local search (the
# benchmark's best) ignored the time limit on some small plans here (one load, six trucks, windows
# days wide): it never returned.
SEARCH = vrp.SearchSettings(iterated_local_search=False, metaheuristic="GUIDED_LOCAL_SEARCH")
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


def _distances(points: Sequence[Point | None]) -> list[list[int]]:
    """`road_distance_m` between all points; 0 to and from None. (Coordinates read once: reading
    them from GEOS per pair would be most of the time.)"""
    coordinates = [None if point is None else (point.x, point.y) for point in points]
    circuity = settings.ROUTING_CIRCUITY_FACTOR
    return [
        [0 if a is None or b is None else round(haversine_m(*a, *b) * circuity) for b in coordinates]
        for a in coordinates
    ]


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
        # Nearest pairs first; a driver with no known position goes last, most hours first.
        pairs = sorted(
            (
                (
                    great_circle_m(driver.current_location, truck.current_location)
                    if driver.current_location is not None
                    else math.inf,
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


def _first_failure(job: _Job, crew: Crew, request: PlanRequest, pace: Pace) -> int:
    """Index in CHECKS of the first check the load fails on this crew alone; len(CHECKS) if none.
    The timing is the model's own: a route with this load alone."""
    load, vehicle = job.load, crew.vehicle
    deadhead_s = _drive_s(road_distance_m(vehicle.current_location, load.pickup_location))
    pickup_s = max(pace.delay_s(crew) + pace.clock_s(deadhead_s), job.pickup.start_s)
    delivered_s = pickup_s + pace.clock_s(int(request.stop_time.total_seconds()) + job.loaded_s)
    passed = (
        load.carrier_id is None or load.carrier_id == vehicle.carrier_id,
        crew.driver.license_expiry >= timezone.localdate(load.delivery_datetime),
        load.weight <= vehicle.capacity_weight and load.volume <= vehicle.capacity_volume,
        job.pickup.end_s >= 0,
        deadhead_s + job.loaded_s <= crew.cycle_driving_s,
        pickup_s <= job.pickup.end_s,
        delivered_s <= job.delivery.end_s,
    )
    return next((index for index, ok in enumerate(passed) if not ok), len(CHECKS))


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


def plan_fleet(request: PlanRequest) -> dict:
    """Solves and describes the plan: routes, unserved loads and idle trucks (see the module)."""
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
    for job in jobs:
        failures = [_first_failure(job, crew, request, pace) for crew in crews]
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
        problem, nodes = _model(crews, feasible, request, clock, pace)
        found = vrp.solve_model(problem, time_limit_s=request.time_limit_s, settings=SEARCH)
        served = set()
        for index, route in enumerate(found.routes):
            if route:
                routes.append(_route(crews[index], route, found.schedules[index], nodes, clock, pace))
                served |= {nodes[node][0].load.pk for node in route}
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
    deadhead = sum(route["deadhead_m"] for route in routes)
    loaded = sum(route["loaded_m"] for route in routes)
    return {
        "summary": {
            "loads_considered": len(jobs),
            "loads_planned": sum(len(route["load_ids"]) for route in routes),
            "loads_unserved": len(unserved),
            "vehicles_available": len(crews),
            "vehicles_used": len(routes),
            "distance_m": deadhead + loaded,
            "deadhead_m": deadhead,
            "loaded_m": loaded,
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
) -> tuple[vrp.RoutingProblem, dict[int, tuple[_Job, str]]]:
    """Nodes: each crew's start (its truck's position), each crew's open end, then a pickup and a
    delivery per load. Returns the model and, per stop node, its job and kind."""
    fleet = len(crews)
    stop_s = int(request.stop_time.total_seconds())
    points: list[Point | None] = [crew.vehicle.current_location for crew in crews] + [None] * fleet
    last_s = max(clock.seconds(request.at + request.horizon), *(job.delivery.end_s for job, _ in feasible))
    windows = [(0, last_s)] * (2 * fleet)
    weights, volumes, service = [0] * (2 * fleet), [0] * (2 * fleet), [0] * (2 * fleet)
    nodes: dict[int, tuple[_Job, str]] = {}
    pairs, allowed = [], {}
    for job, crew_indices in feasible:
        pickup, delivery = len(points), len(points) + 1
        points += [job.load.pickup_location, job.load.delivery_location]
        weight = int(job.load.weight * WEIGHT_SCALE)
        volume = int(job.load.volume * VOLUME_SCALE)
        weights += [weight, -weight]
        volumes += [volume, -volume]
        service += [stop_s, stop_s]
        windows += [(job.pickup.start_s, job.pickup.end_s), (job.pickup.start_s, job.delivery.end_s)]
        nodes[pickup], nodes[delivery] = (job, "PICKUP"), (job, "DELIVERY")
        pairs.append((pickup, delivery))
        allowed[pickup] = allowed[delivery] = crew_indices

    distance = _distances(points)
    driving = [[_drive_s(metres) for metres in row] for row in distance]
    elapsed = [
        [pace.clock_s(service[i] + driving[i][j]) for j in range(len(points))] for i in range(len(points))
    ]
    for index, crew in enumerate(crews):
        delay = pace.delay_s(crew)
        elapsed[index] = [delay + time for time in elapsed[index]]
    # The loaded legs are what a route exists for: never cheaper than to serve them.
    penalty = 4 * max(max(row) for row in distance) + 1
    problem = vrp.RoutingProblem(
        travel_cost=distance,
        travel_time=driving,
        elapsed_time=elapsed,
        vehicles=[
            vrp.Vehicle(
                capacities=(
                    int(crew.vehicle.capacity_weight * WEIGHT_SCALE),
                    int(crew.vehicle.capacity_volume * VOLUME_SCALE),
                    FULL_TRUCKLOAD,
                ),
                max_driving=crew.cycle_driving_s,
                fixed_cost=1,  # after distance, fewer trucks
                start=index,
                end=fleet + index,
            )
            for index, crew in enumerate(crews)
        ],
        quantities=[weights, volumes, [0] * (2 * fleet) + [1, -1] * len(feasible)],
        service_times=service,
        time_windows=windows,
        pickup_deliveries=pairs,
        allowed_vehicles=allowed,
        unserved_penalty=penalty,
    )
    return problem, nodes


def _route(
    crew: Crew,
    route: list[int],
    schedule: list[int],
    nodes: dict[int, tuple[_Job, str]],
    clock: _Clock,
    pace: Pace,
) -> dict:
    position = crew.vehicle.current_location
    stops, deadhead_m, loaded_m, driving_s = [], 0, 0, 0
    for node, at_s in zip(route, schedule[1:-1], strict=True):
        job, kind = nodes[node]
        location = job.load.pickup_location if kind == "PICKUP" else job.load.delivery_location
        leg_m = road_distance_m(position, location)
        driving_s += _drive_s(leg_m)
        if kind == "PICKUP":
            deadhead_m += leg_m
        else:
            loaded_m += leg_m
        position = location
        window = job.pickup if kind == "PICKUP" else job.delivery
        stops.append(
            {
                "load_id": str(job.load.pk),
                "load_number": job.load.load_number,
                "kind": kind,
                "location": _geojson(location),
                "address": job.load.pickup_address if kind == "PICKUP" else job.load.delivery_address,
                "arrive_by": rfc3339(clock.moment(at_s)),
                "window_start": rfc3339(clock.moment(max(window.start_s, 0))) if kind == "PICKUP" else None,
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
        # A driver who is not rested rests first (the start's delay), then leaves.
        "depart_at": rfc3339(clock.moment(schedule[0] + pace.delay_s(crew))),
        "finish_at": rfc3339(clock.moment(schedule[-1])),
        "driving_hours": round(driving_s / 3600, 2),
        "cycle_hours_left": round(crew.cycle_driving_s / 3600, 2),
        "distance_m": deadhead_m + loaded_m,
        "deadhead_m": deadhead_m,
        "loaded_m": loaded_m,
        "load_ids": load_ids,
        "stops": stops,
    }
