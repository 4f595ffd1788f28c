"""Every change to facilities, loads and their stops: validated, audited and evented in one
transaction (geofence visits: audited, evented once per stop arrival and departure, see
`record_stop_visits`).

Lock order, always: the load, then its stops, then vehicles by id, then drivers by id. Two
dispatchers assigning the same truck serialise on the vehicle row; the second sees it ASSIGNED and
gets 409 (the same driver: on the driver row; the second sees the driver's other load).
"""

import itertools
import logging
import secrets
from datetime import datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace
from typing import Any
from uuid import UUID

from django.conf import settings
from django.contrib.auth.models import User
from django.contrib.gis.geos import Point
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from customers.models import Customer
from drivers import hos
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
from loads.projection import BOOKING_FIELDS
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


def _estimates(stops: list[Stop]) -> dict[str, Any]:
    """Road distance and driving time along the stops in order (great circle x circuity per leg)
    until a route is computed."""
    distance_m, hours = 0, Decimal(0)
    for here, there in itertools.pairwise(stops):
        leg_m, leg_hours = estimate_road_trip(here.location, there.location)
        distance_m, hours = distance_m + leg_m, hours + leg_hours
    return {"estimated_distance_m": distance_m, "estimated_driving_hours": hours}


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
    weight: Decimal,
    volume: Decimal,
    rate: Decimal,
    stops: list[dict[str, Any]] | None = None,
    shipper: Facility | None = None,
    consignee: Facility | None = None,
    pickup_datetime: datetime | None = None,
    delivery_datetime: datetime | None = None,
    **fields: Any,
) -> Load:
    """Books a load, CREATED until assigned.

    With `stops` (each a dict of a stop's fields: kind, facility, earliest_at, latest_at and
    optionally location, address, service_minutes, pieces, weight, instructions) the load makes
    them in that order, and its seed fields (shipper, consignee, pickup_*, delivery_*) are derived
    from the first pickup and the last delivery: any of them also given must agree. Without, the
    seed's fields make the two stops: pickup and delivery default to the shipper's and
    consignee's sites. Distance and driving time are estimated along the stops until a route is
    computed."""
    _check_bill_to(fields.get("customer"))
    if not fields.get("load_number"):
        fields["load_number"] = _new_load_number()
    seed = {
        "shipper": shipper,
        "consignee": consignee,
        "pickup_datetime": pickup_datetime,
        "delivery_datetime": delivery_datetime,
    }
    if stops is None:
        missing = [name for name, value in seed.items() if value is None]
        if missing:
            raise ValidationError({name: ["This field is required without stops."] for name in missing})
        fields.setdefault("pickup_location", shipper.location)
        fields.setdefault("pickup_address", _facility_address(shipper))
        fields.setdefault("delivery_location", consignee.location)
        fields.setdefault("delivery_address", _facility_address(consignee))
    load = Load(weight=weight, volume=volume, rate=rate, **seed, **fields)
    if stops is None:
        planned = _end_stops(load)
    else:
        planned = [_new_stop(load, sequence, **stop) for sequence, stop in enumerate(stops, start=1)]
        _check_stops(load, planned)
        derived = _derived_fields(planned)
        given = {**seed, **fields}
        disagree = {
            name: [f"Derived from the stops: {_shown(derived[name])}; omit it or send the same."]
            for name in derived
            if given.get(name) is not None and not _same(given[name], derived[name])
        }
        if disagree:
            raise ValidationError(disagree)
        for name, value in derived.items():
            setattr(load, name, value)
    _check_stops(load, planned)
    for name, value in _estimates(planned).items():
        setattr(load, name, value)
    save_checked(load)
    audit.record(instance=load, action=AuditAction.CREATE, changed_data=audit.snapshot(load), by=by)
    for stop in planned:
        save_checked(stop)
        audit.record(instance=stop, action=AuditAction.CREATE, changed_data=audit.snapshot(stop), by=by)
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
            stops=[_stop_data(stop) for stop in planned],
            **{name: getattr(load, name) for name in BOOKING_FIELDS},
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


