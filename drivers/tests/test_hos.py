"""Table-driven tests of the hours-of-service engine (pure Python, no database).

Logs are written as "ON 2:00, D 8:00, OFF 0:30": duty status and duration, back to back from
the start of the log; "GAP" leaves a hole. Expected instants are offsets from that start, so
"11:30" is eleven and a half hours in and "168:00" is a week in.
"""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from drivers.hos import (
    RULE_CYCLE_60_7,
    RULE_CYCLE_70_8,
    RULE_DRIVING_LIMIT,
    RULE_DUTY_WINDOW,
    RULE_THIRTY_MINUTE_BREAK,
    DutyStatus,
    InvalidLog,
    RuleSet,
    Segment,
    available_driving_time,
    evaluate,
    find_violations,
    validate_segments,
)

CHICAGO = ZoneInfo("America/Chicago")
START = datetime(2025, 3, 3, 6, 0, tzinfo=UTC)
# The Sunday 2025-03-09 spring-forward falls inside logs that start here.
START_CHICAGO = datetime(2025, 3, 4, 0, 0, tzinfo=CHICAGO)

STATUS_CODES = {
    "OFF": DutyStatus.OFF_DUTY,
    "SB": DutyStatus.SLEEPER_BERTH,
    "D": DutyStatus.DRIVING,
    "ON": DutyStatus.ON_DUTY,
}

R11 = RULE_DRIVING_LIMIT
R14 = RULE_DUTY_WINDOW
BREAK = RULE_THIRTY_MINUTE_BREAK
CYCLE_60 = RULE_CYCLE_60_7
CYCLE_70 = RULE_CYCLE_70_8

NORMAL = RuleSet()
SIXTY = RuleSet(cycle="60/7")
ADVERSE = RuleSet(adverse_driving_conditions=True)
SHORT_HAUL = RuleSet(short_haul_exception=True)


def duration(text: str) -> timedelta:
    hours, minutes = text.split(":")
    return timedelta(hours=int(hours), minutes=int(minutes))


def instant(offset: str, start: datetime = START) -> datetime:
    # Absolute arithmetic: wall-clock addition would be wrong across a DST change.
    return (start.astimezone(UTC) + duration(offset)).astimezone(start.tzinfo)


def driver_log(pieces: str, start: datetime = START) -> list[Segment]:
    segments = []
    elapsed = timedelta()
    for piece in filter(None, (piece.strip() for piece in pieces.split(","))):
        code, length = piece.split()
        begin = elapsed
        elapsed += duration(length)
        if code != "GAP":
            segments.append(
                Segment(
                    STATUS_CODES[code],
                    instant(_text(begin), start),
                    instant(_text(elapsed), start),
                )
            )
    return segments


def _text(offset: timedelta) -> str:
    minutes = int(offset.total_seconds()) // 60
    return f"{minutes // 60}:{minutes % 60:02d}"


def hours(value: timedelta | None) -> str | None:
    return None if value is None else _text(value)


SIX_DAYS_AT_60 = (
    "ON 2:00, D 8:00, OFF 14:00, "
    + "ON 2:00, D 6:00, OFF 16:00, " * 5
    + "ON 2:00, D 8:00, "  # day 6: 60 h on duty in the week, the last block ends 154:00
)
FIVE_DAYS = "ON 2:00, D 8:00, OFF 14:00, " * 4 + "ON 2:00, D 8:00, "  # 50 h, ends 106:00
SEVEN_DAYS_AT_70 = "ON 2:00, D 8:00, OFF 14:00, " * 7  # 70 h, ends 168:00
KELLER_OFF_FIRST = (
    # J. J. Keller's split example: 3 h off duty first, 7 h in the sleeper later.
    "ON 0:30, D 6:00, ON 0:30, OFF 3:00, ON 0:30, D 5:00, ON 2:00, SB 7:00"
)

