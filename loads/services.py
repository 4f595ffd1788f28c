"""Every change to facilities, loads and their stops: validated, audited and evented in one
transaction (stops: audited, not evented, see `record_stops_without_event`).

Lock order, always: the load, then vehicles by id, then drivers by id. Two dispatchers assigning
the same truck serialise on the vehicle row; the second sees it ASSIGNED and gets 409 (the same
driver: on the driver row; the second sees the driver's other load).
"""

import logging
import secrets
from datetime import datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace
from typing import Any
from uuid import UUID

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from customers.models import Customer
from drivers.models import Driver
from drivers.planning import limit_name
from drivers.selectors import DrivingNeed, legal_driving_time, rule_set
from events import audit
from events.models import AuditAction
from events.outbox import emit
from events.taxonomy import EventType
from fleet.models import Vehicle, VehicleStatus
from fleet.rules import equipment_mismatch
from fleet.services import change_vehicle_status
from loads import geofence
from loads.models import (
    ACTIVE_LOAD_STATUSES,
    LOAD_TRANSITIONS,
    Facility,
    Load,
    LoadStatus,
    Stop,
    StopEvent,
    StopKind,
)
from tms.exceptions import (
    BusinessRuleViolation,
    CapacityExceeded,
    CarrierMismatch,
    Conflict,
    DomainError,
    EquipmentMismatch,
    HoursOfServiceExceeded,
    InvalidTransition,
    LicenseExpired,
    ProofOfDeliveryRequired,
    ResourceUnavailable,
)
from tms.geo import estimate_road_trip
from tms.models import check_transition, save_checked
from tms.times import rfc3339

logger = logging.getLogger(__name__)

# A driver must be able to drive this much of a multi-day load before the first mandatory
# 10-hour break (49 CFR 395.3(a)(3)): later days start with a fresh 11 hours.
MAX_DRIVING_HOURS_PER_DUTY_PERIOD = Decimal(11)
EDITABLE_STATUSES = {LoadStatus.CREATED, LoadStatus.ASSIGNED}
EQUIPMENT_FIELDS = ("required_equipment", "temperature_min_c", "temperature_max_c")


# --- Facilities ----------------------------------------------------------------------------------


def create_facility(*, by: User | None, **fields: Any) -> Facility:
    """Adds a shipper's or consignee's site; the record is validated and audited."""
    return audit.audited_create(Facility, by=by, **fields)


def update_facility(facility: Facility, *, by: User | None, **fields: Any) -> Facility:
    """Edits a site; loads keep the pickup and delivery addresses they were booked with."""
    audit.audited_update(facility, by=by, **fields)
    return facility


def delete_facility(facility: Facility, *, by: User | None) -> None:
    """Removes a site no load or stop refers to (those protect the row: 409)."""
    audit.audited_delete(facility, by=by)


# --- Loads: create and edit ----------------------------------------------------------------------


def _new_load_number() -> str:
    return f"L{timezone.now():%y%m%d}-{secrets.token_hex(3).upper()}"


def _with_estimates(fields: dict[str, Any]) -> dict[str, Any]:
    distance_m, hours = estimate_road_trip(fields["pickup_location"], fields["delivery_location"])
    return {**fields, "estimated_distance_m": distance_m, "estimated_driving_hours": hours}


def _event_data(load: Load, previous_status: str | None, **extra: Any) -> dict[str, Any]:
    return {
        "load_id": load.pk,
        "load_number": load.load_number,
        "previous_status": previous_status,
        "status": load.status,
        "carrier_id": load.carrier_id,
        "vehicle_id": load.vehicle_id,
        "driver_id": load.driver_id,
        **extra,
    }


