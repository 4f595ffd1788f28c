"""Every change to drivers: validated, audited and evented in one transaction."""

from datetime import datetime

from django.db import transaction

from drivers.models import (
    DRIVER_TRANSITIONS,
    MANUAL_DRIVER_STATUSES,
    Driver,
    DriverStatus,
)
from events import audit
from events.models import AuditAction
from events.outbox import emit
from events.taxonomy import EventType
from fleet.services import move_current_location
from tms.exceptions import BusinessRuleViolation, InvalidTransition
from tms.models import check_transition


def create_driver(*, by, **fields) -> Driver:
    return audit.audited_create(Driver, by=by, **fields)


@transaction.atomic
def update_driver(driver: Driver, *, by, **fields) -> None:
    """Edits a driver's record. A driver on a load keeps their carrier."""
    locked = Driver.objects.select_for_update().get(pk=driver.pk)
    if (
        "carrier" in fields
        and fields["carrier"] != locked.carrier
        and locked.status
        in (
            DriverStatus.ASSIGNED,
            DriverStatus.IN_TRANSIT,
        )
    ):
        raise BusinessRuleViolation("A driver on a load cannot change carrier.")
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


@transaction.atomic
def report_driver_status(
    driver: Driver, *, by, status: str | None = None, duty_status: str | None = None, reason: str = ""
) -> Driver:
    """A driver (or dispatcher) reports a duty-status change and/or availability.

    Availability set by hand is AVAILABLE, OFF_DUTY or INACTIVE; ASSIGNED and IN_TRANSIT follow
    loads, so a driver on a load cannot set it here.
    """
    locked = Driver.objects.select_for_update().get(pk=driver.pk)
    previous = {"status": locked.status, "duty_status": locked.duty_status}
    changed: dict[str, list[str]] = {}
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
        changed["duty_status"] = [locked.duty_status, duty_status]
        locked.duty_status = duty_status
    if not changed:
        return locked
    locked.save(update_fields=["status", "duty_status", "updated_at"])
    audit.record(
        instance=locked,
        action=AuditAction.TRANSITION,
        changed_data={**changed, "reason": reason},
        by=by,
    )
    _emit_status(locked, previous, reason=reason)
    return locked


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