VIOLATION_CASES = [
    # (name, log, rules, expected [(rule, start, end)])
    ("eleven_hours_of_driving_is_compliant", "D 8:00, OFF 0:30, D 3:00", NORMAL, []),
    (
        "eleven_hours_and_a_minute_is_a_one_minute_violation",
        "D 8:00, OFF 0:30, D 3:01",
        NORMAL,
        [(R11, "11:30", "11:31")],
    ),
    (
        "driving_after_the_fourteenth_hour",
        "ON 4:00, D 8:00, ON 0:30, D 2:00",
        NORMAL,
        [(R14, "14:00", "14:30")],
    ),
    ("driving_ends_exactly_at_the_fourteenth_hour", "ON 6:00, D 8:00", NORMAL, []),
    ("on_duty_after_the_fourteenth_hour_is_legal", "ON 6:00, D 8:00, ON 2:00", NORMAL, []),
    (
        "eight_hours_and_a_minute_without_a_break",
        "D 8:01",
        NORMAL,
        [(BREAK, "8:00", "8:01")],
    ),
    ("break_taken_on_duty", "D 4:00, ON 0:30, D 4:30", NORMAL, []),
    ("break_taken_in_the_sleeper", "D 5:00, SB 0:30, D 5:00", NORMAL, []),
    ("break_of_on_duty_then_off_duty_back_to_back", "D 5:00, ON 0:15, OFF 0:15, D 5:00", NORMAL, []),
    (
        "two_fifteen_minute_stops_are_not_a_break",
        "D 4:00, OFF 0:15, D 1:00, ON 0:15, D 3:30",
        NORMAL,
        [(BREAK, "8:30", "9:00")],
    ),
    ("eight_hours_break_three_hours", "D 8:00, OFF 0:30, D 3:00", NORMAL, []),
    (
        "back_to_back_driving_segments_make_one_violation",
        "D 8:00, D 1:00",
        NORMAL,
        [(BREAK, "8:00", "9:00")],
    ),
    (
        "window_violation_continues_across_short_stops",
        "ON 7:00, D 5:00, OFF 0:30, D 2:00, ON 0:15, D 1:00",
        NORMAL,
        [(R14, "14:00", "15:45")],
    ),
    (
        "ten_hours_of_off_duty_and_sleeper_mixed_reset_the_day",
        "D 8:00, OFF 0:30, D 3:00, OFF 4:00, SB 6:00, D 8:00",
        NORMAL,
        [],
    ),
    (
        "nine_hours_fifty_nine_is_not_a_reset",
        "D 8:00, OFF 0:30, D 3:00, OFF 9:59, D 1:00",
        NORMAL,
        [(R14, "21:29", "22:29"), (R11, "21:29", "22:29")],
    ),
    (
        "a_ten_hour_gap_in_the_log_is_off_duty",
        "D 8:00, OFF 0:30, D 3:00, GAP 10:00, D 8:00",
        NORMAL,
        [],
    ),
    ("a_thirty_minute_gap_is_a_break", "D 4:00, GAP 0:30, D 4:30", NORMAL, []),
    ("short_haul_needs_no_break", "D 10:00", SHORT_HAUL, []),
    ("without_short_haul_the_break_applies", "D 10:00", NORMAL, [(BREAK, "8:00", "10:00")]),
    ("adverse_conditions_allow_thirteen_hours", "D 8:00, OFF 0:30, D 5:00", ADVERSE, []),
    (
        "thirteen_hours_without_adverse_conditions",
        "D 8:00, OFF 0:30, D 5:00",
        NORMAL,
        [(R11, "11:30", "13:30")],
    ),
    (
        "adverse_conditions_thirteen_hours_and_a_minute",
        "D 8:00, OFF 0:30, D 5:01",
        ADVERSE,
        [(R11, "13:30", "13:31")],
    ),
    ("adverse_conditions_allow_a_sixteen_hour_window", "ON 3:00, D 8:00, OFF 0:30, D 4:30", ADVERSE, []),
    (
        "sixteen_hour_window_without_adverse_conditions",
        "ON 3:00, D 8:00, OFF 0:30, D 4:30",
        NORMAL,
        [(R14, "14:00", "16:00"), (R11, "14:30", "16:00")],
    ),
    # Split sleeper berth, 395.1(g)(1)(ii)
    ("split_8_sleeper_then_2_off", "D 7:00, SB 8:00, D 4:00, OFF 2:00", NORMAL, []),
    ("split_7_sleeper_then_3_off", "D 7:00, SB 7:00, D 4:00, OFF 3:00, D 7:00", NORMAL, []),
    (
        "split_7_3_then_one_minute_too_many",
        "D 7:00, SB 7:00, D 4:00, OFF 3:00, D 7:01",
        NORMAL,
        [(R11, "28:00", "28:01")],
    ),
    ("split_3_off_then_7_sleeper_keller", KELLER_OFF_FIRST, NORMAL, []),
    (
        "split_6_30_sleeper_does_not_qualify",
        "D 7:00, SB 6:30, D 4:00, OFF 3:30",
        NORMAL,
        [(R14, "14:00", "17:30")],
    ),
    (
        "split_7_plus_2_is_short_of_10",
        "D 5:00, SB 7:00, D 5:00, OFF 2:00",
        NORMAL,
        [(R14, "14:00", "17:00")],
    ),
    (
        "split_pairs_chain",
        "D 6:00, SB 8:00, D 5:00, OFF 2:00, D 6:00, SB 8:00, D 5:00",
        NORMAL,
        [],
    ),
    (
        "split_pairs_chain_then_a_minute_too_many",
        "D 6:00, SB 8:00, D 5:00, OFF 2:00, D 6:00, SB 8:00, D 5:01",
        NORMAL,
        [(R11, "40:00", "40:01")],
    ),
    (
        "ten_hours_in_the_sleeper_completes_a_pair_with_the_earlier_3_hours",
        "D 5:00, OFF 3:00, ON 1:00, D 6:00, SB 10:00",
        NORMAL,
        [],
    ),
    (
        "ten_hours_off_duty_without_sleeper_pairs_with_nothing",
        "D 5:00, OFF 3:00, ON 1:00, D 6:00, OFF 10:00",
        NORMAL,
        [(R14, "14:00", "15:00")],
    ),
    (
        "a_ten_hour_break_is_never_the_first_of_a_pair",
        "OFF 10:00, D 5:00, SB 7:00, D 3:00",
        NORMAL,
        [(R14, "24:00", "25:00")],
    ),
    # Cycle, 395.3(b) and restart, 395.3(c)
    (
        "driving_after_60_hours_in_7_days",
        "ON 2:00, D 8:00, OFF 14:00, " * 6 + "ON 1:00, D 2:00",
        SIXTY,
        [(CYCLE_60, "145:00", "147:00")],
    ),
    (
        "the_same_week_is_legal_on_70_8",
        "ON 2:00, D 8:00, OFF 14:00, " * 6 + "ON 1:00, D 2:00",
        NORMAL,
        [],
    ),
    (
        "driving_after_70_hours_in_8_days",
        SEVEN_DAYS_AT_70 + "ON 1:00, D 2:00",
        NORMAL,
        [(CYCLE_70, "169:00", "171:00")],
    ),
    (
        "hours_rolling_off_the_week_keep_pace_with_driving",
        SIX_DAYS_AT_60 + "OFF 14:00, D 8:00",
        SIXTY,
        [],
    ),
    (
        "driving_an_hour_before_the_oldest_hours_roll_off",
        SIX_DAYS_AT_60 + "OFF 13:00, D 2:00",
        SIXTY,
        [(CYCLE_60, "167:00", "169:00")],
    ),
    (
        "driving_a_minute_before_the_oldest_hours_roll_off",
        SIX_DAYS_AT_60 + "OFF 13:59, D 0:02",
        SIXTY,
        [(CYCLE_60, "167:59", "168:01")],
    ),
    ("a_34_hour_restart_clears_the_week", FIVE_DAYS + "OFF 34:00, ON 2:01, D 8:00", SIXTY, []),
    (
        "33_hours_59_is_not_a_restart",
        FIVE_DAYS + "OFF 33:59, ON 2:01, D 8:00",
        SIXTY,
        [(CYCLE_60, "149:59", "150:00")],
    ),
]


