"""Solomon VRPTW and CVRPLIB CVRP instances and their solver: what `manage.py solve_vrp` and
bench/bench_vrp.py read, solve and check. No Django.

Solomon and CVRPLIB/TSPLIB CVRP files (`parse_solomon`, `parse_cvrplib`, `load_instance`),
Euclidean distances under a named convention (`distance_matrix`), best-known solution tables
(`read_bks`, `find_bks_table`), the two objectives of the literature solved with PyVRP (`solve`: a
portfolio of iterated local searches in parallel processes, https://pyvrp.org) and `check`, the
validator the tests, the command and the benchmark trust instead of the solver.

Distance conventions (`Convention`), because a best-known solution is only comparable on its own:

* ``exact``  — double-precision Euclidean; the SINTEF hierarchical Solomon tables.
* ``trunc1`` — each arc truncated to one decimal, travel time equal to that; the DIMACS/CVRPLIB
  distance-only Solomon tables.
* ``nint``   — TSPLIB ``EUC_2D``: each arc rounded to the nearest integer; CVRPLIB sets A, B, ...

PyVRP works on integers: arc lengths and the clock are scaled (x10,000 for ``exact``, x10 for
``trunc1``, x1 for ``nint``). For ``exact`` the travel times are rounded up, so any schedule the
solver accepts is feasible in real arithmetic; the reported distance is recomputed in floating point.
"""

from __future__ import annotations

import csv
import itertools
import math
import multiprocessing
import os
import re
import time
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pyvrp
from pyvrp.exceptions import PenaltyBoundWarning
from pyvrp.stop import MaxIterations, MaxRuntime, MultipleCriteria, NoImprovement

Convention = Literal["exact", "trunc1", "nint"]
Objective = Literal["vehicles-then-distance", "distance"]
OBJECTIVES: tuple[Objective, ...] = ("vehicles-then-distance", "distance")
CONVENTIONS: tuple[Convention, ...] = ("exact", "trunc1", "nint")
SCALE: dict[Convention, int] = {"exact": 10_000, "trunc1": 10, "nint": 1}
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
    """The line's numbers; None if any token is not a finite number ("nan" and "inf" are not)."""
    try:
        numbers = [float(token) for token in line.split()]
    except ValueError:
        return None
    return numbers if all(map(math.isfinite, numbers)) else None


def _not_negative(value: int | float, what: str) -> None:
    if value < 0:
        raise InstanceFormatError(f"{what} must not be negative, got {value:g}")


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
    _not_negative(count, "VEHICLE NUMBER")
    _not_negative(capacity, "VEHICLE CAPACITY")
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
        for value, what in ((demand, "demand"), (ready, "ready time"), (service, "service time")):
            _not_negative(value, f"{what} of customer {int(customer_id)}")
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
    _not_negative(capacity, "CAPACITY")
    coords = {int(row[0]): row[1:] for row in sections["NODE_COORD_SECTION"] if len(row) == 3}
    demands = {int(row[0]): row[1] for row in sections["DEMAND_SECTION"] if len(row) == 2}
    if len(coords) != len(sections["NODE_COORD_SECTION"]) or len(demands) != len(sections["DEMAND_SECTION"]):
        raise InstanceFormatError("NODE_COORD_SECTION rows are 'id x y', DEMAND_SECTION rows 'id demand'")
    if len(coords) != dimension or set(coords) != set(demands):
        raise InstanceFormatError(
            f"DIMENSION is {dimension} but the file has {len(coords)} coordinates, {len(demands)} demands"
        )
    for node, demand in demands.items():
        _not_negative(demand, f"demand of node {node}")
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


class InfeasibleInstanceError(ValueError):
    """No solution can exist (a customer heavier than a vehicle, a window nobody can reach, ...);
    the message says which customer and why. Raised before any search."""


