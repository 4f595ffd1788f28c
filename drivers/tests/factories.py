import datetime

import factory
from django.utils import timezone

from drivers.models import Driver
from fleet.tests.factories import CarrierFactory


class DriverFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Driver

    carrier = factory.SubFactory(CarrierFactory)
    employee_number = factory.Sequence(lambda n: f"E{5000 + n}")
    first_name = "Dana"
    last_name = factory.Sequence(lambda n: f"Driver{n}")
    license_number = factory.Sequence(lambda n: f"D{10000000 + n}")
    license_state = "IL"
    license_expiry = factory.LazyFunction(lambda: timezone.localdate() + datetime.timedelta(days=700))
