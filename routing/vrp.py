"""Vehicle routing with time windows on OR-Tools: the integer model and solver of the fleet plans'
`ortools` engine (routing.fleet_engines; VROOM is the default). No Django.

`RoutingProblem` + `solve_model`: nodes with demand, service time and time window,
pickup-and-delivery pairs (same vehicle, pickup first), vehicles each with a start and an end
node, a capacity per dimension, a maximum driving time and a fixed cost, optionally stops that
may stay unserved at a penalty.

Solomon and CVRPLIB instances (`manage.py solve_vrp`) are solved with PyVRP in routing.instances,
not here. The iterated-local-search settings below served that benchmark search; only
bench/ortools_vrp.py still uses them, to compare OR-Tools with PyVRP (bench/bench_vrp.py).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from ortools.constraint_solver import pywrapcp, routing_enums_pb2


@dataclass(frozen=True)
class Vehicle:
    capacities: Sequence[int] = ()  # one per `RoutingProblem.quantities`
    max_driving: int | None = None  # total travel time on the route, service excluded
    fixed_cost: int = 0  # paid once if the vehicle leaves its start
    start: int = 0  # the node the route starts at
    end: int = 0  # the node it ends at; arcs of cost and time 0 into it make the route open


@dataclass
class RoutingProblem:
    """Integer routing model. Each vehicle starts at its `start` node and ends at its `end` node
    (by default node 0, the depot); every other node is a stop.

    `travel_cost[i][j]` is the objective per arc, `travel_time[i][j]` the driving time (also what
    `max_driving` limits). A stop's service time is spent at the stop before leaving it. Time
    windows bound the start of service (waiting is free); a vehicle's start and end nodes' windows
    bound its route. `quantities` are the capacity dimensions (weight, volume, ...), each the
    amount loaded at every node: a pickup's positive, its delivery's negative; every vehicle has a
    capacity per dimension. `pickup_deliveries` pairs are served by the same vehicle, pickup
    first. `allowed_vehicles` restricts a stop to some vehicles. With `unserved_penalty` a stop
    (or a whole pair) may be left out at that cost; otherwise every stop is served or there is no
    solution.
    """

    travel_cost: Sequence[Sequence[int]]
    travel_time: Sequence[Sequence[int]]
    vehicles: Sequence[Vehicle]
    quantities: Sequence[Sequence[int]] = ()
    service_times: Sequence[int] | None = None
    time_windows: Sequence[tuple[int, int]] | None = None
    pickup_deliveries: Sequence[tuple[int, int]] = ()
    allowed_vehicles: Mapping[int, Sequence[int]] | None = None
    # Clock time from the start of service at i to the arrival at j, when it is not service +
    # travel time (rests on the way, say); what the time windows see.
    elapsed_time: Sequence[Sequence[int]] | None = None
    unserved_penalty: int | None = None

    @property
    def size(self) -> int:
        return len(self.travel_cost)

    @property
    def stops(self) -> list[int]:
        """Every node that is no vehicle's start or end."""
        ends = {vehicle.start for vehicle in self.vehicles} | {vehicle.end for vehicle in self.vehicles}
        return [node for node in range(self.size) if node not in ends]


@dataclass(frozen=True)
class ModelSolution:
    routes: list[list[int]]  # per vehicle, in `problem.vehicles` order; stop nodes, no start or end
    cost: int
    unserved: list[int] = field(default_factory=list)
    # With time windows, the final solution's clock per vehicle: [start, each stop's service
    # start, end]: finishing as early as the windows allow, leaving as late as that allows.
    schedules: list[list[int]] = field(default_factory=list)


@dataclass(frozen=True)
class SearchSettings:
    """How `solve_model` searches.

    By default as the fleet plans' `ortools` engine does: `metaheuristic` (guided local search)
    from the `first_solution` heuristic until the time limit. With `iterated_local_search=True`
    (bench/ortools_vrp.py alone):
    ruin (SISR string removals) and recreate (cheapest insertion), each result improved by local
    search with `metaheuristic`, accepted by simulated annealing; temperatures are in cost units,
    None lets OR-Tools derive them from the first solution.
    """

    iterated_local_search: bool = False
    metaheuristic: str = "GUIDED_LOCAL_SEARCH"
    first_solution: str = "PARALLEL_CHEAPEST_INSERTION"
    ruin_sequence: int = 10  # longest string removed from one route
    ruin_visits: int = 10  # stops removed per ruin, on average
    initial_temperature: float | None = None
    final_temperature: float | None = None


