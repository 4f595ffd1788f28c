"""Hours-of-service engine: US FMCSA rules for property-carrying drivers (49 CFR 395, 2020 rule).

Pure Python on purpose (no Django, no ORM): dispatch, the API and the audit command all feed it a
driver's duty-status log and read back the clock, so it must be cheap to call thousands of times.

The log is a sorted list of `Segment`s. Any time not covered by a segment (a gap in the log, or the
time between the last segment and the instant asked about) counts as OFF_DUTY, the way an ELD
treats a driver who is not logged in.

Rules applied (violations are always intervals of DRIVING done past a limit; on-duty work past a
limit is legal):

* 395.3(a)(1)  10 consecutive hours off duty (OFF_DUTY and SLEEPER_BERTH in any mix) reset the
  11- and 14-hour counters. Before the first such break in the log the driver is assumed fresh:
  the log's first on-duty moment opens the window.
* 395.3(a)(2)  no driving after the 14th hour since coming on duty.
* 395.3(a)(3)(i)  no more than 11 hours of driving in that window.
* 395.3(a)(3)(ii)  no driving after 8 hours of driving without a 30-minute interruption; any 30
  consecutive minutes of non-driving (off duty, sleeper or on duty) count.
* 395.3(b)(1)/(b)(2)  no driving after 60 on-duty hours in 7 days / 70 in 8 days, a rolling
  window ending at each instant; 395.3(c) a 34-hour off-duty period restarts the count.
* 395.1(g)(1)(ii) split sleeper berth, 395.1(b)(1) adverse driving conditions, 395.1(e)(1) short
  haul: see `_split_pairs`, `RuleSet`.

Limits are inclusive: driving that ends exactly at 11 h is compliant, one more second is not; 10 h
off is a reset, 30 min a break, 34 h a restart, to the second. A change of status takes effect at
its instant: asked at the exact minute a driver comes on duty, the clock has the 14-hour window
open (closing 14 h later); asked at the minute they stop driving, they are no longer driving past
a limit (drivers/tests/test_hos_boundaries.py walks every such boundary).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from enum import StrEnum

RULE_TEN_HOUR_BREAK = "395.3(a)(1)"
RULE_DUTY_WINDOW = "395.3(a)(2)"
RULE_DRIVING_LIMIT = "395.3(a)(3)(i)"
RULE_THIRTY_MINUTE_BREAK = "395.3(a)(3)(ii)"
RULE_CYCLE_60_7 = "395.3(b)(1)"
RULE_CYCLE_70_8 = "395.3(b)(2)"

_HOUR = 3600.0
_DAY = 24 * _HOUR
_DRIVING_LIMIT = 11 * _HOUR
_DUTY_WINDOW = 14 * _HOUR
_ADVERSE_EXTENSION = 2 * _HOUR
_DRIVING_BEFORE_BREAK = 8 * _HOUR
_BREAK = 0.5 * _HOUR
_TEN_HOUR_BREAK = 10 * _HOUR
_RESTART = 34 * _HOUR
_SPLIT_SLEEPER = 7 * _HOUR
_SPLIT_SHORT_REST = 2 * _HOUR

# cycle name -> (on-duty limit, rolling span, rule)
_CYCLES: dict[str, tuple[float, float, str]] = {
    "70/8": (70 * _HOUR, 8 * _DAY, RULE_CYCLE_70_8),
    "60/7": (60 * _HOUR, 7 * _DAY, RULE_CYCLE_60_7),
}


class DutyStatus(StrEnum):
    OFF_DUTY = "OFF_DUTY"
    SLEEPER_BERTH = "SLEEPER_BERTH"
    DRIVING = "DRIVING"
    ON_DUTY = "ON_DUTY"


class InvalidLog(ValueError):
    """The duty-status log cannot be evaluated (unsorted, overlapping, naive times...)."""


@dataclass(frozen=True)
class Segment:
    status: DutyStatus
    start: datetime
    end: datetime


@dataclass(frozen=True)
class RuleSet:
    """Which variant of the rules a driver works under.

    `adverse_driving_conditions` (395.1(b)(1)) stretches the driving limit to 13 h and the duty
    window to 16 h for the whole log: the carrier declares it per trip, we do not detect weather.
    `short_haul_exception` (395.1(e)(1), 150 air-miles) waives the 30-minute break. The 2020 rule
    also allows short-haul drivers a 14-hour duty period, which is exactly the normal 14-hour
    window here, so nothing else changes (the ELD and logging relief is outside this engine).
    """

    cycle: str = "70/8"
    adverse_driving_conditions: bool = False
    short_haul_exception: bool = False

    def __post_init__(self) -> None:
        if self.cycle not in _CYCLES:
            raise ValueError(f"unknown cycle {self.cycle!r}: expected '70/8' or '60/7'")


@dataclass(frozen=True)
class Violation:
    rule: str
    start: datetime
    end: datetime
    message: str


@dataclass(frozen=True)
class HosClock:
    """The driver's clock at `at`, as known at that instant (see `evaluate`).

    `in_violation` is true while the driver is driving past a limit at `at`; `violations` lists
    every interval up to `at`. `restart_completed_at` is the end of the last 34-hour-or-longer
    off-duty period, or `at` itself when such a period is still going on.
    """

    at: datetime
    drive_remaining: timedelta
    window_remaining: timedelta
    window_end: datetime | None
    break_required_in: timedelta | None
    cycle_remaining: timedelta
    cycle_hours_used: timedelta
    restart_completed_at: datetime | None
    in_violation: bool
    violations: list[Violation]
    explanations: dict[str, str]


# Internal item kinds; a log is folded into maximal runs of one kind before the main pass.
_REST, _WORK, _DRIVE = 0, 1, 2
_KIND_OF_STATUS: dict[str, int] = {
    DutyStatus.OFF_DUTY: _REST,
    DutyStatus.SLEEPER_BERTH: _REST,
    DutyStatus.ON_DUTY: _WORK,
    DutyStatus.DRIVING: _DRIVE,
}

# (kind, start, end, longest consecutive sleeper-berth stretch) in epoch seconds
_Item = tuple[int, float, float, float]


def validate_segments(segments: Sequence[Segment]) -> None:
    """Reject a log the engine cannot reason about.

    Raises `InvalidLog` for an unknown status, a naive datetime, a segment that does not end
    after it starts, and segments that are unsorted or overlap. Gaps are allowed (off duty).
    """
    _fold(segments, None)


def _fold(segments: Sequence[Segment], clip: float | None) -> list[_Item]:
    """Validate the whole log and fold it (up to `clip`) into maximal runs of rest, work, driving.

    Gaps become rest, so each rest item is a complete off-duty period: its length decides
    resets and split-sleeper pairs without looking at neighbours.
    """
    items: list[_Item] = []
    append = items.append
    kind_of = _KIND_OF_STATUS
    sleeper = DutyStatus.SLEEPER_BERTH
    run_kind = -1
    run_start = run_end = sleeper_run = sleeper_longest = 0.0
    previous_start = previous_end = None
    kind_at_clip = -1  # the kind of a segment that starts exactly at `clip`
    for index, segment in enumerate(segments):
        status = segment.status
        try:
            kind = kind_of[status]
        except (KeyError, TypeError):
            raise InvalidLog(
                f"segment {index}: unknown duty status {status!r} (expected one of {', '.join(DutyStatus)})"
            ) from None
        start, end = segment.start, segment.end
        if not isinstance(start, datetime) or not isinstance(end, datetime):
            raise InvalidLog(f"segment {index}: start and end must be datetimes")
        if start.utcoffset() is None or end.utcoffset() is None:
            raise InvalidLog(f"segment {index}: naive datetime, a time zone is required")
        s = start.timestamp()
        e = end.timestamp()
        if e <= s:
            raise InvalidLog(f"segment {index}: end {end.isoformat()} is not after start")
        if previous_end is not None and s < previous_end:
            problem = "is before the previous segment (unsorted)"
            if s >= previous_start:
                problem = "overlaps the previous segment"
            raise InvalidLog(f"segment {index}: start {start.isoformat()} {problem}")
        previous_start, previous_end = s, e
        if clip is not None:
            if s >= clip:
                if s == clip:
                    kind_at_clip = kind
                continue
            if e > clip:
                e = clip
        if run_kind != -1 and s > run_end:
            # A hole in the log is off duty.
            if run_kind == _REST:
                run_end = s
            else:
                append((run_kind, run_start, run_end, 0.0))
                run_kind, run_start, run_end = _REST, run_end, s
                sleeper_longest = 0.0
            sleeper_run = 0.0
        if kind == run_kind:
            run_end = e
            if kind == _REST:
                if status == sleeper:
                    sleeper_run += e - s
                    if sleeper_run > sleeper_longest:
                        sleeper_longest = sleeper_run
                else:
                    sleeper_run = 0.0
        else:
            if run_kind != -1:
                append((run_kind, run_start, run_end, sleeper_longest))
            run_kind, run_start, run_end = kind, s, e
            sleeper_run = sleeper_longest = e - s if status == sleeper else 0.0
    if run_kind != -1:
        if clip is not None and run_end < clip:
            if run_kind == _REST:
                run_end = clip
            else:
                append((run_kind, run_start, run_end, sleeper_longest))
                run_kind, run_start, run_end, sleeper_longest = _REST, run_end, clip, 0.0
        append((run_kind, run_start, run_end, sleeper_longest))
    if kind_at_clip != -1 and kind_at_clip != run_kind:
        # A change of status takes effect at its instant: a zero-length item says what the driver
        # is doing at `clip` (coming on duty at that minute opens the 14-hour window).
        append((kind_at_clip, clip, clip, 0.0))
    return items


def _split_pairs(items: list[_Item]) -> tuple[set[int], set[int]]:
    """Find split-sleeper pairs (395.1(g)(1)(ii)); return (second-of-pair, first-of-pair) indexes.

    A qualifying rest is an off-duty period (OFF/SB, contiguous) of at least 2 hours. Two
    consecutive qualifying rests pair when one contains at least 7 consecutive hours in the
    sleeper berth and together they make at least 10 hours, in either order. Choices made:

    * only neighbouring qualifying rests pair (a 2-hour break in between is not skipped over);
    * the whole contiguous rest counts toward the 10 hours, including off-duty time next to the
      7-hour sleeper stretch;
    * a rest of 10 hours or more is a full reset and never the first of a pair (FMCSA FAQ,
      2020-11-19), but it may be the second, which excludes the first rest from the 14-hour
      window of the duty period before it;
    * the second rest of one pair can be the first of the next (chaining).
    """
    seconds: set[int] = set()
    firsts: set[int] = set()
    previous = -1
    previous_length = previous_sleeper = 0.0
    for index, (kind, start, end, sleeper) in enumerate(items):
        if kind != _REST:
            continue
        length = end - start
        if length < _SPLIT_SHORT_REST:
            continue
        if (
            previous >= 0
            and previous_length < _TEN_HOUR_BREAK
            and previous_length + length >= _TEN_HOUR_BREAK
            and (previous_sleeper >= _SPLIT_SLEEPER or sleeper >= _SPLIT_SLEEPER)
        ):
            seconds.add(index)
            firsts.add(previous)
        previous, previous_length, previous_sleeper = index, length, sleeper
    return seconds, firsts


def _first_cycle_excess(
    used: float,
    start: float,
    end: float,
    limit: float,
    span: float,
    position: int,
    on_starts: list[float],
    on_ends: list[float],
) -> float | None:
    """First instant of driving from `start` to `end` at which the rolling cycle total passes `limit`.

    While driving, the total grows by the time driven and shrinks by the on-duty time sliding out
    of the back of the window, so it never decreases: walking the back edge across the on-duty
    intervals finds the crossing exactly. `position` is the first interval ending after
    `start - span`.
    """
    if used > limit:
        return start
    now = start
    back = start - span
    count = len(on_starts)
    index = position
    while now < end:
        if index < count and on_starts[index] <= back:
            # Old on-duty time leaves the window as fast as driving adds: total stays flat.
            step = min(on_ends[index] - back, end - now)
            now += step
            back += step
            if back >= on_ends[index]:
                index += 1
        else:
            step = end - now
            if index < count and on_starts[index] - back < step:
                step = on_starts[index] - back
            if used + step > limit:
                return now + (limit - used)
            used += step
            now += step
            back += step
    return None


@dataclass(slots=True)
class _Pass:
    """State of the driver at the end of the evaluated log, in epoch seconds."""

    rules: RuleSet
    driving_limit: float
    duty_window: float
    cycle_limit: float
    cycle_span: float
    cycle_rule: str
    end: float | None
    in_violation_at_end: bool
    window_start: float | None
    window_excluded: float
    driven_in_window: float
    basis: tuple[str, float, float]
    first_on_duty: float | None
    driven_since_break: float
    last_driving_end: float
    last_driving_in_violation: bool
    restart_end: float | None
    on_starts: list[float]
    on_ends: list[float]
    on_before: list[float]
    on_total: float
    on_position: int
    violations: list[tuple[str, float, float, float, float]]

    def cycle_used_at(self, instant: float) -> tuple[float, int]:
        back = instant - self.cycle_span
        position = self.on_position
        on_ends = self.on_ends
        count = len(on_ends)
        while position < count and on_ends[position] <= back:
            position += 1
        if position == count:
            return 0.0, position
        before = self.on_before[position] + max(0.0, back - self.on_starts[position])
        return self.on_total - before, position


def _evaluate_log(segments: Sequence[Segment], clip: float | None, rules: RuleSet) -> _Pass:
    """Walk the folded log once, checking every driving run against every limit as it comes."""
    items = _fold(segments, clip)
    pair_seconds, pair_firsts = _split_pairs(items)
    extension = _ADVERSE_EXTENSION if rules.adverse_driving_conditions else 0.0
    driving_limit = _DRIVING_LIMIT + extension
    duty_window = _DUTY_WINDOW + extension
    cycle_limit, cycle_span, cycle_rule = _CYCLES[rules.cycle]
    check_break = not rules.short_haul_exception

    window_start: float | None = None  # None until the driver comes on duty after a reset
    window_excluded = 0.0  # split-sleeper rest inside the window, not counted against 14 h
    driven_in_window = 0.0
    basis: tuple[str, float, float] = ("log", 0.0, 0.0)
    first_on_duty: float | None = None
    last_rest_end: float | None = None  # end of the latest rest of 2 h or more
    driven_since_rest = 0.0
    driven_since_break = 0.0
    last_driving_end = float("-inf")
    restart_end: float | None = None
    on_starts: list[float] = []
    on_ends: list[float] = []
    on_before: list[float] = []  # on-duty total before each interval, since the last restart
    on_total = 0.0
    on_position = 0

    violations: list[tuple[str, float, float, float, float]] = []
    # rule -> [start, end, driving seconds past the limit, reference instant]
    open_violations: dict[str, list[float]] = {}

    def note(rule: str, start: float, end: float, driving_start: float, reference: float) -> None:
        current = open_violations.get(rule)
        # Driving that carries on past the same limit extends the interval, across short stops.
        if current is not None and start == driving_start and current[1] == last_driving_end:
            current[1] = end
            current[2] += end - start
            return
        if current is not None:
            violations.append((rule, current[0], current[1], current[2], current[3]))
        open_violations[rule] = [start, end, end - start, reference]

    def close(*rules_to_close: str) -> None:
        for rule in rules_to_close:
            current = open_violations.pop(rule, None)
            if current is not None:
                violations.append((rule, current[0], current[1], current[2], current[3]))

    last_driving_in_violation = False
    for index, (kind, start, end, _sleeper) in enumerate(items):
        if kind == _REST:
            length = end - start
            if length >= _RESTART:
                on_starts, on_ends, on_before = [], [], []
                on_total = 0.0
                on_position = 0
                restart_end = end
                close(cycle_rule)
            if length >= _TEN_HOUR_BREAK:
                window_start = None
                window_excluded = driven_in_window = 0.0
                basis = ("reset", end, 0.0)
                close(RULE_DRIVING_LIMIT, RULE_DUTY_WINDOW, cycle_rule)
            elif index in pair_seconds:
                # The pair is complete: recount from the end of its first rest; this rest is
                # excluded from the 14 hours.
                window_start = last_rest_end
                driven_in_window = driven_since_rest
                window_excluded = length
                basis = ("split", last_rest_end or start, end)
                close(RULE_DRIVING_LIMIT, RULE_DUTY_WINDOW, cycle_rule)
            elif index in pair_firsts and window_start is not None:
                # Paired with the next rest, so it never counted against this window either.
                window_excluded += length
            if length >= _SPLIT_SHORT_REST:
                last_rest_end = end
                driven_since_rest = 0.0
            continue

        if window_start is None:
            window_start = start
            if first_on_duty is None:
                first_on_duty = start
                if basis[0] == "log":
                    basis = ("log", start, 0.0)
        duration = end - start
        if not duration:
            continue  # the status taken at the evaluated instant: nothing done in it yet
        if kind == _DRIVE:
            in_violation = False
            if start - last_driving_end >= _BREAK:
                driven_since_break = 0.0
            if driven_in_window + duration > driving_limit:
                begin = start + max(0.0, driving_limit - driven_in_window)
                note(RULE_DRIVING_LIMIT, begin, end, start, 0.0)
                in_violation = True
            window_end = window_start + duty_window + window_excluded
            if end > window_end:
                note(RULE_DUTY_WINDOW, max(start, window_end), end, start, window_end)
                in_violation = True
            if check_break and driven_since_break + duration > _DRIVING_BEFORE_BREAK:
                begin = start + max(0.0, _DRIVING_BEFORE_BREAK - driven_since_break)
                note(RULE_THIRTY_MINUTE_BREAK, begin, end, start, 0.0)
                in_violation = True
            back = start - cycle_span
            count = len(on_ends)
            while on_position < count and on_ends[on_position] <= back:
                on_position += 1
            if on_position == count:
                used = on_total
            else:
                before = on_before[on_position] + max(0.0, back - on_starts[on_position])
                used = on_total - before
        # Driving or not, on-duty time counts toward the cycle: it extends the last on-duty
        # interval or opens one. (Inline, not a helper: this is the engine's hot loop.)
        if on_ends and on_ends[-1] == start:
            on_ends[-1] = end
        else:
            on_starts.append(start)
            on_ends.append(end)
            on_before.append(on_total)
        on_total += duration
        if kind != _DRIVE:
            continue
        if used + duration > cycle_limit:
            begin = _first_cycle_excess(
                used, start, end, cycle_limit, cycle_span, on_position, on_starts, on_ends
            )
            if begin is not None:
                note(cycle_rule, begin, end, start, 0.0)
                in_violation = True
        driven_in_window += duration
        driven_since_break += duration
        driven_since_rest += duration
        last_driving_end = end
        last_driving_in_violation = in_violation

    close(*list(open_violations))
    violations.sort(key=lambda violation: (violation[1], violation[0]))
    return _Pass(
        rules=rules,
        driving_limit=driving_limit,
        duty_window=duty_window,
        cycle_limit=cycle_limit,
        cycle_span=cycle_span,
        cycle_rule=cycle_rule,
        end=items[-1][2] if items else None,
        in_violation_at_end=(
            last_driving_in_violation
            and bool(items)
            and items[-1][0] == _DRIVE
            and items[-1][2] > items[-1][1]
        ),
        window_start=window_start,
        window_excluded=window_excluded,
        driven_in_window=driven_in_window,
        basis=basis,
        first_on_duty=first_on_duty,
        driven_since_break=driven_since_break,
        last_driving_end=last_driving_end,
        last_driving_in_violation=last_driving_in_violation,
        restart_end=restart_end,
        on_starts=on_starts,
        on_ends=on_ends,
        on_before=on_before,
        on_total=on_total,
        on_position=on_position,
        violations=violations,
    )


def _hours(seconds: float) -> str:
    """7.5, 11, 0.02: hours for sentences, at most two decimals."""
    text = f"{seconds / _HOUR:.2f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def _instant(seconds: float, zone: tzinfo | None) -> datetime:
    return datetime.fromtimestamp(seconds, zone)


def _violation_objects(run: _Pass, zone: tzinfo | None) -> list[Violation]:
    driving_limit = _hours(run.driving_limit)
    duty_window = _hours(run.duty_window)
    cycle_limit = _hours(run.cycle_limit)
    cycle_days = int(run.cycle_span // _DAY)
    result = []
    for rule, start, end, over, reference in run.violations:
        if rule == RULE_DRIVING_LIMIT:
            message = f"Drove {_hours(over)} h past the {driving_limit} h driving limit"
        elif rule == RULE_DUTY_WINDOW:
            closed_at = _instant(reference, zone)
            message = (
                f"Drove {_hours(over)} h after the {duty_window} h duty window closed "
                f"at {closed_at:%Y-%m-%d %H:%M}"
            )
        elif rule == RULE_THIRTY_MINUTE_BREAK:
            message = f"Drove {_hours(over)} h past 8 h of driving without a 30-minute break"
        else:
            message = (
                f"Drove {_hours(over)} h over the {cycle_limit} h on-duty limit "
                f"for {cycle_days} consecutive days"
            )
        result.append(Violation(rule, _instant(start, zone), _instant(end, zone), message))
    return result


def _check_instant(at: datetime) -> float:
    if not isinstance(at, datetime) or at.utcoffset() is None:
        raise InvalidLog("the instant to evaluate at must be a time-zone-aware datetime")
    return at.timestamp()


def find_violations(segments: Sequence[Segment], rules: RuleSet = RuleSet()) -> list[Violation]:
    """Every interval of driving past a limit in the whole log, tagged with its 49 CFR 395 rule.

    The whole log is known, so a split-sleeper pair completed later in the log excuses driving
    done before its second rest (FMCSA computes compliance retroactively the same way).
    Times are returned in the time zone of the first segment.
    """
    if not segments:
        validate_segments(segments)
        return []
    run = _evaluate_log(segments, None, rules)
    return _violation_objects(run, segments[0].start.tzinfo)


def evaluate(segments: Sequence[Segment], at: datetime, rules: RuleSet = RuleSet()) -> HosClock:
    """The driver's hours-of-service clock at `at`, from the log as known at that instant.

    Segments are cut at `at`; time after the last segment up to `at` counts as off duty, and a
    rest still in progress at `at` counts as ending there (the driver could start now). A segment
    starting exactly at `at` is the status taken at that instant: on duty or driving, it opens the
    window at `at`; anything else ends a driving violation at `at`. Pairs
    are only those complete by `at`, so driving after a first split rest can show a violation
    that a later qualifying sleeper period would excuse: the clock is conservative by design.

    `cycle_remaining` is the limit minus on-duty time in the trailing 7/8 days, as ELDs show it;
    `available_driving_time` also credits hours rolling off the back of the window.
    """
    instant = _check_instant(at)
    run = _evaluate_log(segments, instant, rules)
    zone = at.tzinfo
    violations = _violation_objects(run, zone)

    def when(seconds: float) -> str:
        return f"{_instant(seconds, zone):%Y-%m-%d %H:%M}"

    explanations: dict[str, str] = {}
    kind, basis_first, basis_second = run.basis
    if kind == "reset":
        since = f"since the 10-hour break that ended {when(basis_first)}"
    elif kind == "split":
        since = (
            f"since the end of the first split-sleeper rest at {when(basis_first)} "
            f"(pair completed {when(basis_second)})"
        )
    elif run.first_on_duty is not None:
        since = f"since the start of the log (first on duty {when(run.first_on_duty)})"
    else:
        since = "with no on-duty time in the log"

    drive_remaining = max(0.0, run.driving_limit - run.driven_in_window)
    explanations["drive_remaining"] = (
        f"{_hours(drive_remaining)} h of the {_hours(run.driving_limit)} h driving limit left {since}"
    )

    window_end: datetime | None
    if run.window_start is None:
        window_remaining = run.duty_window
        window_end = None
        explanations["window_remaining"] = (
            f"The {_hours(run.duty_window)} h duty window has not opened {since}; "
            "it opens when the driver next comes on duty"
        )
    else:
        closes = run.window_start + run.duty_window + run.window_excluded
        window_remaining = max(0.0, closes - instant)
        window_end = _instant(closes, zone)
        excluded = ""
        if run.window_excluded:
            excluded = f", extended by {_hours(run.window_excluded)} h of split-sleeper rest"
        explanations["window_remaining"] = (
            f"{_hours(window_remaining)} h of the {_hours(run.duty_window)} h duty window left: "
            f"it opened {when(run.window_start)} and closes {when(closes)}{excluded}"
        )

    break_required_in: float | None
    if run.rules.short_haul_exception:
        break_required_in = None
        explanations["break_required_in"] = "No 30-minute break required: short-haul exception (395.1(e)(1))"
    else:
        driven = run.driven_since_break
        if instant - run.last_driving_end >= _BREAK:
            driven = 0.0
        break_required_in = max(0.0, _DRIVING_BEFORE_BREAK - driven)
        explanations["break_required_in"] = (
            f"{_hours(break_required_in)} h of driving left before a 30-minute break is "
            f"required ({_hours(driven)} h driven since the last 30 minutes off the wheel)"
        )

    cycle_used, _ = run.cycle_used_at(instant)
    cycle_remaining = max(0.0, run.cycle_limit - cycle_used)
    counted_from = instant - run.cycle_span
    counted_from_text = f"in the {int(run.cycle_span // _DAY)} days since {when(counted_from)}"
    if run.restart_end is not None and run.restart_end > counted_from:
        counted_from_text = f"since the 34-hour restart that ended {when(run.restart_end)}"
    explanations["cycle_remaining"] = (
        f"{_hours(cycle_remaining)} h of the {run.rules.cycle} cycle's "
        f"{_hours(run.cycle_limit)} h left: {_hours(cycle_used)} h on duty {counted_from_text}"
    )
    restart_completed_at = None
    if run.restart_end is not None:
        restart_completed_at = _instant(run.restart_end, zone)
        explanations["restart_completed_at"] = (
            f"34 or more hours off duty ended {when(run.restart_end)}: earlier on-duty time "
            "no longer counts toward the cycle"
        )

    return HosClock(
        at=at,
        drive_remaining=timedelta(seconds=drive_remaining),
        window_remaining=timedelta(seconds=window_remaining),
        window_end=window_end,
        break_required_in=(None if break_required_in is None else timedelta(seconds=break_required_in)),
        cycle_remaining=timedelta(seconds=cycle_remaining),
        cycle_hours_used=timedelta(seconds=cycle_used),
        restart_completed_at=restart_completed_at,
        in_violation=run.in_violation_at_end,
        violations=violations,
        explanations=explanations,
    )


def available_driving_time(
    segments: Sequence[Segment], at: datetime, rules: RuleSet = RuleSet()
) -> timedelta:
    """How long the driver may drive without stopping, starting at `at`, breaking no limit.

    The smallest of the driving limit, the duty window, the 30-minute break (unless short haul)
    and the cycle. The log is read as `evaluate` reads it: time after the last segment up to
    `at` is off duty. For the cycle it looks ahead: on-duty time sliding out of the 7/8-day
    window while the driver drives is credited, so this can exceed `cycle_remaining`.
    """
    instant = _check_instant(at)
    run = _evaluate_log(segments, instant, rules)
    available = max(0.0, run.driving_limit - run.driven_in_window)
    if run.window_start is not None:
        closes = run.window_start + run.duty_window + run.window_excluded
        available = min(available, max(0.0, closes - instant))
    if not rules.short_haul_exception:
        driven = run.driven_since_break
        if instant - run.last_driving_end >= _BREAK:
            driven = 0.0
        available = min(available, max(0.0, _DRIVING_BEFORE_BREAK - driven))
    if available > 0.0:
        used, position = run.cycle_used_at(instant)
        excess = _first_cycle_excess(
            used,
            instant,
            instant + available,
            run.cycle_limit,
            run.cycle_span,
            position,
            run.on_starts,
            run.on_ends,
        )
        if excess is not None:
            available = excess - instant
    return timedelta(seconds=available)
