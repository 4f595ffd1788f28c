"""Vehicle routing with time windows on OR-Tools: the solver behind `manage.py solve_vrp`.

Two layers, no Django:

* `RoutingProblem` + `solve_model` — the integer model the fleet optimiser builds from loads:
  a depot, stops with demand, service time and time window, pickup-and-delivery pairs (same
  vehicle, pickup first), vehicles each with a capacity, a maximum driving time and a fixed cost,
  optionally stops that may stay unserved at a penalty.
* `Instance` + `solve` — the benchmark layer: Solomon VRPTW and CVRPLIB/TSPLIB CVRP files
  (`parse_solomon`, `parse_cvrplib`, `load_instance`), Euclidean distances under a named
  convention (`distance_matrix`), the two objectives of the literature and `check`, the
  validator the tests and the benchmark trust instead of the solver.

Distance conventions (`Convention`), because a best-known solution is only comparable on its own:

* ``exact``  — double-precision Euclidean; the SINTEF hierarchical Solomon tables.
* ``trunc1`` — each arc truncated to one decimal, travel time equal to that; the DIMACS/CVRPLIB
  distance-only Solomon tables.
* ``nint``   — TSPLIB ``EUC_2D``: each arc rounded to the nearest integer; CVRPLIB sets A, B, ...

OR-Tools works on integers: arc lengths are scaled (x1000 for ``exact``, x10 for ``trunc1``,
x1 for ``nint``). For ``exact`` the travel times are rounded up, so any schedule the solver
accepts is feasible in real arithmetic; the reported distance is recomputed in floating point.
"""

from __future__ import annotations

import csv
import itertools
import math
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from ortools.constraint_solver import pywrapcp, routing_enums_pb2

Convention = Literal["exact", "trunc1", "nint"]
Objective = Literal["vehicles-then-distance", "distance"]
OBJECTIVES: tuple[Objective, ...] = ("vehicles-then-distance", "distance")
CONVENTIONS: tuple[Convention, ...] = ("exact", "trunc1", "nint")
SCALE: dict[Convention, int] = {"exact": 1000, "trunc1": 10, "nint": 1}
# Slack on float comparisons in `check` (exact distances are irrational).
TOLERANCE = 1e-6


class InstanceFormatError(ValueError):
    """The instance text is not a Solomon or CVRPLIB file we can read; the message says where."""


# --------------------------------------------------------------------------- instances


@dataclass(frozen=True)
class Site:
    """The depot or a customer, with the id it has in the file."""

    id: int
    x: float
    y: float
    demand: int = 0
    ready: float = 0.0
    due: float = math.inf
    service: float = 0.0


@dataclass(frozen=True)
class Instance:
    name: str
    depot: Site
    customers: tuple[Site, ...]
    vehicle_capacity: int
    vehicle_count: int
    has_time_windows: bool
    # The convention of the file format: TSPLIB files say EUC_2D (rounded), Solomon's say nothing.
    native_convention: Convention = "exact"

    @property
    def sites(self) -> tuple[Site, ...]:
        """Depot first, then the customers in file order: the node numbering of the model."""
        return (self.depot, *self.customers)


@dataclass(frozen=True)
class Solution:
    vehicles: int
    distance: float
    routes: list[list[int]]  # customer ids as in the file, one list per vehicle used
    convention: Convention
    objective: Objective


@dataclass(frozen=True)
class Violation:
    kind: Literal["missing", "duplicate", "unknown", "capacity", "time_window", "depot_return", "fleet"]
    detail: str


def _numbers(line: str) -> list[float] | None:
    try:
        return [float(token) for token in line.split()]
    except ValueError:
        return None


def _integral(value: float, what: str) -> int:
    if value != int(value):
        raise InstanceFormatError(f"{what} must be an integer, got {value}")
    return int(value)


