import datetime

import factory
from django.utils import timezone

from drivers.models import Driver, DutyStatusRecord
from fleet.tests.factories import CarrierFactory


class DriverFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Driver

    carrier = factory.SubFactory(CarrierFactory)
    employee_number = factory.Sequence(lambda n: f"E{5000 + n}")
    name = factory.Sequence(lambda n: f"Dana Driver{n}")
    license_number = factory.Sequence(lambda n: f"D{10000000 + n}")
    license_state = "IL"
    license_expiry = factory.LazyFunction(lambda: timezone.localdate() + datetime.timedelta(days=700))


def duty_log(
    driver: Driver, start: datetime.datetime, *entries: tuple[str | None, float], open_last: bool = False
):
    """Writes a driver's log directly: contiguous records from `start`, each (status, hours).

    For building a past the services would refuse to write out of order. A status of None is a
    gap (no record: off duty). With `open_last` the last record stays open.
    """
    records = []
    cursor = start
    for index, (status, hours) in enumerate(entries):
        end = cursor + datetime.timedelta(hours=hours)
        if status is None:
            cursor = end
            continue
        is_open = open_last and index == len(entries) - 1
        records.append(
            DutyStatusRecord.objects.create(
                driver_id=driver.pk, status=status, started_at=cursor, ended_at=None if is_open else end
            )
        )
        cursor = end
    return records
