from django.contrib.gis.db import models
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db.models import Q

from tms.models import BaseEntity, choices_constraint


class Carrier(BaseEntity):
    """A trucking company whose vehicles and drivers haul loads."""

    name = models.CharField(max_length=200)
    dot_number = models.CharField("USDOT number", max_length=16, unique=True)
    mc_number = models.CharField("MC number", max_length=16, blank=True)
    contact_email = models.EmailField(blank=True)
    contact_phone = models.CharField(max_length=32, blank=True)
    is_active = models.BooleanField(default=True)

    class Meta:
        db_table = "carriers"
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class VehicleStatus(models.TextChoices):
    AVAILABLE = "AVAILABLE"
    ASSIGNED = "ASSIGNED"
    IN_TRANSIT = "IN_TRANSIT"
    MAINTENANCE = "MAINTENANCE"
    OUT_OF_SERVICE = "OUT_OF_SERVICE"


# The vehicle's status machine. ASSIGNED and IN_TRANSIT follow its load; the rest a dispatcher sets.
VEHICLE_TRANSITIONS: dict[str, set[str]] = {
    VehicleStatus.AVAILABLE: {
        VehicleStatus.ASSIGNED,
        VehicleStatus.MAINTENANCE,
        VehicleStatus.OUT_OF_SERVICE,
    },
    VehicleStatus.ASSIGNED: {VehicleStatus.IN_TRANSIT, VehicleStatus.AVAILABLE},
    VehicleStatus.IN_TRANSIT: {VehicleStatus.AVAILABLE},
    VehicleStatus.MAINTENANCE: {VehicleStatus.AVAILABLE, VehicleStatus.OUT_OF_SERVICE},
    VehicleStatus.OUT_OF_SERVICE: {VehicleStatus.AVAILABLE, VehicleStatus.MAINTENANCE},
}
MANUAL_VEHICLE_STATUSES = {
    VehicleStatus.AVAILABLE,
    VehicleStatus.MAINTENANCE,
    VehicleStatus.OUT_OF_SERVICE,
}


class VehicleType(models.TextChoices):
    DRY_VAN = "DRY_VAN"
    REEFER = "REEFER"
    FLATBED = "FLATBED"
    STEP_DECK = "STEP_DECK"
    TANKER = "TANKER"
    BOX_TRUCK = "BOX_TRUCK"


class FuelType(models.TextChoices):
    DIESEL = "DIESEL"
    CNG = "CNG"
    LNG = "LNG"
    ELECTRIC = "ELECTRIC"
    HYDROGEN = "HYDROGEN"


class Vehicle(BaseEntity):
    """A tractor-trailer unit (or straight truck) with its capacity and live position."""

    carrier = models.ForeignKey(Carrier, on_delete=models.PROTECT, related_name="vehicles")
    unit_number = models.CharField(max_length=32, unique=True)
    vin = models.CharField("VIN", max_length=17, unique=True)
    license_plate = models.CharField(max_length=16, blank=True)
    make = models.CharField(max_length=64)
    model = models.CharField(max_length=64)
    year = models.PositiveSmallIntegerField(validators=[MinValueValidator(1980), MaxValueValidator(2100)])
    vehicle_type = models.CharField(max_length=16, choices=VehicleType.choices)
    fuel_type = models.CharField(max_length=16, choices=FuelType.choices, default=FuelType.DIESEL)
    capacity_weight_kg = models.DecimalField(max_digits=9, decimal_places=1)
    capacity_volume_m3 = models.DecimalField(max_digits=7, decimal_places=2)
    fuel_consumption_l_per_100km = models.DecimalField(
        max_digits=5, decimal_places=1, default=35, help_text="Litres of fuel per 100 km."
    )
    status = models.CharField(max_length=16, choices=VehicleStatus.choices, default=VehicleStatus.AVAILABLE)
    current_location = models.PointField(geography=True, null=True, blank=True)
    location_updated_at = models.DateTimeField(null=True, blank=True)
    odometer_km = models.DecimalField(max_digits=10, decimal_places=1, default=0)
    engine_hours = models.DecimalField(max_digits=9, decimal_places=1, default=0)
    last_maintenance_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "vehicles"
        ordering = ["unit_number"]
        indexes = [models.Index(fields=["carrier", "status"])]
        constraints = [
            choices_constraint("status", VehicleStatus, "vehicles"),
            choices_constraint("vehicle_type", VehicleType, "vehicles"),
            choices_constraint("fuel_type", FuelType, "vehicles"),
            models.CheckConstraint(
                condition=Q(capacity_weight_kg__gt=0) & Q(capacity_volume_m3__gt=0),
                name="vehicles_capacity_positive",
            ),
            models.CheckConstraint(
                condition=Q(odometer_km__gte=0)
                & Q(engine_hours__gte=0)
                & Q(fuel_consumption_l_per_100km__gt=0),
                name="vehicles_counters_non_negative",
            ),
        ]

    def __str__(self) -> str:
        return self.unit_number
