import datetime
from decimal import Decimal

import factory
from django.contrib.gis.geos import Point
from django.utils import timezone

from loads import services
from loads.models import Facility, Load


class FacilityFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Facility

    name = factory.Sequence(lambda n: f"Facility {n}")
    address = factory.Sequence(lambda n: f"{100 + n} Industrial Dr")
    city = "Chicago"
    state = "IL"
    postal_code = "60601"
    location = factory.LazyFunction(lambda: Point(-87.6298, 41.8781, srid=4326))
    timezone = "America/Chicago"


class LoadFactory(factory.django.DjangoModelFactory):
    """Books loads through the service, so estimates, audit rows and events are as in production."""

    class Meta:
        model = Load

    shipper = factory.SubFactory(FacilityFactory)
    consignee = factory.SubFactory(
        FacilityFactory, city="Indianapolis", state="IN", location=Point(-86.1581, 39.7684, srid=4326)
    )
    pickup_at = factory.LazyFunction(lambda: timezone.now() + datetime.timedelta(days=1))
    delivery_at = factory.LazyAttribute(lambda o: o.pickup_at + datetime.timedelta(days=1))
    weight_kg = Decimal("12000")
    volume_m3 = Decimal("60")
    rate = Decimal("1850.00")

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        return services.create_load(by=None, **kwargs)