@pytest.mark.parametrize(
    "log, rules, expected",
    [case[1:] for case in VIOLATION_CASES],
    ids=[case[0] for case in VIOLATION_CASES],
)
@pytest.mark.parametrize("start", [START, START_CHICAGO], ids=["utc", "chicago"])
def test_find_violations(log, rules, expected, start):
    violations = find_violations(driver_log(log, start), rules)

    assert [(v.rule, v.start, v.end) for v in violations] == [
        (rule, instant(begin, start), instant(end, start)) for rule, begin, end in expected
    ]


CLOCK_CASES = [
    # (name, log, rules, at, (drive, window, break, cycle remaining), window_end)
    ("fresh_driver_with_no_log", "", NORMAL, "0:00", ("11:00", "14:00", "8:00", "70:00"), None),
    ("after_3_30_of_driving", "D 3:30", NORMAL, "3:30", ("7:30", "10:30", "4:30", "66:30"), "14:00"),
    (
        "eleven_hours_driven",
        "D 8:00, OFF 0:30, D 3:00",
        NORMAL,
        "11:30",
        ("0:00", "2:30", "5:00", "59:00"),
        "14:00",
    ),
    (
        "on_duty_after_the_window_closed",
        "ON 6:00, D 8:00, ON 2:00",
        NORMAL,
        "16:00",
        ("3:00", "0:00", "8:00", "54:00"),
        "14:00",
    ),
    (
        "two_fifteen_minute_stops_do_not_restart_the_break_clock",
        "D 4:00, OFF 0:15, D 1:00, ON 0:15, D 2:00",
        NORMAL,
        "7:30",
        ("4:00", "6:30", "1:00", "62:45"),
        "14:00",
    ),
    (
        "nine_hours_fifty_nine_off_is_not_a_reset",
        "D 8:00, OFF 0:30, D 3:00, OFF 9:59",
        NORMAL,
        "21:29",
        ("0:00", "0:00", "8:00", "59:00"),
        "14:00",
    ),
    (
        "ten_hours_after_the_end_of_the_log_reset_the_day",
        "D 8:00, OFF 0:30, D 3:00",
        NORMAL,
        "21:30",
        ("11:00", "14:00", "8:00", "59:00"),
        None,
    ),
    (
        "asked_in_the_middle_of_a_driving_segment",
        "D 10:00",
        NORMAL,
        "5:00",
        ("6:00", "9:00", "3:00", "65:00"),
        "14:00",
    ),
    (
        "adverse_conditions_extend_driving_and_window",
        "D 8:00, OFF 0:30, D 3:00",
        ADVERSE,
        "11:30",
        ("2:00", "4:30", "5:00", "59:00"),
        "16:00",
    ),
    (
        "short_haul_has_no_break_clock",
        "D 10:00",
        SHORT_HAUL,
        "10:00",
        ("1:00", "4:00", None, "60:00"),
        "14:00",
    ),
    (
        # J. J. Keller: 7 h driving available within a 10 h window.
        "split_8_2_counts_from_the_end_of_the_sleeper",
        "D 7:00, SB 8:00, D 4:00, OFF 2:00",
        NORMAL,
        "21:00",
        ("7:00", "10:00", "8:00", "59:00"),
        "31:00",
    ),
    (
        "split_7_3",
        "D 7:00, SB 7:00, D 4:00, OFF 3:00",
        NORMAL,
        "21:00",
        ("7:00", "10:00", "8:00", "59:00"),
        "31:00",
    ),
    (
        # J. J. Keller: 6 h of driving and 6.5 h of the window left after the sleeper.
        "split_3_off_then_7_sleeper_keller",
        KELLER_OFF_FIRST,
        NORMAL,
        "24:30",
        ("6:00", "6:30", "8:00", "55:30"),
        "31:00",
    ),
    (
        "split_3_off_then_7_sleeper",
        "D 5:00, OFF 3:00, D 5:00, SB 7:00",
        NORMAL,
        "20:00",
        ("6:00", "9:00", "8:00", "60:00"),
        "29:00",
    ),
    (
        "split_pairs_chain",
        "D 6:00, SB 8:00, D 5:00, OFF 2:00, D 6:00, SB 8:00",
        NORMAL,
        "35:00",
        ("5:00", "8:00", "8:00", "53:00"),
        "43:00",
    ),
    (
        "split_6_30_does_not_qualify",
        "D 7:00, SB 6:30, D 4:00, OFF 3:30",
        NORMAL,
        "21:00",
        ("0:00", "0:00", "8:00", "59:00"),
        "14:00",
    ),
    (
        "week_at_60_hours",
        SIX_DAYS_AT_60 + "OFF 14:00",
        SIXTY,
        "168:00",
        ("11:00", "14:00", "8:00", "0:00"),
        None,
    ),
    (
        "five_oldest_hours_rolled_off",
        SIX_DAYS_AT_60 + "OFF 14:00",
        SIXTY,
        "173:00",
        ("11:00", "14:00", "8:00", "5:00"),
        None,
    ),
    (
        "the_oldest_day_rolled_off",
        SIX_DAYS_AT_60 + "OFF 14:00",
        SIXTY,
        "178:00",
        ("11:00", "14:00", "8:00", "10:00"),
        None,
    ),
    (
        "after_a_34_hour_restart",
        FIVE_DAYS + "OFF 34:00, ON 2:00, D 8:00",
        SIXTY,
        "150:00",
        ("3:00", "4:00", "0:00", "50:00"),
        "154:00",
    ),
    (
        "after_33_hours_59_off",
        FIVE_DAYS + "OFF 33:59, ON 2:00, D 8:00",
        SIXTY,
        "149:59",
        ("3:00", "4:00", "0:00", "0:00"),
        "153:59",
    ),
]