@transaction.atomic
def create_load(
    *,
    by: User | None,
    shipper: Facility,
    consignee: Facility,
    pickup_datetime: datetime,
    delivery_datetime: datetime,
    weight: Decimal,
    volume: Decimal,
    rate: Decimal,
    **fields: Any,
) -> Load:
    """Books a load, CREATED until assigned. Pickup and delivery default to the shipper's and
    consignee's sites; distance and driving time are estimated until a route is computed."""
    _check_bill_to(fields.get("customer"))
    fields.setdefault("pickup_location", shipper.location)
    fields.setdefault("pickup_address", f"{shipper.address}, {shipper.city}, {shipper.state}")
    fields.setdefault("delivery_location", consignee.location)
    fields.setdefault("delivery_address", f"{consignee.address}, {consignee.city}, {consignee.state}")
    if not fields.get("load_number"):
        fields["load_number"] = _new_load_number()
    load = Load(
        shipper=shipper,
        consignee=consignee,
        pickup_datetime=pickup_datetime,
        delivery_datetime=delivery_datetime,
        weight=weight,
        volume=volume,
        rate=rate,
        **_with_estimates(fields),
    )
    save_checked(load)
    audit.record(instance=load, action=AuditAction.CREATE, changed_data=audit.snapshot(load), by=by)
    _create_end_stops(load, by=by)
    emit(
        EventType.LOAD_CREATED,
        subject=load.pk,
        data=_event_data(
            load,
            None,
            shipper_id=load.shipper_id,
            consignee_id=load.consignee_id,
            pickup_datetime=load.pickup_datetime,
            delivery_datetime=load.delivery_datetime,
            weight=load.weight,
            volume=load.volume,
            rate=load.rate,
        ),
    )
    return load


def _check_bill_to(customer: Customer | None) -> None:
    """A load is billed to an active customer (a deactivated one keeps its past loads)."""
    if customer is not None and not customer.is_active:
        raise BusinessRuleViolation(
            f"Customer {customer.code} is inactive; it cannot be given loads.",
            details={"customer_id": customer.pk},
        )


def _create_end_stops(load: Load, *, by: User | None) -> None:
    """The stops of a load booked with one pickup and one delivery: the pickup at the shipper and the
    delivery at the consignee, each at its one scheduled instant, carrying the whole load."""
    ends = [
        (StopKind.PICKUP, load.shipper, load.pickup_location, load.pickup_address, load.pickup_datetime),
        (
            StopKind.DELIVERY,
            load.consignee,
            load.delivery_location,
            load.delivery_address,
            load.delivery_datetime,
        ),
    ]
    for sequence, (kind, facility, location, address, at) in enumerate(ends, start=1):
        stop = Stop(
            load=load,
            sequence=sequence,
            kind=kind,
            facility=facility,
            location=location,
            address=address,
            earliest_at=at,
            latest_at=at,
            weight=load.weight,
        )
        save_checked(stop)
        audit.record(instance=stop, action=AuditAction.CREATE, changed_data=audit.snapshot(stop), by=by)


def _check_capacity(vehicle: Vehicle, weight: Decimal, volume: Decimal) -> None:
    if weight > vehicle.capacity_weight:
        raise CapacityExceeded(
            f"The load weighs {weight} kg; vehicle {vehicle.vehicle_number} carries "
            f"{vehicle.capacity_weight} kg.",
            details={"weight": weight, "capacity_weight": vehicle.capacity_weight},
        )
    if volume > vehicle.capacity_volume:
        raise CapacityExceeded(
            f"The load is {volume} m3; vehicle {vehicle.vehicle_number} holds {vehicle.capacity_volume} m3.",
            details={"volume": volume, "capacity_volume": vehicle.capacity_volume},
        )


def _check_equipment(vehicle: Vehicle, load: Load) -> None:
    """The truck's type and reefer unit must suit the freight (fleet.rules.equipment_mismatch)."""
    reason = equipment_mismatch(vehicle, load)
    if reason is not None:
        raise EquipmentMismatch(
            f"Vehicle {vehicle.vehicle_number} cannot haul load {load.load_number}: {reason}",
            details={
                "vehicle_type": vehicle.vehicle_type,
                "vehicle_temperature_min_c": vehicle.temperature_min_c,
                "vehicle_temperature_max_c": vehicle.temperature_max_c,
                "required_equipment": load.required_equipment,
                "temperature_min_c": load.temperature_min_c,
                "temperature_max_c": load.temperature_max_c,
            },
        )


