"""Benchmark instances for the VRP solver (routing.vrp): what `manage.py solve_vrp` and
bench/bench_vrp.py read, solve and check. No Django.

Solomon VRPTW and CVRPLIB/TSPLIB CVRP files (`parse_solomon`, `parse_cvrplib`, `load_instance`),
Euclidean distances under a named convention (`distance_matrix`), best-known solution tables
(`read_bks`, `find_bks_table`), the two objectives of the literature (`solve`, on
`routing.vrp.solve_model`) and `check`, the validator the tests and the benchmark trust instead
of the solver.

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
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from routing.vrp import ModelSolution, RoutingProblem, SearchSettings, Vehicle, solve_model

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


# --------------------------------------------------------------------------- solving an instance


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
