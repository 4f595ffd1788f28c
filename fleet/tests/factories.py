from decimal import Decimal

import factory
from django.contrib.gis.geos import Point

from fleet.models import Carrier, Vehicle, VehicleType


class CarrierFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Carrier

    name = factory.Sequence(lambda n: f"Carrier {n} Freight")
    dot_number = factory.Sequence(lambda n: f"{3000000 + n}")
    mc_number = factory.Sequence(lambda n: f"MC{700000 + n}")


class VehicleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Vehicle

    carrier = factory.SubFactory(CarrierFactory)
    vehicle_number = factory.Sequence(lambda n: f"T{1000 + n}")
    vin = factory.Sequence(lambda n: f"1XKYD49X0NJ{n:06d}")
    make = "Freightliner"
    model = "Cascadia"
    year = 2022
    vehicle_type = VehicleType.DRY_VAN
    capacity_weight = Decimal("20000")
    capacity_volume = Decimal("95")
    current_location = factory.LazyFunction(lambda: Point(-87.6298, 41.8781, srid=4326))
    # A reefer's unit holds what most units do; other trucks have none (Vehicle.clean).
    temperature_min_c = factory.LazyAttribute(
        lambda o: Decimal("-25") if o.vehicle_type == VehicleType.REEFER else None
    )
    temperature_max_c = factory.LazyAttribute(
        lambda o: Decimal("25") if o.vehicle_type == VehicleType.REEFER else None
    )
