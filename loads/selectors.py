"""Read queries about loads used by more than one caller."""

from dataclasses import dataclass
from datetime import datetime

from django.contrib.gis.db.models.functions import Distance
from django.contrib.gis.geos import Point
from django.db.models import Exists, F, OuterRef
from django.utils import timezone

from drivers.models import Driver, DriverStatus
from drivers.selectors import dispatchable, hours_remaining, why_not_fit
from fleet.models import Vehicle, VehicleStatus, VehicleType
from fleet.rules import equipment_mismatch, vehicle_types_for
from loads.models import ACTIVE_LOAD_STATUSES, Load, StopKind
from loads.services import driving_need


@dataclass(frozen=True)
class DriverScope:
    """What a DRIVER-only user may see of the live stream: their driver record, their active loads
    and those loads' vehicles (ids as strings, as in event data)."""

    driver_id: str | None
    load_ids: frozenset[str]
    vehicle_ids: frozenset[str]


def read_driver_scope(user_id: int) -> DriverScope:
    """The driver record of a login and their active loads (ASSIGNED, PICKED_UP, IN_TRANSIT,
    DELAYED) with those loads' vehicles; nothing for a login without a driver record."""
    driver_id = Driver.objects.filter(user_id=user_id).values_list("pk", flat=True).first()
    if driver_id is None:
        return DriverScope(None, frozenset(), frozenset())
    active = Load.objects.filter(driver_id=driver_id, status__in=ACTIVE_LOAD_STATUSES)
    pairs = list(active.values_list("pk", "vehicle_id"))
    return DriverScope(
        driver_id=str(driver_id),
        load_ids=frozenset(str(load_id) for load_id, _ in pairs),
        vehicle_ids=frozenset(str(vehicle_id) for _, vehicle_id in pairs if vehicle_id),
    )


def driver_may_see(scope: DriverScope, topic: str, data: dict) -> bool:
    """Whether a driver may see one event of `topic` with `data`: load events that name them as
    `driver_id` or `previous_driver_id` (including the one that takes a load away from them), their
    own driver record's events, the vehicle events of their active loads' vehicles, and route
    events of their active loads or naming them; nothing of any other topic."""
    me = scope.driver_id
    if me is None:
        return False
    if topic == "tms.loads":
        return me in (data.get("driver_id"), data.get("previous_driver_id"))
    if topic == "tms.drivers":
        return data.get("driver_id") == me
    if topic in ("tms.vehicles", "tms.vehicles.tracking"):
        return data.get("vehicle_id") in scope.vehicle_ids
    if topic == "tms.routes":
        return data.get("load_id") in scope.load_ids or data.get("driver_id") == me
    return False


# --- Assignment ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class TruckCandidate:
    vehicle: Vehicle
    deadhead_m: float | None  # from its last position to the first pickup; None: position unknown


@dataclass(frozen=True)
class DriverCandidate:
    driver: Driver
    hours_left: float  # drivers.selectors.hours_remaining, now


@dataclass(frozen=True)
class AssignmentCandidates:
    trucks: list[TruckCandidate]
    drivers: list[DriverCandidate]


def first_pickup_location(load: Load) -> Point:
    """Where the load's first pickup is: its first PICKUP stop, else its pickup location."""
    stop = load.stops.filter(kind=StopKind.PICKUP).order_by("sequence").values_list("location", flat=True)
    return stop.first() or load.pickup_location


def assignment_candidates(load: Load, *, at: datetime | None = None) -> AssignmentCandidates:
    """The trucks and drivers that may legally and physically take `load` now, as
    loads.services.assign_load would accept them.

    Trucks: of the load's carrier (any active carrier when it has none), AVAILABLE, on no active
    load, carrying its weight and volume, suiting its freight (fleet.rules.equipment_mismatch),
    nearest first by deadhead distance (PostGIS, on the spheroid, in the same query) from their
    last position to the first pickup; trucks with no position come last. Drivers: active, on no
    active load, licensed through the delivery and with the hours the load needs
    (drivers.selectors.why_not_fit, the assignment's own rules), of a carrier that has one of those
    trucks, shown with their hours left; those AVAILABLE (ready for dispatch) first, then by hours
    left. A truck is listed only if its carrier has such a driver. Their duty status does not bar
    a driver: off duty now, they may pick up tomorrow (the assignment rule; hours decide).

    Queries: a fixed number, whatever the number of trucks and drivers.
    """
    at = at or timezone.now()
    pickup = first_pickup_location(load)
    busy = Load.objects.filter(vehicle=OuterRef("pk"), status__in=ACTIVE_LOAD_STATUSES)
    trucks = (
        Vehicle.objects.filter(
            status=VehicleStatus.AVAILABLE,
            carrier__is_active=True,
            capacity_weight__gte=load.weight,
            capacity_volume__gte=load.volume,
            vehicle_type__in=vehicle_types_for(load.required_equipment),
        )
        .exclude(Exists(busy))
        .select_related("carrier")
        .annotate(deadhead=Distance("current_location", pickup))
        .order_by(F("deadhead").asc(nulls_last=True), "vehicle_number")
    )
    if load.carrier_id:
        trucks = trucks.filter(carrier_id=load.carrier_id)
    if load.required_equipment == VehicleType.REEFER:
        trucks = trucks.filter(
            temperature_min_c__lte=load.temperature_min_c, temperature_max_c__gte=load.temperature_max_c
        )
    # The database narrowed them; the rule itself has the last word.
    fitting = [truck for truck in trucks if equipment_mismatch(truck, load) is None]
    carrier_ids = {truck.carrier_id for truck in fitting}
    drivers = list(
        dispatchable(Driver.objects.filter(carrier_id__in=carrier_ids))
        .select_related("carrier")
        .order_by("name")
    )
    refusals = why_not_fit(drivers, driving_need(load), ready_for_dispatch=False)
    legal = [driver for driver in drivers if refusals[driver.pk] is None]
    hours = hours_remaining(legal, at)
    legal.sort(key=lambda driver: (driver.status != DriverStatus.AVAILABLE, -hours[driver.pk]))
    staffed = {driver.carrier_id for driver in legal}
    return AssignmentCandidates(
        trucks=[
            TruckCandidate(truck, truck.deadhead.m if truck.deadhead is not None else None)
            for truck in fitting
            if truck.carrier_id in staffed
        ],
        drivers=[DriverCandidate(driver, hours[driver.pk]) for driver in legal],
    )
