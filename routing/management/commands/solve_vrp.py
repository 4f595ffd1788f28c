"""`manage.py solve_vrp FILE`: solve a Solomon VRPTW or CVRPLIB CVRP instance with PyVRP.

The routes go to stdout as JSON (`{"vehicles", "distance", "routes"}`, customer ids as in the file)
once `routing.instances.check` has found them feasible; progress and the gap to the best-known
solution go to stderr. A file that cannot be read or parsed, or an instance no solution can exist
for (a customer heavier than a vehicle, a window nobody reaches), exits with status 2 and a
one-line message; no feasible solution within the time limit exits with status 1.
"""

import json
import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from routing.instances import (
    OBJECTIVES,
    InfeasibleInstanceError,
    InstanceFormatError,
    check,
    find_bks_table,
    load_instance,
    read_bks,
    solve,
)


class Command(BaseCommand):
    help = "Solve a VRPTW (Solomon) or CVRP (CVRPLIB) instance; routes as JSON on stdout."

    def add_arguments(self, parser):
        parser.add_argument("file", help="instance file, Solomon or CVRPLIB format (told apart by content)")
        parser.add_argument("--time-limit", type=float, default=30.0, help="seconds of search (default 30)")
        parser.add_argument("--objective", choices=OBJECTIVES, default=OBJECTIVES[0])
        parser.add_argument(
            "--bks", help="best-known solutions CSV (default: bks_table.csv beside the file or one folder up)"
        )

    def handle(self, *args, **options):
        if not options["time_limit"] > 0:
            raise CommandError("--time-limit must be a positive number of seconds", returncode=2)
        try:
            instance = load_instance(options["file"])
        except InstanceFormatError as error:
            raise CommandError(str(error), returncode=2) from None
        objective = options["objective"]
        kind = "VRPTW" if instance.has_time_windows else "CVRP"
        self.stderr.write(
            f"{instance.name}: {kind}, {len(instance.customers)} customers, "
            f"fleet {instance.vehicle_count} x capacity {instance.vehicle_capacity}; "
            f"objective {objective}, {options['time_limit']:g} s"
        )
        started = time.monotonic()
        shown = {"at": -1.0, "vehicles": None}

        def progress(vehicles: int, distance: float) -> None:
            # The first seconds bring hundreds of improvements: show one a second, and every
            # change of fleet size.
            elapsed = time.monotonic() - started
            if elapsed - shown["at"] < 1 and vehicles == shown["vehicles"]:
                return
            shown.update(at=elapsed, vehicles=vehicles)
            self.stderr.write(f"  {elapsed:6.1f} s  {vehicles} vehicles  distance {distance:.2f}")

        try:
            solution = solve(
                instance, time_limit_s=options["time_limit"], objective=objective, on_improvement=progress
            )
        except InfeasibleInstanceError as error:
            raise CommandError(f"{instance.name} has no feasible solution: {error}", returncode=2) from None
        if solution is None:
            raise CommandError(f"no feasible solution found in {options['time_limit']:g} s")
        violations = check(instance, solution)
        if violations:
            # The solver's own model disagrees with ours: never print routes we cannot vouch for.
            details = "; ".join(violation.detail for violation in violations[:5])
            raise CommandError(f"the solver's routes fail the feasibility check: {details}")
        self.stderr.write(
            f"{instance.name}: {solution.vehicles} vehicles, distance {solution.distance:.2f} "
            f"({solution.convention} distances) in {time.monotonic() - started:.1f} s"
        )
        self._report_gap(options["bks"] or find_bks_table(Path(options["file"])), instance.name, solution)
        document = {
            "vehicles": solution.vehicles,
            "distance": round(solution.distance, 4),
            "routes": solution.routes,
        }
        self.stdout.write(json.dumps(document))

    def _report_gap(self, table: Path | str | None, name: str, solution) -> None:
        if table is None:
            return
        try:
            best = read_bks(table).get((name, solution.convention))
        except (OSError, ValueError) as error:
            self.stderr.write(f"best-known table {table} unreadable: {error}")
            return
        if best is None:
            self.stderr.write(
                f"{name}: no best-known solution with {solution.convention} distances in {table}"
            )
            return
        gap = 100 * (solution.distance / best.distance - 1)
        self.stderr.write(
            f"gap to best-known, {best.convention} distances: {gap:+.2f}% "
            f"({solution.distance:.2f} vs {best.distance:g}); "
            f"vehicles {solution.vehicles} vs {best.vehicles} [{best.objective}]"
        )
