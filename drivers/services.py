"""Every change to drivers: validated, audited and evented in one transaction."""

from contextlib import nullcontext
from datetime import datetime
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import DEFAULT_DB_ALIAS, transaction
from django.utils import timezone

from drivers import hos, planning, selectors
from drivers.models import Driver, DutyStatusRecord, HosViolation, duty_status_of
from events import audit
from events.models import AuditAction
from events.outbox import emit
from events.taxonomy import EventType
from fleet.rules import check_keeps_carrier_on_load
from fleet.services import move_current_location
from tms.exceptions import BusinessRuleViolation
from tms.models import MAX_CLOCK_SKEW
from tms.times import rfc3339


def create_driver(*, by: User | None, **fields: Any) -> Driver:
    """Hires a driver: the record is validated (licence, cycle, home terminal zone) and audited."""
    return audit.audited_create(Driver, by=by, **fields)


@transaction.atomic
def update_driver(driver: Driver, *, by: User | None, **fields: Any) -> Driver:
    """Edits a driver's record. A driver on a load keeps their carrier."""
    locked = Driver.objects.select_for_update().get(pk=driver.pk)
    if "carrier" in fields:
        check_keeps_carrier_on_load(locked, fields["carrier"], what="driver")
    audit.audited_update(driver, by=by, **fields)
    return driver


def delete_driver(driver: Driver, *, by: User | None) -> None:
    """Removes a driver with no loads or violations on record (those protect the row: 409)."""
    audit.audited_delete(driver, by=by)


def _event_data(driver: Driver, **data: Any) -> dict[str, Any]:
    """Every driver event names the driver and their carrier."""
    return {"driver_id": driver.pk, "carrier_id": driver.carrier_id, **data}


def _timeseries_atomic():
    """The duty-status log's own transaction when it lives in another database (nested inside the
    main one, so it commits just before it); nothing extra when it shares the default database."""
    alias = settings.TIMESERIES_DATABASE_ALIAS
    return nullcontext() if alias == DEFAULT_DB_ALIAS else transaction.atomic(using=alias)


@transaction.atomic
def report_driver_status(
    driver: Driver,
    *,
    by: User | None,
    status: str,
    reason: str = "",
    at: datetime | None = None,
) -> Driver:
    """A driver (or dispatcher) reports the driver's status as of `at` (default now): DRIVING,
    ON_DUTY, OFF_DUTY, SLEEPER_BERTH, or AVAILABLE (on duty, not driving, ready for dispatch).

    The status is the driver's hours-of-service duty status, so a change of duty status is
    appended to the driver's ELD log (AVAILABLE is logged as ON_DUTY; between AVAILABLE and
    ON_DUTY the log does not change): the open record closes at `at` and the new one opens. The
    log is append-only, so `at` must be after the open record's start (422), and no more than 5
    minutes ahead of the clock (400). DRIVER_STATUS_CHANGED carries `hours_remaining` as of now,
    from the log just written (the number GET /api/drivers/{id} derives at every read), and each
    violation of 49 CFR 395 seen for the first time emits DRIVER_HOS_VIOLATION, once. Loads never
    change the status: whether the driver is on a load is read from the loads.
    """
    now = timezone.now()
    at = now if at is None else at
    if at > now + MAX_CLOCK_SKEW:
        raise ValidationError({"at": [f"at is more than {MAX_CLOCK_SKEW} in the future."]})
    with _timeseries_atomic():
        locked = Driver.objects.select_for_update().get(pk=driver.pk)
        previous = locked.status
        if status == previous:
            return locked
        changed: dict[str, Any] = {"status": [previous, status], "at": rfc3339(at)}
        if duty_status_of(status) != duty_status_of(previous):
            _append_duty_record(locked, duty_status_of(status), at=at, by=by, note=reason)
        locked.status = status
        violations, plan = _violations_and_plan(locked, at=at, now=now)
        locked.save(update_fields=["status", "updated_at"])
        audit.record(
            instance=locked,
            action=AuditAction.TRANSITION,
            changed_data={**changed, "reason": reason},
            by=by,
        )
        data = _event_data(
            locked,
            previous_status=previous,
            status=status,
            at=at,
            reason=reason,
            hours_remaining=plan.hours,
        )
        emit(EventType.DRIVER_STATUS_CHANGED, subject=locked.pk, data=data)
        _record_violations(locked, violations, by=by)
    return locked


def _append_duty_record(
    driver: Driver, duty_status: str, *, at: datetime, by: User | None, note: str
) -> None:
    """Closes the driver's open record at `at` and opens one with `duty_status` (driver locked)."""
    latest = DutyStatusRecord.objects.filter(driver_id=driver.pk).order_by("-started_at").first()
    if latest is not None and (at <= latest.started_at or (latest.ended_at and at < latest.ended_at)):
        raise BusinessRuleViolation(
            f"The duty-status log is append-only: {rfc3339(at)} is not after the current "
            f"{latest.status} record, which started {rfc3339(latest.started_at)}.",
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


def _record_violations(driver: Driver, violations: list[hos.Violation], *, by: User | None) -> None:
    """Keeps `hos_violations` in step with the log: a violation seen for the first time is
    inserted with its audit row and DRIVER_HOS_VIOLATION; one that has grown (still driving past
    the limit) gets its new end and an audit row, without a second event."""
    if not violations:
        return
    existing = {
        (row.rule, row.start): row
        for row in HosViolation.objects.filter(driver=driver, start__in=[v.start for v in violations])
    }
    for violation in violations:
        message = violation.message[:255]
        row = existing.get((violation.rule, violation.start))
        if row is None:
            row = HosViolation.objects.create(
                driver=driver, rule=violation.rule, start=violation.start, end=violation.end, message=message
            )
            audit.record(instance=row, action=AuditAction.CREATE, changed_data=audit.snapshot(row), by=by)
            emit(EventType.DRIVER_HOS_VIOLATION, subject=driver.pk, data=_violation_data(driver, row))
        elif row.end != violation.end or row.message != message:
            before = audit.snapshot(row, ["end", "message"])
            # The new end in the stored row's zone, so the audit row shows only what changed.
            row.end, row.message = violation.end.astimezone(row.end.tzinfo), message
            row.save(update_fields=["end", "message", "updated_at"])
            after = audit.snapshot(row, ["end", "message"])
            audit.record(
                instance=row, action=AuditAction.UPDATE, changed_data=audit.changes(before, after), by=by
            )


def _violation_data(driver: Driver, violation: HosViolation) -> dict[str, Any]:
    return _event_data(
        driver,
        violation_id=violation.pk,
        rule=violation.rule,
        start=violation.start,
        end=violation.end,
        message=violation.message,
    )


@transaction.atomic
def update_driver_location(
    driver: Driver,
    *,
    by: User | None,
    longitude: float,
    latitude: float,
    recorded_at: datetime | None = None,
) -> Driver | None:
    """Reports where the driver is now. The position only moves forward in time (see
    fleet.services.move_current_location): returns the driver it moved, or None for a fix older
    than the stored one, which changes nothing."""
    moved = move_current_location(
        driver,
        by=by,
        longitude=longitude,
        latitude=latitude,
        recorded_at=recorded_at,
        event_type=EventType.DRIVER_LOCATION_UPDATED,
        data=_event_data(driver),
    )
    if not moved:
        return None
    driver.refresh_from_db()
    return driver
