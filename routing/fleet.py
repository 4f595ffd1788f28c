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
from decimal import Decimal
from types import SimpleNamespace
from uuid import UUID

import numpy as np
from django.conf import settings
from django.contrib.gis.geos import Point
from django.db.models import Prefetch
from django.utils import timezone

from drivers.models import Driver
from drivers.planning import DUTY_PERIOD_DRIVING
from drivers.selectors import clocks_and_plans, dispatchable
from fleet.models import Vehicle, VehicleStatus, VehicleType
from fleet.rules import equipment_mismatch
from loads.models import Load, LoadStatus, Stop, StopKind
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
    loads = (
        Load.objects.filter(status=LoadStatus.CREATED)
        .select_related("carrier")
        .prefetch_related(Prefetch("stops", queryset=Stop.objects.order_by("sequence")))
    )
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
class _PlannedStop:
    """A stop of a load as the planner sees it: its effective window (`Window`, seconds from the
    plan's start: see `_stop_window`), service on the clock, and the drive to it from the previous
    stop of its load (0 at the first)."""

    stop: Stop
    window: Window
    service_s: int  # on the clock (Pace), as the engines count it
    work_s: int  # the service itself: loading or unloading
    leg_m: int
    leg_s: int  # driving


@dataclass(frozen=True)
class _Job:
    """A load as one unit of work: its stops in sequence, driven one after the other by one truck
    (full truckload: nothing else on board in between).

    The engines see it as one pickup (its first stop) and one delivery (its last); the stops
    between ride on that pickup-to-delivery arc. Leaving the first stop at x, the truck starts
    serving the last stop at max(x + `through_s`, `through_earliest_s`) - waiting at a middle stop
    whose window is not open yet is the same on the clock as waiting at the last - and every
    middle stop is served inside its window as long as x <= `leave_by_s`. A shipment with that
    arc's duration, the last stop's window opening at `through_earliest_s` and the first stop's
    closing at `leave_by_s` - service is exactly these stops in order (routing.fleet_engines)."""

    load: Load
    stops: list[_PlannedStop]
    pickup: Window
    delivery: Window
    through_s: int  # clock seconds from leaving the first stop to arriving at the last, if no waits
    through_earliest_s: int  # the last stop's service starts no earlier than this (its window, the waits)
    stops_possible: bool  # every window can be met when the first stop is served as early as it may be
    loaded_m: int
    loaded_s: int  # driving, first stop to last
    peak_weight: Decimal  # the most on board after any stop
    delivery_day: date  # a driver's licence must be valid that day

    @property
    def pickup_service_s(self) -> int:
        return self.stops[0].service_s

    @property
    def delivery_service_s(self) -> int:
        return self.stops[-1].service_s


NEVER = -(10**12)  # "no earlier than" with nothing to wait for


def _stop_window(stop: Stop, request: PlanRequest, clock: _Clock) -> Window:
    """A window with two different ends is kept as it is. A single instant (every load booked with
    one pickup and one delivery) keeps the planner's reading of the seed's times: a pickup from
    that instant to `pickup_window` later, a delivery by that instant."""
    earliest, latest = clock.seconds(stop.earliest_at), clock.seconds(stop.latest_at)
    if earliest < latest:
        return Window(earliest, latest)
    if stop.kind == StopKind.PICKUP:
        return Window(earliest, clock.seconds(stop.earliest_at + request.pickup_window))
    return Window(NEVER, latest)


