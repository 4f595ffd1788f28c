"""The HOS clock at the exact instants where something starts or ends (pure, no database).

Each case is (instant, log, expected clock): the instant sits on a boundary (the start or end of a
duty segment, of a rest, of a 30-minute break, of a 34-hour restart, of the 8-day window), and
most come in pairs with the minute before or after so the boundary itself is what is tested.
Logs and offsets are written as in test_hos: "ON 2:00, D 8:00" back to back from START.

Conventions checked here, as the engine documents them: a change of status takes effect at its
instant (at the minute a driver goes on duty the 14-hour window is open; at the minute they stop
driving they are no longer driving past a limit); limits are inclusive (10 h off is a reset, 30
min off is a break, 34 h off is a restart, driving that ends exactly at a limit is compliant).
"""

from datetime import timedelta

import pytest

from drivers.hos import RuleSet, evaluate
from drivers.tests.test_hos import FIVE_DAYS, SIX_DAYS_AT_60, START, driver_log, instant

SIXTY = RuleSet(cycle="60/7")
# 70 h on duty by 168:00, the last of it ending 164:00 so that no 34-hour restart comes before the
# first day (on duty from 0:00) starts leaving the 8 days at 192:00.
EIGHT_DAYS_AT_70 = "ON 2:00, D 8:00, OFF 14:00, " * 6 + "OFF 10:00, ON 2:00, D 8:00, OFF 4:00, "

