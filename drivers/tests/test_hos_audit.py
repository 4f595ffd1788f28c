"""Tests of `manage.py hos_audit`: the `audit` function table-driven, the command end to end.

No database: the command only reads a file and runs the engine.
"""

import copy
import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from drivers.management.commands.hos_audit import AuditInputError, Command, audit

LOG = {
    "cycle": "70/8",
    "adverse_driving_conditions": False,
    "short_haul_exception": False,
    "timezone": "America/Chicago",
    "segments": [
        {"status": "OFF_DUTY", "start": "2025-03-02T20:00", "end": "2025-03-03T06:00"},
        {"status": "DRIVING", "start": "2025-03-03T06:00", "end": "2025-03-03T14:00"},
        {"status": "OFF_DUTY", "start": "2025-03-03T14:00", "end": "2025-03-03T14:30"},
        {"status": "DRIVING", "start": "2025-03-03T14:30", "end": "2025-03-03T18:00"},
    ],
    "at": ["2025-03-03T12:00", "2025-03-03T18:00:30"],
}

REPORT = {
    "violations": [
        {
            "rule": "395.3(a)(3)(i)",
            "start": "2025-03-03T17:30",
            "end": "2025-03-03T18:00",
            "message": "Drove 0.5 h past the 11 h driving limit",
        }
    ],
    "checkpoints": [
        {
            "at": "2025-03-03T12:00",
            "drive_remaining_h": 5.0,
            "window_remaining_h": 8.0,
            "cycle_remaining_h": 64.0,
            "break_required_in_h": 2.0,
            "window_end": "2025-03-03T20:00",
        },
        {
            "at": "2025-03-03T18:00:30",
            "drive_remaining_h": 0.0,
            "window_remaining_h": 1.99,
            "cycle_remaining_h": 58.5,
            "break_required_in_h": 4.5,
            "window_end": "2025-03-03T20:00",
        },
    ],
}


def with_changes(**changes):
    document = copy.deepcopy(LOG)
    for key, value in changes.items():
        if value is None:
            document.pop(key)
        else:
            document[key] = value
    return document


def with_offsets(document, offset):
    for segment in document["segments"]:
        segment["start"] += offset
        segment["end"] += offset
    document["at"] = [value + offset for value in document["at"]]
    return document


def test_local_times_are_read_in_the_home_terminal_zone_and_written_back_naive():
    assert audit(copy.deepcopy(LOG)) == REPORT


def test_times_with_an_offset_are_kept_and_written_with_an_offset():
    document = with_offsets(with_changes(timezone=None), "-06:00")

    report = audit(document)

    assert report["violations"][0]["start"] == "2025-03-03T17:30-06:00"
    assert report["checkpoints"][0]["window_end"] == "2025-03-03T20:00-06:00"
    assert report["checkpoints"][1]["at"] == "2025-03-03T18:00:30-06:00"


def test_without_a_timezone_local_times_are_utc():
    report = audit(with_changes(timezone=None, at=["2025-03-03T12:00"]))

    assert report["checkpoints"][0]["window_end"] == "2025-03-03T20:00"
    assert report["violations"][0]["end"] == "2025-03-03T18:00"


def test_short_haul_checkpoints_have_no_break_clock():
    report = audit(with_changes(short_haul_exception=True))

    assert [checkpoint["break_required_in_h"] for checkpoint in report["checkpoints"]] == [None, None]


def test_a_fresh_driver_has_no_window_end():
    report = audit(with_changes(segments=[], at=["2025-03-03T06:00"]))

    assert report == {
        "violations": [],
        "checkpoints": [
            {
                "at": "2025-03-03T06:00",
                "drive_remaining_h": 11.0,
                "window_remaining_h": 14.0,
                "cycle_remaining_h": 70.0,
                "break_required_in_h": 8.0,
                "window_end": None,
            }
        ],
    }


def _segments_with(index, **fields):
    segments = copy.deepcopy(LOG["segments"])
    segments[index] = {**segments[index], **fields}
    for key, value in fields.items():
        if value is None:
            del segments[index][key]
    return segments