def _facility_address(facility: Facility) -> str:
    return f"{facility.address}, {facility.city}, {facility.state}"


def _shown(value: Any) -> str:
    if isinstance(value, datetime):
        return rfc3339(value)
    if isinstance(value, Facility):
        return str(value.pk)
    if isinstance(value, Point):
        return f"[{value.x}, {value.y}]"
    return str(value)


def _same(given: Any, derived: Any) -> bool:
    if isinstance(given, Point) and isinstance(derived, Point):
        return given.equals_exact(derived, tolerance=1e-9)
    return given == derived


def _end_stops(load: Load) -> list[Stop]:
    """The stops of a load booked with one pickup and one delivery: the pickup at the shipper and the
    delivery at the consignee, each at its one scheduled instant, carrying the whole load."""
    return [
        Stop(
            load=load,
            sequence=1,
            kind=StopKind.PICKUP,
            facility=load.shipper,
            location=load.pickup_location,
            address=load.pickup_address,
            earliest_at=load.pickup_datetime,
            latest_at=load.pickup_datetime,
            weight=load.weight,
        ),
        Stop(
            load=load,
            sequence=2,
            kind=StopKind.DELIVERY,
            facility=load.consignee,
            location=load.delivery_location,
            address=load.delivery_address,
            earliest_at=load.delivery_datetime,
            latest_at=load.delivery_datetime,
            weight=load.weight,
        ),
    ]


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