@transaction.atomic
def update_load(load: Load, *, by: User | None, **fields: Any) -> Load:
    """Edits a load while it is CREATED or ASSIGNED; an assigned load must still fit its truck.
    Its status moves only through the transitions below."""
    locked = Load.objects.select_for_update().get(pk=load.pk)
    if locked.status not in EDITABLE_STATUSES:
        raise Conflict(
            f"Load {locked.load_number} is {locked.status}; only CREATED or ASSIGNED loads can be edited.",
            details={"status": locked.status},
        )
    if locked.status == LoadStatus.ASSIGNED:
        if "carrier" in fields and fields["carrier"] != locked.carrier:
            raise BusinessRuleViolation("An assigned load keeps its vehicle's carrier.")
        _check_capacity(
            locked.vehicle,
            fields.get("weight", locked.weight),
            fields.get("volume", locked.volume),
        )
        edited = SimpleNamespace(
            load_number=locked.load_number,
            **{name: fields.get(name, getattr(locked, name)) for name in EQUIPMENT_FIELDS},
        )
        _check_equipment(locked.vehicle, edited)
    if fields.get("customer") is not None and fields["customer"].pk != locked.customer_id:
        _check_bill_to(fields["customer"])
    if "pickup_location" in fields or "delivery_location" in fields:
        fields = _with_estimates(
            {
                "pickup_location": locked.pickup_location,
                "delivery_location": locked.delivery_location,
                **fields,
            }
        )
    changes = audit.audited_update(load, by=by, **fields)
    if changes:
        load.refresh_from_db()
        emit(EventType.LOAD_UPDATED, subject=load.pk, data=_event_data(load, load.status, changes=changes))
    return load


# --- Loads: the lifecycle ------------------------------------------------------------------------


def _lock_load(load: Load) -> Load:
    return Load.objects.select_for_update(of=("self",)).get(pk=load.pk)


def _lock(model, ids: set) -> dict:
    rows = model.objects.select_for_update(of=("self",)).filter(pk__in=ids).order_by("pk")
    return {row.pk: row for row in rows}


def _transition(
    load: Load,
    target: LoadStatus,
    *,
    by: User | None,
    event: EventType,
    fields: dict[str, Any] | None = None,
    event_extra: dict[str, Any] | None = None,
) -> None:
    """Moves a locked load to `target`, with its audit row and event."""
    previous = load.status
    check_transition(LOAD_TRANSITIONS, previous, target, entity="load")
    before = audit.snapshot(load)
    load.status = target
    for name, value in (fields or {}).items():
        setattr(load, name, value)
    load.save()
    audit.record(
        instance=load,
        action=AuditAction.TRANSITION,
        changed_data=audit.changes(before, audit.snapshot(load)),
        by=by,
    )
    emit(event, subject=load.pk, data=_event_data(load, previous, **(event_extra or {})))


def driving_need(load: Load) -> DrivingNeed:
    """What the load asks of a driver assigned now: the first duty period of it (up to 11 h of
    driving) legal from the later of now and pickup, and a licence valid through delivery."""
    return DrivingNeed(
        driving=timedelta(hours=float(min(load.estimated_driving_hours, MAX_DRIVING_HOURS_PER_DUTY_PERIOD))),
        start=max(timezone.now(), load.pickup_datetime),
        licensed_until=max(timezone.localdate(), timezone.localdate(load.delivery_datetime)),
    )


