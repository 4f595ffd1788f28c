"""routing.instances and `solve_vrp`: parsers, distance conventions, best-known tables, `check`,
the PyVRP solve on tiny instances with known optima (by hand, or by exhaustive search in the test),
instances no solution exists for, and the command. Time limits are fractions of a second: each
solve searches for all of its limit, and these instances are small enough that the optimum is found
well within it.
"""

import itertools
import json
import math
import multiprocessing
import random
import time
from dataclasses import replace
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from routing.instances import (
    FLEET_ITERATIONS,
    PORTFOLIO_MIN_S,
    InfeasibleInstanceError,
    InstanceFormatError,
    Solution,
    _Restart,
    _search,
    arc_length,
    check,
    default_convention,
    load_instance,
    parse_cvrplib,
    parse_solomon,
    read_bks,
    route_distance,
    solve,
)

BENCHMARKS = Path("/work/shared/benchmarks/vrp")
# Seconds per solve. A solve does not stop when it has the optimum: its search (iterated local
# search) runs until the time limit. These tiny instances reach their optimum well within it.
QUICK = 0.3


def solomon_text(name: str, vehicles: int, capacity: int, rows: list[tuple]) -> str:
    """A Solomon file; `rows` are (id, x, y, demand, ready, due, service), depot first."""
    lines = [name, "", "VEHICLE", "NUMBER     CAPACITY", f"  {vehicles}   {capacity}", "", "CUSTOMER"]
    lines += ["CUST NO.  XCOORD.   YCOORD.    DEMAND   READY TIME  DUE DATE   SERVICE   TIME", " "]
    lines += ["  ".join(str(value) for value in row) for row in rows]
    return "\n".join(lines) + "\n"


def cvrplib_text(name: str, capacity: int, points: list[tuple[int, int, int]], extra: str = "") -> str:
    """A CVRPLIB file; `points` are (x, y, demand), node 1 the depot."""
    coords = "\n".join(f" {node} {x} {y}" for node, (x, y, _) in enumerate(points, start=1))
    demands = "\n".join(f"{node} {demand}" for node, (_, _, demand) in enumerate(points, start=1))
    return (
        f"NAME : {name}\nCOMMENT : test\nTYPE : CVRP\nDIMENSION : {len(points)}\n{extra}"
        f"EDGE_WEIGHT_TYPE : EUC_2D\nCAPACITY : {capacity}\nNODE_COORD_SECTION\n{coords}\n"
        f"DEMAND_SECTION\n{demands}\nDEPOT_SECTION\n 1\n -1\nEOF\n"
    )


# Four customers on a line, 10 apart, capacity for two: the optimum is {1, 2} and {3, 4},
# 2 * 20 + 2 * 40 = 120 (one vehicle per pair, no other split is shorter).
LINE = cvrplib_text("line-k2", 2, [(0, 0, 0), (10, 0, 1), (20, 0, 1), (30, 0, 1), (40, 0, 1)])

# Windows force the order B (t=20), C (t=200), A (t=300) on one vehicle: 20 + 10 + 20 + 10 = 60.
FORCED_ORDER = solomon_text(
    "FORCED",
    1,
    100,
    [
        (0, 0, 0, 0, 0, 1000, 0),
        (1, 10, 0, 1, 300, 310, 0),
        (2, 20, 0, 1, 20, 30, 0),
        (3, 30, 0, 1, 200, 210, 0),
    ],
)

# One vehicle can serve all three (A, C after waiting, B after waiting: 10 + 20 + 30 + 20 = 80),
# two vehicles do it in 60 (A then B: 10 + 10 + 20; C: 20). The two objectives disagree.
TRADE_OFF = solomon_text(
    "TRADE",
    2,
    100,
    [
        (0, 0, 0, 0, 0, 1000, 0),
        (1, 10, 0, 1, 10, 20, 0),
        (2, 20, 0, 1, 200, 210, 0),
        (3, -10, 0, 1, 50, 60, 0),
    ],
)


def undirected(routes: list[list[int]]) -> list[list[int]]:
    """Routes without time windows can be driven either way round."""
    return sorted(min(route, route[::-1]) for route in routes)


# --------------------------------------------------------------------------- parsers


