"""Read queries about loads used by more than one caller."""

from dataclasses import dataclass

from drivers.models import Driver
from loads.models import ACTIVE_LOAD_STATUSES, Load


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