def parse_solomon(text: str) -> Instance:
    """Solomon's VRPTW text format: name, VEHICLE (number, capacity), CUSTOMER rows of 7 numbers.

    The first customer row (CUST NO. 0) is the depot; its due date is the planning horizon.
    """
    lines = [line.strip() for line in text.splitlines()]
    lines = [line for line in lines if line]
    if not lines:
        raise InstanceFormatError("empty Solomon instance")
    upper = [line.upper() for line in lines]
    if "VEHICLE" not in upper or "CUSTOMER" not in upper:
        raise InstanceFormatError("Solomon instance needs a VEHICLE and a CUSTOMER section")
    vehicle_row = next(
        (_numbers(line) for line in lines[upper.index("VEHICLE") + 1 :] if _numbers(line)), None
    )
    if not vehicle_row or len(vehicle_row) != 2:
        raise InstanceFormatError("VEHICLE section: expected one row 'NUMBER CAPACITY'")
    count, capacity = (_integral(v, "VEHICLE section value") for v in vehicle_row)
    sites = []
    for number, line in enumerate(lines[upper.index("CUSTOMER") + 1 :], start=1):
        row = _numbers(line)
        if row is None:
            if sites or not line[0].isalpha():
                raise InstanceFormatError(f"CUSTOMER section, row {number}: not numeric: {line!r}")
            continue  # the column header
        if len(row) != 7:
            raise InstanceFormatError(f"CUSTOMER section, row {number}: expected 7 numbers, got {len(row)}")
        customer_id, x, y, demand, ready, due, service = row
        if due < ready:
            raise InstanceFormatError(f"customer {int(customer_id)}: due date {due} before ready {ready}")
        sites.append(
            Site(
                id=_integral(customer_id, "CUST NO."),
                x=x,
                y=y,
                demand=_integral(demand, f"demand of customer {int(customer_id)}"),
                ready=ready,
                due=due,
                service=service,
            )
        )
    if len(sites) < 2:
        raise InstanceFormatError("CUSTOMER section needs the depot row and at least one customer")
    ids = [site.id for site in sites]
    if len(set(ids)) != len(ids):
        raise InstanceFormatError("CUSTOMER section repeats a customer number")
    return Instance(
        name=lines[0],
        depot=sites[0],
        customers=tuple(sites[1:]),
        vehicle_capacity=capacity,
        vehicle_count=count,
        has_time_windows=True,
        native_convention="exact",
    )


_CVRPLIB_SECTIONS = ("NODE_COORD_SECTION", "DEMAND_SECTION", "DEPOT_SECTION")


def parse_cvrplib(text: str) -> Instance:
    """CVRPLIB/TSPLIB CVRP: `KEY : value` header, NODE_COORD, DEMAND and DEPOT sections (EUC_2D only).

    The fleet size is the VEHICLES field, else the `-kN` of the name or the comment's "No of
    trucks: N" (Augerat's sets), else one vehicle per customer.
    """
    header: dict[str, str] = {}
    sections: dict[str, list[list[float]]] = {}
    current: str | None = None
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line == "EOF":
            continue
        keyword = line.split(":")[0].strip().upper()
        if keyword in _CVRPLIB_SECTIONS:
            current = keyword
            sections[current] = []
        elif ":" in line and not line[0].isdigit() and not line.startswith("-"):
            current = None
            header[keyword] = line.split(":", 1)[1].strip()
        elif current is not None:
            row = _numbers(line)
            if row is None:
                raise InstanceFormatError(f"line {number}: {current} row is not numeric: {line!r}")
            sections[current].append(row)
        else:
            raise InstanceFormatError(f"line {number}: unexpected text outside a section: {line!r}")
    missing = [key for key in ("DIMENSION", "CAPACITY") if key not in header]
    missing += [section for section in _CVRPLIB_SECTIONS[:2] if section not in sections]
    if missing:
        raise InstanceFormatError(f"CVRPLIB instance lacks {', '.join(missing)}")
    if header.get("TYPE", "CVRP").upper() != "CVRP":
        raise InstanceFormatError(f"TYPE {header['TYPE']} is not supported (CVRP only)")
    edge_type = header.get("EDGE_WEIGHT_TYPE", "EUC_2D").upper()
    if edge_type != "EUC_2D":
        raise InstanceFormatError(f"EDGE_WEIGHT_TYPE {edge_type} is not supported (EUC_2D only)")
    try:
        dimension, capacity = int(header["DIMENSION"]), int(header["CAPACITY"])
    except ValueError:
        raise InstanceFormatError("DIMENSION and CAPACITY must be integers") from None
    coords = {int(row[0]): row[1:] for row in sections["NODE_COORD_SECTION"] if len(row) == 3}
    demands = {int(row[0]): row[1] for row in sections["DEMAND_SECTION"] if len(row) == 2}
    if len(coords) != len(sections["NODE_COORD_SECTION"]) or len(demands) != len(sections["DEMAND_SECTION"]):
        raise InstanceFormatError("NODE_COORD_SECTION rows are 'id x y', DEMAND_SECTION rows 'id demand'")
    if len(coords) != dimension or set(coords) != set(demands):
        raise InstanceFormatError(
            f"DIMENSION is {dimension} but the file has {len(coords)} coordinates, {len(demands)} demands"
        )
    depot_rows = [int(row[0]) for row in sections.get("DEPOT_SECTION", []) if row and row[0] != -1]
    depot_id = depot_rows[0] if depot_rows else min(coords)
    if depot_id not in coords:
        raise InstanceFormatError(f"DEPOT_SECTION names node {depot_id}, which has no coordinates")
    sites = {
        node: Site(id=node, x=coords[node][0], y=coords[node][1], demand=_integral(demands[node], "demand"))
        for node in sorted(coords)
    }
    name = header.get("NAME", "")
    count_match = (
        re.search(r"^\s*(\d+)", header.get("VEHICLES", ""))
        or re.search(r"-k(\d+)\b", name)
        or re.search(r"No of trucks:\s*(\d+)", header.get("COMMENT", ""))
    )
    customers = tuple(site for node, site in sites.items() if node != depot_id)
    return Instance(
        name=name,
        depot=sites[depot_id],
        customers=customers,
        vehicle_capacity=capacity,
        vehicle_count=int(count_match.group(1)) if count_match else len(customers),
        has_time_windows=False,
        native_convention="nint",
    )