# The seed's fields of a load that its end stops hold: first pickup, last delivery.
_PICKUP_SEED = {"shipper": "facility", "pickup_location": "location", "pickup_address": "address"}
_DELIVERY_SEED = {"consignee": "facility", "delivery_location": "location", "delivery_address": "address"}


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
    Its status moves only through the transitions below.

    The seed's pickup and delivery fields move the end stops with them (a LOAD_STOP_UPDATED each):
    shipper, pickup_location and pickup_address the first pickup, pickup_datetime its window
    (shifted whole, so a fixed time stays fixed); the consignee and delivery_* the last delivery
    (delivery_datetime its window's close). A load of one pickup and one delivery that both carry
    the whole weight carries the new weight at both."""
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
    stops = _lock_stops(locked)
    before = {stop.pk: audit.snapshot(stop) for stop in stops}
    _sync_end_stops(locked, stops, fields)
    changed_stops = [stop for stop in stops if audit.changes(before[stop.pk], audit.snapshot(stop))]
    if changed_stops:
        preview = Load(**{**{f.attname: getattr(locked, f.attname) for f in Load._meta.concrete_fields}})
        for name, value in fields.items():
            setattr(preview, name, value)
        _check_stops(preview, stops)
        fields = {**fields, **_derived_fields(stops), **_estimates(stops)}
    elif "pickup_location" in fields or "delivery_location" in fields:
        fields = {**fields, **_estimates(stops)}
    changes = audit.audited_update(load, by=by, **fields)
    if changes:
        load.refresh_from_db()
        emit(EventType.LOAD_UPDATED, subject=load.pk, data=_event_data(load, load.status, changes=changes))
    for stop in changed_stops:
        stop_changes = _save_planned_stop(stop, before[stop.pk], by=by)
        emit(
            EventType.LOAD_STOP_UPDATED,
            subject=load.pk,
            data=_event_data(load, load.status, stop=_stop_data(stop), changes=stop_changes),
        )
    return load


def _sync_end_stops(load: Load, stops: list[Stop], fields: dict[str, Any]) -> None:
    """Applies the seed's pickup and delivery fields of an edit to the end stops (unsaved)."""
    pickup = next(stop for stop in stops if stop.kind == StopKind.PICKUP)
    delivery = next(stop for stop in reversed(stops) if stop.kind == StopKind.DELIVERY)
    for stop, seed in ((pickup, _PICKUP_SEED), (delivery, _DELIVERY_SEED)):
        for name, attribute in seed.items():
            if name in fields:
                setattr(stop, attribute, fields[name])
    if "pickup_datetime" in fields:
        shift = fields["pickup_datetime"] - pickup.earliest_at
        pickup.earliest_at, pickup.latest_at = pickup.earliest_at + shift, pickup.latest_at + shift
    if "delivery_datetime" in fields:
        shift = fields["delivery_datetime"] - delivery.latest_at
        delivery.earliest_at, delivery.latest_at = delivery.earliest_at + shift, delivery.latest_at + shift
    if "weight" in fields and len(stops) == 2 and all(stop.weight == load.weight for stop in stops):
        for stop in stops:
            stop.weight = fields["weight"]


# --- Stops: the load's planned route -------------------------------------------------------------

# What a stop change may set (its kind and place in the order change by adding, removing and
# reordering); the actual arrival and departure are the geofence's.
STOP_FIELDS = (
    "facility",
    "location",
    "address",
    "earliest_at",
    "latest_at",
    "service_minutes",
    "pieces",
    "weight",
    "instructions",
)
FINAL_STATUSES = {LoadStatus.DELIVERED, LoadStatus.CANCELLED}


def _new_stop(
    load: Load,
    sequence: int,
    *,
    kind: str,
    facility: Facility,
    earliest_at: datetime,
    latest_at: datetime,
    location: Point | None = None,
    address: str = "",
    **fields: Any,
) -> Stop:
    """An unsaved stop; its place and address default to the facility's."""
    return Stop(
        load=load,
        sequence=sequence,
        kind=kind,
        facility=facility,
        location=location or facility.location,
        address=address or _facility_address(facility),
        earliest_at=earliest_at,
        latest_at=latest_at,
        **fields,
    )


def _stop_data(stop: Stop) -> dict[str, Any]:
    return {
        "stop_id": stop.pk,
        "sequence": stop.sequence,
        "kind": stop.kind,
        "facility_id": stop.facility_id,
        "longitude": stop.location.x,
        "latitude": stop.location.y,
        "address": stop.address,
        "earliest_at": stop.earliest_at,
        "latest_at": stop.latest_at,
        "service_minutes": stop.service_minutes,
        "pieces": stop.pieces,
        "weight": stop.weight,
        "instructions": stop.instructions,
    }


def _derived_fields(stops: list[Stop]) -> dict[str, Any]:
    """The seed's fields of a load from its stops (the contract): pickup_* and the shipper from the
    first pickup (pickup_datetime: its window's opening), delivery_* and the consignee from the
    last delivery (delivery_datetime: its window's close)."""
    pickup = next(stop for stop in stops if stop.kind == StopKind.PICKUP)
    delivery = next(stop for stop in reversed(stops) if stop.kind == StopKind.DELIVERY)
    return {
        "shipper": pickup.facility,
        "pickup_location": pickup.location,
        "pickup_address": pickup.address,
        "pickup_datetime": pickup.earliest_at,
        "consignee": delivery.facility,
        "delivery_location": delivery.location,
        "delivery_address": delivery.address,
        "delivery_datetime": delivery.latest_at,
    }


def _refuse(message: str, **details: Any) -> None:
    raise BusinessRuleViolation(message, details=details)


def _check_stops(load: Load, stops: list[Stop]) -> None:
    """The rules of a load's stops, in their order (422 naming the rule and the stops):
    - at least one pickup and one delivery, the first stop a pickup and the last a delivery;
    - each window ordered, and no window closing before an earlier stop's window opens (the truck
      cannot be at a later stop before an earlier one: windows may overlap, not go back in time);
    - no delivery due before the first pickup opens (the load's pickup precedes its delivery);
    - the first pickup and the last delivery at different facilities (the seed's shipper and
      consignee differ);
    - what is on board, stop by stop (pickups load their weight, deliveries unload theirs; stops
      without a weight count nothing), never below zero, and within the load's truck when it has one.
    """
    kinds = [stop.kind for stop in stops]
    if StopKind.PICKUP not in kinds or StopKind.DELIVERY not in kinds:
        _refuse("A load needs at least one pickup and one delivery.", kinds=kinds)
    if kinds[0] != StopKind.PICKUP:
        _refuse("The first stop must be a pickup.", sequence=1, kind=kinds[0])
    if kinds[-1] != StopKind.DELIVERY:
        _refuse("The last stop must be a delivery.", sequence=len(stops), kind=kinds[-1])
    opens_latest: Stop | None = None
    for position, stop in enumerate(stops, start=1):
        if stop.latest_at < stop.earliest_at:
            _refuse(
                f"Stop {position}'s window closes at {rfc3339(stop.latest_at)}, before it opens at "
                f"{rfc3339(stop.earliest_at)}.",
                sequence=position,
                earliest_at=stop.earliest_at,
                latest_at=stop.latest_at,
            )
        if opens_latest is not None and stop.latest_at < opens_latest.earliest_at:
            earlier = stops.index(opens_latest) + 1
            _refuse(
                f"Stop {position}'s window closes at {rfc3339(stop.latest_at)}, before the window of "
                f"stop {earlier}, which comes first, opens at {rfc3339(opens_latest.earliest_at)}.",
                sequence=position,
                latest_at=stop.latest_at,
                earlier_sequence=earlier,
                earlier_earliest_at=opens_latest.earliest_at,
            )
        if opens_latest is None or stop.earliest_at > opens_latest.earliest_at:
            opens_latest = stop
    first_pickup = stops[0]
    for position, stop in enumerate(stops, start=1):
        if stop.kind == StopKind.DELIVERY and stop.latest_at <= first_pickup.earliest_at:
            _refuse(
                f"Delivery stop {position} is due by {rfc3339(stop.latest_at)}, not after the first "
                f"pickup at {rfc3339(first_pickup.earliest_at)}.",
                sequence=position,
                latest_at=stop.latest_at,
                pickup_datetime=first_pickup.earliest_at,
            )
    if first_pickup.facility_id == stops[-1].facility_id:
        _refuse(
            "The first pickup and the last delivery are at the same facility (the load's shipper "
            "and consignee must differ).",
            facility_id=first_pickup.facility_id,
        )
    on_board, most = Decimal(0), Decimal(0)
    for position, stop in enumerate(stops, start=1):
        weight = stop.weight or Decimal(0)
        on_board += weight if stop.kind == StopKind.PICKUP else -weight
        if on_board < 0:
            _refuse(
                f"Delivery stop {position} unloads {weight} kg; only {on_board + weight} kg is on board.",
                sequence=position,
                weight=weight,
                on_board=on_board + weight,
            )
        most = max(most, on_board)
    vehicle = load.vehicle if load.vehicle_id else None
    if vehicle is not None and most > vehicle.capacity_weight:
        raise CapacityExceeded(
            f"The stops put {most} kg on board; vehicle {vehicle.vehicle_number} carries "
            f"{vehicle.capacity_weight} kg.",
            details={"weight": most, "capacity_weight": vehicle.capacity_weight},
        )


def _lock_stops(load: Load) -> list[Stop]:
    return list(
        Stop.objects.select_for_update(of=("self",))
        .filter(load=load)
        .select_related("facility")
        .order_by("sequence")
    )


def _lock_for_stop_change(load: Load) -> tuple[Load, list[Stop]]:
    """The load and its stops, locked (load first), for a change of its stops: refused (409) once
    the load is DELIVERED or CANCELLED."""
    locked = Load.objects.select_for_update(of=("self",)).select_related("vehicle").get(pk=load.pk)
    if locked.status in FINAL_STATUSES:
        raise Conflict(
            f"Load {locked.load_number} is {locked.status}; its stops cannot change.",
            details={"status": locked.status},
        )
    return locked, _lock_stops(locked)


def _refuse_visited(stop: Stop, what: str) -> None:
    if stop.arrived_at is not None:
        raise Conflict(
            f"Stop {stop.sequence} was visited (arrived {rfc3339(stop.arrived_at)}); it cannot be {what}.",
            details={"stop_id": stop.pk, "sequence": stop.sequence, "arrived_at": stop.arrived_at},
        )


def _save_planned_stop(stop: Stop, before: dict[str, Any] | None, *, by: User | None) -> dict[str, Any]:
    """Saves a new or changed stop with its audit row; returns what changed ({} when nothing)."""
    if before is None:
        save_checked(stop)
        after = audit.snapshot(stop)
        audit.record(instance=stop, action=AuditAction.CREATE, changed_data=after, by=by)
        return after
    diff = audit.changes(before, audit.snapshot(stop))
    if diff:
        save_checked(stop)
        audit.record(instance=stop, action=AuditAction.UPDATE, changed_data=diff, by=by)
    return diff


def _apply_order(
    load: Load, stops: list[Stop], before: dict[Any, dict[str, Any]], *, by: User | None
) -> dict[str, list[Any]]:
    """Numbers `stops` 1..n in their order, saves each that changed (audited; the unique sequence
    is checked at commit), and re-derives the load's seed fields and estimates from them (audited).
    Returns the load's changes."""
    for sequence, stop in enumerate(stops, start=1):
        stop.sequence = sequence
    for stop in stops:
        _save_planned_stop(stop, before.get(stop.pk), by=by)
    return _sync_load(load, stops, by=by)


def _sync_load(load: Load, stops: list[Stop], *, by: User | None) -> dict[str, list[Any]]:
    previous = audit.snapshot(load)
    for name, value in {**_derived_fields(stops), **_estimates(stops)}.items():
        setattr(load, name, value)
    diff = audit.changes(previous, audit.snapshot(load))
    if diff:
        save_checked(load)
        audit.record(instance=load, action=AuditAction.UPDATE, changed_data=diff, by=by)
    return diff


@transaction.atomic
def add_stop(load: Load, *, by: User | None, sequence: int | None = None, kind: str, **fields: Any) -> Stop:
    """Adds a stop at `sequence` (1 first; omitted: the end), moving the stops from there on one
    place later. Not before a stop already visited, nor on a DELIVERED or CANCELLED load."""
    load, stops = _lock_for_stop_change(load)
    position = len(stops) + 1 if sequence is None else sequence
    if not 1 <= position <= len(stops) + 1:
        raise ValidationError({"sequence": [f"Must be from 1 to {len(stops) + 1}."]})
    for later in stops[position - 1 :]:
        _refuse_visited(later, "moved by a stop added before it")
    stop = _new_stop(load, position, kind=kind, **fields)
    stop.full_clean(exclude=["load", "sequence"], validate_unique=False, validate_constraints=False)
    before = {other.pk: audit.snapshot(other) for other in stops}
    ordered = [*stops[: position - 1], stop, *stops[position - 1 :]]
    _check_stops(load, ordered)
    changes = _apply_order(load, ordered, before, by=by)
    emit(
        EventType.LOAD_STOP_ADDED,
        subject=load.pk,
        data=_event_data(load, load.status, stop=_stop_data(stop), load_changes=changes),
    )
    return stop


@transaction.atomic
def update_stop(stop: Stop, *, by: User | None, **fields: Any) -> Stop:
    """Changes a stop's window, facility (its place and address follow the facility unless given),
    place, address, service time, pieces, weight or instructions. A visited stop keeps its
    facility and place."""
    unknown = set(fields) - set(STOP_FIELDS)
    if unknown:
        raise ValidationError({name: ["A stop change cannot set this."] for name in sorted(unknown)})
    load, stops = _lock_for_stop_change(stop.load)
    current = next((s for s in stops if s.pk == stop.pk), None)
    if current is None:
        raise Conflict("The stop was removed meanwhile.", details={"stop_id": stop.pk})
    if "facility" in fields and fields["facility"] != current.facility:
        fields.setdefault("location", fields["facility"].location)
        fields.setdefault("address", _facility_address(fields["facility"]))
    moved = [name for name in ("facility", "location") if name in fields]
    if moved and current.arrived_at is not None:
        before_place = (current.facility_id, current.location)
        after_place = (getattr(fields.get("facility"), "pk", current.facility_id), fields.get("location"))
        if before_place[0] != after_place[0] or (
            after_place[1] is not None and not _same(after_place[1], current.location)
        ):
            _refuse_visited(current, "moved to another place")
    before = audit.snapshot(current)
    for name, value in fields.items():
        setattr(current, name, value)
    current.full_clean(exclude=["load"], validate_unique=False, validate_constraints=False)
    _check_stops(load, stops)
    diff = _save_planned_stop(current, before, by=by)
    if not diff:
        return current
    load_changes = _sync_load(load, stops, by=by)
    emit(
        EventType.LOAD_STOP_UPDATED,
        subject=load.pk,
        data=_event_data(
            load, load.status, stop=_stop_data(current), changes=diff, load_changes=load_changes
        ),
    )
    return current


@transaction.atomic
def remove_stop(stop: Stop, *, by: User | None) -> Stop:
    """Removes a stop not yet visited; the stops after it move one place earlier. The load keeps
    at least one pickup and one delivery."""
    load, stops = _lock_for_stop_change(stop.load)
    current = next((s for s in stops if s.pk == stop.pk), None)
    if current is None:
        raise Conflict("The stop was removed meanwhile.", details={"stop_id": stop.pk})
    _refuse_visited(current, "removed")
    remaining = [s for s in stops if s.pk != current.pk]
    _check_stops(load, remaining)
    data = _stop_data(current)
    audit.audited_delete(current, by=by)
    before = {other.pk: audit.snapshot(other) for other in remaining}
    changes = _apply_order(load, remaining, before, by=by)
    emit(
        EventType.LOAD_STOP_REMOVED,
        subject=load.pk,
        data=_event_data(load, load.status, stop=data, load_changes=changes),
    )
    return current


@transaction.atomic
def reorder_stops(load: Load, *, by: User | None, stop_ids: list[UUID]) -> Load:
    """Puts the load's stops in the order of `stop_ids` (every stop of the load, once each). Stops
    already visited keep their places."""
    load, stops = _lock_for_stop_change(load)
    by_id = {stop.pk: stop for stop in stops}
    if len(stop_ids) != len(set(stop_ids)) or set(stop_ids) != set(by_id):
        raise ValidationError(
            {
                "stop_ids": [
                    f"Must list each of the load's {len(stops)} stops once: {sorted(map(str, by_id))}."
                ]
            }
        )
    ordered = [by_id[stop_id] for stop_id in stop_ids]
    if ordered == stops:
        return load
    for position, stop in enumerate(stops):
        if stop.arrived_at is not None and ordered[position] is not stop:
            _refuse_visited(stop, "moved")
    _check_stops(load, ordered)
    before = {stop.pk: audit.snapshot(stop) for stop in stops}
    changes = _apply_order(load, ordered, before, by=by)
    emit(
        EventType.LOAD_STOPS_REORDERED,
        subject=load.pk,
        data=_event_data(load, load.status, stop_ids=stop_ids, load_changes=changes),
    )
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
    """What the load asks of a driver assigned now: the work of its first duty period legal from
    the later of now and the first pickup, and a licence valid through delivery. The work is the
    load's stops in sequence: service at a stop (on duty, not driving: Stop.service_time), then the
    leg to the next, up to 11 h of driving (what one duty period allows). A two-stop load's one leg
    is its `estimated_driving_hours`; with more stops each leg is the road estimate between them
    (tms.geo). Waiting for a window is not counted (a driver may wait off duty)."""
    limit = timedelta(hours=float(MAX_DRIVING_HOURS_PER_DUTY_PERIOD))
    stops = list(load.stops.order_by("sequence"))
    if len(stops) == 2:
        legs = [timedelta(hours=float(load.estimated_driving_hours))]
    else:
        legs = [
            timedelta(hours=float(estimate_road_trip(a.location, b.location)[1]))
            for a, b in itertools.pairwise(stops)
        ]
    work: list[tuple[hos.DutyStatus, timedelta]] = []
    driving = timedelta(0)
    for stop, leg in zip(stops, legs, strict=False):  # each leg leaves `stop`
        if driving >= limit:
            break
        leg = min(leg, limit - driving)
        work += [(hos.DutyStatus.ON_DUTY, stop.service_time), (hos.DutyStatus.DRIVING, leg)]
        driving += leg
    if not work:  # no stops on file: the load's own estimate in one piece
        driving = min(timedelta(hours=float(load.estimated_driving_hours)), limit)
    return DrivingNeed(
        driving=driving,
        start=max(timezone.now(), load.pickup_datetime),
        licensed_until=max(timezone.localdate(), timezone.localdate(load.delivery_datetime)),
        work=tuple(work),
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
    needed_hours = Decimal(str(need.driving.total_seconds() / 3600)).quantize(Decimal("0.01"))
    start = need.start
    plan = legal_driving_time(driver, start, need=need)
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
    load: Load,
    *,
    by: User | None,
    reason: str,
    expected_delivery_at: datetime | None = None,
    stop: dict[str, Any] | None = None,
) -> Load:
    """Flags a load as running late, with the reason and the revised delivery estimate; `stop`
    (route following's: the late stop, events.schemas.DelayedStop) goes into LOAD_DELAYED."""
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
            **({"stop": stop} if stop is not None else {}),
        },
    )
    return load


