import uuid
import zoneinfo

from django.conf import settings
from django.contrib.gis.db import models
from django.contrib.postgres.indexes import GistIndex
from django.core.exceptions import ValidationError
from django.db.models import F, Func, Q, Value
from django.db.models.functions import Cast, Coalesce

from fleet.models import Carrier
from tms.models import BaseEntity, choices_constraint


class DriverStatus(models.TextChoices):
    """The seed's DriverStatus: the driver's current hours-of-service duty status, with AVAILABLE
    for on duty, not driving and ready for dispatch.

    For the hours-of-service engine and the ELD log AVAILABLE is on-duty-not-driving time: the log
    keeps the four duty statuses of 49 CFR 395.8 (DutyStatus). Whether the driver is on a load is
    read from loads, and employment from `Driver.is_active`; neither is a status.
    """

    AVAILABLE = "AVAILABLE"
    DRIVING = "DRIVING"
    ON_DUTY = "ON_DUTY"
    OFF_DUTY = "OFF_DUTY"
    SLEEPER_BERTH = "SLEEPER_BERTH"


class DutyStatus(models.TextChoices):
    """Hours-of-service duty status, as on an ELD log (49 CFR 395.8)."""

    OFF_DUTY = "OFF_DUTY"
    SLEEPER_BERTH = "SLEEPER_BERTH"
    DRIVING = "DRIVING"
    ON_DUTY = "ON_DUTY"


def duty_status_of(status: str) -> str:
    """The ELD duty status (DutyStatus) a driver status is logged as: AVAILABLE is on duty."""
    return DutyStatus.ON_DUTY if status == DriverStatus.AVAILABLE else status


class HosCycle(models.TextChoices):
    """The on-duty cycle a driver works under (49 CFR 395.3(b)); values as the engine names them."""

    CYCLE_70_8 = "70/8", "70 hours / 8 days"
    CYCLE_60_7 = "60/7", "60 hours / 7 days"


def validate_timezone(value: str) -> None:
    # drivers must not import loads (dependency direction), so this mirrors
    # loads.models.validate_timezone.
    if value not in zoneinfo.available_timezones():
        raise ValidationError(f"{value!r} is not an IANA time zone (e.g. America/Chicago).")


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
    """A driver. Their `hours_remaining` is not a column: it changes by the second while they
    drive, so it is derived from the duty-status log whenever it is shown
    (drivers.selectors.hours_remaining)."""

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
    name = models.CharField(max_length=128, help_text="Full name, as on the licence.")
    phone = models.CharField(max_length=32, blank=True)
    email = models.EmailField(blank=True)
    license_number = models.CharField(max_length=32)
    license_state = models.CharField(max_length=2, choices=[(s, s) for s in US_STATES])
    license_class = models.CharField(max_length=1, choices=LicenseClass.choices, default=LicenseClass.A)
    license_expiry = models.DateField()
    status = models.CharField(
        max_length=16,
        choices=DriverStatus.choices,
        default=DriverStatus.OFF_DUTY,
        help_text="Current duty status (AVAILABLE: on duty, not driving, ready for dispatch).",
    )
    is_active = models.BooleanField(
        default=True, help_text="Employed and dispatchable; an inactive driver cannot be assigned loads."
    )
    current_location = models.PointField(geography=True, null=True, blank=True)
    location_updated_at = models.DateTimeField(null=True, blank=True)
    hos_cycle = models.CharField(
        max_length=8,
        choices=HosCycle.choices,
        default=HosCycle.CYCLE_70_8,
        help_text="On-duty cycle: 70 hours in 8 days or 60 hours in 7 days (395.3(b)).",
    )
    short_haul_exception = models.BooleanField(
        default=False,
        help_text="Works under the 150 air-mile short-haul exception: no 30-minute break (395.1(e)(1)).",
    )
    home_terminal_timezone = models.CharField(
        max_length=64,
        default="America/Chicago",
        validators=[validate_timezone],
        help_text="IANA time zone of the home terminal: the driver's log days start at its midnight.",
    )

    class Meta:
        db_table = "drivers"
        ordering = ["name"]
        indexes = [models.Index(fields=["carrier", "status"])]
        constraints = [
            choices_constraint("status", DriverStatus, "drivers"),
            choices_constraint("license_class", LicenseClass, "drivers"),
            choices_constraint("hos_cycle", HosCycle, "drivers"),
            models.UniqueConstraint(
                fields=["license_state", "license_number"], name="drivers_license_unique"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class DutyStatusRecord(models.Model):
    """One line of a driver's ELD log: a duty status from `started_at` until `ended_at`.

    A time series (tms.routers.TIMESERIES_MODELS): it may live in another database, so the driver
    is referenced by id without a foreign key. At most one record per driver is open
    (`ended_at` null); appending a record closes the open one at the new record's start.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    driver_id = models.UUIDField()
    status = models.CharField(max_length=16, choices=DutyStatus.choices)
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    location = models.PointField(geography=True, null=True, blank=True)
    note = models.CharField(max_length=255, blank=True)
    recorded_by_id = models.IntegerField(null=True, blank=True, help_text="The user who reported it.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "duty_status_records"
        ordering = ["driver_id", "started_at"]
        # The unique constraint's (driver_id, started_at) B-tree is the index every read of one
        # driver uses: their records over a time range. Reads across every driver (the dashboard's
        # hours by duty status) find the records overlapping a range by this GiST index on the
        # record's period (DUTY_PERIOD_SQL, spelled the same in the query).
        indexes = [
            GistIndex(
                Func(
                    F("started_at"),
                    Coalesce(F("ended_at"), Cast(Value("infinity"), models.DateTimeField())),
                    function="tstzrange",
                    output_field=models.DateTimeField(),
                ),
                name="duty_status_records_period",
            ),
        ]
        constraints = [
            choices_constraint("status", DutyStatus, "duty_status_records"),
            models.UniqueConstraint(
                fields=["driver_id", "started_at"], name="duty_status_records_unique_start"
            ),
            models.CheckConstraint(
                condition=Q(ended_at__isnull=True) | Q(ended_at__gt=F("started_at")),
                name="duty_status_records_ends_after_start",
            ),
            models.UniqueConstraint(
                fields=["driver_id"],
                condition=Q(ended_at__isnull=True),
                name="duty_status_records_one_open_per_driver",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.status} {self.started_at:%Y-%m-%d %H:%M} - {self.ended_at or 'now'}"


class HosViolation(models.Model):
    """An hours-of-service violation as detected from the log; DRIVER_HOS_VIOLATION is emitted when
    its row is inserted, so once per (driver, rule, start) however often the clock is recomputed."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    driver = models.ForeignKey(Driver, on_delete=models.PROTECT, related_name="hos_violations")
    rule = models.CharField(max_length=32, help_text="49 CFR 395 paragraph, e.g. 395.3(a)(3)(i).")
    start = models.DateTimeField()
    end = models.DateTimeField()
    message = models.CharField(max_length=255)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "hos_violations"
        ordering = ["driver", "start", "rule"]
        constraints = [
            models.UniqueConstraint(fields=["driver", "rule", "start"], name="hos_violations_unique"),
            models.CheckConstraint(condition=Q(end__gte=F("start")), name="hos_violations_end_after_start"),
        ]

    def __str__(self) -> str:
        return f"{self.rule} {self.start:%Y-%m-%d %H:%M}"
