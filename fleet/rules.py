"""Fleet rules that the apps above fleet apply to their own rows too (drivers may import fleet)."""

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from django.db import models

from fleet.models import Carrier, VehicleType
from tms.exceptions import BusinessRuleViolation

# A truck or a driver is on a load while a load in one of these statuses has it (loads.models
# builds ACTIVE_LOAD_STATUSES from these; fleet and drivers cannot import loads).
ACTIVE_LOAD_STATUS_VALUES = ("ASSIGNED", "PICKED_UP", "IN_TRANSIT", "DELAYED")


def is_on_load(row: models.Model) -> bool:
    """Whether a Vehicle or Driver (`row`) is on an active load, read from the loads themselves."""
    return row.loads.filter(status__in=ACTIVE_LOAD_STATUS_VALUES).exists()


def check_keeps_carrier_on_load(row: models.Model, carrier: Carrier | None, *, what: str) -> None:
    """A truck or driver on a load keeps its carrier: the load's carrier was checked against theirs
    when it was assigned. `row` is the Vehicle or Driver as stored, `carrier` the one asked for;
    raises BusinessRuleViolation (422) naming `what` ("vehicle", "driver")."""
    new_carrier_id = carrier.pk if carrier is not None else None
    if new_carrier_id != row.carrier_id and is_on_load(row):
        raise BusinessRuleViolation(f"A {what} on a load cannot change carrier.")


def _field(fields: Mapping[str, Any] | Any, name: str) -> Any:
    return fields.get(name) if isinstance(fields, Mapping) else getattr(fields, name)


def _range(low: Decimal | float, high: Decimal | float) -> str:
    def text(value: Decimal | float) -> str:
        return f"{Decimal(str(value)).normalize():f}"

    return f"{text(low)} °C" if low == high else f"{text(low)} to {text(high)} °C"


def equipment_mismatch(
    vehicle_fields: Mapping[str, Any] | Any, load_fields: Mapping[str, Any] | Any
) -> str | None:
    """Why this truck cannot haul this load's freight, or None when it can: the one equipment rule
    that manual assignment (loads.services) and the fleet planner (routing.fleet) both apply.

    `vehicle_fields` has `vehicle_type`, `temperature_min_c`, `temperature_max_c` (a Vehicle, or a
    mapping of those columns such as a `.values()` row); `load_fields` has `required_equipment`,
    `temperature_min_c`, `temperature_max_c` (a Load, or such a mapping).

    * A load that requires equipment (`required_equipment` not blank) goes on that vehicle type
      only: no substitution (a reefer is not offered for dry freight, a tanker never for pallets).
    * A load with a temperature range (either bound set) needs a truck with a reefer unit whose
      whole range is known and holds the load's range: the unit's coldest setting at or below the
      load's lowest temperature, its warmest at or above the load's highest.
    """
    required = _field(load_fields, "required_equipment") or ""
    vehicle_type = _field(vehicle_fields, "vehicle_type")
    if required and vehicle_type != required:
        return (
            f"The load needs a {VehicleType(required).label.lower()}; "
            f"the truck is a {VehicleType(vehicle_type).label.lower()}."
        )
    load_min = _field(load_fields, "temperature_min_c")
    load_max = _field(load_fields, "temperature_max_c")
    if load_min is None and load_max is None:
        return None
    # One bound only: the freight is kept at that temperature (at most -18 °C: the unit reaches -18).
    need_min = load_min if load_min is not None else load_max
    need_max = load_max if load_max is not None else load_min
    unit_min = _field(vehicle_fields, "temperature_min_c")
    unit_max = _field(vehicle_fields, "temperature_max_c")
    if unit_min is None or unit_max is None:
        return "The load needs temperature control; the truck has no reefer unit range on file."
    if unit_min > need_min or unit_max < need_max:
        return (
            f"The load needs {_range(need_min, need_max)}; "
            f"the truck's reefer unit holds {_range(unit_min, unit_max)}."
        )
    return None
