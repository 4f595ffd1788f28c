import functools
import zoneinfo

from django.contrib.gis.db import models
from django.core.exceptions import ValidationError
from django.db.models import F, Q

from drivers.models import Driver
from fleet.models import Carrier, Vehicle
from tms.models import BaseEntity, choices_constraint


@functools.cache
def _time_zones() -> frozenset[str]:
    # available_timezones() walks the whole tz database on disk: read it once per process.
    return frozenset(zoneinfo.available_timezones())


def validate_timezone(value: str) -> None:
    if value not in _time_zones():
        raise ValidationError(f"{value!r} is not an IANA time zone (e.g. America/Chicago).")


class FacilityType(models.TextChoices):
    SHIPPER = "SHIPPER"
    CONSIGNEE = "CONSIGNEE"
    SHIPPER_CONSIGNEE = "SHIPPER_CONSIGNEE"
    TERMINAL = "TERMINAL"
    WAREHOUSE = "WAREHOUSE"


class Facility(BaseEntity):
    """A shipper's or consignee's site where freight is picked up or delivered."""

    name = models.CharField(max_length=200)
    facility_type = models.CharField(
        max_length=20, choices=FacilityType.choices, default=FacilityType.SHIPPER_CONSIGNEE
    )
    address = models.CharField(max_length=255)
    city = models.CharField(max_length=100)
    state = models.CharField(max_length=2)
    postal_code = models.CharField(max_length=10)
    country = models.CharField(max_length=2, default="US")
    location = models.PointField(geography=True)
    timezone = models.CharField(max_length=64, validators=[validate_timezone])
    contact_name = models.CharField(max_length=100, blank=True)
    contact_phone = models.CharField(max_length=32, blank=True)

    class Meta:
        db_table = "facilities"
        verbose_name_plural = "facilities"
        ordering = ["name"]
        constraints = [choices_constraint("facility_type", FacilityType, "facilities")]

    def __str__(self) -> str:
        return f"{self.name} ({self.city}, {self.state})"


class LoadStatus(models.TextChoices):
    PENDING = "PENDING"
    ASSIGNED = "ASSIGNED"
    PICKED_UP = "PICKED_UP"
    IN_TRANSIT = "IN_TRANSIT"
    DELAYED = "DELAYED"
    DELIVERED = "DELIVERED"
    CANCELLED = "CANCELLED"


_S = LoadStatus
# The load's status machine. From DELAYED the load resumes where it was (the service checks the
# timestamps: a load not yet picked up cannot be delivered).
LOAD_TRANSITIONS: dict[str, set[str]] = {
    _S.PENDING: {_S.ASSIGNED, _S.CANCELLED},
    _S.ASSIGNED: {_S.ASSIGNED, _S.PICKED_UP, _S.DELAYED, _S.CANCELLED},
    _S.PICKED_UP: {_S.IN_TRANSIT, _S.DELAYED, _S.CANCELLED},
    _S.IN_TRANSIT: {_S.DELIVERED, _S.DELAYED, _S.CANCELLED},
    _S.DELAYED: {_S.PICKED_UP, _S.IN_TRANSIT, _S.DELIVERED, _S.DELAYED, _S.CANCELLED},
    _S.DELIVERED: set(),
    _S.CANCELLED: set(),
}

# A vehicle or driver works one load at a time (full truckload); these statuses hold them.
ACTIVE_LOAD_STATUSES = [
    LoadStatus.ASSIGNED,
    LoadStatus.PICKED_UP,
    LoadStatus.IN_TRANSIT,
    LoadStatus.DELAYED,
]


class Load(BaseEntity):
    load_number = models.CharField(max_length=32, unique=True)
    shipper = models.ForeignKey(Facility, on_delete=models.PROTECT, related_name="shipments")
    consignee = models.ForeignKey(Facility, on_delete=models.PROTECT, related_name="receipts")
    carrier = models.ForeignKey(
        Carrier, null=True, blank=True, on_delete=models.PROTECT, related_name="loads"
    )
    vehicle = models.ForeignKey(
        Vehicle, null=True, blank=True, on_delete=models.PROTECT, related_name="loads"
    )
    driver = models.ForeignKey(Driver, null=True, blank=True, on_delete=models.PROTECT, related_name="loads")
    pickup_location = models.PointField(geography=True)
    pickup_address = models.CharField(max_length=255)
    pickup_at = models.DateTimeField(help_text="Scheduled pickup time.")
    delivery_location = models.PointField(geography=True)
    delivery_address = models.CharField(max_length=255)
    delivery_at = models.DateTimeField(help_text="Scheduled delivery time.")
    commodity = models.CharField(max_length=100, blank=True)
    weight_kg = models.DecimalField(max_digits=9, decimal_places=1)
    volume_m3 = models.DecimalField(max_digits=7, decimal_places=2)
    rate = models.DecimalField(max_digits=10, decimal_places=2, help_text="Linehaul rate, USD.")
    status = models.CharField(max_length=16, choices=LoadStatus.choices, default=LoadStatus.PENDING)
    estimated_distance_m = models.PositiveIntegerField(
        default=0, help_text="Road distance estimate, metres (great circle x circuity until routed)."
    )
    estimated_driving_hours = models.DecimalField(max_digits=5, decimal_places=2, default=0)
    assigned_at = models.DateTimeField(null=True, blank=True)
    picked_up_at = models.DateTimeField(null=True, blank=True)
    in_transit_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    cancellation_reason = models.CharField(max_length=255, blank=True)
    delay_reason = models.CharField(max_length=255, blank=True)
    expected_delivery_at = models.DateTimeField(
        null=True, blank=True, help_text="Revised delivery estimate after a delay."
    )
    notes = models.TextField(blank=True)

    class Meta:
        db_table = "loads"
        ordering = ["-pickup_at"]
        indexes = [
            models.Index(fields=["status", "pickup_at"]),
            models.Index(fields=["carrier", "status"]),
        ]
        constraints = [
            choices_constraint("status", LoadStatus, "loads"),
            models.CheckConstraint(condition=Q(weight_kg__gt=0), name="loads_weight_positive"),
            models.CheckConstraint(condition=Q(volume_m3__gt=0), name="loads_volume_positive"),
            models.CheckConstraint(condition=Q(rate__gte=0), name="loads_rate_non_negative"),
            models.CheckConstraint(
                condition=Q(delivery_at__gt=F("pickup_at")), name="loads_delivery_after_pickup"
            ),
            models.CheckConstraint(
                condition=~Q(shipper=F("consignee")), name="loads_shipper_is_not_consignee"
            ),
            # An assigned load has its truck and driver; a pending one has neither.
            models.CheckConstraint(
                condition=Q(status=LoadStatus.PENDING, vehicle=None, driver=None)
                | ~Q(status=LoadStatus.PENDING),
                name="loads_pending_unassigned",
            ),
            models.CheckConstraint(
                condition=~Q(status__in=ACTIVE_LOAD_STATUSES)
                | (Q(vehicle__isnull=False) & Q(driver__isnull=False) & Q(carrier__isnull=False)),
                name="loads_active_has_resources",
            ),
            models.UniqueConstraint(
                fields=["vehicle"],
                condition=Q(status__in=ACTIVE_LOAD_STATUSES),
                name="loads_one_active_per_vehicle",
            ),
            models.UniqueConstraint(
                fields=["driver"],
                condition=Q(status__in=ACTIVE_LOAD_STATUSES),
                name="loads_one_active_per_driver",
            ),
        ]

    def __str__(self) -> str:
        return self.load_number
