from django.conf import settings
from django.contrib.gis.db import models
from django.db.models import Q

from fleet.models import Carrier
from tms.models import BaseEntity, choices_constraint


class DriverStatus(models.TextChoices):
    """Dispatch availability: follows the driver's load."""

    AVAILABLE = "AVAILABLE"
    ASSIGNED = "ASSIGNED"
    IN_TRANSIT = "IN_TRANSIT"
    OFF_DUTY = "OFF_DUTY"
    INACTIVE = "INACTIVE"


# The driver's dispatch status machine. ASSIGNED and IN_TRANSIT follow the load.
DRIVER_TRANSITIONS: dict[str, set[str]] = {
    DriverStatus.AVAILABLE: {DriverStatus.ASSIGNED, DriverStatus.OFF_DUTY, DriverStatus.INACTIVE},
    DriverStatus.ASSIGNED: {DriverStatus.IN_TRANSIT, DriverStatus.AVAILABLE},
    DriverStatus.IN_TRANSIT: {DriverStatus.AVAILABLE},
    DriverStatus.OFF_DUTY: {DriverStatus.AVAILABLE, DriverStatus.INACTIVE},
    DriverStatus.INACTIVE: {DriverStatus.AVAILABLE, DriverStatus.OFF_DUTY},
}
MANUAL_DRIVER_STATUSES = {DriverStatus.AVAILABLE, DriverStatus.OFF_DUTY, DriverStatus.INACTIVE}


class DutyStatus(models.TextChoices):
    """Hours-of-service duty status, as on an ELD log (49 CFR 395.8)."""

    OFF_DUTY = "OFF_DUTY"
    SLEEPER_BERTH = "SLEEPER_BERTH"
    DRIVING = "DRIVING"
    ON_DUTY = "ON_DUTY"


class LicenseClass(models.TextChoices):
    A = "A"
    B = "B"
    C = "C"


US_STATES = [
    "AL",
    "AK",
    "AZ",
    "AR",
    "CA",
    "CO",
    "CT",
    "DE",
    "DC",
    "FL",
    "GA",
    "HI",
    "ID",
    "IL",
    "IN",
    "IA",
    "KS",
    "KY",
    "LA",
    "ME",
    "MD",
    "MA",
    "MI",
    "MN",
    "MS",
    "MO",
    "MT",
    "NE",
    "NV",
    "NH",
    "NJ",
    "NM",
    "NY",
    "NC",
    "ND",
    "OH",
    "OK",
    "OR",
    "PA",
    "RI",
    "SC",
    "SD",
    "TN",
    "TX",
    "UT",
    "VT",
    "VA",
    "WA",
    "WV",
    "WI",
    "WY",
]


class Driver(BaseEntity):
    carrier = models.ForeignKey(Carrier, on_delete=models.PROTECT, related_name="drivers")
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="driver",
        help_text="The login a driver uses to read their loads and report status.",
    )
    employee_number = models.CharField(max_length=32, unique=True)
    first_name = models.CharField(max_length=64)
    last_name = models.CharField(max_length=64)
    phone = models.CharField(max_length=32, blank=True)
    email = models.EmailField(blank=True)
    license_number = models.CharField(max_length=32)
    license_state = models.CharField(max_length=2, choices=[(s, s) for s in US_STATES])
    license_class = models.CharField(max_length=1, choices=LicenseClass.choices, default=LicenseClass.A)
    license_expiry = models.DateField()
    status = models.CharField(max_length=16, choices=DriverStatus.choices, default=DriverStatus.AVAILABLE)
    duty_status = models.CharField(max_length=16, choices=DutyStatus.choices, default=DutyStatus.OFF_DUTY)
    hours_remaining = models.DecimalField(
        max_digits=4,
        decimal_places=2,
        default=11,
        help_text="Driving hours left under hours-of-service rules, as of the last duty change.",
    )
    current_location = models.PointField(geography=True, null=True, blank=True)
    location_updated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "drivers"
        ordering = ["last_name", "first_name"]
        indexes = [models.Index(fields=["carrier", "status"])]
        constraints = [
            choices_constraint("status", DriverStatus, "drivers"),
            choices_constraint("duty_status", DutyStatus, "drivers"),
            choices_constraint("license_class", LicenseClass, "drivers"),
            models.UniqueConstraint(
                fields=["license_state", "license_number"], name="drivers_license_unique"
            ),
            models.CheckConstraint(
                condition=Q(hours_remaining__gte=0) & Q(hours_remaining__lte=24),
                name="drivers_hours_remaining_range",
            ),
        ]

    def __str__(self) -> str:
        return self.full_name

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}"