@pytest.mark.parametrize(
    "log, rules, at, remaining, window_end",
    [case[1:] for case in CLOCK_CASES],
    ids=[case[0] for case in CLOCK_CASES],
)
@pytest.mark.parametrize("start", [START, START_CHICAGO], ids=["utc", "chicago"])
def test_clock(log, rules, at, remaining, window_end, start):
    clock = evaluate(driver_log(log, start), instant(at, start), rules)

    assert (
        hours(clock.drive_remaining),
        hours(clock.window_remaining),
        hours(clock.break_required_in),
        hours(clock.cycle_remaining),
    ) == remaining
    assert clock.window_end == (None if window_end is None else instant(window_end, start))
    assert clock.drive_remaining + clock.window_remaining >= timedelta()


AVAILABLE_CASES = [
    # (name, log, rules, at, available)
    ("fresh_driver_is_held_by_the_break", "", NORMAL, "0:00", "8:00"),
    ("fresh_short_haul_driver_has_eleven_hours", "", SHORT_HAUL, "0:00", "11:00"),
    ("eleven_hours_driven", "D 8:00, OFF 0:30, D 3:00", NORMAL, "11:30", "0:00"),
    ("window_is_the_limit", "ON 10:00, D 2:00", NORMAL, "12:00", "2:00"),
    ("split_keller", KELLER_OFF_FIRST, NORMAL, "24:30", "6:00"),
    # Cycle shows 0 h left, but every hour driven pushes an hour of day 1 out of the week.
    ("week_at_60_with_hours_rolling_off", SIX_DAYS_AT_60 + "OFF 14:00", SIXTY, "168:00", "8:00"),
    ("week_at_60_short_haul", SIX_DAYS_AT_60 + "OFF 14:00", RuleSet("60/7", False, True), "168:00", "10:00"),
    ("week_at_60_an_hour_early", SIX_DAYS_AT_60 + "OFF 13:00", SIXTY, "167:00", "0:00"),
]


