"""Reads of a driver's hours of service: duty-status records -> engine segments -> clock.

Shared by drivers.services (the cached `hours_remaining`, violations), the API, the ELD admin view
and loads.services (whether a driver may take a load). The engine (drivers.hos) is pure; this
module is where the log comes from and how the answers are phrased for dispatch.

The log as read here: each record runs from `started_at` to `ended_at`; the open record runs to
now (what happens next is unknown), and any time not covered by a record is off duty, as the
engine reads it.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from uuid import UUID
from zoneinfo import ZoneInfo

from django.db.models import Q
from django.utils import timezone

from drivers import hos
from drivers.models import Driver, DutyStatusRecord

# Enough history for every rule at an instant: the 8-day cycle, plus a 34-hour restart that began
# before it (a restart is what lets older on-duty time stop counting).
LOOKBACK = timedelta(days=8, hours=34)
# What a driver can drive before the next mandatory 10-hour break (395.3(a)(3)(i)).
DUTY_PERIOD_DRIVING = timedelta(hours=11)
THIRTY_MINUTES = timedelta(minutes=30)
# A planned break is a second longer than 30 minutes: the engine compares float timestamps, and a
# break of exactly 30:00 can read as 29:59.9999998 once microseconds are rounded.
_PLANNED_BREAK = THIRTY_MINUTES + timedelta(seconds=1)
_EPSILON = timedelta(milliseconds=1)


class Limit(StrEnum):
    """The limit that stops a driver from driving more."""

    DRIVING_LIMIT = "DRIVING_LIMIT"
    DUTY_WINDOW = "DUTY_WINDOW"
    THIRTY_MINUTE_BREAK = "THIRTY_MINUTE_BREAK"
    CYCLE = "CYCLE"


def limit_rule(limit: Limit, rules: hos.RuleSet) -> str:
    """The 49 CFR 395 paragraph behind a limit."""
    if limit == Limit.CYCLE:
        return hos.RULE_CYCLE_70_8 if rules.cycle == "70/8" else hos.RULE_CYCLE_60_7
    return {
        Limit.DRIVING_LIMIT: hos.RULE_DRIVING_LIMIT,
        Limit.DUTY_WINDOW: hos.RULE_DUTY_WINDOW,
        Limit.THIRTY_MINUTE_BREAK: hos.RULE_THIRTY_MINUTE_BREAK,
    }[limit]


def limit_name(limit: Limit, rules: hos.RuleSet) -> str:
    """The limit as a dispatcher says it: "the 11-hour driving limit (395.3(a)(3)(i))"."""
    names = {
        Limit.DRIVING_LIMIT: "the 11-hour driving limit",
        Limit.DUTY_WINDOW: "the 14-hour duty window",
        Limit.THIRTY_MINUTE_BREAK: "the 30-minute break required after 8 hours of driving",
        Limit.CYCLE: "the 70-hour/8-day cycle" if rules.cycle == "70/8" else "the 60-hour/7-day cycle",
    }
    return f"{names[limit]} ({limit_rule(limit, rules)})"


@dataclass(frozen=True)
class DrivingPlan:
    """How much a driver may legally drive from `start`, taking 30-minute breaks when required.

    `binding` is the limit that stops the driving (None when `needed` fits). A break costs time
    in the 14-hour window, so when the window binds only because of the breaks taken on the way
    the binding limit is the 30-minute break.
    """

    start: datetime
    driving: timedelta
    needed: timedelta | None
    binding: Limit | None
    rule: str | None
    breaks: list[datetime] = field(default_factory=list)

    @property
    def hours(self) -> float:
        return hours(self.driving)


def hours(value: timedelta) -> float:
    """Hours, rounded down to the hundredth: a clock never shows more time than there is."""
    # Rounded to a thousandth first, so float noise (10.99999999 h) does not lose a hundredth.
    return math.floor(round(value.total_seconds() / 36, 3)) / 100


def rule_set(driver: Driver) -> hos.RuleSet:
    return hos.RuleSet(cycle=driver.hos_cycle, short_haul_exception=driver.short_haul_exception)


def home_zone(driver: Driver) -> ZoneInfo:
    return ZoneInfo(driver.home_terminal_timezone)


# --- Records -------------------------------------------------------------------------------------


def records_by_driver(
    driver_ids: Iterable[UUID], *, since: datetime, until: datetime
) -> dict[UUID, list[DutyStatusRecord]]:
    """Every record overlapping [since, until) for these drivers, in order: one query."""
    ids = list(driver_ids)
    grouped: dict[UUID, list[DutyStatusRecord]] = defaultdict(list)
    if not ids:
        return grouped
    records = (
        DutyStatusRecord.objects.filter(driver_id__in=ids, started_at__lt=until)
        .filter(Q(ended_at__isnull=True) | Q(ended_at__gt=since))
        .order_by("driver_id", "started_at")
    )
    for record in records:
        grouped[record.driver_id].append(record)
    return grouped


def to_segments(records: Sequence[DutyStatusRecord], *, until: datetime) -> list[hos.Segment]:
    """The records as engine segments, cut at `until`; the open record ends now."""
    now = timezone.now()
    segments = []
    for record in records:
        end = min(record.ended_at or now, until)
        if end > record.started_at:
            segments.append(hos.Segment(hos.DutyStatus(record.status), record.started_at, end))
    return segments


def driver_segments(driver: Driver, *, since: datetime, until: datetime) -> list[hos.Segment]:
    records = records_by_driver([driver.pk], since=since, until=until)[driver.pk]
    return to_segments(records, until=until)


# --- The clock -----------------------------------------------------------------------------------


def hos_clock(driver: Driver, at: datetime) -> hos.HosClock:
    """The driver's clock at `at` (times and explanations in the home terminal's zone)."""
    at = at.astimezone(home_zone(driver))
    segments = driver_segments(driver, since=at - LOOKBACK, until=at)
    return hos.evaluate(segments, at, rule_set(driver))


def violations_between(driver: Driver, start: datetime, end: datetime) -> list[hos.Violation]:
    """Violations overlapping [start, end], judged on the whole log as FMCSA audits it (a
    split-sleeper pair completed later excuses the driving before it)."""
    zone = home_zone(driver)
    until = min(end, timezone.now())
    segments = driver_segments(driver, since=start - LOOKBACK, until=until)
    if not segments:
        return []
    segments[0] = hos.Segment(segments[0].status, segments[0].start.astimezone(zone), segments[0].end)
    return [v for v in hos.find_violations(segments, rule_set(driver)) if v.end > start and v.start < end]


def plan_driving(
    segments: Sequence[hos.Segment],
    start: datetime,
    rules: hos.RuleSet = hos.RuleSet(),  # noqa: B008 - frozen dataclass, as in drivers.hos
    needed: timedelta | None = None,
) -> DrivingPlan:
    """How long the driver can drive from `start` before the next 10-hour break (pure).

    Drives as long as the engine allows, takes a 30-minute break whenever 8 hours of driving
    require one, and stops at `needed` or at the first other limit: 11 hours of driving, the
    14-hour window, the 60/70-hour cycle. Time between the log's end and `start` is off duty.
    """
    log = [segment for segment in _cut(segments, start)]
    at = start
    driven = timedelta(0)
    breaks: list[datetime] = []
    binding: Limit | None = None
    for _ in range(8):
        available = hos.available_driving_time(log, at, rules)
        step = available if needed is None else min(available, needed - driven)
        if step > _EPSILON:
            log.append(hos.Segment(hos.DutyStatus.DRIVING, at, at + step))
            at += step
            driven += step
        if needed is not None and driven >= needed - _EPSILON:
            break
        clock = hos.evaluate(log, at, rules)
        if clock.drive_remaining <= _EPSILON:
            binding = Limit.DRIVING_LIMIT
        elif clock.window_end is not None and clock.window_remaining <= _EPSILON:
            binding = Limit.DUTY_WINDOW
        elif clock.break_required_in is not None and clock.break_required_in <= _EPSILON:
            log.append(hos.Segment(hos.DutyStatus.OFF_DUTY, at, at + _PLANNED_BREAK))
            breaks.append(at)
            at += _PLANNED_BREAK
            continue
        else:
            binding = Limit.CYCLE
        break
    if (
        binding == Limit.DUTY_WINDOW
        and breaks
        and needed is not None
        and needed - driven <= _PLANNED_BREAK * len(breaks)
    ):
        binding = Limit.THIRTY_MINUTE_BREAK
    return DrivingPlan(
        start=start,
        driving=driven,
        needed=needed,
        binding=binding,
        rule=limit_rule(binding, rules) if binding else None,
        breaks=breaks,
    )


def _cut(segments: Sequence[hos.Segment], at: datetime) -> list[hos.Segment]:
    cut = []
    for segment in segments:
        if segment.start >= at:
            break
        cut.append(segment if segment.end <= at else hos.Segment(segment.status, segment.start, at))
    return cut


def legal_driving_time(driver: Driver, at: datetime, *, needed: timedelta | None = None) -> DrivingPlan:
    """What the driver may legally drive from `at` (see `plan_driving`); the log is read as known
    now, so for a future `at` the time until then is off duty."""
    at = at.astimezone(home_zone(driver))
    segments = driver_segments(driver, since=at - LOOKBACK, until=min(at, timezone.now()))
    return plan_driving(segments, at, rule_set(driver), needed)


def clock_and_plan(driver: Driver, at: datetime) -> tuple[hos.HosClock, DrivingPlan]:
    """The clock at `at` and what the driver may drive from then, from one read of the log."""
    return clocks_and_plans([driver], at)[driver.pk]


def clocks_and_plans(drivers: Sequence[Driver], at: datetime) -> dict[UUID, tuple[hos.HosClock, DrivingPlan]]:
    """`clock_and_plan` for many drivers: one query for all their records."""
    records = records_by_driver([driver.pk for driver in drivers], since=at - LOOKBACK, until=at)
    outlook = {}
    for driver in drivers:
        local = at.astimezone(home_zone(driver))
        rules = rule_set(driver)
        segments = to_segments(records.get(driver.pk, []), until=at)
        outlook[driver.pk] = (hos.evaluate(segments, local, rules), plan_driving(segments, local, rules))
    return outlook


def hos_report(driver: Driver, *, at: datetime, start: datetime, end: datetime) -> dict:
    """The driver's full clock at `at`, what they may drive from then, and the violations in
    [start, end], with a sentence explaining each number: what GET /api/drivers/{id}/hos returns."""
    clock, plan = clock_and_plan(driver, at)
    rules = rule_set(driver)
    violations = violations_between(driver, start, end)
    texts = clock.explanations
    if clock.in_violation:
        rule = next((v.rule for v in reversed(clock.violations) if v.end == clock.at), None)
        in_violation = f"Driving past a limit ({rule}) at {clock.at:%Y-%m-%d %H:%M}"
    else:
        in_violation = f"Not driving past any limit at {clock.at:%Y-%m-%d %H:%M}"
    return {
        "driver_id": driver.pk,
        "at": clock.at,
        "time_zone": driver.home_terminal_timezone,
        "cycle": rules.cycle,
        "short_haul_exception": rules.short_haul_exception,
        "drive_remaining_h": hours(clock.drive_remaining),
        "window_remaining_h": hours(clock.window_remaining),
        "window_end": clock.window_end,
        "break_required_in_h": None if clock.break_required_in is None else hours(clock.break_required_in),
        "cycle_remaining_h": hours(clock.cycle_remaining),
        "cycle_used_h": round(clock.cycle_hours_used.total_seconds() / 3600, 2),
        "restart_completed_at": clock.restart_completed_at,
        "in_violation": clock.in_violation,
        "legal_driving_h": plan.hours,
        "binding_limit": plan.binding,
        "violations_start": start,
        "violations_end": end,
        "violations": [
            {"rule": v.rule, "start": v.start, "end": v.end, "message": v.message} for v in violations
        ],
        "explanations": {
            "drive_remaining_h": texts["drive_remaining"],
            "window_remaining_h": texts["window_remaining"],
            "window_end": texts["window_remaining"],
            "break_required_in_h": texts["break_required_in"],
            "cycle_remaining_h": texts["cycle_remaining"],
            "cycle_used_h": texts["cycle_remaining"],
            "restart_completed_at": texts.get(
                "restart_completed_at",
                "No 34-hour off-duty period in the log read (the last 8 days and 34 hours): no restart",
            ),
            "in_violation": in_violation,
            "legal_driving_h": plan_explanation(plan, rules),
        },
    }


def plan_explanation(plan: DrivingPlan, rules: hos.RuleSet) -> str:
    """One sentence for a dispatcher: how much, until what, with which breaks."""
    text = f"{_hours_text(plan.driving)} h of driving from {plan.start:%Y-%m-%d %H:%M}"
    if plan.breaks:
        times = ", ".join(f"{moment:%H:%M}" for moment in plan.breaks)
        text += f" with a 30-minute break at {times}"
    if plan.binding is None:
        return f"{text}: enough for the {_hours_text(plan.needed or timedelta(0))} h needed"
    return f"{text}, then {limit_name(plan.binding, rules)} stops the driving"


def _hours_text(value: timedelta) -> str:
    return f"{hours(value):.2f}".rstrip("0").rstrip(".")


def drivers_able_to_drive(
    drivers: Sequence[tuple[UUID, str, bool]], needed: timedelta, at: datetime
) -> list[UUID]:
    """Of these (id, hos_cycle, short_haul_exception) drivers, those who may legally drive
    `needed` from `at`: one query for all their records."""
    records = records_by_driver([pk for pk, _, _ in drivers], since=at - LOOKBACK, until=at)
    able = []
    for pk, cycle, short_haul in drivers:
        rules = hos.RuleSet(cycle=cycle, short_haul_exception=short_haul)
        plan = plan_driving(to_segments(records.get(pk, []), until=at), at, rules, needed)
        if plan.binding is None:
            able.append(pk)
    return able