def _job(load: Load, request: PlanRequest, clock: _Clock, pace: Pace) -> _Job:
    stop_s = int(request.stop_time.total_seconds())
    planned, position, on_board, peak = [], None, Decimal(0), Decimal(0)
    known_weights = True
    for stop in load.stops.all():  # prefetched in sequence (open_loads)
        leg_m = 0 if position is None else road_distance_m(position, stop.location)
        service = stop_s if stop.service_minutes is None else stop.service_minutes * 60
        planned.append(
            _PlannedStop(
                stop,
                _stop_window(stop, request, clock),
                pace.clock_s(service),
                service,
                leg_m,
                _drive_s(leg_m),
            )
        )
        position = stop.location
        if stop.weight is None:
            known_weights = False
        else:
            on_board += stop.weight if stop.kind == StopKind.PICKUP else -stop.weight
            peak = max(peak, on_board)
    first, *middle, last = planned
    # Leaving the first stop at x: the truck is at a later stop at max(x + a, b) (b: the waits).
    a, b, leave_by, possible = 0, NEVER, None, True
    earliest_leave = max(0, first.window.start_s) + first.service_s
    for item in middle:
        a += pace.clock_s(item.leg_s)
        b += pace.clock_s(item.leg_s)
        if max(earliest_leave + a, b) > item.window.end_s:
            possible = False
        leave_by = min(v for v in (leave_by, item.window.end_s - a) if v is not None)
        b = max(b, item.window.start_s) + item.service_s
        a += item.service_s
    a += pace.clock_s(last.leg_s)
    b = max(b + pace.clock_s(last.leg_s), last.window.start_s)
    pickup_end = first.window.end_s
    if leave_by is not None:
        pickup_end = min(pickup_end, leave_by - first.service_s)
    return _Job(
        load=load,
        stops=planned,
        pickup=Window(max(0, first.window.start_s), pickup_end),
        delivery=Window(max(0, last.window.start_s), last.window.end_s),
        through_s=a,
        through_earliest_s=max(b, 0),
        stops_possible=possible,
        loaded_m=sum(item.leg_m for item in planned),
        loaded_s=sum(item.leg_s for item in planned),
        # Stop weights unknown: the load's weight is what it carries.
        peak_weight=max(peak, load.weight) if known_weights else load.weight,
        delivery_day=timezone.localdate(last.stop.latest_at),
    )