@pytest.mark.parametrize(
    "log, rules, at, expected",
    [case[1:] for case in AVAILABLE_CASES],
    ids=[case[0] for case in AVAILABLE_CASES],
)
def test_available_driving_time(log, rules, at, expected):
    assert available_driving_time(driver_log(log), instant(at), rules) == duration(expected)


def test_a_split_first_rest_is_provisional_until_the_sleeper_period_is_taken():
    log = driver_log(KELLER_OFF_FIRST)

    before_sleeper = evaluate(log, instant("17:00"))
    after_sleeper = evaluate(log, instant("24:30"))

    assert [(v.rule, v.start, v.end) for v in before_sleeper.violations] == [
        (R14, instant("14:00"), instant("15:30"))
    ]
    assert after_sleeper.violations == []


def test_restart_completed_at_is_the_end_of_the_34_hours():
    log = driver_log(FIVE_DAYS + "OFF 34:00, ON 2:00, D 8:00")

    clock = evaluate(log, instant("150:00"), SIXTY)

    assert clock.restart_completed_at == instant("140:00")
    assert clock.cycle_hours_used == timedelta(hours=10)
    assert evaluate(log, instant("139:00"), SIXTY).restart_completed_at is None


def test_window_end_crosses_the_spring_forward_in_absolute_hours():
    start = datetime(2025, 3, 8, 22, 0, tzinfo=CHICAGO)  # CST, clocks jump at 02:00
    log = [Segment(DutyStatus.DRIVING, start, instant("8:00", start))]

    clock = evaluate(log, instant("8:00", start))

    assert clock.window_end == datetime(2025, 3, 9, 13, 0, tzinfo=CHICAGO)  # 14 h, not 15
    assert clock.window_remaining == timedelta(hours=6)
    assert log[0].end == datetime(2025, 3, 9, 7, 0, tzinfo=CHICAGO)