BAD_DOCUMENTS = [
    ("not_an_object", [], "the input must be a JSON object"),
    ("missing_segments", with_changes(segments=None), "the input: missing key 'segments'"),
    ("segments_not_a_list", with_changes(segments="none"), "'segments' must be a list"),
    (
        "segment_not_an_object",
        with_changes(segments=["DRIVING"]),
        "segment 0: must be an object with status, start and end",
    ),
    (
        "segment_missing_end",
        with_changes(segments=_segments_with(1, end=None)),
        "segment 1: missing key 'end'",
    ),
    (
        "unknown_status",
        with_changes(segments=_segments_with(1, status="DRIVNG")),
        "segment 1: unknown duty status 'DRIVNG' (expected one of OFF_DUTY, SLEEPER_BERTH, DRIVING, ON_DUTY)",
    ),
    (
        "overlapping_segments",
        with_changes(segments=_segments_with(2, start="2025-03-03T13:00")),
        "segment 2: start 2025-03-03T13:00:00-06:00 overlaps the previous segment",
    ),
    (
        "unsorted_segments",
        with_changes(segments=list(reversed(LOG["segments"]))),
        "segment 1: start 2025-03-03T14:00:00-06:00 is before the previous segment (unsorted)",
    ),
    (
        "segment_ending_before_it_starts",
        with_changes(segments=_segments_with(1, end="2025-03-03T05:00")),
        "segment 1: end 2025-03-03T05:00:00-06:00 is not after start",
    ),
    ("bad_cycle", with_changes(cycle="80/8"), "cycle must be '70/8' or '60/7', got '80/8'"),
    (
        "bad_timestamp",
        with_changes(segments=_segments_with(0, start="2025-03-02 25:00")),
        "segment 0: start '2025-03-02 25:00' is not an ISO 8601 date-time",
    ),
    (
        "timestamp_not_a_string",
        with_changes(segments=_segments_with(0, start=1740960000)),
        "segment 0: start must be an ISO 8601 date-time string, got 1740960000",
    ),
    ("bad_checkpoint", with_changes(at=["noon"]), "at[0] 'noon' is not an ISO 8601 date-time"),
    ("checkpoints_not_a_list", with_changes(at="2025-03-03T12:00"), "'at' must be a list of date-times"),
    ("unknown_time_zone", with_changes(timezone="Mars/Olympus"), "unknown time zone 'Mars/Olympus'"),
    (
        "flag_not_a_boolean",
        with_changes(short_haul_exception="yes"),
        "'short_haul_exception' must be true or false, got 'yes'",
    ),
]


@pytest.mark.parametrize(
    "document, message",
    [case[1:] for case in BAD_DOCUMENTS],
    ids=[case[0] for case in BAD_DOCUMENTS],
)
def test_bad_documents_are_rejected_with_a_one_line_message(document, message):
    with pytest.raises(AuditInputError) as rejected:
        audit(document)

    assert str(rejected.value) == message


# Through the command: these need Django settings (pytest-django provides them).


def test_command_reads_a_file(tmp_path):
    path = tmp_path / "log.json"
    path.write_text(json.dumps(LOG))
    stdout, stderr = StringIO(), StringIO()

    call_command("hos_audit", str(path), stdout=stdout, stderr=stderr)

    assert json.loads(stdout.getvalue()) == REPORT
    assert stderr.getvalue() == ""


def test_command_reads_standard_input():
    stdout = StringIO()

    call_command("hos_audit", "-", stdin=StringIO(json.dumps(LOG)), stdout=stdout, stderr=StringIO())

    assert json.loads(stdout.getvalue()) == REPORT


@pytest.mark.parametrize(
    "text, message",
    [
        (
            "{not json",
            "invalid JSON: Expecting property name enclosed in double quotes: line 1 column 2 (char 1)",
        ),
        (json.dumps(with_changes(cycle="80/8")), "cycle must be '70/8' or '60/7', got '80/8'"),
        (
            json.dumps(with_changes(segments=_segments_with(2, start="2025-03-03T13:00"))),
            "segment 2: start 2025-03-03T13:00:00-06:00 overlaps the previous segment",
        ),
    ],
    ids=["invalid_json", "bad_cycle", "overlapping_segments"],
)
def test_command_rejects_bad_input_with_status_2_and_no_output(text, message):
    stdout = StringIO()

    with pytest.raises(CommandError) as rejected:
        call_command("hos_audit", "-", stdin=StringIO(text), stdout=stdout, stderr=StringIO())

    assert (str(rejected.value), rejected.value.returncode) == (message, 2)
    assert stdout.getvalue() == ""


def test_command_rejects_a_missing_file(tmp_path):
    with pytest.raises(CommandError) as rejected:
        call_command("hos_audit", str(tmp_path / "absent.json"), stdout=StringIO())

    assert str(rejected.value) == f"cannot read {tmp_path / 'absent.json'}: No such file or directory"
    assert rejected.value.returncode == 2


def test_command_line_prints_one_line_on_stderr_and_exits_2(tmp_path, capsys):
    path = tmp_path / "log.json"
    path.write_text(json.dumps(with_changes(segments=_segments_with(1, status="DRIVNG"))))

    with pytest.raises(SystemExit) as exited:
        Command().run_from_argv(["manage.py", "hos_audit", str(path)])

    captured = capsys.readouterr()
    assert exited.value.code == 2
    assert captured.out == ""
    assert captured.err == (
        "CommandError: segment 1: unknown duty status 'DRIVNG' "
        "(expected one of OFF_DUTY, SLEEPER_BERTH, DRIVING, ON_DUTY)\n"
    )
