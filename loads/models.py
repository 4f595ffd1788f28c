import functools
import zoneinfo

from django.contrib.gis.db import models
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db.models import F, Q

from drivers.models import Driver
from fleet.models import Carrier, Vehicle
from fleet.rules import ACTIVE_LOAD_STATUS_VALUES
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
    geofence_radius_m = models.PositiveIntegerField(
        default=300,
        validators=[MinValueValidator(10), MaxValueValidator(50_000)],
        help_text="A vehicle within this many metres of the location is at the facility (without a polygon).",
    )
    geofence = models.PolygonField(
        geography=True,
        null=True,
        blank=True,
        help_text="The site's outline; when set, it is the geofence instead of the radius.",
    )

    class Meta:
        db_table = "facilities"
        verbose_name_plural = "facilities"
        ordering = ["name"]
        constraints = [
            choices_constraint("facility_type", FacilityType, "facilities"),
            models.CheckConstraint(
                condition=Q(geofence_radius_m__gte=10) & Q(geofence_radius_m__lte=50_000),
                name="facilities_geofence_radius_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.city}, {self.state})"


class LoadStatus(models.TextChoices):
    """The seed's LoadStatus: a load is CREATED (booked, unassigned) until a dispatcher assigns it."""

    CREATED = "CREATED"
    ASSIGNED = "ASSIGNED"
    PICKED_UP = "PICKED_UP"
    IN_TRANSIT = "IN_TRANSIT"
    DELIVERED = "DELIVERED"
    CANCELLED = "CANCELLED"
    DELAYED = "DELAYED"


_S = LoadStatus
# The load's status machine. From DELAYED the load resumes where it was (the service checks the
# timestamps: a load not yet picked up cannot be delivered).
LOAD_TRANSITIONS: dict[str, set[str]] = {
    _S.CREATED: {_S.ASSIGNED, _S.CANCELLED},
    _S.ASSIGNED: {_S.ASSIGNED, _S.PICKED_UP, _S.DELAYED, _S.CANCELLED},
    _S.PICKED_UP: {_S.IN_TRANSIT, _S.DELAYED, _S.CANCELLED},
    _S.IN_TRANSIT: {_S.DELIVERED, _S.DELAYED, _S.CANCELLED},
    _S.DELAYED: {_S.PICKED_UP, _S.IN_TRANSIT, _S.DELIVERED, _S.DELAYED, _S.CANCELLED},
    _S.DELIVERED: set(),
    _S.CANCELLED: set(),
}

# A vehicle or driver works one load at a time (full truckload); these statuses hold them.
ACTIVE_LOAD_STATUSES = [LoadStatus(value) for value in ACTIVE_LOAD_STATUS_VALUES]


# Columns only the lifecycle services write (and the estimates they derive): read-only in the API
# and the admin.
TRANSITION_FIELDS = [
    "status",
    "vehicle",
    "driver",
    "assigned_at",
    "picked_up_at",
    "in_transit_at",
    "delivered_at",
    "cancelled_at",
    "cancellation_reason",
    "delay_reason",
    "expected_delivery_at",
    "estimated_distance_m",
    "estimated_driving_hours",
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
    pickup_datetime = models.DateTimeField(help_text="Scheduled pickup time.")
    delivery_location = models.PointField(geography=True)
    delivery_address = models.CharField(max_length=255)
    delivery_datetime = models.DateTimeField(help_text="Scheduled delivery time.")
    commodity = models.CharField(max_length=100, blank=True)
    weight = models.DecimalField(max_digits=9, decimal_places=1, help_text="Weight of the freight, kg.")
    volume = models.DecimalField(max_digits=7, decimal_places=2, help_text="Volume of the freight, m3.")
    rate = models.DecimalField(max_digits=10, decimal_places=2, help_text="Linehaul rate, USD.")
    status = models.CharField(max_length=16, choices=LoadStatus.choices, default=LoadStatus.CREATED)
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
        ordering = ["-pickup_datetime"]
        indexes = [
            models.Index(fields=["status", "pickup_datetime"]),
            models.Index(fields=["carrier", "status"]),
        ]
        constraints = [
            choices_constraint("status", LoadStatus, "loads"),
            models.CheckConstraint(condition=Q(weight__gt=0), name="loads_weight_positive"),
            models.CheckConstraint(condition=Q(volume__gt=0), name="loads_volume_positive"),
            models.CheckConstraint(condition=Q(rate__gte=0), name="loads_rate_non_negative"),
            models.CheckConstraint(
                condition=Q(delivery_datetime__gt=F("pickup_datetime")), name="loads_delivery_after_pickup"
            ),
            models.CheckConstraint(
                condition=~Q(shipper=F("consignee")), name="loads_shipper_is_not_consignee"
            ),
            # An assigned load has its truck and driver; a created one has neither.
            models.CheckConstraint(
                condition=Q(status=LoadStatus.CREATED, vehicle=None, driver=None)
                | ~Q(status=LoadStatus.CREATED),
                name="loads_created_unassigned",
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


class StopKind(models.TextChoices):
    PICKUP = "PICKUP"
    DELIVERY = "DELIVERY"


class StopEvent(BaseEntity):
    """A vehicle's visit to its load's pickup or delivery facility, seen by the facility's geofence.

    Arrival is the first fix inside the geofence; departure the first later fix beyond the geofence
    plus the exit margin (loads.geofence), so GPS jitter at the boundary does not end the visit.
    """

    load = models.ForeignKey(Load, on_delete=models.CASCADE, related_name="stops")
    vehicle = models.ForeignKey(Vehicle, on_delete=models.PROTECT, related_name="stops")
    facility = models.ForeignKey(Facility, on_delete=models.PROTECT, related_name="stops")
    kind = models.CharField(max_length=16, choices=StopKind.choices)
    arrived_at = models.DateTimeField()
    departed_at = models.DateTimeField(null=True, blank=True)
    dwell_s = models.PositiveIntegerField(
        null=True, blank=True, help_text="Seconds from arrival to departure."
    )
    last_inside_at = models.DateTimeField(help_text="The latest fix inside the exit boundary.")

    class Meta:
        db_table = "stop_events"
        ordering = ["arrived_at"]
        indexes = [models.Index(fields=["vehicle", "departed_at"])]
        constraints = [
            choices_constraint("kind", StopKind, "stop_events"),
            models.CheckConstraint(
                condition=Q(departed_at=None, dwell_s=None)
                | Q(departed_at__gt=F("arrived_at"), dwell_s__isnull=False),
                name="stop_events_departure_after_arrival",
            ),
            models.CheckConstraint(
                condition=Q(last_inside_at__gte=F("arrived_at")), name="stop_events_inside_after_arrival"
            ),
            # One visit at a time: a second open stop for the same load and kind is a duplicate.
            models.UniqueConstraint(
                fields=["load", "kind"], condition=Q(departed_at=None), name="stop_events_one_open_per_load"
            ),
            models.UniqueConstraint(fields=["load", "kind", "arrived_at"], name="stop_events_unique_arrival"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} of {self.load_id} at {self.facility_id}"