def infeasibility(instance: Instance, convention: Convention) -> str | None:
    """Why no solution to `instance` can exist under `convention`, or None if nothing obvious.

    Each customer must fit in a vehicle, the fleet must carry the total demand, and with time
    windows each customer must be reachable from the depot within its window and leave time to
    drive back by the depot's due date. Not a proof of feasibility: a solve may still find none.
    """
    if not instance.customers:
        return f"{instance.name}: no customers to visit"
    if instance.vehicle_count < 1:
        return f"{instance.name}: the fleet has no vehicle"
    capacity = instance.vehicle_capacity
    for customer in instance.customers:
        if customer.demand > capacity:
            return f"customer {customer.id} demands {customer.demand}, more than a vehicle holds ({capacity})"
    total = sum(customer.demand for customer in instance.customers)
    if total > capacity * instance.vehicle_count:
        return (
            f"the customers demand {total} in all, more than the fleet of "
            f"{instance.vehicle_count} x {capacity} holds"
        )
    if not instance.has_time_windows:
        return None
    depot = instance.depot
    for customer in instance.customers:
        arrival = max(depot.ready + arc_length(depot, customer, convention), customer.ready)
        if arrival > min(customer.due, depot.due) + TOLERANCE:
            return (
                f"customer {customer.id} cannot be reached in its window: earliest arrival "
                f"{arrival:.2f}, due {min(customer.due, depot.due):g}"
            )
        back = arrival + customer.service + arc_length(customer, depot, convention)
        if back > depot.due + TOLERANCE:
            return (
                f"a vehicle serving customer {customer.id} is back at the depot at {back:.2f} "
                f"at the earliest, after its due date {depot.due:g}"
            )
    return None


def problem_data(instance: Instance, convention: Convention, fleet: int | None = None) -> pyvrp.ProblemData:
    """The instance as PyVRP's integer model: lengths and clock scaled by SCALE[convention].

    Distances round to the nearest unit, travel times round up, so a schedule PyVRP finds
    feasible is feasible in real arithmetic too (`check` confirms it on the real lengths).
    """
    scale = SCALE[convention]
    lengths = np.array(distance_matrix(instance, convention)) * scale
    distances = np.rint(lengths).astype(np.int64)
    durations = np.ceil(lengths - 1e-9).astype(np.int64)
    depot = instance.depot
    windows: dict[str, int] = {}
    if instance.has_time_windows:
        windows = {"tw_early": round(depot.ready * scale), "tw_late": round(depot.due * scale)}
    clients = []
    for location, customer in enumerate(instance.customers, start=1):
        timing = {}
        if instance.has_time_windows:
            timing = {
                "tw_early": round(customer.ready * scale),
                "tw_late": round(min(customer.due, depot.due) * scale),
                "service_duration": round(customer.service * scale),
            }
        clients.append(pyvrp.Client(location=location, delivery=[customer.demand], **timing))
    return pyvrp.ProblemData(
        locations=[pyvrp.Location(x=site.x, y=site.y) for site in instance.sites],
        clients=clients,
        depots=[pyvrp.Depot(location=0, **windows)],
        vehicle_types=[
            pyvrp.VehicleType(
                num_available=fleet or instance.vehicle_count, capacity=[instance.vehicle_capacity], **windows
            )
        ],
        distance_matrices=[distances],
        duration_matrices=[durations],
    )


# A search looks for a smaller fleet (PyVRP's minimise_fleet: one vehicle less at a time, each
# until its first feasible solution) for FLEET_ITERATIONS iterations, at most FLEET_SHARE of the
# time, before minimising distance. Each smaller fleet a search finds at all it finds within a
# few hundred iterations (R101: 19 vehicles at ~125, RC101: 14 at ~100 or not in 25,000); the
# rest went into the fleet one smaller than possible, 30% of every hierarchical solve. Counted in
# iterations, the fleet found no longer depends on the machine's load.
FLEET_ITERATIONS = 2_000
FLEET_SHARE = 0.3
# Each search of the portfolio starts again from a new random solution (its next seed) whenever
# its best has not improved for this many iterations, or at once when its best costs exactly
# what the search's best so far costs: it has reached that local optimum again and would only
# stall there. Which local optimum a start settles in depends on the start, and the hard
# instances have one that most starts reach: on RC201-hier 17 starts in 20 settle at 1413.52
# (+0.47%), one in 20-40 reaches the best-known 1406.94; on A-n65-k9 53 in 64 settle at 1177 or
# 1178, 3 reach the optimum 1174, each within ~4,500 iterations. A single long run does worse:
# 7 runs in 12 of A-n65-k9 were still at 1177 after 60,000 iterations (about 25 s here). Only the
# best counts, not every cost an earlier start ended at: a start passes through worse optima on
# its way down (A-n65-k9, seed 30: 1185, 1184, 1181, then 1174).
RESTART_AFTER = 2_000
# A feasible solution's cost, as PyVRP hands it to stopping criteria.
_COST = pyvrp.CostEvaluator([0], 0, 0)