def _build(problem: RoutingProblem) -> tuple[pywrapcp.RoutingIndexManager, pywrapcp.RoutingModel]:
    size, fleet = problem.size, len(problem.vehicles)
    starts = [spec.start for spec in problem.vehicles]
    ends = [spec.end for spec in problem.vehicles]
    if set(starts) | set(ends) == {0}:
        manager = pywrapcp.RoutingIndexManager(size, fleet, 0)
    else:
        manager = pywrapcp.RoutingIndexManager(size, fleet, starts, ends)
    routing = pywrapcp.RoutingModel(manager)
    stops = problem.stops
    cost = routing.RegisterTransitMatrix([list(row) for row in problem.travel_cost])
    routing.SetArcCostEvaluatorOfAllVehicles(cost)
    for vehicle, spec in enumerate(problem.vehicles):
        if spec.fixed_cost:
            routing.SetFixedCostOfVehicle(spec.fixed_cost, vehicle)

    for dimension, amounts in enumerate(problem.quantities):
        demand = routing.RegisterUnaryTransitVector(list(amounts))
        capacities = [spec.capacities[dimension] for spec in problem.vehicles]
        routing.AddDimensionWithVehicleCapacity(demand, 0, capacities, True, f"quantity-{dimension}")

    service = problem.service_times or [0] * size
    if problem.time_windows is not None:
        horizon = max(end for _, end in problem.time_windows)
        duration = problem.elapsed_time or [
            [service[i] + problem.travel_time[i][j] for j in range(size)] for i in range(size)
        ]
        routing.AddDimension(
            routing.RegisterTransitMatrix([list(row) for row in duration]), horizon, horizon, False, "time"
        )
        clock = routing.GetDimensionOrDie("time")
        for node in stops:
            start, end = problem.time_windows[node]
            clock.CumulVar(manager.NodeToIndex(node)).SetRange(start, end)
        for vehicle, spec in enumerate(problem.vehicles):
            begin, finish = routing.Start(vehicle), routing.End(vehicle)
            clock.CumulVar(begin).SetRange(*problem.time_windows[spec.start])
            clock.CumulVar(finish).SetRange(*problem.time_windows[spec.end])
            # A schedule, not just a feasible one: finish as early as the windows allow, and
            # leave as late as that finish allows (finalizers apply in the order added).
            routing.AddVariableMinimizedByFinalizer(clock.CumulVar(finish))
            routing.AddVariableMaximizedByFinalizer(clock.CumulVar(begin))

    limits = [spec.max_driving for spec in problem.vehicles]
    if any(limit is not None for limit in limits):
        unlimited = sum(max(row) for row in problem.travel_time)
        driving = routing.RegisterTransitMatrix([list(row) for row in problem.travel_time])
        routing.AddDimensionWithVehicleCapacity(
            driving, 0, [unlimited if limit is None else limit for limit in limits], True, "driving"
        )

    for node, allowed in (problem.allowed_vehicles or {}).items():
        # -1 is "unserved"; only a stop with a penalty can take it. (SetAllowedVehiclesForIndex
        # does the same but its Python binding refuses lists, and reads an empty one as "any".)
        optional = [-1] if problem.unserved_penalty is not None else []
        routing.VehicleVar(manager.NodeToIndex(node)).SetValues([*optional, *allowed])

    paired: set[int] = set()
    if problem.pickup_deliveries:
        if problem.time_windows is None:
            # Without a clock, precedence rides on a dimension counting stops.
            routing.AddConstantDimension(1, size, True, "order")
        sequence = routing.GetDimensionOrDie("time" if problem.time_windows is not None else "order")
    solver = routing.solver()
    for pickup, delivery in problem.pickup_deliveries:
        pickup_index, delivery_index = manager.NodeToIndex(pickup), manager.NodeToIndex(delivery)
        routing.AddPickupAndDelivery(pickup_index, delivery_index)
        solver.Add(routing.VehicleVar(pickup_index) == routing.VehicleVar(delivery_index))
        # Only a served pair is ordered: a dropped one's windows may contradict each other.
        pickup_datetime = routing.ActiveVar(pickup_index) * sequence.CumulVar(pickup_index)
        solver.Add(pickup_datetime <= sequence.CumulVar(delivery_index))
        if problem.unserved_penalty is not None:
            routing.AddDisjunction(
                [pickup_index, delivery_index], problem.unserved_penalty, 2, routing.PENALIZE_ONCE
            )
            solver.Add(routing.ActiveVar(pickup_index) == routing.ActiveVar(delivery_index))
        paired |= {pickup, delivery}
    if problem.unserved_penalty is not None:
        for node in stops:
            if node not in paired:
                routing.AddDisjunction([manager.NodeToIndex(node)], problem.unserved_penalty)
    return manager, routing


