"""`manage.py hos_audit FILE`: audit a driver's duty-status log (JSON) against 49 CFR 395.

A thin wrapper over `drivers.hos`: `audit` turns the input document into the report, the command
only reads the file and maps bad input to exit status 2 with a one-line message on stderr.
"""

import json
import sys
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.core.management.base import BaseCommand, CommandError

from drivers.hos import DutyStatus, InvalidLog, RuleSet, Segment, evaluate, find_violations

CYCLES = ("70/8", "60/7")


class AuditInputError(ValueError):
    """The audit document is malformed; the message is one line naming the offending field."""


class _TimeReader:
    """Parses the document's times and writes the report's times in the same form.

    Times without an offset are the home terminal's local time (`timezone`, else UTC). If no
    input time carried an offset the report is written in local naive form too, so a
    dispatcher's spreadsheet round-trips; otherwise times carry an offset.
    """

    def __init__(self, zone: tzinfo, zone_given: bool) -> None:
        self.zone = zone
        self.zone_given = zone_given
        self.output_zone: tzinfo | None = None if not zone_given else zone
        self.saw_offset = False

    def parse(self, value: object, where: str) -> datetime:
        if not isinstance(value, str):
            raise AuditInputError(f"{where} must be an ISO 8601 date-time string, got {value!r}")
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise AuditInputError(f"{where} {value!r} is not an ISO 8601 date-time") from None
        if moment.tzinfo is None:
            return moment.replace(tzinfo=self.zone)
        self.saw_offset = True
        if self.output_zone is None:
            self.output_zone = moment.tzinfo
        return moment

    def format(self, moment: datetime) -> str:
        if not self.saw_offset:
            local = moment.astimezone(self.zone).replace(tzinfo=None)
        else:
            local = moment.astimezone(self.output_zone or self.zone)
        timespec = "seconds" if local.second or local.microsecond else "minutes"
        return local.isoformat(timespec=timespec)


def _hours(value: timedelta | None) -> float | None:
    return None if value is None else round(value.total_seconds() / 3600, 2)


def _flag(document: dict[str, Any], key: str) -> bool:
    value = document.get(key, False)
    if not isinstance(value, bool):
        raise AuditInputError(f"{key!r} must be true or false, got {value!r}")
    return value


def _field(record: dict[str, Any], key: str, where: str) -> Any:
    if key not in record:
        raise AuditInputError(f"{where}: missing key {key!r}")
    return record[key]


def audit(document: object) -> dict[str, Any]:
    """Violations in the whole log and the driver's clock at each requested instant.

    Raises `AuditInputError` for anything that is not a well-formed, sorted, non-overlapping log.
    """
    if not isinstance(document, dict):
        raise AuditInputError("the input must be a JSON object")
    zone_name = document.get("timezone")
    zone: tzinfo = UTC
    if zone_name is not None:
        try:
            zone = ZoneInfo(zone_name)
        except (ZoneInfoNotFoundError, ValueError, TypeError):
            raise AuditInputError(f"unknown time zone {zone_name!r}") from None
    cycle = document.get("cycle", "70/8")
    if cycle not in CYCLES:
        raise AuditInputError(f"cycle must be '70/8' or '60/7', got {cycle!r}")
    rules = RuleSet(
        cycle=cycle,
        adverse_driving_conditions=_flag(document, "adverse_driving_conditions"),
        short_haul_exception=_flag(document, "short_haul_exception"),
    )
    times = _TimeReader(zone, zone_given=zone_name is not None)

    records = _field(document, "segments", "the input")
    if not isinstance(records, list):
        raise AuditInputError("'segments' must be a list")
    segments = []
    for index, record in enumerate(records):
        where = f"segment {index}"
        if not isinstance(record, dict):
            raise AuditInputError(f"{where}: must be an object with status, start and end")
        status = _field(record, "status", where)
        if not isinstance(status, str) or status not in DutyStatus.__members__:
            raise AuditInputError(
                f"{where}: unknown duty status {status!r} (expected one of {', '.join(DutyStatus)})"
            )
        start = times.parse(_field(record, "start", where), f"{where}: start")
        end = times.parse(_field(record, "end", where), f"{where}: end")
        segments.append(Segment(DutyStatus(status), start, end))

    instants = document.get("at", [])
    if not isinstance(instants, list):
        raise AuditInputError("'at' must be a list of date-times")
    checkpoints_at = [times.parse(value, f"at[{index}]") for index, value in enumerate(instants)]

    try:
        violations = find_violations(segments, rules)
        clocks = [evaluate(segments, at, rules) for at in checkpoints_at]
    except InvalidLog as error:
        raise AuditInputError(str(error)) from None

    return {
        "violations": [
            {
                "rule": violation.rule,
                "start": times.format(violation.start),
                "end": times.format(violation.end),
                "message": violation.message,
            }
            for violation in violations
        ],
        "checkpoints": [
            {
                "at": times.format(clock.at),
                "drive_remaining_h": _hours(clock.drive_remaining),
                "window_remaining_h": _hours(clock.window_remaining),
                "cycle_remaining_h": _hours(clock.cycle_remaining),
                "break_required_in_h": _hours(clock.break_required_in),
                "window_end": None if clock.window_end is None else times.format(clock.window_end),
            }
            for clock in clocks
        ],
    }


class Command(BaseCommand):
    help = (
        "Audit a duty-status log (JSON file, or - for standard input) against the FMCSA "
        "hours-of-service rules; prints violations and the clock at each 'at' instant as JSON."
    )
    # Tests hand a StringIO in place of standard input through call_command(stdin=...).
    stealth_options = ("stdin",)

    def add_arguments(self, parser):
        parser.add_argument("file", help="JSON log to audit, or - to read standard input")

    def handle(self, *args, **options):
        path = options["file"]
        try:
            if path == "-":
                text = (options.get("stdin") or sys.stdin).read()
            else:
                with open(path, encoding="utf-8") as source:
                    text = source.read()
        except OSError as error:
            raise CommandError(f"cannot read {path}: {error.strerror or error}", returncode=2) from None
        except UnicodeDecodeError:
            raise CommandError(f"cannot read {path}: not UTF-8 text", returncode=2) from None
        try:
            document = json.loads(text)
        except json.JSONDecodeError as error:
            raise CommandError(f"invalid JSON: {error}", returncode=2) from None
        try:
            report = audit(document)
        except AuditInputError as error:
            raise CommandError(str(error), returncode=2) from None
        self.stdout.write(json.dumps(report, indent=2))