class _Restart:
    """PyVRP stopping criterion ending one start of a restarting search: when its best has not
    improved for `after` iterations, or at once when its best costs `settled`, the cost of the
    best solution earlier starts found (None before the first start ends)."""

    def __init__(self, after: int, settled: int | None) -> None:
        self._stalled = NoImprovement(after)
        self._settled = settled

    def __call__(self, best_cost: int) -> bool:
        return best_cost == self._settled or self._stalled(best_cost)


# Independent searches run side by side, one process each, at most one per core; the best kept.
PORTFOLIO = 2
# Below this limit a solve stays in one process: starting another (it imports PyVRP) takes ~1 s.
PORTFOLIO_MIN_S = 2.0

# What a search hands back: vehicles, distance on the integer model, routes as customer ids.
Found = tuple[int, int, list[list[int]]]


def _search(
    instance: Instance,
    convention: Convention,
    objective: Objective,
    deadline: float,
    seed: int,
    seed_step: int,
    restart_after: int = RESTART_AFTER,
    tight_fleet: bool = False,
    on_improvement: Callable[[int, float], None] | None = None,
) -> Found | None:
    """One member of the portfolio: PyVRP's iterated local search until `deadline` (time.monotonic,
    the same clock in every process), started again with seed + seed_step, seed + 2 seed_step, ...
    each time a start has not improved for `restart_after` iterations or reaches the best an
    earlier one found (RESTART_AFTER). Hierarchical: the smallest fleet first (FLEET_ITERATIONS).
    `tight_fleet` (distance only): the fleet is cut to one more vehicle than the smallest found,
    which steers the search to the few-vehicle plans the best-known uses on tight windows (RC101:
    15 vehicles at the best-known 1619.8; searches with the whole fleet of 25 settle on 15 or 16
    vehicles and +0.7%). Returns None when no start found a feasible solution."""
    scale = SCALE[convention]
    hierarchical = objective == "vehicles-then-distance"
    reported: list[tuple[int, int]] = []

    def key(solution: pyvrp.Solution) -> tuple[int, int]:
        return (solution.num_routes() if hierarchical else 0, solution.distance())

    class Progress(pyvrp.IteratedLocalSearchCallbacks):
        def on_start(self, search: pyvrp.IteratedLocalSearch) -> None:
            self.on_best(search.initial_solution)

        def on_best(self, best: pyvrp.Solution) -> None:
            if not best.is_feasible() or best.num_missing_clients():
                return
            if not reported or key(best) < reported[0]:
                reported[:] = [key(best)]
                if on_improvement is not None:
                    on_improvement(best.num_routes(), best.distance() / scale)

    params = pyvrp.SolveParams(ils=pyvrp.IteratedLocalSearchParams(callbacks=Progress()))
    data = problem_data(instance, convention)
    best: pyvrp.Solution | None = None
    with warnings.catch_warnings():
        # PyVRP warns when its penalties max out: expected while minimise_fleet tries a fleet too
        # small, and a None answer says the rest.
        warnings.simplefilter("ignore", PenaltyBoundWarning)
        if hierarchical or tight_fleet:
            budget = FLEET_SHARE * max(deadline - time.monotonic(), 0.0)
            fleet_stop = MultipleCriteria([MaxIterations(FLEET_ITERATIONS), MaxRuntime(budget)])
            fleet = pyvrp.minimise_fleet(data, fleet_stop, seed=seed, params=params)
            if not hierarchical:
                fleet = fleet.replace(num_available=min(fleet.num_available + 1, instance.vehicle_count))
            data = data.replace(vehicle_types=[fleet])
            # Distances found with a larger fleet no longer count as improvements.
            reported.clear()
        start = 0
        while (remaining := deadline - time.monotonic()) > 0:
            settled = None if best is None else _COST.cost(best)  # see RESTART_AFTER
            stop = MultipleCriteria([MaxRuntime(remaining), _Restart(restart_after, settled)])
            found = pyvrp.solve(
                data, stop, seed=seed + start * seed_step, collect_stats=False, params=params
            ).best
            start += 1
            feasible = found.is_feasible() and not found.num_missing_clients()
            if feasible and (best is None or key(found) < key(best)):
                best = found
    if best is None:
        return None
    routes = [
        [instance.customers[activity.idx].id for activity in route if activity.is_client()]
        for route in best.routes()
    ]
    routes = [route for route in routes if route]
    return len(routes), best.distance(), routes


