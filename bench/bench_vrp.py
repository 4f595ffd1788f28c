"""Benchmark the VRP solver (`routing.vrp`, driven by `routing.instances.solve`) on Solomon VRPTW
and Augerat A CVRP instances.

Run: python bench/bench_vrp.py [--time-limit 30] [--only NAME ...] [--objective both|...] [--data DIR]

Each instance is solved once with the time limit, checked with `routing.instances.check`, and
compared with the best-known solution on the same distance convention: Solomon hierarchical (vehicles,
then distance) against SINTEF's bests on exact distances, Solomon distance-only against the
DIMACS/CVRPLIB bests on arcs truncated to one decimal, Augerat A against the proven optima on
TSPLIB-rounded distances. Goals (distance within 1% on C101, R101, RC101, within 0.5% on the A
set) are figures to watch: the script prints, never fails.
"""

import argparse
import fnmatch
import os
import sys
import time
from pathlib import Path

# Run as a script from anywhere: the repository root holds the routing package.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from routing.instances import OBJECTIVES, InstanceFormatError, check, load_instance, read_bks, solve

DEFAULT_DATA = Path(os.environ.get("VRP_BENCHMARKS", "/work/shared/benchmarks/vrp"))
SOLOMON = ("C101", "R101", "RC101", "C201", "R201", "RC201")
GOALS = {"C101": 1.0, "R101": 1.0, "RC101": 1.0}  # % over best-known distance
A_SET_GOAL = 0.5
COLUMNS = (
    f"{'instance':<10} {'objective':<9} {'conv':<6} {'veh':>3} {'distance':>9} "
    f"{'bks veh':>7} {'bks dist':>9} {'gap %':>7} {'time s':>6} {'valid':<5} goal"
)


def instance_files(data: Path) -> list[Path]:
    solomon = [data / "solomon" / f"{name}.txt" for name in SOLOMON]
    return [path for path in solomon if path.is_file()] + sorted(
        (data / "augerat_A").glob("A-n*.vrp"), key=lambda path: (len(path.stem), path.stem)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--time-limit", type=float, default=30.0, help="seconds per instance (default 30)")
    parser.add_argument("--only", action="append", help="instance name or glob (repeatable), e.g. 'A-n6*'")
    parser.add_argument(
        "--objective",
        choices=("both", *OBJECTIVES),
        default="both",
        help="Solomon objective(s) (default both); the A set is always solved for distance",
    )
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help=f"benchmark folder ({DEFAULT_DATA})")
    args = parser.parse_args()

    files = instance_files(args.data)
    if args.only:
        files = [path for path in files if any(fnmatch.fnmatch(path.stem, pattern) for pattern in args.only)]
    if not files:
        print(f"no instances under {args.data} (solomon/*.txt, augerat_A/A-n*.vrp) match")
        return
    bks_path = args.data / "bks_table.csv"
    bks = read_bks(bks_path) if bks_path.is_file() else {}
    print(f"time limit {args.time_limit:g} s per instance; best-known from {bks_path}")
    print(COLUMNS)
    gaps: dict[str, list[float]] = {}
    misses: list[str] = []
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
            started = time.monotonic()
            solution = solve(instance, time_limit_s=args.time_limit, objective=objective)
            elapsed = time.monotonic() - started
            label = "hier" if objective == "vehicles-then-distance" else "dist"
            if solution is None:
                print(f"{instance.name:<10} {label:<9} no feasible solution in {elapsed:.1f} s")
                misses.append(f"{instance.name}/{label}: no solution")
                continue
            valid = not check(instance, solution)
            best = bks.get((instance.name, solution.convention))
            # + 0.0 turns a rounded -0.0 into 0.0.
            gap = round(100 * (solution.distance / best.distance - 1), 2) + 0.0 if best else None
            goal = GOALS.get(instance.name, None if instance.has_time_windows else A_SET_GOAL)
            verdict = ""
            if goal is not None and gap is not None:
                # Vehicles count only where the objective counts them.
                fleet_ok = objective == "distance" or solution.vehicles <= best.vehicles
                met = valid and gap <= goal and fleet_ok
                verdict = f"{'met' if met else 'MISSED'} (<= {goal:g}%)"
                if not met:
                    misses.append(
                        f"{instance.name}/{label}: {gap:+.2f}%, {solution.vehicles} vs {best.vehicles} veh"
                    )
            if gap is not None:
                gaps.setdefault(
                    f"{'A set' if not instance.has_time_windows else 'Solomon ' + label}", []
                ).append(gap)
            print(
                f"{instance.name:<10} {label:<9} {solution.convention:<6} {solution.vehicles:>3} "
                f"{solution.distance:>9.2f} {best.vehicles if best else '-':>7} "
                f"{f'{best.distance:g}' if best else '-':>9} {f'{gap:+.2f}' if gap is not None else '-':>7} "
                f"{elapsed:>6.1f} {'yes' if valid else 'NO':<5} {verdict}",
                flush=True,
            )
    for group, values in gaps.items():
        print(
            f"{group}: mean gap {sum(values) / len(values):+.2f}%, "
            f"worst {max(values):+.2f}% ({len(values)} runs)"
        )
    print("goals missed: " + ("; ".join(misses) if misses else "none"))


if __name__ == "__main__":
    main()
