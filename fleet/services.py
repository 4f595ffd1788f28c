"""Every change to carriers and vehicles: validated, audited, and evented in one transaction."""

from collections.abc import Sequence
from contextlib import ExitStack
from datetime import datetime
from decimal import Decimal
from uuid import UUID

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.contrib.gis.geos import Point
from django.db import models, transaction
from django.db.models import Q
from django.utils import timezone

from events import audit
from events.models import AuditAction
from events.outbox import emit
from events.taxonomy import EventType
from fleet.ingest import GpsFix, IngestResult, Publish, ingest_without_audit
from fleet.models import (
    MANUAL_VEHICLE_STATUSES,
    VEHICLE_TRANSITIONS,
    Carrier,
    Vehicle,
    VehicleStatus,
)
from fleet.rules import check_keeps_carrier_on_load, check_still_fits_its_load
from tms import metrics
from tms.exceptions import InvalidTransition
from tms.models import check_transition
from tms.times import rfc3339


def create_carrier(*, by: AbstractBaseUser | None, **fields) -> Carrier:
    """A carrier, validated (field rules, unique DOT number) and audited."""
    return audit.audited_create(Carrier, by=by, **fields)


def update_carrier(carrier: Carrier, *, by: AbstractBaseUser | None, **fields) -> Carrier:
    """Edits a carrier; the change, if any, is audited. Returns the carrier as stored."""
    audit.audited_update(carrier, by=by, **fields)
    return carrier


def delete_carrier(carrier: Carrier, *, by: AbstractBaseUser | None) -> None:
    """Deletes a carrier, audited; one that vehicles, drivers or loads still reference is refused
    (ProtectedError: 409)."""
    audit.audited_delete(carrier, by=by)


@transaction.atomic
def create_vehicle(*, by: AbstractBaseUser | None, **fields) -> Vehicle:
    """A vehicle, validated (field rules, unique unit number, VIN and tracker id) and audited; an
    AVAILABLE one adds to its carrier's capacity (CARRIER_CAPACITY_CHANGED)."""
    vehicle = audit.audited_create(Vehicle, by=by, **fields)
    if vehicle.status == VehicleStatus.AVAILABLE:
        report_carrier_capacity(carrier_ids=[vehicle.carrier_id])
    return vehicle


def report_carrier_capacity(*, carrier_ids: Sequence[UUID]) -> None:
    """CARRIER_CAPACITY_CHANGED for each carrier, with its trucks AVAILABLE and in all, counted in
    the caller's transaction after its change. The carrier rows are locked (in id order) before
    counting, so two changes to one carrier's trucks report in turn and the last report is right.
    No row changes here, hence no audit row: the vehicle's own change has it."""
    ordered = sorted(set(carrier_ids), key=str)
    # FOR NO KEY UPDATE: reports queue behind each other, while inserting a carrier's vehicle (its
    # foreign key's KEY SHARE lock) is not blocked.
    carriers = Carrier.objects.filter(pk__in=ordered).order_by("pk").select_for_update(no_key=True)
    list(carriers.values_list("pk"))
    counts = (
        Vehicle.objects.filter(carrier_id__in=ordered)
        .values("carrier_id")
        .annotate(
            total=models.Count("pk"), available=models.Count("pk", filter=Q(status=VehicleStatus.AVAILABLE))
        )
    )
    by_carrier = {row["carrier_id"]: row for row in counts}
    for carrier_id in ordered:
        row = by_carrier.get(carrier_id, {"total": 0, "available": 0})
        emit(
            EventType.CARRIER_CAPACITY_CHANGED,
            subject=carrier_id,
            data={
                "carrier_id": carrier_id,
                "available_vehicles": row["available"],
                "total_vehicles": row["total"],
            },
        )


