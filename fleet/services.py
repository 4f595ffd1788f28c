"""Every change to carriers and vehicles: validated, audited, and evented in one transaction."""

from datetime import datetime
from decimal import Decimal

from django.contrib.gis.geos import Point
from django.db import transaction
from django.utils import timezone

from events import audit
from events.models import AuditAction
from events.outbox import emit
from events.taxonomy import EventType
from fleet.models import (
    MANUAL_VEHICLE_STATUSES,
    VEHICLE_TRANSITIONS,
    Carrier,
    Vehicle,
    VehicleStatus,
)
from tms.exceptions import BusinessRuleViolation, InvalidTransition
from tms.models import check_transition


def create_carrier(*, by, **fields) -> Carrier:
    return audit.audited_create(Carrier, by=by, **fields)


def update_carrier(carrier: Carrier, *, by, **fields) -> None:
    audit.audited_update(carrier, by=by, **fields)


def delete_carrier(carrier: Carrier, *, by) -> None:
    audit.audited_delete(carrier, by=by)


def create_vehicle(*, by, **fields) -> Vehicle:
    return audit.audited_create(Vehicle, by=by, **fields)


@transaction.atomic
def update_vehicle(vehicle: Vehicle, *, by, **fields) -> None:
    """Edits a vehicle's description. Its status moves only through `set_vehicle_status` and loads;
    a vehicle on a load keeps its carrier, since the load's carrier was checked against it."""
    locked = Vehicle.objects.select_for_update().get(pk=vehicle.pk)
    if (
        "carrier" in fields
        and fields["carrier"] != locked.carrier
        and locked.status
        in (
            VehicleStatus.ASSIGNED,
            VehicleStatus.IN_TRANSIT,
        )
    ):
        raise BusinessRuleViolation("A vehicle on a load cannot change carrier.")
    audit.audited_update(vehicle, by=by, **fields)


def delete_vehicle(vehicle: Vehicle, *, by) -> None:
    audit.audited_delete(vehicle, by=by)


def change_vehicle_status(vehicle: Vehicle, status: str, *, by, reason: str = "", load_id=None) -> None:
    """Moves a vehicle, already locked by the caller, along its status machine."""
    if vehicle.status == status:
        return
    check_transition(VEHICLE_TRANSITIONS, vehicle.status, status, entity="vehicle")
    previous = vehicle.status
    vehicle.status = status
    vehicle.save(update_fields=["status", "updated_at"])
    audit.record(
        instance=vehicle,
        action=AuditAction.TRANSITION,
        changed_data={"status": [previous, status], "reason": reason},
        by=by,
    )
    emit(
        EventType.VEHICLE_STATUS_CHANGED,
        subject=vehicle.pk,
        data={
            "vehicle_id": vehicle.pk,
            "carrier_id": vehicle.carrier_id,
            "previous_status": previous,
            "status": status,
            "reason": reason,
            "load_id": load_id,
        },
    )


@transaction.atomic
def set_vehicle_status(vehicle: Vehicle, *, by, status: str, reason: str = "") -> Vehicle:
    """A dispatcher takes a vehicle out of service or back in. ASSIGNED and IN_TRANSIT follow loads
    only, so a vehicle on a load cannot be set here."""
    if status not in MANUAL_VEHICLE_STATUSES:
        raise InvalidTransition(
            f"{status} follows the vehicle's load; it cannot be set by hand.",
            details={"allowed": sorted(MANUAL_VEHICLE_STATUSES)},
        )
    locked = Vehicle.objects.select_for_update().get(pk=vehicle.pk)
    change_vehicle_status(locked, status, by=by, reason=reason)
    return locked


def move_current_location(
    instance: Vehicle,
    *,
    by,
    longitude: float,
    latitude: float,
    recorded_at: datetime | None,
    event_type: EventType,
    data: dict,
) -> bool:
    """Moves a vehicle's or driver's `current_location`, only forward in time: a fix older than
    the stored one changes nothing. Returns whether the location moved. Caller holds a transaction.
    """
    recorded_at = recorded_at or timezone.now()
    moved = (
        type(instance)
        .objects.filter(pk=instance.pk)
        .exclude(location_updated_at__gte=recorded_at)
        .update(
            current_location=Point(longitude, latitude, srid=4326),
            location_updated_at=recorded_at,
            updated_at=timezone.now(),
        )
    )
    if not moved:
        return False
    location = {"longitude": longitude, "latitude": latitude}
    audit.record(
        instance=instance,
        action=AuditAction.UPDATE,
        changed_data={"current_location": location, "location_updated_at": recorded_at.isoformat()},
        by=by,
    )
    emit(event_type, subject=instance.pk, data={**data, **location, "recorded_at": recorded_at})
    return True


@transaction.atomic
def update_vehicle_location(
    vehicle: Vehicle,
    *,
    by,
    longitude: float,
    latitude: float,
    recorded_at: datetime | None = None,
    speed_kmh: Decimal | None = None,
    heading: Decimal | None = None,
) -> bool:
    """Reports where the vehicle is now (see move_current_location)."""
    return move_current_location(
        vehicle,
        by=by,
        longitude=longitude,
        latitude=latitude,
        recorded_at=recorded_at,
        event_type=EventType.VEHICLE_LOCATION_UPDATED,
        data={
            "vehicle_id": vehicle.pk,
            "carrier_id": vehicle.carrier_id,
            "speed_kmh": speed_kmh,
            "heading": heading,
        },
    )
