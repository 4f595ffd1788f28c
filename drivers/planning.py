"""How much a driver may legally drive from an instant: the dispatch planner over the HOS engine.

Pure Python, like `drivers.hos` (no Django, no ORM): it feeds a log to the engine's public
functions (`available_driving_time`, `evaluate`) and plans the driving up to the next 10-hour
break, taking a 30-minute break whenever 8 hours of driving require one. The engine states the
rules of 49 CFR 395; this module is a dispatcher's use of them (where the breaks go, which limit
binds), so it lives beside the engine rather than in it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from drivers import hos

# What a driver can drive before the next mandatory 10-hour break (395.3(a)(3)(i)).
DUTY_PERIOD_DRIVING = timedelta(hours=11)
# A planned break is a second longer than 30 minutes: the engine compares float timestamps, and a
# break of exactly 30:00 can read as 29:59.9999998 once microseconds are rounded.
_PLANNED_BREAK = timedelta(minutes=30, seconds=1)
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


def plan_driving(
    segments: Sequence[hos.Segment],
    start: datetime,
    rules: hos.RuleSet = hos.RuleSet(),  # noqa: B008 - frozen dataclass, as in drivers.hos
    needed: timedelta | None = None,
) -> DrivingPlan:
    """How long the driver can drive from `start` before the next 10-hour break.

    Drives as long as the engine allows, takes a 30-minute break whenever 8 hours of driving
    require one, and stops at `needed` or at the first other limit: 11 hours of driving, the
    14-hour window, the 60/70-hour cycle. Time between the log's end and `start` is off duty.
    """
    log = _cut(segments, start)
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


def plan_work(
    segments: Sequence[hos.Segment],
    start: datetime,
    rules: hos.RuleSet,
    work: Sequence[tuple[hos.DutyStatus, timedelta]],
) -> DrivingPlan:
    """`plan_driving` for work in pieces, in order: DRIVING pieces (a leg between two stops) and
    ON_DUTY pieces (loading or unloading: on duty, not driving, so they run the 14-hour window and
    the cycle down but not the 11 hours of driving, and half an hour of them counts as the
    30-minute break). Each leg drives as `plan_driving` would, breaks included, from the log as it
    stands after the pieces before it; the plan stops at the first leg a limit cuts short.
    `needed` is the driving of all the pieces."""
    log = _cut(segments, start)
    at, driven, breaks = start, timedelta(0), []
    needed = sum((length for status, length in work if status == hos.DutyStatus.DRIVING), timedelta(0))
    for status, length in work:
        if status != hos.DutyStatus.DRIVING:
            if length > timedelta(0):
                log.append(hos.Segment(status, at, at + length))
                at += length
            continue
        leg = plan_driving(log, at, rules, length)
        driven += leg.driving
        breaks += leg.breaks
        if leg.binding is not None:
            return DrivingPlan(start, driven, needed, leg.binding, leg.rule, breaks)
        # The log as plan_driving left it: the leg's driving around the breaks it took.
        end = at + leg.driving + _PLANNED_BREAK * len(leg.breaks)
        for taken in leg.breaks:
            if taken > at:
                log.append(hos.Segment(hos.DutyStatus.DRIVING, at, taken))
            log.append(hos.Segment(hos.DutyStatus.OFF_DUTY, taken, taken + _PLANNED_BREAK))
            at = taken + _PLANNED_BREAK
        if end > at:
            log.append(hos.Segment(hos.DutyStatus.DRIVING, at, end))
        at = end
    return DrivingPlan(start, driven, needed, None, None, breaks)


def _cut(segments: Sequence[hos.Segment], at: datetime) -> list[hos.Segment]:
    cut = []
    for segment in segments:
        if segment.start >= at:
            break
        cut.append(segment if segment.end <= at else hos.Segment(segment.status, segment.start, at))
    return cut
