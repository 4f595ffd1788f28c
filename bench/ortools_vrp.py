"""The OR-Tools search `solve_vrp` ran before PyVRP, kept for bench/bench_vrp.py alone: the
side-by-side comparison needs it, the product does not (routing.instances.solve is PyVRP).

It builds `routing.vrp`'s integer model (the fleet plans' OR-Tools model) from an instance and
searches it in phases, exactly as routing.instances.solve did up to the PyVRP switch. Delete this
file with the comparison.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable

from routing.instances import (
    OBJECTIVES,
    Convention,
    Instance,
    Objective,
    Solution,
    default_convention,
    distance_matrix,
    route_distance,
)
from routing.vrp import ModelSolution, RoutingProblem, SearchSettings, Vehicle, solve_model

# OR-Tools works on integers: arc lengths scaled as before the switch (costs rounded, times rounded up).
ORTOOLS_SCALE: dict[Convention, int] = {"exact": 1000, "trunc1": 10, "nint": 1}


def _problem(instance: Instance, convention: Convention, fleet: int, fixed_cost: int = 0) -> RoutingProblem:
    lengths = distance_matrix(instance, convention)
    scale = ORTOOLS_SCALE[convention]
    # Costs round to the nearest unit; times round up so the integer schedule is a real one.
    cost = [[round(length * scale) for length in row] for row in lengths]
    travel = [[math.ceil(length * scale - 1e-9) for length in row] for row in lengths]
    sites = instance.sites
    windows = None
    if instance.has_time_windows:
        windows = [
            (round(site.ready * scale), round(min(site.due, instance.depot.due) * scale)) for site in sites
        ]
    return RoutingProblem(
        travel_cost=cost,
        travel_time=travel,
        vehicles=[Vehicle(capacities=(instance.vehicle_capacity,), fixed_cost=fixed_cost)] * fleet,
        quantities=[[site.demand for site in sites]],
        service_times=[round(site.service * scale) for site in sites],
        time_windows=windows,
    )


# Simulated-annealing temperatures of the ruin-and-recreate search, in distance units: a worse
# solution by 10 units is accepted with probability 1/e at the start, by 0.1 at the end.
INITIAL_TEMPERATURE, FINAL_TEMPERATURE = 10.0, 0.1


def solve_with_ortools(
    instance: Instance,
    *,
    time_limit_s: float = 30.0,
    objective: Objective = "vehicles-then-distance",
    convention: Convention | None = None,
    on_improvement: Callable[[int, float], None] | None = None,
) -> Solution | None:
    """Best routes found in `time_limit_s` for `objective`; None when no feasible solution was found.

    ``distance`` minimises total distance with up to the instance's fleet: half the time on
    ruin-and-recreate (iterated local search) with stops optional at a penalty, a quarter on the
    same with every stop served, a quarter on guided local search; the best full solution wins.
    ``vehicles-then-distance`` (Solomon's hierarchical objective) pays a fixed cost per vehicle
    dearer than any whole solution's distance: a first search finds k routes, a second tries
    k - 1 (stops may stay unserved at a penalty; success means none is), then the rest of the
    time minimises distance with the smallest fleet found. `on_improvement(vehicles, distance)`
    reports each better solution (distance on the integer model, so approximate for ``exact``).
    """
    if objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {', '.join(OBJECTIVES)}")
    convention = convention or default_convention(instance, objective)
    scale = ORTOOLS_SCALE[convention]
    deadline = time.monotonic() + time_limit_s
    hierarchical = objective == "vehicles-then-distance"
    base = _problem(instance, convention, instance.vehicle_count)
    # Dearer than any solution's distance, so one vehicle less always wins.
    fixed_cost = sum(max(row) for row in base.travel_cost) + 1 if hierarchical else 0
    ruin_and_recreate = SearchSettings(
        iterated_local_search=True,
        metaheuristic="GREEDY_DESCENT",
        initial_temperature=INITIAL_TEMPERATURE * scale,
        final_temperature=FINAL_TEMPERATURE * scale,
    )
    guided = SearchSettings(iterated_local_search=False, metaheuristic="GUIDED_LOCAL_SEARCH")
    best: list[tuple[tuple[int, int], list[list[int]]]] = []

    def rank(found: ModelSolution) -> tuple[int, int] | None:
        if found.unserved:
            return None
        length = sum(
            base.travel_cost[a][b] for route in found.routes for a, b in itertools.pairwise([0, *route, 0])
        )
        vehicles = sum(1 for route in found.routes if route)
        return (vehicles if hierarchical else 0, length)

    def consider(found: ModelSolution | None) -> None:
        key = rank(found) if found is not None else None
        if key is None or (best and key >= best[0][0]):
            return
        best[:] = [(key, [list(route) for route in found.routes if route])]
        if on_improvement is not None:
            on_improvement(len(best[0][1]), key[1] / scale)

    longest_arc = max(max(row) for row in base.travel_cost)

    def run(fleet: int, share: float, settings: SearchSettings, *, penalty: int | None = None) -> None:
        seconds = min(share * time_limit_s, deadline - time.monotonic())
        if seconds <= 0.05:
            return
        problem = _problem(instance, convention, fleet, fixed_cost)
        problem.unserved_penalty = penalty
        consider(solve_model(problem, time_limit_s=seconds, settings=settings, on_improvement=consider))

    if not hierarchical:
        # Three searches that stall in different places, the best wins. In the first, a stop may
        # stay out for more than any insertion costs: with capacity tight (the A set fills 90-99%
        # of the fleet), the way to a better solution often passes through one that is not full.
        run(instance.vehicle_count, 0.5, ruin_and_recreate, penalty=2 * longest_arc + 1)
        run(instance.vehicle_count, 0.25, ruin_and_recreate)
        run(instance.vehicle_count, 1.0, guided, penalty=None if best else 2 * longest_arc + 1)
    else:
        must_serve = fixed_cost * (instance.vehicle_count + 1) + sum(max(row) for row in base.travel_cost)
        run(instance.vehicle_count, 0.4, ruin_and_recreate)
        if not best:  # no first solution with every stop: start from a partial one
            run(instance.vehicle_count, 0.4, ruin_and_recreate, penalty=must_serve)
        if best and best[0][0][0] > 1:
            run(best[0][0][0] - 1, 0.3, ruin_and_recreate, penalty=must_serve)
        if best:
            run(best[0][0][0], 1.0, ruin_and_recreate, penalty=must_serve)
    if not best:
        return None
    ids = [site.id for site in instance.sites]
    routes = [[ids[node] for node in route] for route in best[0][1]]
    return Solution(
        vehicles=len(routes),
        distance=route_distance(instance, routes, convention),
        routes=routes,
        convention=convention,
        objective=objective,
    )