# The checks a load passes for one crew, in order; a load no crew passes all of is reported with
# the check its best crew failed.
CHECKS = (
    "carrier",
    "equipment",
    "license_expires",
    "over_capacity",
    "stop_windows",
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
    pickup_s = np.maximum(
        per_crew([pace.delay_s(crew) for crew in crews]) + np.ceil(deadhead_s * pace.factor), pickup_start
    )
    delivered_s = np.maximum(
        pickup_s + per_job([job.pickup_service_s + job.through_s for job in jobs]),
        per_job([job.through_earliest_s for job in jobs]),
    )
    failed = np.stack(
        np.broadcast_arrays(
            (load_carrier != -1) & (load_carrier != crew_carrier),
            _equipment_mismatches(jobs, crews),
            per_crew([crew.driver.license_expiry.toordinal() for crew in crews])
            < per_job([job.delivery_day.toordinal() for job in jobs]),
            (
                per_job([int(job.peak_weight * WEIGHT_SCALE) for job in jobs])
                > per_crew([int(crew.vehicle.capacity_weight * WEIGHT_SCALE) for crew in crews])
            )
            | (
                per_job([int(job.load.volume * VOLUME_SCALE) for job in jobs])
                > per_crew([int(crew.vehicle.capacity_volume * VOLUME_SCALE) for crew in crews])
            ),
            per_job([not job.stops_possible for job in jobs]),
            pickup_end < 0,
            deadhead_s + loaded_s > per_crew([crew.cycle_driving_s for crew in crews]),
            pickup_s > pickup_end,
            delivered_s > per_job([job.delivery.end_s for job in jobs]),
        )
    )
    # The first failed check, or len(CHECKS): a row of "passed" appended below the checks.
    failed = np.concatenate([failed, np.ones((1, *failed.shape[1:]), dtype=bool)])
    return np.argmax(failed, axis=0)


EQUIPMENT_FIELDS = ("temperature_min_c", "temperature_max_c")


def _equipment_mismatches(jobs: Sequence[_Job], crews: Sequence[Crew]) -> np.ndarray:
    """jobs x crews: True where fleet.rules.equipment_mismatch refuses the truck for the load,
    asked once per distinct pair of requirement and equipment (a fleet has a few of each)."""
    job_keys = [
        (job.load.required_equipment, *(getattr(job.load, f) for f in EQUIPMENT_FIELDS)) for job in jobs
    ]
    crew_keys = [
        (crew.vehicle.vehicle_type, *(getattr(crew.vehicle, f) for f in EQUIPMENT_FIELDS)) for crew in crews
    ]
    needs, kinds = list(dict.fromkeys(job_keys)), list(dict.fromkeys(crew_keys))
    table = np.array(
        [
            [
                equipment_mismatch(
                    SimpleNamespace(**dict(zip(("vehicle_type", *EQUIPMENT_FIELDS), kind, strict=True))),
                    SimpleNamespace(
                        **dict(zip(("required_equipment", *EQUIPMENT_FIELDS), need, strict=True))
                    ),
                )
                is not None
                for kind in kinds
            ]
            for need in needs
        ],
        dtype=bool,
    ).reshape(len(needs), len(kinds))
    need_index = {key: index for index, key in enumerate(needs)}
    kind_index = {key: index for index, key in enumerate(kinds)}
    return table[
        np.array([need_index[key] for key in job_keys])[:, None],
        np.array([kind_index[key] for key in crew_keys])[None, :],
    ]


def _needs(load: Load) -> str:
    """The load's equipment requirement in words: "a reefer at 2 to 8 °C"."""
    kind = VehicleType(load.required_equipment).label.lower() if load.required_equipment else "a truck"
    kind = f"a {kind}" if load.required_equipment else kind
    low, high = load.temperature_min_c, load.temperature_max_c
    if low is None and high is None:
        return kind
    low, high = (low if low is not None else high), (high if high is not None else low)
    temperature = f"{low:f} °C" if low == high else f"{low:f} to {high:f} °C"
    return f"{kind} holding {temperature}"


def _local(moment: datetime) -> str:
    return f"{timezone.localtime(moment):%Y-%m-%d %H:%M %Z}"


def _reason(code: str, job: _Job, crews: Sequence[Crew], request: PlanRequest) -> str:
    load = job.load
    closes = _local(request.at + timedelta(seconds=job.pickup.end_s))
    if code == "carrier":
        carrier = load.carrier.name if load.carrier else "its carrier"
        return f"Tendered to {carrier}; none of its trucks is available with a driver."
    if code == "equipment":
        return f"Needs {_needs(load)}; no available truck has that equipment."
    if code == "stop_windows":
        return "Its stops' windows cannot all be kept, however early the first stop is served."
    if code == "license_expires":
        return f"Every available driver's licence expires before the delivery on {job.delivery_day}."
    if code == "over_capacity":
        return f"{job.peak_weight} kg / {load.volume} m³ is more than any available truck carries."
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
            f"No available truck can deliver by the appointment at "
            f"{_local(request.at + timedelta(seconds=job.delivery.end_s))}, "
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
    unserved: list[dict] = []
    jobs = []
    for load in loads:
        if len(load.stops.all()) < 2:
            unserved.append(
                _unserved(load, "no_stops", "It needs a pickup and a delivery stop to be planned.")
            )
        else:
            jobs.append(_job(load, request, clock, pace))
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
            routes.append(_route(crew, truck_route, feasible, clock, pace))
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
    """Nodes: each crew's start (its truck's position), then per load its first and its last stop;
    the stops between ride on the arc from one to the other (`_Job`)."""
    fleet = len(crews)
    points = [crew.vehicle.current_location for crew in crews]
    for job, _ in feasible:
        points += [job.stops[0].stop.location, job.stops[-1].stop.location]
    coordinates = _coordinates(points)
    distance = _distance_matrix(coordinates, coordinates)
    return FleetModel(
        distance=distance,
        driving=_drive_matrix_s(distance),
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
                delivery_window=(max(job.pickup.start_s, job.through_earliest_s), job.delivery.end_s),
                weight=int(job.peak_weight * WEIGHT_SCALE),
                volume=int(job.load.volume * VOLUME_SCALE),
                trucks=tuple(allowed),
                pickup_service_s=job.pickup_service_s,
                delivery_service_s=job.delivery_service_s,
                through_s=job.through_s,
                through_m=job.loaded_m,
                through_driving_s=job.loaded_s,
            )
            for index, (job, allowed) in enumerate(feasible)
        ],
    )


def _chain(job: _Job, first_s: int, pace: Pace) -> list[int]:
    """When service starts at each stop of the load, the first's starting at `first_s`: each
    later stop is reached after the previous one's service and the drive (on the clock, as the
    engines count them), and waits for its window to open."""
    starts = [first_s]
    for previous, item in itertools.pairwise(job.stops):
        arrive = starts[-1] + previous.service_s + pace.clock_s(item.leg_s)
        starts.append(max(arrive, item.window.start_s))
    return starts


