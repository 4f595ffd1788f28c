"""Fleet rules that the apps above fleet apply to their own rows too (drivers may import fleet)."""

from django.db import models

from fleet.models import Carrier, VehicleStatus
from tms.exceptions import BusinessRuleViolation

# A truck or a driver with one of these statuses is on a load (DriverStatus uses the same values).
ON_LOAD_STATUSES = frozenset({VehicleStatus.ASSIGNED, VehicleStatus.IN_TRANSIT})


def check_keeps_carrier_on_load(row: models.Model, carrier: Carrier | None, *, what: str) -> None:
    """A truck or driver on a load keeps its carrier: the load's carrier was checked against theirs
    when it was assigned. `row` is the Vehicle or Driver as stored, `carrier` the one asked for;
    raises BusinessRuleViolation (422) naming `what` ("vehicle", "driver")."""
    new_carrier_id = carrier.pk if carrier is not None else None
    if row.status in ON_LOAD_STATUSES and new_carrier_id != row.carrier_id:
        raise BusinessRuleViolation(f"A {what} on a load cannot change carrier.")