def solve(
    instance: Instance,
    *,
    time_limit_s: float = 30.0,
    objective: Objective = "vehicles-then-distance",
    convention: Convention | None = None,
    on_improvement: Callable[[int, float], None] | None = None,
    seed: int = 0,
    workers: int | None = None,
) -> Solution | None:
    """Best routes PyVRP finds in `time_limit_s` for `objective`; None when it found no feasible one.

    ``distance`` minimises total distance with up to the instance's fleet. ``vehicles-then-distance``
    (Solomon's hierarchical objective) first looks for the smallest fleet that still serves every
    customer (FLEET_ITERATIONS, at most FLEET_SHARE of the time), then minimises distance with it.
    Raises InfeasibleInstanceError, before searching, when no solution can exist.

    A portfolio of `workers` searches (default: PORTFOLIO, at most one per core, one below
    PORTFOLIO_MIN_S) runs side by side until the same deadline, the first in this process, each
    other in a process of its own, with seeds seed, seed + 1, ...; the best result counts. Each
    search restarts when it stalls or reaches the best an earlier start found (RESTART_AFTER),
    and for the distance objective with time windows the second also cuts the fleet (see
    `_search`).
    `on_improvement(vehicles, distance)` reports each better feasible solution of this process's
    search as it comes (distance on the integer model), and the other searches' best at the end if
    better. The same `seed` gives the same searches, though how far they get depends on the
    machine's speed.
    """
    if objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {', '.join(OBJECTIVES)}")
    if not time_limit_s > 0:
        raise ValueError("time_limit_s must be positive")
    convention = convention or default_convention(instance, objective)
    reason = infeasibility(instance, convention)
    if reason is not None:
        raise InfeasibleInstanceError(reason)
    if workers is None:
        workers = min(PORTFOLIO, os.cpu_count() or 1) if time_limit_s >= PORTFOLIO_MIN_S else 1
    if workers < 1:
        raise ValueError("workers must be at least 1")
    deadline = time.monotonic() + time_limit_s
    hierarchical = objective == "vehicles-then-distance"
    tight = objective == "distance" and instance.has_time_windows
    members = [
        (
            instance,
            convention,
            objective,
            deadline,
            seed + member,
            workers,
            RESTART_AFTER,
            tight and member == 1,
        )
        for member in range(workers)
    ]
    if workers == 1:
        own = _search(*members[0], on_improvement=on_improvement)
        results = [own]
    else:
        # Spawned, not forked: the caller may hold threads and connections a fork would copy.
        spawn = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(workers - 1, mp_context=spawn) as pool:
            others = [pool.submit(_search, *member) for member in members[1:]]
            own = _search(*members[0], on_improvement=on_improvement)
            results = [own, *(future.result() for future in others)]
    found = [result for result in results if result is not None]
    if not found:
        return None

    def key(result: Found) -> tuple[int, int]:
        return (result[0] if hierarchical else 0, result[1])

    vehicles, distance, routes = min(found, key=key)
    if on_improvement is not None and (own is None or key(own) > (key((vehicles, distance, routes)))):
        on_improvement(vehicles, distance / SCALE[convention])
    return Solution(
        vehicles=vehicles,
        distance=route_distance(instance, routes, convention),
        routes=routes,
        convention=convention,
        objective=objective,
    )


def route_distance(instance: Instance, routes: Sequence[Sequence[int]], convention: Convention) -> float:
    """Total length of routes given as customer ids, in floating point under `convention`."""
    by_id = {site.id: site for site in instance.sites}
    total = 0.0
    for route in routes:
        path = [instance.depot, *(by_id[customer] for customer in route), instance.depot]
        total += sum(arc_length(a, b, convention) for a, b in itertools.pairwise(path))
    return total


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