def route_violations(
    crew: Crew,
    route: TruckRoute,
    feasible: Sequence[tuple[_Job, list[int]]],
    request: PlanRequest,
    pace: Pace,
) -> list[str]:
    """What is wrong with an engine's route, checked from the loads, their stops and the crew
    themselves (not from the engine's model): each load picked up at its first stop, then every
    stop of it in sequence, delivered at its last before the next load (full truckload); the truck
    may carry what is on board after every stop and has the equipment the load needs, and its
    carrier may take it; the driver's licence holds; every stop served inside its window; the
    clock leaves room for the work and the rests before each load's first stop (`Pace`, from the
    departure, which waits for the driver's rest); the route drives no more than the driver's
    cycle allows. Empty when the route is sound."""
    problems = []
    vehicle = crew.vehicle
    position, ready_s, driving_s, on_board, served_s = vehicle.current_location, route.depart_s, 0, None, []
    previous_work_s = 0
    if route.depart_s < pace.delay_s(crew):
        problems.append(f"leaves at {_hours(route.depart_s)} h, before the driver's rest ends")
    for visit in route.visits:
        job = feasible[visit.shipment][0]
        load = job.load
        if visit.pickup:
            first = job.stops[0]
            if on_board is not None:
                problems.append(f"{load.load_number} picked up with {on_board.load_number} on board")
            on_board = load
            leg_s = _drive_s(road_distance_m(position, first.stop.location))
            driving_s += leg_s + job.loaded_s
            # One rounding of the work on the clock: never more than the engines' (one per part).
            if visit.at_s < ready_s + pace.clock_s(previous_work_s + leg_s):
                problems.append(
                    f"{load.load_number} pickup: too soon after the previous stop for the work and rests"
                )
            if not max(0, first.window.start_s) <= visit.at_s <= first.window.end_s:
                problems.append(f"{load.load_number} pickup outside its window")
            served_s = _chain(job, visit.at_s, pace)
            for item, at_s in zip(job.stops[1:-1], served_s[1:-1], strict=True):
                if at_s > item.window.end_s:
                    problems.append(f"{load.load_number} stop {item.stop.sequence} served after its window")
            if load.carrier_id is not None and load.carrier_id != vehicle.carrier_id:
                problems.append(f"{load.load_number} is tendered to another carrier")
            if job.peak_weight > vehicle.capacity_weight or load.volume > vehicle.capacity_volume:
                problems.append(f"{load.load_number} is more than the truck carries")
            mismatch = equipment_mismatch(vehicle, load)
            if mismatch:
                problems.append(f"{load.load_number}: {mismatch}")
            if crew.driver.license_expiry < job.delivery_day:
                problems.append(f"{load.load_number}: the driver's licence expires before the delivery")
        else:
            last = job.stops[-1]
            if on_board is None or on_board.pk != load.pk:
                problems.append(f"{load.load_number} delivered without being on board")
            elif visit.at_s < served_s[-1]:
                problems.append(
                    f"{load.load_number} delivery: too soon after the previous stop for the work and rests"
                )
            on_board = None
            if visit.at_s > last.window.end_s:
                problems.append(f"{load.load_number} delivered after its appointment")
            position, previous_work_s = last.stop.location, last.work_s
        ready_s = visit.at_s
    if on_board is not None:
        problems.append(f"{on_board.load_number} is never delivered")
    if driving_s > crew.cycle_driving_s:
        problems.append(f"drives {_hours(driving_s)} h, more than the {_hours(crew.cycle_driving_s)} h left")
    return problems


def _route(
    crew: Crew, route: TruckRoute, feasible: Sequence[tuple[_Job, list[int]]], clock: _Clock, pace: Pace
) -> dict:
    position = crew.vehicle.current_location
    stops, deadhead_m, loaded_m, driving_s = [], 0, 0, 0
    for visit in route.visits:
        if not visit.pickup:
            continue  # the load's stops are listed with its pickup
        job = feasible[visit.shipment][0]
        leg_m = road_distance_m(position, job.stops[0].stop.location)
        deadhead_m += leg_m
        loaded_m += job.loaded_m
        driving_s += _drive_s(leg_m) + job.loaded_s
        starts = _chain(job, visit.at_s, pace)
        delivered = next(v for v in route.visits if v.shipment == visit.shipment and not v.pickup)
        starts[-1] = delivered.at_s
        for index, (item, at_s) in enumerate(zip(job.stops, starts, strict=True)):
            stop = item.stop
            stops.append(
                {
                    "load_id": str(job.load.pk),
                    "load_number": job.load.load_number,
                    "stop_id": str(stop.pk),
                    "sequence": stop.sequence,
                    "kind": stop.kind,
                    "location": _geojson(stop.location),
                    "address": stop.address,
                    "arrive_by": rfc3339(clock.moment(at_s)),
                    "window_start": (
                        None
                        if item.window.start_s == NEVER
                        else rfc3339(clock.moment(max(item.window.start_s, 0)))
                    ),
                    "window_end": rfc3339(clock.moment(item.window.end_s)),
                    "leg_m": leg_m if index == 0 else item.leg_m,
                }
            )
        position = job.stops[-1].stop.location
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
