"""Benchmark the hours-of-service engine: 10,000 drivers, 8 days of logs each, one core.

Run: python bench/bench_hos.py [drivers]. Prints figures, never fails: the goal (whole fleet
evaluated in under 5 s) is a number to watch, not a test.
"""

import random
import sys
import time
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo

# Run as a script from anywhere: the repository root holds the drivers package.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from drivers.hos import (
    DutyStatus,
    RuleSet,
    Segment,
    available_driving_time,
    evaluate,
    find_violations,
)

DRIVERS = 10_000
DAYS = 8
SEED = 395
HOME_TERMINALS = [ZoneInfo(name) for name in ("America/New_York", "America/Chicago", "America/Denver")]

OFF, SLEEPER, DRIVING, ON = (
    DutyStatus.OFF_DUTY,
    DutyStatus.SLEEPER_BERTH,
    DutyStatus.DRIVING,
    DutyStatus.ON_DUTY,
)


def minutes(low: int, high: int, rng: random.Random) -> timedelta:
    return timedelta(minutes=rng.randint(low, high))


def driver_log(rng: random.Random, zone: tzinfo) -> tuple[list[Segment], datetime, RuleSet]:
    """Eight days of a long-haul driver: a shift a day or split-sleeper legs, a restart at ~60 h."""
    start = datetime(2025, 3, 1, tzinfo=UTC) + minutes(0, 12 * 60, rng)
    end_of_log = start + timedelta(days=DAYS)
    uses_split = rng.random() < 0.2
    rules = RuleSet(
        cycle="60/7" if rng.random() < 0.2 else "70/8",
        short_haul_exception=rng.random() < 0.1,
    )
    # Restart before a shift could take the driver past the cycle limit (shifts are <= 13 h).
    restart_above = timedelta(hours=(47 if rules.cycle == "60/7" else 57))
    pieces: list[tuple[DutyStatus, timedelta]] = []
    elapsed = timedelta()
    on_duty_since_restart = timedelta()
    while elapsed < timedelta(days=DAYS):
        if on_duty_since_restart > restart_above:
            pieces.append((OFF, minutes(34 * 60, 38 * 60, rng)))
            on_duty_since_restart = timedelta()
            elapsed += pieces[-1][1]
        if uses_split:
            # Two legs a "day": sleeper 7-7.5 h after one, off duty 3 h after the other.
            shift = [
                (ON, minutes(10, 20, rng)),
                (DRIVING, minutes(270, 315, rng)),
                (SLEEPER, minutes(420, 450, rng)),
                (ON, minutes(10, 20, rng)),
                (DRIVING, minutes(270, 315, rng)),
                (OFF, minutes(180, 195, rng)),
            ]
        else:
            shift = [
                (ON, minutes(15, 30, rng)),
                (DRIVING, minutes(180, 300, rng)),
                (OFF if rng.random() < 0.6 else ON, minutes(30, 45, rng)),
                (DRIVING, minutes(180, 300, rng)),
                (ON, minutes(20, 60, rng)),
            ]
            if rng.random() < 0.01:
                shift.append((DRIVING, minutes(60, 150, rng)))  # runs late: a violation
            shift.append((SLEEPER, minutes(600, 720, rng)))
        for status, length in shift:
            pieces.append((status, length))
            elapsed += length
            if status in (ON, DRIVING):
                on_duty_since_restart += length

    segments = []
    moment = start
    for status, length in pieces:
        if moment >= end_of_log:
            break
        following = moment + length
        segments.append(Segment(status, moment.astimezone(zone), following.astimezone(zone)))
        moment = following
    return segments, end_of_log.astimezone(zone), rules


def fleet() -> list[tuple[list[Segment], datetime, RuleSet]]:
    rng = random.Random(SEED)
    return [driver_log(rng, UTC) for _ in range(DRIVERS)]


def in_home_terminal_zones(logs):
    """The same logs with times in each driver's home-terminal zone (slower to read)."""
    rng = random.Random(SEED)
    converted = []
    for segments, at, rules in logs:
        zone = rng.choice(HOME_TERMINALS)
        converted.append(
            (
                [Segment(s.status, s.start.astimezone(zone), s.end.astimezone(zone)) for s in segments],
                at.astimezone(zone),
                rules,
            )
        )
    return converted


def timed(label: str, logs, work) -> list:
    started = time.perf_counter()
    results = [work(segments, at, rules) for segments, at, rules in logs]
    seconds = time.perf_counter() - started
    per_driver = seconds / len(logs) * 1e6
    verdict = "under" if seconds < 5 else "OVER"
    print(f"  {label:<44} {seconds:6.2f} s  {per_driver:7.1f} µs/driver  ({verdict} the 5 s goal)")
    return results


def main() -> None:
    global DRIVERS
    if len(sys.argv) > 1:
        DRIVERS = int(sys.argv[1])
    started = time.perf_counter()
    utc_logs = fleet()
    local_logs = in_home_terminal_zones(utc_logs)
    generated = time.perf_counter() - started
    segment_counts = [len(segments) for segments, _, _ in utc_logs]
    print(
        f"hours-of-service engine: {DRIVERS:,} drivers x {DAYS} days, "
        f"{sum(segment_counts):,} segments ({min(segment_counts)}-{max(segment_counts)}, "
        f"mean {sum(segment_counts) / DRIVERS:.1f} per driver), generated in {generated:.1f} s"
    )
    clocks = timed("evaluate at end of log, UTC times", utc_logs, evaluate)
    timed("evaluate at end of log, home-terminal zones", local_logs, evaluate)
    timed(
        "find_violations, UTC times", utc_logs, lambda segments, at, rules: find_violations(segments, rules)
    )
    timed("available_driving_time, UTC times", utc_logs, available_driving_time)
    with_violations = sum(1 for clock in clocks if clock.violations)
    violations = sum(len(clock.violations) for clock in clocks)
    print(f"  {with_violations:,} drivers with violations, {violations:,} violation intervals in all")


if __name__ == "__main__":
    main()