def _check_assignment(load: Load, vehicle: Vehicle, driver: Driver) -> None:
    if vehicle.carrier_id != driver.carrier_id:
        raise CarrierMismatch(
            f"Vehicle {vehicle.vehicle_number} and driver {driver.name} work for different carriers.",
            details={"vehicle_carrier": vehicle.carrier_id, "driver_carrier": driver.carrier_id},
        )
    if load.carrier_id and load.carrier_id != vehicle.carrier_id:
        raise CarrierMismatch(
            f"Load {load.load_number} is tendered to another carrier than vehicle "
            f"{vehicle.vehicle_number}'s.",
            details={"load_carrier": load.carrier_id, "vehicle_carrier": vehicle.carrier_id},
        )
    if not vehicle.carrier.is_active:
        raise BusinessRuleViolation(f"Carrier {vehicle.carrier} is not active.")
    if vehicle.status != VehicleStatus.AVAILABLE and load.vehicle_id != vehicle.pk:
        raise ResourceUnavailable(
            f"Vehicle {vehicle.vehicle_number} is {vehicle.status}.",
            details={"vehicle_id": vehicle.pk, "vehicle_status": vehicle.status},
        )
    if not driver.is_active:
        raise ResourceUnavailable(
            f"Driver {driver.name} is not active.", details={"driver_id": driver.pk, "is_active": False}
        )
    other_load = (
        Load.objects.filter(driver=driver, status__in=ACTIVE_LOAD_STATUSES)
        .exclude(pk=load.pk)
        .values_list("load_number", flat=True)
        .first()
    )
    if other_load is not None:
        raise ResourceUnavailable(
            f"Driver {driver.name} is on load {other_load}.",
            details={"driver_id": driver.pk, "current_load_number": other_load},
        )
    _check_capacity(vehicle, load.weight, load.volume)
    _check_equipment(vehicle, load)
    need = driving_need(load)
    needed_until = need.licensed_until
    if driver.license_expiry < needed_until:
        raise LicenseExpired(
            f"Driver {driver.name}'s licence expires {driver.license_expiry}, before the "
            f"delivery on {timezone.localdate(load.delivery_datetime)}.",
            details={"license_expiry": driver.license_expiry, "needed_until": needed_until},
        )
    # Hours of service, from the driver's duty-status log: the first duty period of the load (up
    # to 11 h of driving) must be legal from the later of now and pickup; the time until then is
    # off duty, and 30-minute breaks are taken when 8 hours of driving require one.
    needed_hours = min(load.estimated_driving_hours, MAX_DRIVING_HOURS_PER_DUTY_PERIOD)
    start = need.start
    plan = legal_driving_time(driver, start, needed=need.driving)
    if plan.binding is not None:
        hours_available = Decimal(str(plan.hours)).quantize(Decimal("0.01"))
        raise HoursOfServiceExceeded(
            f"Driver {driver.name} can legally drive {hours_available} h from "
            f"{plan.start:%Y-%m-%d %H:%M %Z}; the load needs {needed_hours} h before the next "
            f"10-hour break. Binding: {limit_name(plan.binding, rule_set(driver))}.",
            details={
                "limit": plan.binding,
                "rule": plan.rule,
                "hours_available": hours_available,
                "hours_remaining": hours_available,
                "hours_needed": needed_hours,
                "start_at": start,
                "breaks_planned_at": plan.breaks,
            },
        )


@transaction.atomic
def assign_load(load: Load, *, by: User | None, vehicle: Vehicle, driver: Driver) -> Load:
    """Puts a load on a vehicle and driver of the same carrier: the vehicle must carry its weight
    and volume, suit its freight (equipment type, reefer range) and be AVAILABLE; the driver must
    be active, on no other active load, licensed through delivery and have enough legal driving
    time (their duty status now does not matter: hours of service decide). Reassigning an
    ASSIGNED load frees the previous vehicle. The driver's status is theirs to report; assignment
    does not change it."""
    load = _lock_load(load)
    check_transition(LOAD_TRANSITIONS, load.status, LoadStatus.ASSIGNED, entity="load")
    if load.vehicle_id == vehicle.pk and load.driver_id == driver.pk and load.status == LoadStatus.ASSIGNED:
        return load
    vehicles = _lock(Vehicle, {vehicle.pk, load.vehicle_id} - {None})
    # The driver's row is locked so that two assignments of one driver serialise: the second
    # sees the first's load in _check_assignment.
    drivers = _lock(Driver, {driver.pk})
    vehicle, driver = vehicles[vehicle.pk], drivers[driver.pk]
    _check_assignment(load, vehicle, driver)
    previous_vehicle = vehicles.get(load.vehicle_id)
    previous_driver_id = load.driver_id
    reason = f"load {load.load_number}"
    if previous_vehicle and previous_vehicle != vehicle:
        change_vehicle_status(
            previous_vehicle, status=VehicleStatus.AVAILABLE, by=by, reason=f"reassigned {reason}"
        )
    _transition(
        load,
        LoadStatus.ASSIGNED,
        by=by,
        event=EventType.LOAD_ASSIGNED,
        fields={
            "vehicle": vehicle,
            "driver": driver,
            "carrier": vehicle.carrier,
            "assigned_at": timezone.now(),
        },
        event_extra={
            "previous_vehicle_id": previous_vehicle.pk if previous_vehicle else None,
            "previous_driver_id": previous_driver_id,
        },
    )
    change_vehicle_status(vehicle, status=VehicleStatus.ASSIGNED, by=by, reason=reason, load_id=load.pk)
    return load