def test_parse_solomon_reads_fleet_depot_and_customers():
    instance = parse_solomon(FORCED_ORDER)

    assert (instance.name, instance.vehicle_count, instance.vehicle_capacity) == ("FORCED", 1, 100)
    assert instance.has_time_windows and instance.native_convention == "exact"
    assert (instance.depot.id, instance.depot.due) == (0, 1000)
    assert [(c.id, c.x, c.demand, c.ready, c.due) for c in instance.customers] == [
        (1, 10, 1, 300, 310),
        (2, 20, 1, 20, 30),
        (3, 30, 1, 200, 210),
    ]


def test_parse_cvrplib_reads_depot_demands_and_fleet_from_the_name():
    instance = parse_cvrplib(LINE)

    assert (instance.name, instance.vehicle_count, instance.vehicle_capacity) == ("line-k2", 2, 2)
    assert not instance.has_time_windows and instance.native_convention == "nint"
    assert (instance.depot.id, instance.depot.x) == (1, 0)
    assert [(c.id, c.x, c.demand) for c in instance.customers] == [
        (2, 10, 1),
        (3, 20, 1),
        (4, 30, 1),
        (5, 40, 1),
    ]


@pytest.mark.parametrize(
    ("name", "extra", "fleet"),
    [
        ("line-k2", "", 2),
        ("line", "VEHICLES : 3\n", 3),
        ("line", "", 4),  # no fleet size given: one vehicle per customer
    ],
)
def test_cvrplib_fleet_size_comes_from_vehicles_field_or_name(name, extra, fleet):
    text = cvrplib_text(name, 2, [(0, 0, 0), (10, 0, 1), (20, 0, 1), (30, 0, 1), (40, 0, 1)], extra)

    assert parse_cvrplib(text).vehicle_count == fleet


@pytest.mark.parametrize(
    ("path", "name", "customers", "fleet", "capacity"),
    [
        ("solomon/C101.txt", "C101", 100, 25, 200),
        ("augerat_A/A-n32-k5.vrp", "A-n32-k5", 31, 5, 100),
    ],
)
def test_load_instance_recognises_shipped_files_by_content(path, name, customers, fleet, capacity):
    if not (BENCHMARKS / path).is_file():
        pytest.skip(f"benchmark file {path} not available")
    instance = load_instance(BENCHMARKS / path)

    assert (instance.name, len(instance.customers), instance.vehicle_count) == (name, customers, fleet)
    assert instance.vehicle_capacity == capacity


@pytest.mark.parametrize(
    ("parser", "text", "message"),
    [
        (parse_solomon, "", "empty"),
        (parse_solomon, "X\nVEHICLE\n1 10\n", "CUSTOMER section"),
        (parse_solomon, FORCED_ORDER.replace("1  300  310  0", "1  300  310"), "expected 7 numbers"),
        (parse_solomon, FORCED_ORDER.replace("300  310", "300  290"), "before ready"),
        (parse_cvrplib, LINE.replace("EUC_2D", "GEO"), "EDGE_WEIGHT_TYPE GEO"),
        (parse_cvrplib, LINE.replace("DIMENSION : 5", "DIMENSION : 6"), "DIMENSION is 6"),
        (parse_cvrplib, LINE.replace("CAPACITY : 2\n", ""), "lacks CAPACITY"),
        (parse_cvrplib, LINE.replace(" 3 20 0", " 3 twenty 0"), "not numeric"),
        (parse_cvrplib, LINE.replace(" 3 20 0", " 3 inf 0"), "not numeric"),
        (parse_cvrplib, LINE.replace("\n3 1\n", "\n3 -1\n"), "demand of node 3 must not be negative, got -1"),
        (parse_cvrplib, LINE.replace("CAPACITY : 2", "CAPACITY : -2"), "CAPACITY must not be negative"),
        (parse_solomon, FORCED_ORDER.replace("1  300  310  0", "-1  300  310  0"), "demand of customer 1"),
        (
            parse_solomon,
            FORCED_ORDER.replace("1  300  310  0", "1  300  310  -5"),
            "service time of customer 1",
        ),
        (parse_solomon, FORCED_ORDER.replace("1  300  310  0", "1  300  nan  0"), "not numeric"),
        (
            parse_solomon,
            FORCED_ORDER.replace("  1   100", "  -1   100"),
            "VEHICLE NUMBER must not be negative",
        ),
    ],
)
def test_parsers_reject_malformed_text_with_a_message_naming_the_problem(parser, text, message):
    with pytest.raises(InstanceFormatError, match=message):
        parser(text)


