"""drivers.planning.plan_driving: how much a driver may legally drive from an instant, taking
30-minute breaks when 8 hours of driving require one, and which limit stops them (pure, no DB)."""

from datetime import UTC, datetime, timedelta

import pytest

from drivers.hos import DutyStatus, RuleSet, Segment
from drivers.planning import Limit, hours, plan_driving

T = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
H = timedelta(hours=1)
OFF, SB, D, ON = DutyStatus.OFF_DUTY, DutyStatus.SLEEPER_BERTH, DutyStatus.DRIVING, DutyStatus.ON_DUTY
SHORT_HAUL = RuleSet(short_haul_exception=True)


def log(start: datetime, *entries: tuple[DutyStatus | None, float]) -> list[Segment]:
    segments, cursor = [], start
    for status, length in entries:
        end = cursor + length * H
        if status is not None:
            segments.append(Segment(status, cursor, end))
        cursor = end
    return segments


def week_of_shifts(first_shift: float) -> list[Segment]:
    entries = [(ON, first_shift), (None, 24 - first_shift)]
    for _ in range(6):
        entries += [(ON, 10), (None, 14)]
    return log(T - 166 * H, *entries[:-1])


CASES = [
    # (name, segments, start, rules, needed hours, expected driving h, binding, breaks)
    ("fresh: 8 h, a break, 3 h", [], T, RuleSet(), None, 11.0, Limit.DRIVING_LIMIT, 1),
    ("fresh short haul: no break", [], T, SHORT_HAUL, None, 11.0, Limit.DRIVING_LIMIT, 0),
    ("needed fits", [], T, RuleSet(), 5, 5.0, None, 0),
    ("needed exactly 11 h", [], T, RuleSet(), 11, 11.0, None, 1),
    ("8 h driven: break first", log(T - 8 * H, (D, 8)), T, RuleSet(), None, 3.0, Limit.DRIVING_LIMIT, 1),
    ("11 h on duty: 3 h of window", log(T - 11 * H, (ON, 11)), T, RuleSet(), None, 3.0, Limit.DUTY_WINDOW, 0),
    ("window closed", log(T - 14 * H, (ON, 14)), T, RuleSet(), None, 0.0, Limit.DUTY_WINDOW, 0),
    ("after a 10-hour break", log(T - 21 * H, (D, 11)), T, SHORT_HAUL, None, 11.0, Limit.DRIVING_LIMIT, 0),
    (
        "9 h off is no reset",
        log(T - 20 * H, (D, 11)),
        T,
        SHORT_HAUL,
        None,
        0.0,
        Limit.DRIVING_LIMIT,
        0,
    ),
    (
        "the break eats the window",
        log(T - 10.7 * H, (ON, 3.2), (D, 7.5)),
        T + timedelta(minutes=5),
        RuleSet(),
        3,
        2.71,
        Limit.THIRTY_MINUTE_BREAK,
        1,
    ),
    (
        "without a need the window binds",
        log(T - 10.7 * H, (ON, 3.2), (D, 7.5)),
        T + timedelta(minutes=5),
        RuleSet(),
        None,
        2.71,
        Limit.DUTY_WINDOW,
        1,
    ),
    ("70-hour cycle", week_of_shifts(8.5), T, RuleSet(), None, 1.5, Limit.CYCLE, 0),
    ("60-hour cycle", week_of_shifts(8.5), T, RuleSet(cycle="60/7"), None, 0.0, Limit.CYCLE, 0),
    (
        "the log is cut at the start",
        log(T - 2 * H, (D, 4)),
        T,
        RuleSet(),
        None,
        9.0,
        Limit.DRIVING_LIMIT,
        1,
    ),
    (
        "a rest in progress counts up to the start",
        log(T - 3 * H, (D, 2), (OFF, 6)),
        T,
        SHORT_HAUL,
        None,
        9.0,
        Limit.DRIVING_LIMIT,
        0,
    ),
]


@pytest.mark.parametrize(
    ("segments", "start", "rules", "needed", "expected", "binding", "breaks"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_plan_driving(segments, start, rules, needed, expected, binding, breaks):
    plan = plan_driving(segments, start, rules, None if needed is None else needed * H)
    assert hours(plan.driving) == expected
    assert plan.binding == binding
    assert len(plan.breaks) == breaks
    assert plan.start == start


def test_the_break_is_taken_after_8_hours_of_driving():
    plan = plan_driving(log(T - 2 * H, (D, 2)), T, RuleSet())
    assert plan.breaks == [T + 6 * H]
    assert plan.rule == "395.3(a)(3)(i)"


def test_hours_round_down_to_the_hundredth():
    assert hours(timedelta(hours=1, minutes=55)) == 1.91
    assert hours(timedelta(hours=11) - timedelta(microseconds=1)) == 11.0
    assert hours(timedelta(hours=2, seconds=-40)) == 1.98