def _resume_guard(load: Load, target: LoadStatus) -> None:
    """From DELAYED a load resumes where it was: pick up once, deliver only what moved."""
    milestones = {
        LoadStatus.PICKED_UP: load.picked_up_at is None,
        LoadStatus.IN_TRANSIT: load.picked_up_at is not None,
        LoadStatus.DELIVERED: load.in_transit_at is not None,
    }
    if load.status == LoadStatus.DELAYED and not milestones.get(target, True):
        raise InvalidTransition(
            f"Load {load.load_number} cannot go from DELAYED to {target} at this stage.",
            details={
                "from": load.status,
                "to": target,
                "picked_up_at": load.picked_up_at,
                "in_transit_at": load.in_transit_at,
            },
        )


def _check_after(at: datetime, earlier: datetime | None, what: str) -> None:
    if earlier is not None and at < earlier:
        raise BusinessRuleViolation(
            f"{what} at {rfc3339(at)} is before {rfc3339(earlier)}.",
            details={"at": at, "earliest": earlier},
        )


@transaction.atomic
def pick_up_load(load: Load, *, by: User | None, at: datetime | None = None) -> Load:
    """The freight is on the truck."""
    load = _lock_load(load)
    at = at or timezone.now()
    _resume_guard(load, LoadStatus.PICKED_UP)
    _transition(
        load,
        LoadStatus.PICKED_UP,
        by=by,
        event=EventType.LOAD_PICKED_UP,
        fields={"picked_up_at": at},
        event_extra={"picked_up_at": at, "pickup_datetime": load.pickup_datetime},
    )
    return load


def _set_vehicle_status(load: Load, vehicle_status: str, *, by: User | None, reason: str) -> None:
    """The load's truck follows it (ASSIGNED, IN_TRANSIT, AVAILABLE again); its driver's status is
    their duty status, which the load does not change."""
    vehicles = _lock(Vehicle, {load.vehicle_id})
    change_vehicle_status(
        vehicles[load.vehicle_id], status=vehicle_status, by=by, reason=reason, load_id=load.pk
    )


@transaction.atomic
def start_transit(load: Load, *, by: User | None, at: datetime | None = None) -> Load:
    """The truck leaves the shipper with the freight."""
    load = _lock_load(load)
    at = at or timezone.now()
    _resume_guard(load, LoadStatus.IN_TRANSIT)
    _check_after(at, load.picked_up_at, "Departure")
    fields = {} if load.in_transit_at else {"in_transit_at": at}
    _transition(load, LoadStatus.IN_TRANSIT, by=by, event=EventType.LOAD_IN_TRANSIT, fields=fields)
    _set_vehicle_status(load, VehicleStatus.IN_TRANSIT, by=by, reason=f"load {load.load_number}")
    return load


