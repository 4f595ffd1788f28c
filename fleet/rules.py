"""Fleet rules that the apps above fleet apply to their own rows too (drivers may import fleet)."""

from decimal import Decimal
from types import SimpleNamespace
from typing import Any

from django.db import models

from fleet.models import Carrier, VehicleType
from tms.exceptions import BusinessRuleViolation, EquipmentMismatch

# A truck or a driver is on a load while a load in one of these statuses has it (loads.models
# builds ACTIVE_LOAD_STATUSES from these; fleet and drivers cannot import loads).
ACTIVE_LOAD_STATUS_VALUES = ("ASSIGNED", "PICKED_UP", "IN_TRANSIT", "DELAYED")


def is_on_load(row: models.Model) -> bool:
    """Whether a Vehicle or Driver (`row`) is on an active load, read from the loads themselves."""
    return row.loads.filter(status__in=ACTIVE_LOAD_STATUS_VALUES).exists()


def check_still_fits_its_load(vehicle: models.Model, fields: dict[str, Any]) -> None:
    """A truck on a load keeps suiting its freight: `fields` (the edit asked for) may not turn the
    truck into one the load's equipment rule refuses. Raises EquipmentMismatch (422)."""
    if not {"vehicle_type", "temperature_min_c", "temperature_max_c"} & fields.keys():
        return
    load = vehicle.loads.filter(status__in=ACTIVE_LOAD_STATUS_VALUES).first()
    if load is None:
        return
    edited = SimpleNamespace(
        **{
            name: fields.get(name, getattr(vehicle, name))
            for name in ("vehicle_type", "temperature_min_c", "temperature_max_c")
        }
    )
    reason = equipment_mismatch(edited, load)
    if reason is not None:
        raise EquipmentMismatch(
            f"Vehicle {vehicle.vehicle_number} is on load {load.load_number}, which it would no longer "
            f"suit: {reason}",
            details={"current_load_number": load.load_number},
        )


def check_keeps_carrier_on_load(row: models.Model, carrier: Carrier | None, *, what: str) -> None:
    """A truck or driver on a load keeps its carrier: the load's carrier was checked against theirs
    when it was assigned. `row` is the Vehicle or Driver as stored, `carrier` the one asked for;
    raises BusinessRuleViolation (422) naming `what` ("vehicle", "driver")."""
    new_carrier_id = carrier.pk if carrier is not None else None
    if new_carrier_id != row.carrier_id and is_on_load(row):
        raise BusinessRuleViolation(f"A {what} on a load cannot change carrier.")


# What a truck may haul besides freight that asks for its own type (issue 16, item 3). Only
# substitutions a carrier and a shipper would both accept:
# - a REEFER hauls dry-van freight with its unit off: an insulated, closed, dock-height trailer is at
#   least as good as a dry van (reefers commonly take dry backhauls);
# - a STEP_DECK hauls flatbed freight: same open deck and tie-downs, lower deck height, which only
#   adds clearance (load boards post "flatbed or step deck" for this reason).
# Not the other way round: dry freight in a van cannot be kept cold, a flatbed cannot take
# step-deck freight that is too tall for it, a tanker hauls liquid bulk only, and a box truck's
# freight (city docks, liftgate, short bodies) is not offered to a 53' van nor a van's to a box
# truck (capacity and docks differ). Blank required equipment: any truck.
EQUIPMENT_SUBSTITUTES: dict[str, frozenset[str]] = {
    VehicleType.DRY_VAN: frozenset({VehicleType.DRY_VAN, VehicleType.REEFER}),
    VehicleType.REEFER: frozenset({VehicleType.REEFER}),
    VehicleType.FLATBED: frozenset({VehicleType.FLATBED, VehicleType.STEP_DECK}),
    VehicleType.STEP_DECK: frozenset({VehicleType.STEP_DECK}),
    VehicleType.TANKER: frozenset({VehicleType.TANKER}),
    VehicleType.BOX_TRUCK: frozenset({VehicleType.BOX_TRUCK}),
}


def vehicle_types_for(required_equipment: str) -> frozenset[str]:
    """The vehicle types that may haul freight needing `required_equipment` ('' = any type)."""
    if not required_equipment:
        return frozenset(VehicleType.values)
    return EQUIPMENT_SUBSTITUTES.get(required_equipment, frozenset({required_equipment}))


def _label(vehicle_type: str) -> str:
    return VehicleType(vehicle_type).label.lower() if vehicle_type in VehicleType.values else vehicle_type


def equipment_mismatch(vehicle: Any, load: Any) -> str | None:
    """Why `vehicle` cannot haul `load`'s freight, in a dispatcher's words, or None when it can.

    The one equipment check (assignment, the assign page, the fleet planner). `vehicle` needs
    vehicle_type, temperature_min_c, temperature_max_c; `load` required_equipment,
    temperature_min_c, temperature_max_c (model instances or any objects with those attributes).
    The truck's type must be the required one or an accepted substitute (EQUIPMENT_SUBSTITUTES);
    freight with a temperature range needs a reefer whose unit covers the whole range.
    """
    required = load.required_equipment or ""
    load_min, load_max = load.temperature_min_c, load.temperature_max_c
    # A temperature range means refrigerated freight even if the load predates the rule.
    if load_min is not None or load_max is not None:
        required = VehicleType.REEFER
    vehicle_type = vehicle.vehicle_type
    if vehicle_type not in vehicle_types_for(required):
        return f"The load needs a {_label(required)}; the truck is a {_label(vehicle_type)}."
    if required != VehicleType.REEFER:
        return None
    unit_min, unit_max = vehicle.temperature_min_c, vehicle.temperature_max_c
    if unit_min is None or unit_max is None:
        return "The reefer's unit range is not recorded; it cannot be trusted with refrigerated freight."
    if (load_min is not None and load_min < unit_min) or (load_max is not None and load_max > unit_max):
        return (
            f"The load must stay between {_temperature(load_min)} and {_temperature(load_max)}; "
            f"the reefer unit holds {_temperature(unit_min)} to {_temperature(unit_max)}."
        )
    return None


def _temperature(value: Any) -> str:
    if value is None:
        return "(unset)"
    return f"{Decimal(str(value)).normalize():f} °C"