@transaction.atomic
def update_vehicle(vehicle: Vehicle, *, by: AbstractBaseUser | None, **fields) -> Vehicle:
    """Edits a vehicle's description. Its status moves only through `set_vehicle_status` and loads;
    a vehicle on a load keeps its carrier, since the load's carrier was checked against it, and
    keeps suiting the load's freight (type, reefer range)."""
    locked = Vehicle.objects.select_for_update().get(pk=vehicle.pk)
    if "carrier" in fields:
        check_keeps_carrier_on_load(locked, fields["carrier"], what="vehicle")
    check_still_fits_its_load(locked, fields)
    audit.audited_update(vehicle, by=by, **fields)
    if vehicle.carrier_id != locked.carrier_id and locked.status == VehicleStatus.AVAILABLE:
        # An available truck moved to another carrier: both carriers' capacity changed.
        report_carrier_capacity(carrier_ids=[locked.carrier_id, vehicle.carrier_id])
    return vehicle


@transaction.atomic
def delete_vehicle(vehicle: Vehicle, *, by: AbstractBaseUser | None) -> None:
    """Deletes a vehicle, audited; one that loads, stops or routes still reference is refused
    (ProtectedError: 409). An AVAILABLE one leaves its carrier's capacity."""
    was_available = vehicle.status == VehicleStatus.AVAILABLE
    audit.audited_delete(vehicle, by=by)
    if was_available:
        report_carrier_capacity(carrier_ids=[vehicle.carrier_id])


def change_vehicle_status(
    vehicle: Vehicle,
    *,
    status: str,
    by: AbstractBaseUser | None,
    reason: str = "",
    load_id: UUID | None = None,
) -> Vehicle:
    """Moves a vehicle, already locked by the caller, along its status machine (an invalid move
    raises InvalidTransition); setting the status it has changes nothing."""
    if vehicle.status == status:
        return vehicle
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
    if VehicleStatus.AVAILABLE in (previous, status):
        report_carrier_capacity(carrier_ids=[vehicle.carrier_id])
    return vehicle


@transaction.atomic
def set_vehicle_status(
    vehicle: Vehicle, *, by: AbstractBaseUser | None, status: str, reason: str = ""
) -> Vehicle:
    """A dispatcher takes a vehicle out of service or back in. ASSIGNED and IN_TRANSIT follow loads
    only, so a vehicle on a load cannot be set here."""
    if status not in MANUAL_VEHICLE_STATUSES:
        raise InvalidTransition(
            f"{status} follows the vehicle's load; it cannot be set by hand.",
            details={"allowed": sorted(MANUAL_VEHICLE_STATUSES)},
        )
    locked = Vehicle.objects.select_for_update().get(pk=vehicle.pk)
    return change_vehicle_status(locked, status=status, by=by, reason=reason)


def move_current_location(
    instance: models.Model,
    *,
    by: AbstractBaseUser | None,
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
        changed_data={"current_location": location, "location_updated_at": rfc3339(recorded_at)},
        by=by,
    )
    emit(event_type, subject=instance.pk, data={**data, **location, "recorded_at": recorded_at})
    return True


def _float(value: Decimal | float | None) -> float | None:
    return None if value is None else float(value)


@transaction.atomic
def update_vehicle_location(
    vehicle: Vehicle,
    *,
    by: AbstractBaseUser | None,
    longitude: float,
    latitude: float,
    recorded_at: datetime | None = None,
    speed_kmh: Decimal | float | None = None,
    heading: Decimal | float | None = None,
    accuracy_m: float | None = None,
    fuel_level_pct: float | None = None,
    odometer_km: float | None = None,
    engine_hours: float | None = None,
) -> bool:
    """Someone reports where the vehicle is (the API's PUT, the admin, the demo seed).

    The fix is stored like any other (record_gps_fixes), its event goes through the outbox, and the
    vehicle moves only forward in time; when it moves, the change of the vehicle row is audited.
    Returns whether it moved (the API's `moved`), not the vehicle: a fix that does not move it
    changes no vehicle row.
    """
    recorded_at = recorded_at or timezone.now()
    fix = GpsFix(
        vehicle.pk,
        recorded_at,
        float(longitude),
        float(latitude),
        _float(speed_kmh),
        _float(heading),
        _float(accuracy_m),
        _float(fuel_level_pct),
        _float(odometer_km),
        _float(engine_hours),
    )
    result = record_gps_fixes([fix], publish=Publish.OUTBOX)
    if not result.vehicles_moved:
        return False
    audit.record(
        instance=vehicle,
        action=AuditAction.UPDATE,
        changed_data={
            "current_location": {"longitude": fix.longitude, "latitude": fix.latitude},
            "location_updated_at": rfc3339(recorded_at),
        },
        by=by,
    )
    return True