@transaction.atomic
def deliver_load(load: Load, *, by: User | None, at: datetime | None = None) -> Load:
    """The consignee has the freight; the truck is free again (and so the driver: no active load)."""
    load = _lock_load(load)
    at = at or timezone.now()
    _resume_guard(load, LoadStatus.DELIVERED)
    _check_after(at, load.picked_up_at, "Delivery")
    if settings.TMS_REQUIRE_POD_ON_DELIVERY:
        _check_proof_of_delivery(load)
    late_by_s = max(0, int((at - load.delivery_datetime).total_seconds()))
    _transition(
        load,
        LoadStatus.DELIVERED,
        by=by,
        event=EventType.LOAD_DELIVERED,
        fields={"delivered_at": at},
        event_extra={"delivered_at": at, "on_time": late_by_s == 0, "late_by_s": late_by_s},
    )
    _set_vehicle_status(load, VehicleStatus.AVAILABLE, by=by, reason=f"delivered {load.load_number}")
    return load


def _check_proof_of_delivery(load: Load) -> None:
    """With TMS_REQUIRE_POD_ON_DELIVERY, the last delivery needs its proof: a POD document attached
    to that stop or to the load as a whole (documents.Document, read through the reverse relation:
    loads does not import documents). The load is locked, and an upload locks it too."""
    last_delivery = load.stops.filter(kind=StopKind.DELIVERY).order_by("-sequence").first()
    proofs = load.documents.filter(kind="POD")
    if last_delivery is not None:
        proofs = proofs.filter(Q(stop=None) | Q(stop=last_delivery))
    if not proofs.exists():
        raise ProofOfDeliveryRequired(
            f"Load {load.load_number} cannot be delivered without a proof of delivery: upload a POD "
            f"document for its last delivery (POST /api/loads/{load.pk}/documents/).",
            details={"stop_id": last_delivery.pk if last_delivery else None, "required_kind": "POD"},
        )


@transaction.atomic
def cancel_load(load: Load, *, by: User | None, reason: str) -> Load:
    """Cancels a load that is not yet delivered, freeing its truck (and driver: no active load)."""
    load = _lock_load(load)
    held = load.status != LoadStatus.CREATED
    _transition(
        load,
        LoadStatus.CANCELLED,
        by=by,
        event=EventType.LOAD_CANCELLED,
        fields={"cancelled_at": timezone.now(), "cancellation_reason": reason},
        event_extra={"reason": reason},
    )
    if held:
        _set_vehicle_status(load, VehicleStatus.AVAILABLE, by=by, reason=f"cancelled {load.load_number}")
    return load


@transaction.atomic
def delay_load(
    load: Load, *, by: User | None, reason: str, expected_delivery_at: datetime | None = None
) -> Load:
    """Flags a load as running late, with the reason and the revised delivery estimate."""
    load = _lock_load(load)
    if expected_delivery_at is not None:
        _check_after(expected_delivery_at, load.picked_up_at or load.pickup_datetime, "Expected delivery")
    expected = expected_delivery_at or load.expected_delivery_at
    lateness_s = int((expected - load.delivery_datetime).total_seconds()) if expected else None
    _transition(
        load,
        LoadStatus.DELAYED,
        by=by,
        event=EventType.LOAD_DELAYED,
        fields={"delay_reason": reason, "expected_delivery_at": expected},
        event_extra={
            "reason": reason,
            "expected_delivery_at": expected,
            "predicted_lateness_s": lateness_s,
        },
    )
    return load


# --- Stops: what the facility geofences saw ------------------------------------------------------


def record_vehicle_fix(
    *, vehicle_id: UUID, longitude: float, latitude: float, recorded_at: datetime
) -> list[StopEvent]:
    """Records the arrivals and departures that one GPS fix of a vehicle makes at the facilities of
    its active load (and of stops it has not yet left), and advances the load when
    TMS_GEOFENCE_AUTO_ADVANCE is on. Returns the stops whose arrival or departure changed.

    A fix far from those facilities, the usual case, costs the one query of `fence_hits`."""
    hits = geofence.fence_hits(
        vehicle_id=vehicle_id, longitude=longitude, latitude=latitude, recorded_at=recorded_at
    )
    hits = [hit for hit in hits if hit.zone != geofence.Zone.OUTSIDE or hit.has_stop]
    if not hits:
        return []
    with transaction.atomic():
        changed = record_stops_without_event(hits, vehicle_id=vehicle_id, recorded_at=recorded_at)
        if changed and settings.TMS_GEOFENCE_AUTO_ADVANCE:
            for stop in changed:
                advance_load(stop)
    return changed