def test_segments_in_mixed_zones_are_compared_in_absolute_time():
    start = datetime(2025, 3, 3, 6, 0, tzinfo=CHICAGO)
    log = [
        Segment(DutyStatus.DRIVING, start, datetime(2025, 3, 3, 20, 0, tzinfo=UTC)),  # 8 h
        Segment(DutyStatus.ON_DUTY, datetime(2025, 3, 3, 14, 0, tzinfo=CHICAGO), instant("8:30", start)),
        Segment(DutyStatus.DRIVING, instant("8:30", start), instant("11:31", start)),
    ]

    violations = find_violations(log)

    assert [(v.rule, v.start, v.end) for v in violations] == [
        (R11, instant("11:30", start), instant("11:31", start))
    ]
    assert violations[0].start.tzinfo is CHICAGO


def test_drive_remaining_is_explained_from_the_ten_hour_break():
    chicago_morning = datetime(2025, 3, 3, 6, 0, tzinfo=CHICAGO)
    log = driver_log("D 3:30", chicago_morning)
    log.insert(
        0,
        Segment(DutyStatus.OFF_DUTY, instant("0:00", chicago_morning) - timedelta(hours=10), chicago_morning),
    )

    clock = evaluate(log, instant("3:30", chicago_morning))

    assert clock.explanations["drive_remaining"] == (
        "7.5 h of the 11 h driving limit left since the 10-hour break that ended 2025-03-03 06:00"
    )
    assert clock.explanations["window_remaining"] == (
        "10.5 h of the 14 h duty window left: it opened 2025-03-03 06:00 and closes 2025-03-03 20:00"
    )
    assert clock.explanations["break_required_in"].startswith("4.5 h of driving left before")
    assert clock.explanations["cycle_remaining"].startswith("66.5 h of the 70/8 cycle's 70 h left")


def test_explanations_name_the_split_pair_and_the_short_haul_exemption():
    clock = evaluate(driver_log("D 7:00, SB 8:00, D 4:00, OFF 2:00"), instant("21:00"), SHORT_HAUL)

    assert clock.explanations["drive_remaining"] == (
        "7 h of the 11 h driving limit left since the end of the first split-sleeper rest at "
        "2025-03-03 21:00 (pair completed 2025-03-04 03:00)"
    )
    assert "extended by 2 h of split-sleeper rest" in clock.explanations["window_remaining"]
    assert "short-haul" in clock.explanations["break_required_in"]
    assert clock.break_required_in is None


def test_violation_messages_say_what_was_driven_past_which_limit():
    violations = find_violations(driver_log("ON 4:00, D 8:00, ON 0:30, D 2:00"))

    assert [v.message for v in violations] == [
        "Drove 0.5 h after the 14 h duty window closed at 2025-03-03 20:00"
    ]