# Expected clock: drive, window, window_end (offset or None), break, cycle remaining,
# restart_completed_at (offset or None), in_violation. Only the keys given are compared.
BOUNDARIES = [
    # --- start of the log's first on-duty segment
    (
        "on_duty_at_its_first_minute",
        "ON 2:00",
        "0:00",
        dict(window="14:00", window_end="14:00", drive="11:00"),
    ),
    ("on_duty_a_minute_in", "ON 2:00", "0:01", dict(window="13:59", window_end="14:00")),
    ("driving_at_its_first_minute", "D 2:00", "0:00", dict(window_end="14:00", break_="8:00", drive="11:00")),
    ("a_gap_then_on_duty_at_its_first_minute", "GAP 3:00, ON 1:00", "3:00", dict(window_end="17:00")),
    ("off_duty_first_opens_no_window", "OFF 2:00, ON 1:00", "2:00", dict(window_end="16:00")),
    ("the_instant_before_on_duty", "OFF 2:00, ON 1:00", "1:59", dict(window="14:00", window_end=None)),
    # --- end of a duty segment
    ("end_of_driving", "ON 1:00, D 3:00", "4:00", dict(drive="8:00", window="10:00", break_="5:00")),
    ("end_of_on_duty", "ON 1:00", "1:00", dict(window="13:00", window_end="14:00", cycle="69:00")),
    # --- the 10-hour rest: start, end, and going on duty at its end
    ("start_of_the_rest", "D 5:00, OFF 10:00", "5:00", dict(drive="6:00", window_end="14:00")),
    ("a_minute_short_of_ten_hours_off", "D 5:00, OFF 10:00", "14:59", dict(drive="6:00", window="0:00")),
    ("ten_hours_off_exactly", "D 5:00, OFF 10:00", "15:00", dict(drive="11:00", window_end=None)),
    (
        "on_duty_at_the_end_of_the_ten_hours",
        "D 5:00, OFF 10:00, ON 1:00",
        "15:00",
        dict(drive="11:00", window="14:00", window_end="29:00"),
    ),
    ("a_minute_into_the_new_day", "D 5:00, OFF 10:00, ON 1:00", "15:01", dict(window_end="29:00")),
    (
        "driving_at_the_end_of_the_ten_hours",
        "D 5:00, OFF 10:00, D 1:00",
        "15:00",
        dict(drive="11:00", window_end="29:00", in_violation=False),
    ),
    (
        "sleeper_and_off_duty_make_ten_hours_at_the_instant",
        "D 5:00, SB 6:00, OFF 4:00, ON 1:00",
        "15:00",
        dict(drive="11:00", window_end="29:00"),
    ),
    # --- the 14-hour window: its last minute, its end, driving that starts after it
    ("window_last_minute", "ON 6:00, D 8:00", "13:59", dict(window="0:01", in_violation=False)),
    (
        "window_end_exactly",
        "ON 6:00, D 8:00",
        "14:00",
        dict(window="0:00", window_end="14:00", in_violation=False),
    ),
    ("a_minute_past_the_window", "ON 6:00, D 8:01", "14:01", dict(window="0:00", in_violation=True)),
    (
        "driving_starts_when_the_window_has_closed",
        "ON 14:00, D 1:00",
        "14:00",
        dict(window="0:00", window_end="14:00", in_violation=False),
    ),
    ("then_a_minute_of_it", "ON 14:00, D 1:00", "14:01", dict(in_violation=True)),
    (
        "driving_again_after_a_violation_starts_with_no_new_one",
        "D 11:30, ON 1:00, D 1:00",
        "12:30",
        dict(drive="0:00", in_violation=False),
    ),
    ("and_a_minute_later_it_is_one", "D 11:30, ON 1:00, D 1:00", "12:31", dict(in_violation=True)),
    (
        "stopping_at_the_instant_ends_the_violation",
        "ON 6:00, D 8:30, OFF 1:00",
        "14:30",
        dict(window="0:00", in_violation=False),
    ),
    ("a_minute_before_stopping", "ON 6:00, D 8:30, OFF 1:00", "14:29", dict(in_violation=True)),
    # --- the 11-hour driving limit
    ("eleven_hours_exactly", "D 8:00, OFF 0:30, D 3:00", "11:30", dict(drive="0:00", in_violation=False)),
    ("a_minute_past_eleven", "D 8:00, OFF 0:30, D 3:01", "11:31", dict(drive="0:00", in_violation=True)),
    # --- the 30-minute break: start, a minute short, end, driving again at its end
    ("break_starts", "D 8:00, OFF 0:30", "8:00", dict(break_="0:00", in_violation=False)),
    ("break_a_minute_short", "D 8:00, OFF 0:30", "8:29", dict(break_="0:00")),
    ("break_complete", "D 8:00, OFF 0:30", "8:30", dict(break_="8:00")),
    (
        "driving_again_at_the_end_of_the_break",
        "D 8:00, OFF 0:30, D 1:00",
        "8:30",
        dict(break_="8:00", drive="3:00"),
    ),
    ("break_on_duty_complete", "D 8:00, ON 0:30, D 1:00", "8:30", dict(break_="8:00")),
    ("driving_again_a_minute_early", "D 8:00, OFF 0:29, D 1:00", "8:29", dict(break_="0:00")),
    # --- split sleeper berth: the pair completes at the end of its second rest
    (
        "split_7_3_a_minute_before_the_pair",
        "D 7:00, SB 7:00, D 4:00, OFF 3:00",
        "20:59",
        dict(drive="0:00", window_end="14:00"),
    ),
    (
        "split_7_3_at_the_instant_the_pair_completes",
        "D 7:00, SB 7:00, D 4:00, OFF 3:00",
        "21:00",
        dict(drive="7:00", window="10:00", window_end="31:00"),
    ),
    (
        "split_7_3_driving_at_the_instant_the_pair_completes",
        "D 7:00, SB 7:00, D 4:00, OFF 3:00, D 1:00",
        "21:00",
        dict(drive="7:00", window_end="31:00", in_violation=False),
    ),
    (
        "split_sleeper_7_hours_exactly_then_on_duty",
        "D 5:00, OFF 3:00, D 5:00, SB 7:00, ON 1:00",
        "20:00",
        dict(drive="6:00", window="9:00", window_end="29:00"),
    ),
    # --- the 34-hour restart
    ("restart_a_minute_short", FIVE_DAYS + "OFF 34:00", "139:59", dict(restart=None, cycle="10:00")),
    ("restart_complete", FIVE_DAYS + "OFF 34:00", "140:00", dict(restart="140:00", cycle="60:00")),
    (
        "on_duty_at_the_end_of_the_restart",
        FIVE_DAYS + "OFF 34:00, ON 2:00",
        "140:00",
        dict(restart="140:00", cycle="60:00", window_end="154:00", drive="11:00"),
    ),
    (
        "restart_then_a_minute_on_duty",
        FIVE_DAYS + "OFF 34:00, ON 2:00",
        "140:01",
        dict(restart="140:00", cycle="59:59", window_end="154:00"),
    ),
    # --- the rolling 7/8-day window: on-duty time leaves it at the exact instant
    ("sixty_hours_at_the_end_of_the_week", SIX_DAYS_AT_60 + "OFF 14:00", "154:00", dict(cycle="0:00")),
    ("the_first_hour_on_duty_leaves_the_week", SIX_DAYS_AT_60 + "OFF 14:00", "168:00", dict(cycle="0:00")),
    ("a_minute_of_it_has_left", SIX_DAYS_AT_60 + "OFF 14:00", "168:01", dict(cycle="0:01")),
    ("the_first_two_hours_have_left", SIX_DAYS_AT_60 + "OFF 14:00", "170:00", dict(cycle="2:00")),
    ("seventy_hours_in_eight_days", EIGHT_DAYS_AT_70, "168:00", dict(cycle="0:00", restart=None)),
    ("a_minute_before_the_first_day_leaves", EIGHT_DAYS_AT_70, "191:59", dict(cycle="0:00")),
    ("the_first_day_starts_leaving_the_eight", EIGHT_DAYS_AT_70, "192:00", dict(cycle="0:00")),
    ("its_first_minute_has_left", EIGHT_DAYS_AT_70, "192:01", dict(cycle="0:01")),
    ("four_hours_of_it_have_left", EIGHT_DAYS_AT_70, "196:00", dict(cycle="4:00", restart=None)),
    (
        "on_duty_on_the_instant_the_day_starts_leaving",
        EIGHT_DAYS_AT_70 + "OFF 24:00, ON 1:00",
        "192:00",
        dict(cycle="0:00", window_end="206:00"),
    ),
]

