"""Fleet rules that the apps above fleet apply to their own rows too (drivers may import fleet)."""

from django.db import models

from fleet.models import Carrier
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
