"""Benchmark `solve_vrp`'s solver (PyVRP, `routing.instances.solve`) side by side with the OR-Tools
search it replaced (bench/ortools_vrp.py), on every Solomon VRPTW and Augerat A CVRP instance shipped.

Run: python bench/bench_vrp.py [--time 30] [--only NAME ...] [--objective both|...] [--solver both|...]
     [--data DIR]

Each instance is solved by each solver with the same time limit, one after the other, checked with
`routing.instances.check`, and compared with the best-known solution on the same distance
convention: Solomon hierarchical (vehicles, then distance) against SINTEF's bests on exact
distances, Solomon distance-only against the DIMACS/CVRPLIB bests on arcs truncated to one decimal,
Augerat A against the proven optima on TSPLIB-rounded distances. The goal for PyVRP: every run
within 0.2% of the best-known distance, with no more vehicles than it under the hierarchical
objective, and a mean gap below 0.05%. PyVRP runs its portfolio (`routing.instances.PORTFOLIO`
searches, one process each, at most one per core), the OR-Tools search one thread: the same wall
time, not the same CPU time. Each row shows the 1-minute load average when it finished: a busy
machine gives the solvers fewer iterations. The script prints, never fails.
"""

import argparse
import fnmatch
import os
import sys
import time
from pathlib import Path

# Run as a script from anywhere: the repository root holds the routing package, this folder the
# OR-Tools search.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from ortools_vrp import solve_with_ortools

from routing.instances import (
    OBJECTIVES,
    PORTFOLIO,
    PORTFOLIO_MIN_S,
    InstanceFormatError,
    check,
    load_instance,
    read_bks,
    solve,
)

DEFAULT_DATA = Path(os.environ.get("VRP_BENCHMARKS", "/work/shared/benchmarks/vrp"))
SOLVERS = {"pyvrp": solve, "ortools": solve_with_ortools}
GOAL_GAP, GOAL_MEAN = 0.2, 0.05  # % over the best-known distance


def instance_files(data: Path) -> list[Path]:
    return sorted((data / "solomon").glob("*.txt")) + sorted(
        (data / "augerat_A").glob("A-n*.vrp"), key=lambda path: (len(path.stem), path.stem)
    )