# --- Stops: what the facility geofences saw ------------------------------------------------------


def record_vehicle_fix(
    *, vehicle_id: UUID, longitude: float, latitude: float, recorded_at: datetime
) -> list[StopEvent]:
    """Records the arrivals and departures that one GPS fix of a vehicle makes at the planned stops
    of its active load (and at stops whose visit it has not yet left), and advances the load when
    TMS_GEOFENCE_AUTO_ADVANCE is on. Returns the visits whose arrival or departure changed.

    A fix far from those facilities, the usual case, costs the one query of `fence_hits`."""
    hits = geofence.fence_hits(
        vehicle_id=vehicle_id, longitude=longitude, latitude=latitude, recorded_at=recorded_at
    )
    hits = [hit for hit in hits if hit.zone != geofence.Zone.OUTSIDE or hit.has_stop]
    if not hits:
        return []
    with transaction.atomic():
        changed = record_stop_visits(hits, vehicle_id=vehicle_id, recorded_at=recorded_at)
        if changed and settings.TMS_GEOFENCE_AUTO_ADVANCE:
            for visit in changed:
                advance_load(visit, last_stop=getattr(visit, "last_stop", None))
    return changed


@transaction.atomic
def record_stop_visits(
    hits: list[geofence.FenceHit], *, vehicle_id: UUID, recorded_at: datetime
) -> list[StopEvent]:
    """Applies one GPS fix to the vehicle's visits at these planned stops
    (loads.geofence.apply_fix), saves each visit it changes with its audit row, and copies a
    changed arrival or departure to the planned stop (audited). Only the vehicle's active load
    starts a visit. Returns the visits whose arrival or departure changed.

    Events: STOP_ARRIVED when a planned stop gets its first arrival and STOP_DEPARTED its first
    departure, once per stop, never per fix (each fix inside moves only the visit's last fix, which
    no consumer needs; a late fix that moves a recorded time earlier corrects the rows, audited,
    without a second event). What a stop leads to, the load's next status, is evented by the load
    services when it is applied (`advance_load`, or a dispatcher).
    """
    loads = {
        load.pk: load
        for load in Load.objects.select_for_update(of=("self",))
        .filter(pk__in={hit.load_id for hit in hits})
        .order_by("pk")
    }
    planned = {
        stop.pk: stop
        for stop in Stop.objects.select_for_update(of=("self",)).filter(load_id__in=loads).order_by("pk")
    }
    last_stop = {}
    for stop in sorted(planned.values(), key=lambda stop: stop.sequence):
        last_stop[stop.load_id] = stop.pk
    visits: dict[UUID, list[StopEvent]] = {}
    open_kinds: set[tuple[UUID, str]] = set()
    stored: dict[UUID, dict[str, Any]] = {}
    for visit in (
        StopEvent.objects.select_for_update()
        .filter(vehicle_id=vehicle_id, load_id__in=loads)
        .order_by("arrived_at")
    ):
        visits.setdefault(visit.stop_id, []).append(visit)
        stored[visit.pk] = audit.snapshot(visit)
        if visit.departed_at is None:
            open_kinds.add((visit.load_id, visit.kind))
    changed: list[StopEvent] = []
    for hit in hits:
        load, stop = loads[hit.load_id], planned.get(hit.stop_id)
        if stop is None:
            continue  # removed since the fix was matched
        visit, moved = geofence.apply_fix(visits.get(hit.stop_id, []), at=recorded_at, zone=hit.zone)
        if visit is None:
            continue
        if visit._state.adding:
            if load.vehicle_id != vehicle_id or load.status not in ACTIVE_LOAD_STATUSES:
                continue  # only the vehicle's active load starts visits (it may have changed since)
            if (load.pk, hit.kind) in open_kinds:
                continue  # still at another stop of this kind (overlapping geofences): one at a time
            visit.load, visit.vehicle_id, visit.stop = load, vehicle_id, stop
            visit.facility_id, visit.kind = hit.facility_id, hit.kind
            visits.setdefault(hit.stop_id, []).append(visit)
            open_kinds.add((load.pk, hit.kind))
        _save_visit(visit, stored)
        if moved:
            visit.load, visit.stop, visit.last_stop = load, stop, last_stop.get(load.pk)
            changed.append(visit)
            _record_actual_times(load, stop, visits[hit.stop_id])
            logger.info(
                "vehicle %s %s stop %s (%s) of load %s at %s",
                vehicle_id,
                "departed" if visit.departed_at == recorded_at else "arrived at",
                stop.sequence,
                hit.kind.lower(),
                load.load_number,
                recorded_at.isoformat(),
            )
    return changed