def _parameters(settings: SearchSettings, time_limit_s: float) -> pywrapcp.RoutingSearchParameters:
    parameters = pywrapcp.DefaultRoutingSearchParameters()
    strategies, metaheuristics = (
        routing_enums_pb2.FirstSolutionStrategy,
        routing_enums_pb2.LocalSearchMetaheuristic,
    )
    parameters.first_solution_strategy = getattr(strategies, settings.first_solution)
    parameters.local_search_metaheuristic = getattr(metaheuristics, settings.metaheuristic)
    parameters.time_limit.FromMilliseconds(max(1, int(time_limit_s * 1000)))
    if settings.iterated_local_search:
        parameters.use_iterated_local_search = True
        search = parameters.iterated_local_search_parameters
        ruin = search.ruin_recreate_parameters.ruin_strategies.add().sisr
        ruin.max_removed_sequence_size = settings.ruin_sequence
        ruin.avg_num_removed_visits = settings.ruin_visits
        ruin.bypass_factor = 0.01
        search.ruin_recreate_parameters.recreate_strategy.heuristic = strategies.LOCAL_CHEAPEST_INSERTION
        search.improve_perturbed_solution = True
        annealing = search.reference_solution_acceptance_strategy.simulated_annealing
        if settings.initial_temperature is None:
            annealing.automatic_temperatures = True
        else:
            annealing.initial_temperature = settings.initial_temperature
            annealing.final_temperature = settings.final_temperature or settings.initial_temperature / 100
    return parameters


def _read_routes(
    manager: pywrapcp.RoutingIndexManager,
    routing: pywrapcp.RoutingModel,
    assignment: pywrapcp.Assignment | None,
) -> list[list[int]]:
    """Stop nodes per vehicle, from `assignment` or (None) from the variables of the current search."""

    def next_of(index: int) -> int:
        variable = routing.NextVar(index)
        return assignment.Value(variable) if assignment is not None else variable.Value()

    routes = []
    for vehicle in range(routing.vehicles()):
        index, route = next_of(routing.Start(vehicle)), []
        while not routing.IsEnd(index):
            route.append(manager.IndexToNode(index))
            index = next_of(index)
        routes.append(route)
    return routes


def solve_model(
    problem: RoutingProblem,
    *,
    time_limit_s: float,
    settings: SearchSettings | None = None,
    on_improvement: Callable[[ModelSolution], None] | None = None,
) -> ModelSolution | None:
    """Minimise fixed costs + arc costs (+ penalties for unserved stops); None if nothing feasible.

    Runs until `time_limit_s`. `on_improvement` receives each better solution as it is found.
    """
    settings = settings or SearchSettings()
    manager, routing = _build(problem)
    if on_improvement is not None:
        best = [math.inf]

        def report() -> None:
            cost = routing.CostVar().Value()
            if cost < best[0]:
                best[0] = cost
                on_improvement(_solution(problem, _read_routes(manager, routing, None), cost))

        routing.AddAtSolutionCallback(report)
    parameters = _parameters(settings, time_limit_s)
    if settings.iterated_local_search:
        assignment = routing.SolveWithIteratedLocalSearch(parameters)
    else:
        assignment = routing.SolveWithParameters(parameters)
    if assignment is None:
        return None
    found = _solution(problem, _read_routes(manager, routing, assignment), assignment.ObjectiveValue())
    if problem.time_windows is not None:
        clock = routing.GetDimensionOrDie("time")
        for vehicle, route in enumerate(found.routes):
            indices = [routing.Start(vehicle), *map(manager.NodeToIndex, route), routing.End(vehicle)]
            found.schedules.append([assignment.Min(clock.CumulVar(index)) for index in indices])
    return found


def _solution(problem: RoutingProblem, routes: list[list[int]], cost: int) -> ModelSolution:
    served = {node for route in routes for node in route}
    return ModelSolution(
        routes=routes, cost=cost, unserved=[node for node in problem.stops if node not in served]
    )