def load_instance(path: str | Path) -> Instance:
    """Read a Solomon or CVRPLIB file, telling them apart by content, not by name."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise InstanceFormatError(f"cannot read {path}: {error}") from None
    if "NODE_COORD_SECTION" in text.upper():
        return parse_cvrplib(text)
    if re.search(r"^\s*CUSTOMER\s*$", text, re.IGNORECASE | re.MULTILINE):
        return parse_solomon(text)
    raise InstanceFormatError(f"{path}: neither a Solomon (CUSTOMER section) nor a CVRPLIB file")


def default_convention(instance: Instance, objective: Objective) -> Convention:
    """The convention the literature's best-known solutions use for this kind of instance.

    TSPLIB files fix their own (EUC_2D: rounded). For Solomon's, the hierarchical tables (SINTEF)
    use exact distances and the distance-only ones (DIMACS, CVRPLIB) truncate to one decimal.
    """
    if instance.native_convention != "exact":
        return instance.native_convention
    return "exact" if objective == "vehicles-then-distance" else "trunc1"


def arc_length(a: Site, b: Site, convention: Convention) -> float:
    dx, dy = a.x - b.x, a.y - b.y
    if convention == "exact":
        return math.hypot(dx, dy)
    if convention == "nint":
        return float(int(math.hypot(dx, dy) + 0.5))
    if dx == int(dx) and dy == int(dy):
        # Integer coordinates: floor(10 d) computed exactly, no float rounding at the boundary.
        return math.isqrt(int(100 * (dx * dx + dy * dy))) / 10
    return math.floor(10 * math.hypot(dx, dy)) / 10


def distance_matrix(instance: Instance, convention: Convention) -> list[list[float]]:
    """Arc lengths between `instance.sites` (depot = 0) under `convention`; also the travel times."""
    sites = instance.sites
    return [[arc_length(a, b, convention) for b in sites] for a in sites]


@dataclass(frozen=True)
class BestKnown:
    vehicles: int
    distance: float
    convention: Convention
    objective: str  # as the table describes it, e.g. "hierarchical SINTEF (...)"


def read_bks(path: str | Path) -> dict[tuple[str, Convention], BestKnown]:
    """Best-known solutions from a CSV with instance, objective, vehicles, distance columns.

    The key is (instance name, distance convention), read from the objective's wording: the
    same Solomon instance has a hierarchical best (exact distances) and a distance-only one
    (truncated), and a gap means something only against the one on the solution's convention.
    """
    with Path(path).open(newline="", encoding="utf-8") as table:
        reader = csv.DictReader(table)
        rows = list(reader)
    absent = {"instance", "objective", "vehicles", "distance"} - set(reader.fieldnames or ())
    if absent:
        raise ValueError(f"{path} lacks the column(s) {', '.join(sorted(absent))}")
    best: dict[tuple[str, Convention], BestKnown] = {}
    for row in rows:
        wording = row["objective"]
        convention: Convention = (
            "trunc1"
            if "truncated" in wording
            else "nint"
            if "nint" in wording or "EUC_2D" in wording
            else "exact"
        )
        best[(row["instance"], convention)] = BestKnown(
            vehicles=int(row["vehicles"]),
            distance=float(row["distance"]),
            convention=convention,
            objective=wording,
        )
    return best


def find_bks_table(instance_path: str | Path, name: str = "bks_table.csv") -> Path | None:
    """The best-known table of a benchmark folder: beside the instance file or one folder up."""
    folder = Path(instance_path).resolve().parent
    for candidate in (folder / name, folder.parent / name):
        if candidate.is_file():
            return candidate
    return None


# --------------------------------------------------------------------------- the integer model


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

    By default, iterated local search: ruin (SISR string removals) and recreate (cheapest
    insertion), each result improved by local search with `metaheuristic`, accepted by simulated
    annealing. Temperatures are in cost units; None lets OR-Tools derive them from the first
    solution. With `iterated_local_search=False`, `metaheuristic` (e.g. GUIDED_LOCAL_SEARCH) runs
    from the `first_solution` heuristic, or from `initial_routes`, until the time limit.
    """

    iterated_local_search: bool = True
    metaheuristic: str = "GREEDY_DESCENT"
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
        pickup_at = routing.ActiveVar(pickup_index) * sequence.CumulVar(pickup_index)
        solver.Add(pickup_at <= sequence.CumulVar(delivery_index))
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
    initial_routes: Sequence[Sequence[int]] | None = None,
    on_improvement: Callable[[ModelSolution], None] | None = None,
) -> ModelSolution | None:
    """Minimise fixed costs + arc costs (+ penalties for unserved stops); None if nothing feasible.

    Runs until `time_limit_s`. `initial_routes` (stop nodes per vehicle) replaces the first
    solution and is improved by `settings.metaheuristic` alone (OR-Tools' iterated local search
    only starts from scratch); the routes must be feasible, except that with `unserved_penalty`
    they may leave stops out. `on_improvement` receives each better solution as it is found.
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
    if initial_routes is not None:
        routing.CloseModelWithParameters(parameters)
        start = routing.ReadAssignmentFromRoutes([list(route) for route in initial_routes], True)
        if start is None:
            raise ValueError("initial_routes are not a feasible solution of the problem")
        assignment = routing.SolveFromAssignmentWithParameters(start, parameters)
    elif settings.iterated_local_search:
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


# --------------------------------------------------------------------------- benchmark instances


def _problem(instance: Instance, convention: Convention, fleet: int, fixed_cost: int = 0) -> RoutingProblem:
    lengths = distance_matrix(instance, convention)
    scale = SCALE[convention]
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


def route_distance(instance: Instance, routes: Sequence[Sequence[int]], convention: Convention) -> float:
    """Total length of routes given as customer ids, in floating point under `convention`."""
    by_id = {site.id: site for site in instance.sites}
    total = 0.0
    for route in routes:
        path = [instance.depot, *(by_id[customer] for customer in route), instance.depot]
        total += sum(arc_length(a, b, convention) for a, b in itertools.pairwise(path))
    return total


# Simulated-annealing temperatures of the ruin-and-recreate search, in distance units: a worse
# solution by 10 units is accepted with probability 1/e at the start, by 0.1 at the end.
INITIAL_TEMPERATURE, FINAL_TEMPERATURE = 10.0, 0.1


def solve(
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
    scale = SCALE[convention]
    deadline = time.monotonic() + time_limit_s
    hierarchical = objective == "vehicles-then-distance"
    base = _problem(instance, convention, instance.vehicle_count)
    # Dearer than any solution's distance, so one vehicle less always wins.
    fixed_cost = sum(max(row) for row in base.travel_cost) + 1 if hierarchical else 0
    ruin_and_recreate = SearchSettings(
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


def check(instance: Instance, solution: Solution) -> list[Violation]:
    """Everything wrong with `solution` for `instance`, under the solution's convention; [] if valid.

    Each customer exactly once, no route over capacity, no more routes than the fleet, and with
    time windows: service starts within each window (waiting allowed, travel time = distance)
    and every vehicle is back at the depot by its due date.
    """
    by_id = {site.id: site for site in instance.customers}
    violations = []
    if len(solution.routes) > instance.vehicle_count:
        violations.append(
            Violation("fleet", f"{len(solution.routes)} routes, fleet of {instance.vehicle_count}")
        )
    seen: set[int] = set()
    for number, route in enumerate(solution.routes, start=1):
        for customer in route:
            if customer not in by_id:
                violations.append(Violation("unknown", f"route {number}: {customer} is not a customer"))
            elif customer in seen:
                violations.append(
                    Violation("duplicate", f"route {number}: customer {customer} visited again")
                )
            seen.add(customer)
        stops = [by_id[customer] for customer in route if customer in by_id]
        load = sum(stop.demand for stop in stops)
        if load > instance.vehicle_capacity:
            violations.append(
                Violation("capacity", f"route {number}: load {load} > capacity {instance.vehicle_capacity}")
            )
        if not instance.has_time_windows:
            continue
        clock, here = instance.depot.ready, instance.depot
        for stop in stops:
            clock = max(clock + here.service + arc_length(here, stop, solution.convention), stop.ready)
            if clock > stop.due + TOLERANCE:
                violations.append(
                    Violation(
                        "time_window",
                        f"route {number}: customer {stop.id} served at {clock:.2f} > due {stop.due}",
                    )
                )
            here = stop
        back = clock + here.service + arc_length(here, instance.depot, solution.convention)
        if back > instance.depot.due + TOLERANCE:
            violations.append(
                Violation(
                    "depot_return", f"route {number}: back at {back:.2f} > depot due {instance.depot.due}"
                )
            )
    missing = sorted(set(by_id) - seen)
    if missing:
        violations.append(Violation("missing", f"customers never visited: {missing}"))
    return violations
