"""Every change to drivers: validated, audited and evented in one transaction."""

from contextlib import nullcontext
from datetime import datetime, timedelta
from decimal import ROUND_DOWN, Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import DEFAULT_DB_ALIAS, transaction
from django.utils import timezone

from drivers import hos, planning, selectors
from drivers.models import (
    DRIVER_TRANSITIONS,
    MANUAL_DRIVER_STATUSES,
    Driver,
    DutyStatusRecord,
    HosViolation,
)
from events import audit
from events.models import AuditAction
from events.outbox import emit
from events.taxonomy import EventType
from fleet.rules import check_keeps_carrier_on_load
from fleet.services import move_current_location
from tms.exceptions import BusinessRuleViolation, InvalidTransition
from tms.models import MAX_CLOCK_SKEW, check_transition


def create_driver(*, by, **fields) -> Driver:
    return audit.audited_create(Driver, by=by, **fields)


@transaction.atomic
def update_driver(driver: Driver, *, by, **fields) -> None:
    """Edits a driver's record. A driver on a load keeps their carrier."""
    locked = Driver.objects.select_for_update().get(pk=driver.pk)
    if "carrier" in fields:
        check_keeps_carrier_on_load(locked, fields["carrier"], what="driver")
    audit.audited_update(driver, by=by, **fields)


def delete_driver(driver: Driver, *, by) -> None:
    audit.audited_delete(driver, by=by)


def _emit_status(driver: Driver, previous: dict[str, str], *, reason: str, load_id=None) -> None:
    emit(
        EventType.DRIVER_STATUS_CHANGED,
        subject=driver.pk,
        data={
            "driver_id": driver.pk,
            "carrier_id": driver.carrier_id,
            "previous_status": previous["status"],
            "status": driver.status,
            "previous_duty_status": previous["duty_status"],
            "duty_status": driver.duty_status,
            "hours_remaining": driver.hours_remaining,
            "reason": reason,
            "load_id": load_id,
        },
    )


def change_driver_status(driver: Driver, status: str, *, by, reason: str = "", load_id=None) -> None:
    """Moves a driver, already locked by the caller, along the dispatch status machine."""
    if driver.status == status:
        return
    check_transition(DRIVER_TRANSITIONS, driver.status, status, entity="driver")
    previous = {"status": driver.status, "duty_status": driver.duty_status}
    driver.status = status
    driver.save(update_fields=["status", "updated_at"])
    audit.record(
        instance=driver,
        action=AuditAction.TRANSITION,
        changed_data={"status": [previous["status"], status], "reason": reason},
        by=by,
    )
    _emit_status(driver, previous, reason=reason, load_id=load_id)


def _timeseries_atomic():
    """The duty-status log's own transaction when it lives in another database (nested inside the
    main one, so it commits just before it); nothing extra when it shares the default database."""
    alias = settings.TIMESERIES_DATABASE_ALIAS
    return nullcontext() if alias == DEFAULT_DB_ALIAS else transaction.atomic(using=alias)


@transaction.atomic
def report_driver_status(
    driver: Driver,
    *,
    by,
    status: str | None = None,
    duty_status: str | None = None,
    reason: str = "",
    at: datetime | None = None,
) -> Driver:
    """A driver (or dispatcher) reports a duty-status change and/or availability.

    Availability set by hand is AVAILABLE, OFF_DUTY or INACTIVE; ASSIGNED and IN_TRANSIT follow
    loads, so a driver on a load cannot set it here.

    A duty-status change is appended to the driver's log as of `at` (default now): the open
    record closes there and the new one opens. The log is append-only, so `at` must be after
    the open record's start (422), and no more than 5 minutes ahead of the clock (400). The
    cached `hours_remaining` is recomputed from the log, and each violation of 49 CFR 395 seen
    for the first time emits DRIVER_HOS_VIOLATION, once.
    """
    now = timezone.now()
    at = now if at is None else at
    if at > now + MAX_CLOCK_SKEW:
        raise ValidationError({"at": [f"at is more than {MAX_CLOCK_SKEW} in the future."]})
    with _timeseries_atomic():
        locked = Driver.objects.select_for_update().get(pk=driver.pk)
        previous = {"status": locked.status, "duty_status": locked.duty_status}
        changed: dict[str, list] = {}
        if status is not None and status != locked.status:
            if status not in MANUAL_DRIVER_STATUSES:
                raise InvalidTransition(
                    f"{status} follows the driver's load; it cannot be set by hand.",
                    details={"allowed": sorted(MANUAL_DRIVER_STATUSES)},
                )
            check_transition(DRIVER_TRANSITIONS, locked.status, status, entity="driver")
            changed["status"] = [locked.status, status]
            locked.status = status
        if duty_status is not None and duty_status != locked.duty_status:
            _append_duty_record(locked, duty_status, at=at, by=by, note=reason)
            changed["duty_status"] = [locked.duty_status, duty_status]
            locked.duty_status = duty_status
        if not changed:
            return locked
        violations, plan = _violations_and_plan(locked, at=at, now=now)
        hours_remaining = _as_hours_remaining(plan.driving)
        if hours_remaining != locked.hours_remaining:
            changed["hours_remaining"] = [float(locked.hours_remaining), float(hours_remaining)]
            locked.hours_remaining = hours_remaining
        locked.save(update_fields=["status", "duty_status", "hours_remaining", "updated_at"])
        extra = {"at": at.isoformat()} if "duty_status" in changed else {}
        audit.record(
            instance=locked,
            action=AuditAction.TRANSITION,
            changed_data={**changed, **extra, "reason": reason},
            by=by,
        )
        _emit_status(locked, previous, reason=reason)
        _record_violations(locked, violations)
    return locked