RULES = {"sixty_hours_at_the_end_of_the_week", "the_first_hour_on_duty_leaves_the_week"}
RULES |= {"a_minute_of_it_has_left", "the_first_two_hours_have_left"}
RULES |= {"restart_a_minute_short", "restart_complete", "on_duty_at_the_end_of_the_restart"}
RULES |= {"restart_then_a_minute_on_duty"}


def _text(value: timedelta | None) -> str | None:
    if value is None:
        return None
    minutes = round(value.total_seconds() / 60)
    return f"{minutes // 60}:{minutes % 60:02d}"


def _offset(value) -> str | None:
    return None if value is None else _text(value - START)


def _reading(clock) -> dict:
    return {
        "drive": _text(clock.drive_remaining),
        "window": _text(clock.window_remaining),
        "window_end": _offset(clock.window_end),
        "break_": _text(clock.break_required_in),
        "cycle": _text(clock.cycle_remaining),
        "restart": _offset(clock.restart_completed_at),
        "in_violation": clock.in_violation,
    }


@pytest.mark.parametrize(
    "log, at, expected", [case[1:] for case in BOUNDARIES], ids=[case[0] for case in BOUNDARIES]
)
def test_the_clock_on_a_boundary(request, log, at, expected):
    name = request.node.callspec.id
    rules = SIXTY if name in RULES else RuleSet()

    reading = _reading(evaluate(driver_log(log), instant(at), rules))

    assert {key: reading[key] for key in expected} == expected


def test_every_boundary_case_is_named_once():
    names = [case[0] for case in BOUNDARIES]
    assert len(names) == len(set(names))
    assert set(names) >= RULES