@transaction.atomic
def record_stops_without_event(
    hits: list[geofence.FenceHit], *, vehicle_id: UUID, recorded_at: datetime
) -> list[StopEvent]:
    """Applies one GPS fix to the vehicle's stops at these facilities (loads.geofence.apply_fix) and
    saves each stop it changes with its audit row, but with NO domain event. Only the vehicle's
    active load starts a stop. Returns the stops whose arrival or departure changed.

    No event, on purpose: this runs for every GPS fix near a facility (each one inside moves the
    visit's last fix), no event type of the taxonomy describes a stop (LOAD_UPDATED is an edit of
    the load, replayed by its projection), and what a stop leads to, the load's next status, is
    evented by the load services when it is applied (`advance_load`, or a dispatcher). Consumers
    of the event stream never see a stop: read them from the table (GET /api/loads/{id}/stops/).
    """
    loads = {
        load.pk: load
        for load in Load.objects.select_for_update(of=("self",))
        .filter(pk__in={hit.load_id for hit in hits})
        .order_by("pk")
    }
    stops: dict[tuple[UUID, str], list[StopEvent]] = {}
    stored: dict[UUID, dict[str, Any]] = {}
    for stop in (
        StopEvent.objects.select_for_update()
        .filter(vehicle_id=vehicle_id, load_id__in=loads)
        .order_by("arrived_at")
    ):
        stops.setdefault((stop.load_id, stop.kind), []).append(stop)
        stored[stop.pk] = audit.snapshot(stop)
    changed: list[StopEvent] = []
    for hit in hits:
        load = loads[hit.load_id]
        stop, moved = geofence.apply_fix(
            stops.get((hit.load_id, hit.kind), []), at=recorded_at, zone=hit.zone
        )
        if stop is None:
            continue
        if stop._state.adding:
            if load.vehicle_id != vehicle_id or load.status not in ACTIVE_LOAD_STATUSES:
                continue  # only the vehicle's active load starts stops (it may have changed since)
            stop.load, stop.vehicle_id = load, vehicle_id
            stop.facility_id, stop.kind = hit.facility_id, hit.kind
        _save_stop(stop, stored)
        if moved:
            stop.load = load
            changed.append(stop)
            logger.info(
                "vehicle %s %s %s facility %s of load %s at %s",
                vehicle_id,
                "departed" if stop.departed_at == recorded_at else "arrived at",
                hit.kind.lower(),
                hit.facility_id,
                load.load_number,
                recorded_at.isoformat(),
            )
    return changed


def _save_stop(stop: StopEvent, stored: dict[UUID, dict[str, Any]]) -> None:
    """Saves a new or changed stop with its audit row (the system's: no user); `stored` holds the
    rows as last saved, by id."""
    adding = stop._state.adding
    stop.save()
    after = audit.snapshot(stop)
    if adding:
        audit.record(instance=stop, action=AuditAction.CREATE, changed_data=after, by=None)
    else:
        changes = audit.changes(stored[stop.pk], after)
        audit.record(instance=stop, action=AuditAction.UPDATE, changed_data=changes, by=None)
    stored[stop.pk] = after


# The service that applies each status a stop can suggest.
_ADVANCES = {
    LoadStatus.PICKED_UP: pick_up_load,
    LoadStatus.IN_TRANSIT: start_transit,
    LoadStatus.DELIVERED: deliver_load,
}


def advance_load(stop: StopEvent) -> Load:
    """Applies the stop's suggestions (loads.geofence.suggested_transition) through the load
    services, as a dispatcher would (audit row and event), at the GPS times. A transition the load
    no longer allows (a dispatcher was first) is logged and skipped. Returns the load as it now is."""
    load = stop.load
    while (suggestion := geofence.suggested_transition(stop, load)) is not None:
        try:
            load = _ADVANCES[suggestion.status](load, by=None, at=suggestion.at)
        except DomainError as error:
            logger.warning(
                "geofence could not move load %s to %s: %s", load.load_number, suggestion.status, error
            )
            break
    return load