def record_gps_fixes(fixes: Sequence[GpsFix], *, publish: Publish = Publish.RELAY) -> IngestResult:
    """Stores GPS fixes of known vehicles (batches, trackers): a fix is stored once (a repeat of
    the same vehicle and recorded_at is a duplicate), each stored fix is published as
    VEHICLE_LOCATION_UPDATED, and a vehicle's current location only moves forward in time. No
    audit row per fix: gps_points is the record (fleet.ingest).

    A vehicle's odometer follows its newest fix that reports one; when that takes it past a
    multiple of TMS_MAINTENANCE_INTERVAL_KM, VEHICLE_MAINTENANCE_DUE (flag_maintenance_due)."""
    if not any(fix.odometer_km is not None for fix in fixes):
        result = ingest_without_audit(fixes, publish=publish)
    else:
        with ExitStack() as stack:
            # As in ingest_without_audit: the default database commits first.
            if settings.TIMESERIES_DATABASE_ALIAS != "default":
                stack.enter_context(transaction.atomic(using=settings.TIMESERIES_DATABASE_ALIAS))
            stack.enter_context(transaction.atomic(using="default"))
            # The batch's vehicles locked in id order (as ingest locks them), so the odometers read
            # before and after are this batch's doing: a crossing is seen by one batch only.
            odometers_before = dict(
                Vehicle.objects.filter(pk__in={fix.vehicle_id for fix in fixes})
                .order_by("pk")
                .select_for_update()
                .values_list("pk", "odometer")
            )
            result = ingest_without_audit(fixes, publish=publish)
            flag_maintenance_due(odometers_before=odometers_before)
    metrics.GPS_FIXES.labels("batch" if publish is Publish.RELAY else "single").inc(result.accepted)
    return result


def flag_maintenance_due(*, odometers_before: dict[UUID, Decimal]) -> list[UUID]:
    """VEHICLE_MAINTENANCE_DUE for each vehicle whose odometer passed a multiple of the service
    interval (TMS_MAINTENANCE_INTERVAL_KM) since `odometers_before` (a first reading, from 0, sets
    where it stands), read with the vehicles locked
    in the caller's transaction: once per crossing, however many fixes led to it. The odometer's
    change itself is the fix's (no audit row per fix); the event is the record."""
    interval = Decimal(settings.TMS_MAINTENANCE_INTERVAL_KM)
    due = []
    for vehicle in Vehicle.objects.filter(pk__in=odometers_before).order_by("pk"):
        before = odometers_before[vehicle.pk]
        # 0 is "never reported": the first reading is where the vehicle stands, not a crossing.
        if before and vehicle.odometer // interval > before // interval:
            mark = vehicle.odometer // interval * interval
            emit(
                EventType.VEHICLE_MAINTENANCE_DUE,
                subject=vehicle.pk,
                data={
                    "vehicle_id": vehicle.pk,
                    "carrier_id": vehicle.carrier_id,
                    "reason": f"odometer passed {mark:,.0f} km (service every {interval:,.0f} km)",
                    "odometer": float(vehicle.odometer),
                    "engine_hours": float(vehicle.engine_hours),
                },
            )
            due.append(vehicle.pk)
    return due
