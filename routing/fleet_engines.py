"""The fleet plan's integer model and the two engines that solve it. No Django.

routing.fleet reads loads, trucks and drivers, and builds a `FleetModel`: nodes (each truck's
position, then a pickup and a delivery node per load), the road distance and driving time between
them, the trucks (capacity, earliest departure, driving left in the cycle) and the shipments
(windows, weight, volume, the trucks allowed to take them). An engine returns `TruckRoute`s: per
truck, its stops in order with the time service starts at each.

* `vroom` (pyvroom, VROOM's C++ solver): shipments are VROOM's own pickup-and-delivery pairs,
  the trucks allowed to take a load its skills. VROOM compares solutions by the number of tasks
  served first, then cost: the fleet plan's objective as it is, with the road distance as the
  cost matrix and one metre per truck used as fixed cost.
* `ortools` (OR-Tools' routing library through routing.vrp): unserved loads at a penalty larger
  than any detour, guided local search from parallel cheapest insertion.

Both see the same clock: work (driving and stops) takes `pace` x its length on the clock, the
rests it needs included (routing.fleet.Pace). VROOM adds durations per arc and service per stop,
so its clock is the sum of the two rounded up separately: never shorter than OR-Tools' (one
rounding per leg), so every plan either engine returns passes the same check (routing.fleet).
"""

from __future__ import annotations

import datetime
import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import vroom

from routing import vrp

FULL_TRUCKLOAD = 1  # loads on board at once
# Guided local search from parallel cheapest insertion. OR-Tools 9.x's iterated local search (the
# benchmark's best) ignored the time limit on some small plans here (one load, six trucks, windows
# days wide): it never returned.
ORTOOLS_SEARCH = vrp.SearchSettings(iterated_local_search=False, metaheuristic="GUIDED_LOCAL_SEARCH")
# VROOM's searches (each a construction heuristic, then local search) and their local search
# depth: at most what its highest exploration level (5) runs.
VROOM_MAX_SEARCHES, VROOM_DEPTH = 32, 5
PROBE_S = 0.1  # the first search's local search: VROOM's time limit counts in whole milliseconds
ENGINES = ("vroom", "ortools")


@dataclass(frozen=True)
class Truck:
    start: int  # the node of its position
    weight: int  # capacities, in the model's integer units
    volume: int
    ready_s: int  # earliest departure (a driver who is not rested rests first)
    max_driving_s: int  # driving the whole route may take (the driver's 60/70-hour cycle)


@dataclass(frozen=True)
class Shipment:
    pickup: int  # nodes
    delivery: int
    pickup_window: tuple[int, int]  # when service may start
    delivery_window: tuple[int, int]
    weight: int
    volume: int
    trucks: tuple[int, ...]  # indices of the trucks allowed to take it
    # On the clock (pace applied): service at the pickup and at the delivery, and from leaving the
    # pickup to arriving at the delivery (the load's stops in between, driven and served).
    pickup_service_s: int
    delivery_service_s: int
    through_s: int
    through_m: int  # distance from pickup to delivery through the stops between
    through_driving_s: int  # driving, for the cycle's limit


@dataclass
class FleetModel:
    """Durations between nodes are `driving` x `pace` on the clock, except each shipment's own
    pickup-to-delivery arc, which is its `through_s` (distance `through_m`): full truckload, a
    truck goes from a load's pickup to its delivery and nowhere else, so that arc carries the
    load's stops in between."""

    distance: np.ndarray  # metres, node x node
    driving: np.ndarray  # seconds, node x node
    pace: float  # clock seconds per second of work, rests included
    horizon_s: int  # no route runs past this
    trucks: Sequence[Truck]
    shipments: Sequence[Shipment]

    def clock_s(self, work_s: int) -> int:
        return math.ceil(work_s * self.pace)


@dataclass(frozen=True)
class Visit:
    shipment: int
    pickup: bool
    at_s: int  # service starts


@dataclass(frozen=True)
class TruckRoute:
    truck: int
    visits: list[Visit]
    depart_s: int
    finish_s: int


def solve(model: FleetModel, *, engine: str, time_limit_s: float) -> list[TruckRoute]:
    """The routes of the trucks that are used, by `engine` (one of ENGINES) within the time limit."""
    if not model.shipments:
        return []
    if engine == "vroom":
        return solve_vroom(model, time_limit_s=time_limit_s)
    if engine == "ortools":
        return solve_ortools(model, time_limit_s=time_limit_s)
    raise ValueError(f"unknown fleet engine {engine!r}: one of {', '.join(ENGINES)}")


# --------------------------------------------------------------------------- VROOM