def _record_actual_times(load: Load, stop: Stop, visits: list[StopEvent]) -> None:
    """The planned stop's actual arrival and departure: its first visit's arrival and that visit's
    departure, each evented when it changes (STOP_ARRIVED, STOP_DEPARTED): once per stop, and again
    only if a late fix corrects it (`correction`), so the event stream holds the stop's times."""
    first = min(visits, key=lambda visit: visit.arrived_at)
    before = audit.snapshot(stop)
    previous_arrival, previous_departure = stop.arrived_at, stop.departed_at
    stop.arrived_at, stop.departed_at = first.arrived_at, first.departed_at
    if not _save_planned_stop(stop, before, by=None):
        return
    visit_data = {
        "stop_id": stop.pk,
        "sequence": stop.sequence,
        "kind": stop.kind,
        "facility_id": stop.facility_id,
        "arrived_at": stop.arrived_at,
    }
    if stop.arrived_at != previous_arrival:
        emit(
            EventType.STOP_ARRIVED,
            subject=load.pk,
            data=_event_data(load, load.status, correction=previous_arrival is not None, **visit_data),
        )
    if stop.departed_at is not None and stop.departed_at != previous_departure:
        emit(
            EventType.STOP_DEPARTED,
            subject=load.pk,
            data=_event_data(
                load,
                load.status,
                departed_at=stop.departed_at,
                correction=previous_departure is not None,
                **visit_data,
            ),
        )


def _save_visit(stop: StopEvent, stored: dict[UUID, dict[str, Any]]) -> None:
    """Saves a new or changed visit with its audit row (the system's: no user); `stored` holds the
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


def advance_load(stop: StopEvent, *, last_stop: UUID | None = None) -> Load:
    """Applies the visit's suggestions (loads.geofence.suggested_transition) through the load
    services, as a dispatcher would (audit row and event), at the GPS times. A transition the load
    no longer allows (a dispatcher was first) is logged and skipped. Returns the load as it now is."""
    load = stop.load
    last_stop = last_stop or geofence.last_stop_id(load)
    while (suggestion := geofence.suggested_transition(stop, load, last_stop=last_stop)) is not None:
        try:
            load = _ADVANCES[suggestion.status](load, by=None, at=suggestion.at)
        except DomainError as error:
            logger.warning(
                "geofence could not move load %s to %s: %s", load.load_number, suggestion.status, error
            )
            break
    return load