def run(solver, instance, objective, time_limit_s, best):
    """(cell text, gap or None, goal met) for one solve."""
    started = time.monotonic()
    solution = solver(instance, time_limit_s=time_limit_s, objective=objective)
    elapsed = time.monotonic() - started
    if solution is None:
        return f"{'none':>3} {'':>9} {'':>7} {elapsed:>5.1f} {'-':<3}", None, False
    valid = not check(instance, solution)
    gap = round(100 * (solution.distance / best.distance - 1), 3) + 0.0 if best else None
    fleet_ok = objective == "distance" or best is None or solution.vehicles <= best.vehicles
    met = valid and fleet_ok and gap is not None and gap <= GOAL_GAP
    gap_text = f"{gap:+.3f}" if gap is not None else "-"
    cell = (
        f"{solution.vehicles:>3}{'' if fleet_ok else '!'}{' ' if fleet_ok else ''}"
        f"{solution.distance:>9.2f} {gap_text:>7} {elapsed:>5.1f} {'ok' if valid else 'BAD':<3}"
    )
    return cell, gap, met


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--time", "--time-limit", dest="time", type=float, default=30.0, help="seconds per solve (30)"
    )
    parser.add_argument("--only", action="append", help="instance name or glob (repeatable), e.g. 'A-n6*'")
    parser.add_argument(
        "--objective",
        choices=("both", *OBJECTIVES),
        default="both",
        help="Solomon objective(s) (default both); the A set is always solved for distance",
    )
    parser.add_argument("--solver", choices=("both", *SOLVERS), default="both")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help=f"benchmark folder ({DEFAULT_DATA})")
    args = parser.parse_args()

    files = instance_files(args.data)
    if args.only:
        files = [path for path in files if any(fnmatch.fnmatch(path.stem, pattern) for pattern in args.only)]
    if not files:
        print(f"no instances under {args.data} (solomon/*.txt, augerat_A/A-n*.vrp) match")
        return
    solvers = list(SOLVERS) if args.solver == "both" else [args.solver]
    bks_path = args.data / "bks_table.csv"
    bks = read_bks(bks_path) if bks_path.is_file() else {}
    searches = min(PORTFOLIO, os.cpu_count() or 1) if args.time >= PORTFOLIO_MIN_S else 1
    print(
        f"{args.time:g} s per solve, solvers one after the other; best-known from {bks_path}; "
        f"load average at start {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores; "
        f"PyVRP: {searches} search(es) side by side, OR-Tools: one"
    )
    cell_head = f"{'veh':>3} {'distance':>9} {'gap %':>7} {'s':>5} {'chk':<3}"
    print(
        f"{'':<10} {'':<4} {'':<6} {'best-known':>13}   "
        + "   ".join(f"{name:<31}" for name in solvers)
        + f"  {'load':>4}  goal"
    )
    print(
        f"{'instance':<10} {'obj':<4} {'conv':<6} {'veh':>3} {'distance':>9}   "
        + "   ".join(cell_head for _ in solvers)
        + f"  {'1min':>4}"
    )
    gaps: dict[str, dict[str, list[float]]] = {name: {} for name in solvers}
    misses: dict[str, list[str]] = {name: [] for name in solvers}
    for path in files:
        try:
            instance = load_instance(path)
        except InstanceFormatError as error:
            print(f"{path.stem:<10} unreadable: {error}")
            continue
        if not instance.has_time_windows:
            objectives = ["distance"]
        elif args.objective == "both":
            objectives = list(OBJECTIVES)
        else:
            objectives = [args.objective]
        for objective in objectives:
            label = "hier" if objective == "vehicles-then-distance" else "dist"
            group = "Augerat A" if not instance.has_time_windows else f"Solomon {label}"
            convention = (
                "nint" if not instance.has_time_windows else ("exact" if label == "hier" else "trunc1")
            )
            best = bks.get((instance.name, convention))
            cells, verdict = [], ""
            for name in solvers:
                cell, gap, met = run(SOLVERS[name], instance, objective, args.time, best)
                cells.append(cell)
                if gap is not None:
                    gaps[name].setdefault(group, []).append(gap)
                if not met:
                    misses[name].append(f"{instance.name}/{label}")
                if name == "pyvrp":
                    verdict = "met" if met else "MISSED"
            best_text = f"{best.vehicles:>3} {best.distance:>9.2f}" if best else f"{'-':>3} {'-':>9}"
            print(
                f"{instance.name:<10} {label:<4} {convention:<6} {best_text}   "
                + "   ".join(cells)
                + f"  {os.getloadavg()[0]:>4.1f}  {verdict}",
                flush=True,
            )
    print()
    for name in solvers:
        every = [gap for values in gaps[name].values() for gap in values]
        for group, values in gaps[name].items():
            print(
                f"{name:<8} {group:<13} mean gap {sum(values) / len(values):+.3f}%  "
                f"worst {max(values):+.3f}%  ({len(values)} runs)"
            )
        if every:
            mean = sum(every) / len(every)
            print(
                f"{name:<8} {'all':<13} mean gap {mean:+.3f}%  worst {max(every):+.3f}%  ({len(every)} runs)"
            )
        print(
            f"{name:<8} outside {GOAL_GAP:g}% (or more vehicles than best-known, hierarchical): "
            + (", ".join(misses[name]) if misses[name] else "none")
        )
    if "pyvrp" in solvers and any(gaps["pyvrp"].values()):
        every = [gap for values in gaps["pyvrp"].values() for gap in values]
        mean = sum(every) / len(every)
        met = not misses["pyvrp"] and mean < GOAL_MEAN
        print(
            f"goal (every run within {GOAL_GAP:g}%, fleet no larger, mean gap < {GOAL_MEAN:g}%): "
            f"{'met' if met else 'MISSED'}; load average at end {os.getloadavg()[0]:.2f}"
        )


if __name__ == "__main__":
    main()