@pytest.mark.parametrize(
    "at, in_violation, violation_count",
    [("8:30", True, 1), ("4:00", False, 0), ("9:00", False, 1)],
    ids=["driving_past_the_break_limit", "before_any_limit", "stopped_after_the_violation"],
)
def test_in_violation_means_driving_past_a_limit_right_now(at, in_violation, violation_count):
    clock = evaluate(driver_log("D 8:30"), instant(at))

    assert clock.in_violation is in_violation
    assert len(clock.violations) == violation_count


def test_evaluate_ignores_the_log_after_the_instant():
    log = driver_log("D 8:00, OFF 0:30, D 3:00, ON 1:00, D 2:00")

    clock = evaluate(log, instant("9:00"))

    assert clock.violations == []
    assert clock.drive_remaining == timedelta(hours=2, minutes=30)
    assert len(find_violations(log)) == 2


def _segment(status, start, end):
    return Segment(status, instant(start), instant(end))


INVALID_LOGS = [
    (
        "unsorted",
        [_segment("DRIVING", "2:00", "3:00"), _segment("DRIVING", "0:00", "1:00")],
        "segment 1: start 2025-03-03T06:00:00+00:00 is before the previous segment (unsorted)",
    ),
    (
        "overlapping",
        [_segment("DRIVING", "0:00", "2:00"), _segment("ON_DUTY", "1:00", "3:00")],
        "segment 1: start 2025-03-03T07:00:00+00:00 overlaps the previous segment",
    ),
    (
        "zero_length",
        [_segment("DRIVING", "1:00", "1:00")],
        "segment 0: end 2025-03-03T07:00:00+00:00 is not after start",
    ),
    (
        "negative_length",
        [_segment("DRIVING", "2:00", "1:00")],
        "segment 0: end 2025-03-03T07:00:00+00:00 is not after start",
    ),
    (
        "naive_start",
        [Segment(DutyStatus.DRIVING, datetime(2025, 3, 3, 6), instant("1:00"))],
        "segment 0: naive datetime, a time zone is required",
    ),
    (
        "naive_end",
        [Segment(DutyStatus.DRIVING, instant("0:00"), datetime(2025, 3, 3, 7))],
        "segment 0: naive datetime, a time zone is required",
    ),
    (
        "unknown_status",
        [_segment("DRIVING", "0:00", "1:00"), _segment("YARD_MOVE", "1:00", "2:00")],
        "segment 1: unknown duty status 'YARD_MOVE' "
        "(expected one of OFF_DUTY, SLEEPER_BERTH, DRIVING, ON_DUTY)",
    ),
]


@pytest.mark.parametrize(
    "segments, message",
    [case[1:] for case in INVALID_LOGS],
    ids=[case[0] for case in INVALID_LOGS],
)
def test_invalid_logs_are_rejected(segments, message):
    with pytest.raises(InvalidLog) as validated:
        validate_segments(segments)
    with pytest.raises(InvalidLog):
        evaluate(segments, instant("10:00"))
    with pytest.raises(InvalidLog):
        find_violations(segments)

    assert str(validated.value) == message


def test_status_given_as_its_plain_string_is_accepted():
    plain = [_segment("DRIVING", "0:00", "1:00"), _segment("ON_DUTY", "1:00", "2:00")]
    typed = [_segment(DutyStatus.DRIVING, "0:00", "1:00"), _segment(DutyStatus.ON_DUTY, "1:00", "2:00")]
    assert validate_segments(plain) is None  # no InvalidLog
    # Read exactly as the enum: 1 h driven, 2 h of the duty window used.
    clock = evaluate(plain, instant("2:00"))
    assert clock == evaluate(typed, instant("2:00"))
    assert (clock.drive_remaining, clock.window_remaining) == (timedelta(hours=10), timedelta(hours=12))


def test_a_naive_instant_is_rejected():
    with pytest.raises(InvalidLog):
        evaluate(driver_log("D 1:00"), datetime(2025, 3, 3, 8))


def test_an_unknown_cycle_is_rejected():
    with pytest.raises(ValueError, match="unknown cycle '80/8'"):
        RuleSet(cycle="80/8")