def solve_vroom(model: FleetModel, *, time_limit_s: float) -> list[TruckRoute]:
    """VROOM within the time limit. Its time limit bounds local search only: every search's
    construction heuristic runs to the end first (~1 s each for 1,000 loads and 200 trucks on
    this machine, busy). So one search runs first with barely any local search, and the time it
    took says how many more fit: as many as its threads build the first solutions of in a third
    of the time left (the others' heuristics cost more than the first's), the rest for their
    local search; 0.9 of the time left is its limit. The better answer is kept (more loads
    served, then less cost). On a small plan that is all 32 searches of VROOM's highest
    exploration level."""
    started = time.monotonic()
    problem = _vroom_input(model)
    threads = min(4, os.cpu_count() or 1)
    best = _vroom_solve(problem, searches=1, depth=0, threads=1, timeout_s=PROBE_S)
    spent = time.monotonic() - started
    remaining = time_limit_s - spent
    searches = min(VROOM_MAX_SEARCHES, math.floor(threads * remaining / (3 * spent)))
    if searches >= 1:  # one: the first search again, with local search this time
        found = _vroom_solve(
            problem, searches=searches, depth=VROOM_DEPTH, threads=threads, timeout_s=0.9 * remaining
        )
        best = min(best, found, key=_vroom_rank)
    return _vroom_routes(best)


def _through_matrices(model: FleetModel) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distance, driving and clock matrices with each shipment's own arc through its stops."""
    distance, driving = model.distance.copy(), model.driving.copy()
    clock = np.ceil(model.driving * model.pace).astype(np.int64)
    for shipment in model.shipments:
        distance[shipment.pickup, shipment.delivery] = shipment.through_m
        driving[shipment.pickup, shipment.delivery] = shipment.through_driving_s
        clock[shipment.pickup, shipment.delivery] = shipment.through_s
    return distance, driving, clock


def _vroom_input(model: FleetModel) -> vroom.Input:
    problem = vroom.Input()
    distance, _driving, durations = _through_matrices(model)
    problem.set_durations_matrix("truck", durations.astype(np.uint32))
    problem.set_costs_matrix("truck", distance.astype(np.uint32))

    # A load that only some trucks may take needs a skill only those trucks have: one per
    # distinct set of trucks (most loads may go to any truck and need none).
    everyone = tuple(range(len(model.trucks)))
    skill_of: dict[tuple[int, ...], int] = {}
    for shipment in model.shipments:
        if shipment.trucks != everyone:
            skill_of.setdefault(shipment.trucks, len(skill_of) + 1)
    skills: list[set[int]] = [set() for _ in model.trucks]
    for trucks, skill in skill_of.items():
        for truck in trucks:
            skills[truck].add(skill)

    problem.add_vehicle(
        [
            vroom.Vehicle(
                index,
                start=truck.start,
                profile="truck",
                capacity=vroom.Amount([truck.weight, truck.volume, FULL_TRUCKLOAD]),
                skills=skills[index],
                time_window=vroom.TimeWindow(truck.ready_s, model.horizon_s),
                # Durations are clock time (pace x driving): the cycle's driving, on that clock.
                max_travel_time=math.floor(truck.max_driving_s * model.pace),
                costs=vroom.VehicleCosts(fixed=1),  # after distance (the cost matrix), fewer trucks
            )
            for index, truck in enumerate(model.trucks)
        ]
    )
    for index, shipment in enumerate(model.shipments):
        problem.add_shipment(
            vroom.ShipmentStep(
                2 * index,
                location=shipment.pickup,
                default_service=shipment.pickup_service_s,
                time_windows=[vroom.TimeWindow(*shipment.pickup_window)],
            ),
            vroom.ShipmentStep(
                2 * index + 1,
                location=shipment.delivery,
                default_service=shipment.delivery_service_s,
                time_windows=[vroom.TimeWindow(*shipment.delivery_window)],
            ),
            amount=vroom.Amount([shipment.weight, shipment.volume, FULL_TRUCKLOAD]),
            skills=({skill_of[shipment.trucks]} if shipment.trucks in skill_of else set()),
        )
    return problem


def _vroom_solve(problem: vroom.Input, *, searches: int, depth: int, threads: int, timeout_s: float) -> dict:
    """VROOM's answer (its JSON output) for `searches` searches of local search depth `depth`.
    (pyvroom's `solve` takes an exploration level, which fixes both; its binding takes them apart.)"""
    solution = vroom.solution.solution.Solution(
        problem._solve(
            nb_searches=searches,
            depth=depth,
            nb_threads=threads,
            timeout=datetime.timedelta(seconds=max(PROBE_S, timeout_s)),
        )
    )
    return solution.to_dict()


