"""Reads of a driver's hours of service: duty-status records -> engine segments -> clock and plan.

Shared by drivers.services (violations, the hours in DRIVER_STATUS_CHANGED), the API, the ELD admin view,
loads.services (whether a driver may take a load) and routing.fleet. The engine (drivers.hos) and
the planner (drivers.planning) are pure; this module is where the log comes from. How the answers
are phrased for dispatch is the API's (drivers.api.explanations).

The log as read here: each record runs from `started_at` to `ended_at`; the open record runs to
now (what happens next is unknown), and any time not covered by a record is off duty, as the
engine reads it. A log read up to an instant includes the record that starts exactly then: the
engine reads it as the status taken at that instant (on duty at 08:00 sharp: the 14-hour window
is open at 08:00).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from uuid import UUID
from zoneinfo import ZoneInfo

from django.db.models import F, FilteredRelation, Q, QuerySet
from django.utils import timezone

from drivers import hos
from drivers.models import Driver, DriverStatus, DutyStatusRecord
from drivers.planning import DrivingPlan, hours, plan_driving, plan_work
from fleet.rules import ACTIVE_LOAD_STATUS_VALUES

# Enough history for every rule at an instant: the 8-day cycle, plus a 34-hour restart that began
# before it (a restart is what lets older on-duty time stop counting).
LOOKBACK = timedelta(days=8, hours=34)


def rule_set(driver: Driver) -> hos.RuleSet:
    return hos.RuleSet(cycle=driver.hos_cycle, short_haul_exception=driver.short_haul_exception)


def home_zone(driver: Driver) -> ZoneInfo:
    return ZoneInfo(driver.home_terminal_timezone)


# --- Dispatch ------------------------------------------------------------------------------------


def with_current_load(queryset: QuerySet[Driver]) -> QuerySet[Driver]:
    """Drivers annotated with `current_load_id`: their active load (a driver has at most one,
    loads_one_active_per_driver), or None. One LEFT JOIN, no query per driver."""
    return queryset.annotate(
        active_load=FilteredRelation("loads", condition=Q(loads__status__in=ACTIVE_LOAD_STATUS_VALUES)),
        current_load_id=F("active_load__id"),
    )


def current_load_id(driver: Driver) -> UUID | None:
    """The driver's active load: the annotation of with_current_load, else one query."""
    if hasattr(driver, "current_load_id"):
        return driver.current_load_id
    return driver.loads.filter(status__in=ACTIVE_LOAD_STATUS_VALUES).values_list("pk", flat=True).first()


def dispatchable(queryset: QuerySet[Driver]) -> QuerySet[Driver]:
    """Drivers who may be given a load: employed (`is_active`) and on no active load. Their duty
    status does not matter here (a driver off duty now may pick up tomorrow); hours of service
    and licence are checked against the load itself."""
    return queryset.filter(is_active=True).exclude(loads__status__in=ACTIVE_LOAD_STATUS_VALUES)


# --- Records -------------------------------------------------------------------------------------


def records_by_driver(
    driver_ids: Iterable[UUID], *, since: datetime, until: datetime
) -> dict[UUID, list[DutyStatusRecord]]:
    """Every record overlapping [since, until], and the one starting at `until`, for these
    drivers, in order: one query."""
    ids = list(driver_ids)
    grouped: dict[UUID, list[DutyStatusRecord]] = defaultdict(list)
    if not ids:
        return grouped
    records = (
        DutyStatusRecord.objects.filter(driver_id__in=ids, started_at__lte=until)
        .filter(Q(ended_at__isnull=True) | Q(ended_at__gt=since))
        .order_by("driver_id", "started_at")
    )
    for record in records:
        grouped[record.driver_id].append(record)
    return grouped


def to_segments(records: Sequence[DutyStatusRecord], *, until: datetime) -> list[hos.Segment]:
    """The records as engine segments, cut at `until`; the open record ends now. A record that
    starts exactly at `until` is kept whole (the engine, asked at `until`, reads it as the status
    taken then and ignores what follows); one opened this very instant has nothing to show yet."""
    now = timezone.now()
    segments = []
    for record in records:
        end = record.ended_at or now
        if record.started_at < until:
            end = min(end, until)
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
    # Judged on the log up to `until`: what starts then is not part of it.
    segments = [s for s in driver_segments(driver, since=start - LOOKBACK, until=until) if s.start < until]
    if not segments:
        return []
    segments[0] = hos.Segment(segments[0].status, segments[0].start.astimezone(zone), segments[0].end)
    return [v for v in hos.find_violations(segments, rule_set(driver)) if v.end > start and v.start < end]


