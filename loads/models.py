import functools
import zoneinfo
from datetime import timedelta

from django.conf import settings
from django.contrib.gis.db import models
from django.contrib.postgres.indexes import GistIndex
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db.models import F, Func, Q, Value
from django.db.models.functions import Cast, Coalesce, Upper

from customers.models import Customer
from drivers.models import Driver
from fleet.models import Carrier, Vehicle, VehicleType, reefer_range_constraint, reefer_range_errors
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
    customer = models.ForeignKey(
        Customer,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="facilities",
        help_text="The customer whose site this is, if any.",
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


# The load's own text fields the admin's search reads, each with a trigram index (migration 0010).
LOAD_SEARCH_TEXT_FIELDS = (
    "load_number",
    "commodity",
    "pickup_address",
    "delivery_address",
    "po_number",
    "bol_number",
    "customer_reference",
)


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
    customer = models.ForeignKey(
        Customer,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="loads",
        help_text="Who pays for the load (the bill-to); the shipper and consignee stay facilities.",
    )
    po_number = models.CharField(max_length=64, blank=True, help_text="The customer's purchase order number.")
    bol_number = models.CharField(max_length=64, blank=True, help_text="Bill of lading number.")
    customer_reference = models.CharField(
        max_length=64, blank=True, help_text="The customer's own reference for the shipment."
    )
    required_equipment = models.CharField(
        max_length=16,
        choices=VehicleType.choices,
        blank=True,
        help_text="The trailer or truck type the freight needs; blank: any.",
    )
    temperature_min_c = models.DecimalField(
        max_digits=4,
        decimal_places=1,
        null=True,
        blank=True,
        help_text="Lowest temperature the freight may see, degrees Celsius (refrigerated freight).",
    )
    temperature_max_c = models.DecimalField(
        max_digits=4,
        decimal_places=1,
        null=True,
        blank=True,
        help_text="Highest temperature the freight may see, degrees Celsius (refrigerated freight).",
    )

    class Meta:
        db_table = "loads"
        ordering = ["-pickup_datetime"]
        indexes = [
            models.Index(fields=["status", "pickup_datetime"]),
            models.Index(fields=["carrier", "status"]),
            # References are looked up whatever their letter case (`?reference=`, the searches).
            models.Index(Upper("po_number"), name="loads_po_number_upper"),
            models.Index(Upper("bol_number"), name="loads_bol_number_upper"),
            models.Index(Upper("customer_reference"), name="loads_customer_reference_upper"),
            # The default order (the admin's list adds the primary key as a tie-breaker): the
            # newest page of 100,000 loads is read from this index, not sorted from all of them.
            models.Index(fields=["pickup_datetime", "id"], name="loads_pickup_datetime_id"),
            # The dashboard's figures read the loads picked up or delivered in a range
            # (analytics.selectors.service_figures, daily_trend), and the loads on a truck during
            # it by this GiST index on the load's time on board (LOADED_PERIOD_SQL, spelled the
            # same in analytics.selectors._loaded_spans).
            models.Index(fields=["picked_up_at"], name="loads_picked_up_at"),
            models.Index(fields=["delivered_at"], name="loads_delivered_at"),
            GistIndex(
                Func(
                    F("picked_up_at"),
                    Coalesce(
                        F("delivered_at"), F("cancelled_at"), Cast(Value("infinity"), models.DateTimeField())
                    ),
                    function="tstzrange",
                    output_field=models.DateTimeField(),
                ),
                condition=Q(picked_up_at__isnull=False),
                name="loads_loaded_period",
            ),
            # The admin's search also has a trigram GIN index on UPPER(field) for each of
            # LOAD_SEARCH_TEXT_FIELDS, made by SQL in loads.migrations.0010_load_search_trigram
            # (Django's OpClass over an expression writes SQL PostgreSQL refuses).
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
            models.CheckConstraint(
                condition=Q(required_equipment="") | Q(required_equipment__in=VehicleType.values),
                name="loads_required_equipment_valid",
            ),
            models.CheckConstraint(
                condition=Q(temperature_min_c=None)
                | Q(temperature_max_c=None)
                | Q(temperature_max_c__gte=F("temperature_min_c")),
                name="loads_temperature_range_ordered",
            ),
            reefer_range_constraint("loads", Q(required_equipment=VehicleType.REEFER)),
            # Refrigerated freight always states its range (no old rows to spare: the columns are new).
            models.CheckConstraint(
                condition=~Q(required_equipment=VehicleType.REEFER)
                | Q(temperature_min_c__isnull=False, temperature_max_c__isnull=False),
                name="loads_reefer_has_temperature_range",
                violation_error_message="Reefer freight needs its temperature range.",
            ),
        ]

    def __str__(self) -> str:
        return self.load_number

    def clean(self) -> None:
        """Reefer freight states the range it must stay in; other freight has none."""
        errors = reefer_range_errors(
            self.temperature_min_c,
            self.temperature_max_c,
            reefer=self.required_equipment == VehicleType.REEFER,
            what="a temperature range",
        )
        if errors:
            raise ValidationError(errors)


class StopKind(models.TextChoices):
    PICKUP = "PICKUP"
    DELIVERY = "DELIVERY"


class Stop(BaseEntity):
    """One planned stop of a load, in the order the truck makes them: a pickup or a delivery at a
    facility within an appointment window, with what is loaded or unloaded there.

    A load has at least one pickup and one delivery; its first stop is a pickup and its last a
    delivery. The load's seed fields `pickup_*` and `delivery_*` are derived from the first pickup
    and the last delivery (`pickup_datetime` is the first pickup's `earliest_at`,
    `delivery_datetime` the last delivery's `latest_at`). The window's instants are absolute (UTC in
    the database); they are shown and entered in the facility's time zone. Arrival and departure
    are planned by routes and fleet plans, and actual when the geofence (`StopEvent`) or a person
    records them.
    """

    load = models.ForeignKey(Load, on_delete=models.CASCADE, related_name="stops")
    sequence = models.PositiveSmallIntegerField(help_text="Position in the load's route, from 1.")
    kind = models.CharField(max_length=16, choices=StopKind.choices)
    facility = models.ForeignKey(Facility, on_delete=models.PROTECT, related_name="load_stops")
    location = models.PointField(
        geography=True, help_text="Where the truck stops; the facility's by default."
    )
    address = models.CharField(max_length=255)
    earliest_at = models.DateTimeField(help_text="The appointment window opens.")
    latest_at = models.DateTimeField(
        help_text="The appointment window closes (equal to earliest: a fixed time)."
    )
    service_minutes = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        validators=[MaxValueValidator(24 * 60)],
        help_text="Loading or unloading time; blank: ROUTING_FLEET_STOP_MINUTES.",
    )
    pieces = models.PositiveIntegerField(null=True, blank=True, help_text="Pieces loaded or unloaded here.")
    weight = models.DecimalField(
        max_digits=9, decimal_places=1, null=True, blank=True, help_text="Weight loaded or unloaded here, kg."
    )
    instructions = models.TextField(blank=True)
    planned_arrival_at = models.DateTimeField(null=True, blank=True)
    planned_departure_at = models.DateTimeField(null=True, blank=True)
    arrived_at = models.DateTimeField(null=True, blank=True, help_text="Actual arrival.")
    departed_at = models.DateTimeField(null=True, blank=True, help_text="Actual departure.")

    class Meta:
        db_table = "load_stops"
        ordering = ["load", "sequence"]
        constraints = [
            choices_constraint("kind", StopKind, "load_stops"),
            # Deferred, so a reorder can swap positions inside one transaction.
            models.UniqueConstraint(
                fields=["load", "sequence"],
                name="load_stops_unique_sequence",
                deferrable=models.Deferrable.DEFERRED,
            ),
            models.CheckConstraint(condition=Q(sequence__gte=1), name="load_stops_sequence_from_one"),
            models.CheckConstraint(
                condition=Q(latest_at__gte=F("earliest_at")), name="load_stops_window_ordered"
            ),
            models.CheckConstraint(
                condition=Q(weight=None) | Q(weight__gte=0), name="load_stops_weight_non_negative"
            ),
            models.CheckConstraint(
                condition=Q(departed_at=None) | Q(arrived_at__isnull=False, departed_at__gte=F("arrived_at")),
                name="load_stops_departure_after_arrival",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.sequence}. {self.kind} of {self.load_id} at {self.facility_id}"

    @property
    def service_time(self) -> timedelta:
        """Loading or unloading here: the stop's own, else ROUTING_FLEET_STOP_MINUTES (on duty, not
        driving, for hours of service)."""
        minutes = self.service_minutes
        return timedelta(minutes=settings.ROUTING_FLEET_STOP_MINUTES if minutes is None else minutes)


class StopEvent(BaseEntity):
    """A vehicle's visit to its load's pickup or delivery facility, seen by the facility's geofence.

    Arrival is the first fix inside the geofence; departure the first later fix beyond the geofence
    plus the exit margin (loads.geofence), so GPS jitter at the boundary does not end the visit.
    """

    load = models.ForeignKey(Load, on_delete=models.CASCADE, related_name="visits")
    stop = models.ForeignKey(
        Stop,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="visits",
        help_text="The planned stop this visit serves (null for visits recorded before stops existed).",
    )
    vehicle = models.ForeignKey(Vehicle, on_delete=models.PROTECT, related_name="stop_visits")
    facility = models.ForeignKey(Facility, on_delete=models.PROTECT, related_name="visits")
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