def _vroom_rank(answer: dict) -> tuple[int, int]:
    return (len(answer["unassigned"]), answer["summary"]["cost"])


def _vroom_routes(answer: dict) -> list[TruckRoute]:
    routes = []
    for route in answer["routes"]:
        steps = route["steps"]
        visits = [
            Visit(
                shipment=step["id"] // 2,
                pickup=step["type"] == "pickup",
                at_s=step["arrival"] + step["waiting_time"],
            )
            for step in steps
            if step["type"] in ("pickup", "delivery")
        ]
        start, end = steps[0], steps[-1]
        routes.append(
            TruckRoute(
                truck=route["vehicle"], visits=visits, depart_s=start["arrival"], finish_s=end["arrival"]
            )
        )
    return sorted(routes, key=lambda route: route.truck)


# --------------------------------------------------------------------------- OR-Tools


def solve_ortools(model: FleetModel, *, time_limit_s: float) -> list[TruckRoute]:
    problem = _ortools_problem(model)
    found = vrp.solve_model(problem, time_limit_s=max(0.1, time_limit_s), settings=ORTOOLS_SEARCH)
    if found is None:
        return []
    fleet = len(model.trucks)
    routes = []
    for index, (route, schedule) in enumerate(zip(found.routes, found.schedules, strict=True)):
        if not route:
            continue
        visits = []
        for node, at_s in zip(route, schedule[1:-1], strict=True):
            shipment, pickup = divmod(node - fleet, 2)
            visits.append(Visit(shipment=shipment, pickup=pickup == 0, at_s=at_s))
        truck = model.trucks[index]
        # The start's delay (a rest first) rides on its first leg: the truck leaves after it.
        routes.append(
            TruckRoute(
                truck=index, visits=visits, depart_s=schedule[0] + truck.ready_s, finish_s=schedule[-1]
            )
        )
    return routes


def _ortools_problem(model: FleetModel) -> vrp.RoutingProblem:
    """Nodes: the model's (trucks' positions, then pickup and delivery per shipment), then an open
    end per truck: arcs into it cost nothing and take no time."""
    fleet, size = len(model.trucks), len(model.distance)
    total = size + fleet
    through_distance, through_driving, through_clock = _through_matrices(model)
    distance = np.zeros((total, total), dtype=np.int64)
    distance[:size, :size] = through_distance
    driving = np.zeros((total, total), dtype=np.int64)
    driving[:size, :size] = through_driving
    service = np.zeros(total, dtype=np.int64)
    for shipment in model.shipments:
        service[shipment.pickup] = shipment.pickup_service_s
        service[shipment.delivery] = shipment.delivery_service_s
    # On the clock: the node's service, then the arc (both already paced), as VROOM counts them.
    elapsed = np.zeros((total, total), dtype=np.int64)
    elapsed[:size, :size] = service[:size, None] + through_clock
    elapsed[:size, size:] = service[:size, None]  # the last delivery's service, then the open end
    for truck in model.trucks:
        elapsed[truck.start] += truck.ready_s
    windows = [(0, model.horizon_s)] * total
    weights, volumes, loads = [0] * total, [0] * total, [0] * total
    pairs, allowed = [], {}
    for shipment in model.shipments:
        windows[shipment.pickup] = shipment.pickup_window
        windows[shipment.delivery] = shipment.delivery_window
        weights[shipment.pickup], weights[shipment.delivery] = shipment.weight, -shipment.weight
        volumes[shipment.pickup], volumes[shipment.delivery] = shipment.volume, -shipment.volume
        loads[shipment.pickup], loads[shipment.delivery] = 1, -1
        pairs.append((shipment.pickup, shipment.delivery))
        allowed[shipment.pickup] = allowed[shipment.delivery] = list(shipment.trucks)
    # The loaded legs are what a route exists for: never cheaper than to serve them.
    penalty = 4 * int(distance.max()) + 1
    return vrp.RoutingProblem(
        travel_cost=distance.tolist(),
        travel_time=driving.tolist(),
        elapsed_time=elapsed.tolist(),
        vehicles=[
            vrp.Vehicle(
                capacities=(truck.weight, truck.volume, FULL_TRUCKLOAD),
                max_driving=truck.max_driving_s,
                fixed_cost=1,  # after distance, fewer trucks
                start=truck.start,
                end=size + index,
            )
            for index, truck in enumerate(model.trucks)
        ],
        quantities=[weights, volumes, loads],
        service_times=service.tolist(),
        time_windows=windows,
        pickup_deliveries=pairs,
        allowed_vehicles=allowed,
        unserved_penalty=penalty,
    )
