"""Read queries about loads used by more than one caller."""

from uuid import UUID

from drivers.models import Driver
from loads.models import ACTIVE_LOAD_STATUSES, Load


def driver_active_work(user_id: int) -> tuple[UUID | None, list[tuple[UUID, UUID | None]]]:
    """The driver record of a login and the (load, vehicle) pairs of their active loads:
    what a driver may follow on the live stream (events.ws)."""
    driver_id = Driver.objects.filter(user_id=user_id).values_list("pk", flat=True).first()
    if driver_id is None:
        return None, []
    active = Load.objects.filter(driver_id=driver_id, status__in=ACTIVE_LOAD_STATUSES)
    return driver_id, list(active.values_list("pk", "vehicle_id"))