def _append_duty_record(driver: Driver, duty_status: str, *, at: datetime, by, note: str) -> None:
    """Closes the driver's open record at `at` and opens one with `duty_status` (driver locked)."""
    latest = DutyStatusRecord.objects.filter(driver_id=driver.pk).order_by("-started_at").first()
    if latest is not None and (at <= latest.started_at or (latest.ended_at and at < latest.ended_at)):
        raise BusinessRuleViolation(
            f"The duty-status log is append-only: {at.isoformat()} is not after the current "
            f"{latest.status} record, which started {latest.started_at.isoformat()}.",
            details={"at": at, "open_record_started_at": latest.started_at, "open_status": latest.status},
        )
    if latest is not None and latest.ended_at is None:
        latest.ended_at = at
        latest.save(update_fields=["ended_at"])
    DutyStatusRecord.objects.create(
        driver_id=driver.pk,
        status=duty_status,
        started_at=at,
        location=driver.current_location,
        note=note[:255],
        recorded_by_id=by.pk if by is not None and getattr(by, "is_authenticated", False) else None,
    )


def _violations_and_plan(
    driver: Driver, *, at: datetime, now: datetime
) -> tuple[list[hos.Violation], planning.DrivingPlan]:
    """Violations in the log up to the reported instant, and what the driver may drive from now.

    Violations are judged at `at`, not now: a change reported late (or several reported in a
    row) would otherwise read the open record as running until now, and flag driving that the
    next report shows never happened.
    """
    zone = selectors.home_zone(driver)
    rules = selectors.rule_set(driver)
    segments = selectors.driver_segments(driver, since=min(at, now) - selectors.LOOKBACK, until=max(at, now))
    violations = hos.evaluate(segments, at.astimezone(zone), rules).violations
    return violations, planning.plan_driving(segments, now.astimezone(zone), rules)


def _as_hours_remaining(driving: timedelta) -> Decimal:
    hours = Decimal(str(planning.hours(driving))).quantize(Decimal("0.01"), rounding=ROUND_DOWN)
    return min(max(hours, Decimal(0)), Decimal(24))


def _record_violations(driver: Driver, violations: list[hos.Violation]) -> None:
    """Keeps `hos_violations` in step with the log: a violation seen for the first time is
    inserted and evented; one that has grown (still driving past the limit) gets its new end,
    without a second event."""
    if not violations:
        return
    existing = {
        (row.rule, row.start): row
        for row in HosViolation.objects.filter(driver=driver, start__in=[v.start for v in violations])
    }
    for violation in violations:
        row = existing.get((violation.rule, violation.start))
        if row is None:
            row = HosViolation.objects.create(
                driver=driver,
                rule=violation.rule,
                start=violation.start,
                end=violation.end,
                message=violation.message[:255],
            )
            emit(
                EventType.DRIVER_HOS_VIOLATION,
                subject=driver.pk,
                data={
                    "driver_id": driver.pk,
                    "carrier_id": driver.carrier_id,
                    "violation_id": row.pk,
                    "rule": row.rule,
                    "start": row.start,
                    "end": row.end,
                    "message": row.message,
                },
            )
        elif row.end != violation.end or row.message != violation.message[:255]:
            row.end = violation.end
            row.message = violation.message[:255]
            row.save(update_fields=["end", "message", "updated_at"])


@transaction.atomic
def update_driver_location(
    driver: Driver, *, by, longitude: float, latitude: float, recorded_at: datetime | None = None
) -> bool:
    """Reports where the driver is now (see fleet.services.move_current_location)."""
    return move_current_location(
        driver,
        by=by,
        longitude=longitude,
        latitude=latitude,
        recorded_at=recorded_at,
        event_type=EventType.DRIVER_LOCATION_UPDATED,
        data={"driver_id": driver.pk, "carrier_id": driver.carrier_id},
    )