def test_load_instance_rejects_a_file_in_neither_format(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("hello\n")

    with pytest.raises(InstanceFormatError, match="neither a Solomon"):
        load_instance(path)


# --------------------------------------------------------------------------- conventions


@pytest.mark.parametrize(
    ("dx", "dy", "exact", "trunc1", "nint"),
    [
        (3, 4, 5.0, 5.0, 5.0),
        (1, 1, math.sqrt(2), 1.4, 1.0),
        (1, 2, math.sqrt(5), 2.2, 2.0),
        (7, 1, math.sqrt(50), 7.0, 7.0),
        (2, 3, math.sqrt(13), 3.6, 4.0),  # 3.6056: truncation and rounding part ways
    ],
)
def test_arc_length_under_each_convention(dx, dy, exact, trunc1, nint):
    instance = parse_cvrplib(LINE)
    a, b = replace(instance.depot, x=0, y=0), replace(instance.depot, x=dx, y=dy)

    assert arc_length(a, b, "exact") == pytest.approx(exact)
    assert arc_length(a, b, "trunc1") == trunc1
    assert arc_length(a, b, "nint") == nint


@pytest.mark.parametrize(
    ("text", "objective", "convention"),
    [
        (FORCED_ORDER, "vehicles-then-distance", "exact"),
        (FORCED_ORDER, "distance", "trunc1"),
        (LINE, "vehicles-then-distance", "nint"),
        (LINE, "distance", "nint"),
    ],
)
def test_default_convention_follows_the_literature_of_each_objective(text, objective, convention):
    instance = parse_solomon(text) if "CUSTOMER" in text else parse_cvrplib(text)

    assert default_convention(instance, objective) == convention


def test_read_bks_keys_best_known_solutions_by_convention(tmp_path):
    table = tmp_path / "bks.csv"
    table.write_text(
        "instance,set,objective,vehicles,distance\n"
        'C101,S,"distance only (arc lengths truncated to 1 decimal)",10,827.3\n'
        'C101,S,"hierarchical SINTEF (min vehicles, then exact double-precision distance)",10,828.94\n'
        'A-n32-k5,A,"distance, TSPLIB EUC_2D nint rounding",5,784\n'
    )

    best = read_bks(table)

    assert {key: (b.vehicles, b.distance) for key, b in best.items()} == {
        ("C101", "trunc1"): (10, 827.3),
        ("C101", "exact"): (10, 828.94),
        ("A-n32-k5", "nint"): (5, 784.0),
    }


# --------------------------------------------------------------------------- check


def _solution(routes, convention="exact"):
    return Solution(
        vehicles=len(routes), distance=0.0, routes=routes, convention=convention, objective="distance"
    )


@pytest.mark.parametrize(
    ("routes", "capacity", "depot_due", "kinds"),
    [
        ([[2, 3, 1]], 100, 1000, []),
        ([[2, 3]], 100, 1000, ["missing"]),
        ([[2, 2, 3, 1]], 100, 1000, ["duplicate"]),
        ([[2, 3, 1, 9]], 100, 1000, ["unknown"]),
        ([[2, 3, 1]], 2, 1000, ["capacity"]),
        ([[1, 2, 3]], 100, 1000, ["time_window", "time_window"]),  # B and C reached too late
        ([[2, 3, 1]], 100, 305, ["depot_return"]),  # back at 310
        ([[2], [3], [1]], 100, 1000, ["fleet"]),  # three routes, one vehicle
    ],
)
def test_check_reports_each_kind_of_violation(routes, capacity, depot_due, kinds):
    instance = parse_solomon(FORCED_ORDER)
    instance = replace(instance, vehicle_capacity=capacity, depot=replace(instance.depot, due=depot_due))

    assert [violation.kind for violation in check(instance, _solution(routes))] == kinds


def test_check_measures_travel_time_on_the_solution_convention():
    # Customer 1 at distance sqrt(2) = 1.414 with due 1.4: late on exact distances, on time on
    # truncated ones (1.4), exactly as the two Solomon literatures disagree.
    instance = parse_solomon(solomon_text("T", 1, 10, [(0, 0, 0, 0, 0, 100, 0), (1, 1, 1, 1, 0, 1.4, 0)]))

    assert [v.kind for v in check(instance, _solution([[1]], "exact"))] == ["time_window"]
    assert check(instance, _solution([[1]], "trunc1")) == []


# --------------------------------------------------------------------------- known optima


@pytest.mark.parametrize(
    ("text", "objective", "vehicles", "distance", "routes"),
    [
        (LINE, "distance", 2, 120, [[2, 3], [4, 5]]),
        (LINE, "vehicles-then-distance", 2, 120, [[2, 3], [4, 5]]),
        (FORCED_ORDER, "distance", 1, 60, [[2, 3, 1]]),
        (FORCED_ORDER, "vehicles-then-distance", 1, 60, [[2, 3, 1]]),
        (TRADE_OFF, "distance", 2, 60, [[1, 2], [3]]),
        (TRADE_OFF, "vehicles-then-distance", 1, 80, [[1, 3, 2]]),
    ],
)
def test_solve_finds_the_known_optimum(text, objective, vehicles, distance, routes):
    instance = parse_solomon(text) if "CUSTOMER" in text else parse_cvrplib(text)

    solution = solve(instance, time_limit_s=QUICK, objective=objective)

    assert (solution.vehicles, solution.distance) == (vehicles, pytest.approx(distance))
    assert undirected(solution.routes) == undirected(routes) if not instance.has_time_windows else True
    assert sorted(solution.routes) == sorted(routes) if instance.has_time_windows else True
    assert check(instance, solution) == []


def test_solve_reports_improvements_and_the_distance_of_its_routes():
    instance = parse_cvrplib(LINE)
    seen = []

    solution = solve(
        instance, time_limit_s=QUICK, objective="distance", on_improvement=lambda *s: seen.append(s)
    )

    assert seen[-1] == (2, 120.0)
    assert solution.distance == route_distance(instance, solution.routes, "nint") == 120


def _optimum_by_exhaustion(instance, convention, hierarchical):
    """(vehicles, distance) of the best solution, trying every route of every subset of customers:
    the shortest feasible order of each subset, then the best partition into at most the fleet;
    None if there is none."""
    customers, depot = instance.customers, instance.depot
    shortest: dict[frozenset, float] = {}
    for size in range(1, len(customers) + 1):
        for subset in itertools.combinations(customers, size):
            if sum(c.demand for c in subset) > instance.vehicle_capacity:
                continue
            lengths = []
            for order in itertools.permutations(subset):
                clock, here, length = depot.ready, depot, 0.0
                for stop in order:
                    arc = arc_length(here, stop, convention)
                    clock, length, here = max(clock + here.service + arc, stop.ready), length + arc, stop
                    if clock > stop.due + 1e-9:
                        break
                else:
                    back = arc_length(here, depot, convention)
                    if clock + here.service + back <= depot.due + 1e-9:
                        lengths.append(length + back)
            if lengths:
                shortest[frozenset(c.id for c in subset)] = min(lengths)
    # The shortest way to serve each subset with each number of vehicles (keeping only the
    # shortest per subset would lose a longer plan with fewer vehicles that a capped fleet needs).
    best: dict[frozenset, dict[int, float]] = {frozenset(): {0: 0.0}}
    everyone = frozenset(c.id for c in customers)
    for size in range(1, len(customers) + 1):
        for served in map(frozenset, itertools.combinations(sorted(everyone), size)):
            first = min(served)  # the route holding the smallest id, the rest solved before
            plans: dict[int, float] = {}
            for route, length in shortest.items():
                if first in route and route <= served and (served - route) in best:
                    for vehicles, rest in best[served - route].items():
                        if vehicles < instance.vehicle_count:
                            plans[vehicles + 1] = min(plans.get(vehicles + 1, math.inf), rest + length)
            if plans:
                best[served] = plans
    if everyone not in best:
        return None
    return min(best[everyone].items(), key=lambda plan: plan if hierarchical else (plan[1], plan[0]))


def random_solomon(seed: int, customers: int, vehicles: int, capacity: int) -> str:
    """A small Solomon file with random sites, demands, windows and service times (reproducible)."""
    draw = random.Random(seed)
    rows = [(0, 50, 50, 0, 0, 400, 0)]
    for number in range(1, customers + 1):
        ready = draw.randrange(0, 250)
        rows.append(
            (
                number,
                draw.randrange(0, 101),
                draw.randrange(0, 101),
                draw.randrange(1, 10),
                ready,
                ready + draw.randrange(20, 120),
                10,
            )
        )
    return solomon_text(f"RANDOM{seed}", vehicles, capacity, rows)


@pytest.mark.parametrize("seed", [2, 9, 26])
@pytest.mark.parametrize("objective", ["vehicles-then-distance", "distance"])
def test_solve_matches_an_exhaustive_search_on_a_small_vrptw(seed, objective):
    # Seven customers with windows and capacity for about three a vehicle: every route of every
    # subset is tried in the test. Hierarchical on exact distances, distance-only on truncated.
    instance = parse_solomon(random_solomon(seed, 7, 4, 20))
    convention = default_convention(instance, objective)
    hierarchical = objective == "vehicles-then-distance"

    solution = solve(instance, time_limit_s=QUICK, objective=objective)

    vehicles, distance = _optimum_by_exhaustion(instance, convention, hierarchical)
    assert solution.convention == convention
    assert solution.distance == pytest.approx(distance)
    assert solution.vehicles == vehicles if hierarchical else solution.vehicles >= vehicles
    assert check(instance, solution) == []


@pytest.mark.parametrize("objective", ["vehicles-then-distance", "distance"])
def test_a_portfolio_of_searches_in_two_processes_finds_the_optimum(objective):
    # The second search runs in a process of its own and restarts whenever it stalls; with
    # windows and the distance objective it also cuts the fleet. The portfolio keeps the best.
    instance = parse_solomon(random_solomon(2, 7, 4, 20))
    convention = default_convention(instance, objective)
    seen = []

    solution = solve(
        instance,
        time_limit_s=PORTFOLIO_MIN_S,
        objective=objective,
        workers=2,
        on_improvement=lambda *s: seen.append(s),
    )

    vehicles, distance = _optimum_by_exhaustion(instance, convention, objective != "distance")
    assert (solution.vehicles, solution.distance) == (vehicles, pytest.approx(distance))
    assert check(instance, solution) == []
    assert seen[-1] == (vehicles, pytest.approx(distance, abs=1e-3))


def test_the_searches_stay_in_one_process_below_the_portfolio_minimum():
    # Starting a process takes about a second: a short solve is one search, not a portfolio.
    instance = parse_cvrplib(LINE)
    before = set(multiprocessing.active_children())

    solve(instance, time_limit_s=QUICK, objective="distance")

    assert set(multiprocessing.active_children()) == before
    with pytest.raises(ValueError, match="workers must be at least 1"):
        solve(instance, time_limit_s=QUICK, workers=0)


def test_the_fleet_cutting_search_keeps_one_vehicle_more_than_the_fewest():
    # The shortest plan serves these seven customers with 4 vehicles where 2 suffice. The search
    # that cuts the fleet finds the shortest plan of 3 vehicles, longer; the portfolio still
    # answers the shortest plan of all, found by the search with the whole fleet.
    instance = parse_solomon(random_solomon(9, 7, 7, 20))
    shortest = _optimum_by_exhaustion(instance, "trunc1", hierarchical=False)
    fewest = _optimum_by_exhaustion(instance, "trunc1", hierarchical=True)
    cut = _optimum_by_exhaustion(replace(instance, vehicle_count=fewest[0] + 1), "trunc1", hierarchical=False)
    assert shortest[0] > cut[0] == fewest[0] + 1 and shortest[1] < cut[1]

    vehicles, _, routes = _search(
        instance,
        "trunc1",
        "distance",
        time.monotonic() + QUICK,
        seed=1,
        seed_step=2,
        restart_after=100,
        tight_fleet=True,
    )
    solution = solve(instance, time_limit_s=PORTFOLIO_MIN_S, objective="distance", workers=2)

    assert (vehicles, route_distance(instance, routes, "trunc1")) == (cut[0], pytest.approx(cut[1]))
    assert (solution.vehicles, solution.distance) == (shortest[0], pytest.approx(shortest[1]))


def test_a_restarting_start_ends_when_it_stalls_or_reaches_the_best_an_earlier_start_found():
    first = _Restart(3, None)
    # PyVRP asks the criterion once an iteration with the best cost so far.
    assert [first(cost) for cost in (90, 80, 80, 80, 70, 70, 70, 70)] == [False] * 7 + [True]

    second = _Restart(3, 70)

    assert [second(cost) for cost in (95, 85, 75)] == [False] * 3  # worse optima on the way down
    assert second(70) is True  # the earlier start's best again: no 3 stalling iterations
    assert _Restart(3, 70)(65) is False  # better than anything found before: it goes on


def test_a_search_cuts_short_the_starts_that_reach_the_best_it_already_found(monkeypatch):
    # Four customers: every start reaches the optimum within a few iterations. The first start
    # stalls there for restart_after iterations; the later ones stop as soon as they reach it.
    import pyvrp

    starts = []

    def recorded(*args, **kwargs):
        result = real(*args, **kwargs)
        starts.append((result.num_iterations, result.best.distance()))
        return result

    real = pyvrp.solve
    monkeypatch.setattr(pyvrp, "solve", recorded)

    found = _search(
        parse_cvrplib(LINE), "nint", "distance", time.monotonic() + QUICK, 0, 1, restart_after=500
    )

    assert found[1] == 120
    assert len(starts) > 3
    first, *later, _last_cut_by_the_deadline = starts
    assert first == (pytest.approx(500, abs=50), 120)
    assert all(iterations < 50 and distance == 120 for iterations, distance in later)


def test_the_fleet_search_ends_after_its_iterations_not_its_share_of_the_time(monkeypatch):
    # Fewer vehicles than the optimum's can serve these customers by capacity, not by their
    # windows: looking for them fails, for FLEET_ITERATIONS iterations (milliseconds here), where
    # 30% of the 2 s would be ~100 times as many. Then the distance with the fewest vehicles.
    import pyvrp

    instance = parse_solomon(random_solomon(26, 7, 4, 30))
    vehicles, distance = _optimum_by_exhaustion(instance, "exact", hierarchical=True)
    assert vehicles > math.ceil(sum(c.demand for c in instance.customers) / instance.vehicle_capacity)
    asked = []

    def counted(data, stop, **kwargs):
        return real(data, lambda cost: asked.append(cost) or stop(cost), **kwargs)

    real = pyvrp.minimise_fleet
    monkeypatch.setattr(pyvrp, "minimise_fleet", counted)

    solution = solve(instance, time_limit_s=PORTFOLIO_MIN_S, workers=1)

    # PyVRP asks once an iteration and once more after each smaller fleet it tries.
    assert FLEET_ITERATIONS < len(asked) <= FLEET_ITERATIONS + instance.vehicle_count
    assert (solution.vehicles, solution.distance) == (vehicles, pytest.approx(distance))


def test_the_exhaustive_search_sees_the_objectives_disagree():
    # Guards the test above: on these instances the fewest vehicles cost distance.
    instance = parse_solomon(random_solomon(2, 7, 4, 20))

    fewest = _optimum_by_exhaustion(instance, "exact", hierarchical=True)
    shortest = _optimum_by_exhaustion(instance, "exact", hierarchical=False)

    assert fewest[0] < shortest[0] and fewest[1] > shortest[1]


def test_solve_returns_none_when_its_search_finds_no_feasible_solution():
    # Every customer can be served on its own and the fleet carries the total demand, but no
    # two routes serve everyone in their windows: the exhaustive search proves it, and no check before
    # the search can see it.
    instance = parse_solomon(random_solomon(14, 7, 2, 20))
    assert _optimum_by_exhaustion(instance, "trunc1", hierarchical=False) is None

    assert solve(instance, time_limit_s=QUICK, objective="distance") is None


def test_check_catches_a_solver_solution_broken_afterwards():
    # The solver's two routes for TRADE_OFF, merged in their order: one vehicle, customer 3 late.
    instance = parse_solomon(TRADE_OFF)
    solution = solve(instance, time_limit_s=QUICK, objective="distance")
    assert check(instance, solution) == []

    merged = replace(solution, routes=[sorted(customer for route in solution.routes for customer in route)])
    dropped = replace(solution, routes=[route[1:] for route in solution.routes])
    overfull = replace(instance, vehicle_capacity=1)

    assert [v.kind for v in check(instance, merged)] == ["time_window"]
    assert [v.kind for v in check(instance, dropped)] == ["missing"]
    assert [v.kind for v in check(overfull, solution)] == ["capacity"]


# One customer 1.41 away, due at 1.4: reachable on truncated arcs (1.4), not on exact ones.
TIGHT = solomon_text("TIGHT", 1, 10, [(0, 0, 0, 0, 0, 100, 0), (1, 1, 1, 1, 0, 1.4, 0)])


@pytest.mark.parametrize(
    ("text", "objective", "message"),
    [
        (
            cvrplib_text("over-k1", 5, [(0, 0, 0), (10, 0, 6)]),
            "distance",
            "customer 2 demands 6, more than a",
        ),
        (
            cvrplib_text("much-k2", 5, [(0, 0, 0), (10, 0, 4), (20, 0, 4), (30, 0, 4)]),
            "distance",
            "demand 12 in all, more than the fleet of 2 x 5",
        ),
        (TIGHT, "vehicles-then-distance", "customer 1 cannot be reached in its window"),
        (
            FORCED_ORDER.replace("0  0  0  0  0  1000  0", "0  0  0  0  0  305  0"),
            "distance",
            "serving customer 1 is back at the depot at 310.00",
        ),
        (
            solomon_text("NONE", 0, 10, [(0, 0, 0, 0, 0, 100, 0), (1, 1, 1, 1, 0, 50, 0)]),
            "distance",
            "no vehicle",
        ),
    ],
)
def test_solve_refuses_an_instance_no_solution_can_exist_for(text, objective, message):
    instance = parse_solomon(text) if "CUSTOMER" in text else parse_cvrplib(text)

    with pytest.raises(InfeasibleInstanceError, match=message):
        solve(instance, time_limit_s=QUICK, objective=objective)


def test_the_same_instance_is_solvable_on_truncated_distances():
    solution = solve(parse_solomon(TIGHT), time_limit_s=QUICK, objective="distance")

    assert (solution.convention, solution.routes, solution.distance) == ("trunc1", [[1]], 2.8)


# --------------------------------------------------------------------------- the command


def test_solve_vrp_prints_routes_as_json_and_the_gap_to_the_best_known(tmp_path):
    (tmp_path / "line.vrp").write_text(LINE)
    (tmp_path / "bks_table.csv").write_text(
        'instance,objective,vehicles,distance\nline-k2,"distance, EUC_2D nint",2,120\n'
    )
    out, err = StringIO(), StringIO()

    call_command("solve_vrp", str(tmp_path / "line.vrp"), "--time-limit", str(QUICK), stdout=out, stderr=err)

    document = json.loads(out.getvalue())
    assert set(document) == {"vehicles", "distance", "routes"}
    assert (document["vehicles"], document["distance"]) == (2, 120)
    assert undirected(document["routes"]) == [[2, 3], [4, 5]]
    assert "line-k2: CVRP, 4 customers, fleet 2 x capacity 2" in err.getvalue()
    assert "gap to best-known, nint distances: +0.00%" in err.getvalue()


def test_solve_vrp_distance_objective_uses_truncated_solomon_distances(tmp_path):
    (tmp_path / "trade.txt").write_text(TRADE_OFF)
    out, err = StringIO(), StringIO()

    call_command(
        "solve_vrp",
        str(tmp_path / "trade.txt"),
        "--time-limit",
        str(QUICK),
        "--objective",
        "distance",
        stdout=out,
        stderr=err,
    )

    assert json.loads(out.getvalue())["vehicles"] == 2
    assert "(trunc1 distances)" in err.getvalue()


@pytest.mark.parametrize(
    ("content", "arguments", "message"),
    [
        ("hello\n", [], "neither a Solomon"),
        (LINE.replace("EUC_2D", "EXPLICIT"), [], "EDGE_WEIGHT_TYPE EXPLICIT"),
        (None, [], "cannot read"),
        (LINE, ["--time-limit", "0"], "--time-limit must be a positive"),
        (
            cvrplib_text("over-k1", 5, [(0, 0, 0), (10, 0, 6)]),
            [],
            "over-k1 has no feasible solution: customer 2 demands 6, more than a vehicle holds",
        ),
    ],
)
def test_solve_vrp_exits_with_status_2_and_prints_nothing_on_bad_input(tmp_path, content, arguments, message):
    path = tmp_path / "instance.vrp"
    if content is not None:
        path.write_text(content)
    out = StringIO()

    with pytest.raises(CommandError, match=message) as raised:
        call_command("solve_vrp", str(path), *arguments, stdout=out, stderr=StringIO())

    assert raised.value.returncode == 2
    assert out.getvalue() == ""
