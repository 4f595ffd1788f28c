import datetime
from decimal import Decimal

import factory
from django.contrib.gis.geos import Point
from django.utils import timezone

from drivers.tests.factories import DriverFactory
from fleet.tests.factories import VehicleFactory
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
    pickup_datetime = factory.LazyFunction(lambda: timezone.now() + datetime.timedelta(days=1))
    delivery_datetime = factory.LazyAttribute(lambda o: o.pickup_datetime + datetime.timedelta(days=1))
    weight = Decimal("12000")
    volume = Decimal("60")
    rate = Decimal("1850.00")

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        return services.create_load(by=None, **kwargs)


def load_in(status: str, **fields) -> Load:
    """A load brought to `status` through the services, on a fresh vehicle and driver."""
    load = LoadFactory(**fields)
    if status == "CREATED":
        return load
    if status == "CANCELLED":
        return services.cancel_load(load, by=None, reason="test")
    vehicle = VehicleFactory()
    services.assign_load(load, by=None, vehicle=vehicle, driver=DriverFactory(carrier=vehicle.carrier))
    steps = {
        "ASSIGNED": [],
        "DELAYED": [lambda: services.delay_load(load, by=None, reason="traffic")],
        "PICKED_UP": [lambda: services.pick_up_load(load, by=None)],
        "IN_TRANSIT": [
            lambda: services.pick_up_load(load, by=None),
            lambda: services.start_transit(load, by=None),
        ],
        "DELIVERED": [
            lambda: services.pick_up_load(load, by=None),
            lambda: services.start_transit(load, by=None),
            lambda: services.deliver_load(load, by=None),
        ],
    }[status]
    for step in steps:
        step()
    load.refresh_from_db()
    return load