def legal_driving_time(
    driver: Driver, at: datetime, *, needed: timedelta | None = None, need: DrivingNeed | None = None
) -> DrivingPlan:
    """What the driver may legally drive from `at` (see `plan_driving`), or whether they may do
    what a load needs (`need`: `plan_need`); the log is read as known now, so for a future `at`
    the time until then is off duty."""
    at = at.astimezone(home_zone(driver))
    segments = driver_segments(driver, since=at - LOOKBACK, until=min(at, timezone.now()))
    if need is not None:
        return plan_need(segments, at, rule_set(driver), need)
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


def hours_remaining(drivers: Sequence[Driver], at: datetime) -> dict[UUID, float]:
    """Each driver's `hours_remaining` at `at`: the driving they may legally do from then before
    the next 10-hour break, 30-minute breaks taken as required (the clock's `legal_driving_h`),
    in hours rounded down to the hundredth. Derived from the log at every read, never stored: a
    driver at the wheel loses a hundredth every 36 seconds, and a rest gives hours back, with no
    status change to recompute a stored figure. One query for all the drivers' records."""
    records = records_by_driver([driver.pk for driver in drivers], since=at - LOOKBACK, until=at)
    return {
        driver.pk: plan_driving(
            to_segments(records.get(driver.pk, []), until=at),
            at.astimezone(home_zone(driver)),
            rule_set(driver),
        ).hours
        for driver in drivers
    }


@dataclass(frozen=True)
class DrivingNeed:
    """What a load asks of its driver: `driving` legal from `start`, a licence valid through
    `licensed_until`. `work`, when given, is that driving as it happens, stop by stop: DRIVING
    legs and ON_DUTY service at the stops between them (drivers.planning.plan_work); `driving`
    is then the sum of its legs."""

    driving: timedelta
    start: datetime
    licensed_until: date
    work: tuple[tuple[hos.DutyStatus, timedelta], ...] = ()


def plan_need(
    segments: Sequence[hos.Segment], start: datetime, rules: hos.RuleSet, need: DrivingNeed
) -> DrivingPlan:
    """Whether the driver's log leaves room for what the load needs from `start`: its work stop by
    stop when it has it, else its driving in one piece."""
    if need.work:
        return plan_work(segments, start, rules, need.work)
    return plan_driving(segments, start, rules, need.driving)


# The duty statuses of a driver at work (AVAILABLE: on duty, ready for dispatch).
AT_WORK = {DriverStatus.AVAILABLE, DriverStatus.ON_DUTY, DriverStatus.DRIVING}


def why_not_fit(
    drivers: Sequence[Driver],
    need: DrivingNeed,
    *,
    ready_for_dispatch: bool,
    off_duty_since: datetime | None = None,
) -> dict[UUID, str | None]:
    """For each driver, why they cannot take a load that needs `need` now, or None if they can:
    not active, not AVAILABLE (with `ready_for_dispatch`), on an active load, licence expiring
    before `licensed_until`, went off duty after `off_duty_since` (a driver off duty since before
    it was counted on anyway), or, by the HOS engine, short of the driving from `start` (the time
    until then is off duty, 30-minute breaks as required). The reasons are sentences for a
    dispatcher. Three queries whatever the number of drivers."""
    loads_of = dict(
        with_current_load(Driver.objects.filter(pk__in=[driver.pk for driver in drivers]))
        .filter(current_load_id__isnull=False)
        .values_list("pk", "active_load__load_number")
    )
    now = timezone.now()
    records = records_by_driver([driver.pk for driver in drivers], since=need.start - LOOKBACK, until=now)
    reasons: dict[UUID, str | None] = {}
    for driver in drivers:
        log = records.get(driver.pk, [])
        reasons[driver.pk] = None
        if not driver.is_active:
            reasons[driver.pk] = f"{driver.name} is not active"
        elif ready_for_dispatch and driver.status != DriverStatus.AVAILABLE:
            reasons[driver.pk] = f"{driver.name} is {driver.status}"
        elif driver.pk in loads_of:
            reasons[driver.pk] = f"{driver.name} is on load {loads_of[driver.pk]}"
        elif driver.license_expiry < need.licensed_until:
            reasons[driver.pk] = f"{driver.name}'s licence expires {driver.license_expiry}"
        elif (
            off_duty_since is not None
            and driver.status not in AT_WORK
            and log
            and log[-1].started_at > off_duty_since
        ):
            reasons[driver.pk] = f"{driver.name} went off duty ({driver.status}) after the plan was accepted"
        else:
            start = need.start.astimezone(home_zone(driver))
            plan = plan_need(to_segments(log, until=now), start, rule_set(driver), need)
            if plan.binding is not None:
                reasons[driver.pk] = (
                    f"{driver.name} can legally drive {_hours_text(plan.hours)} h from "
                    f"{start:%Y-%m-%d %H:%M %Z}, the load needs {_hours_text(hours(need.driving))} h"
                )
    return reasons


def _hours_text(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".")


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
