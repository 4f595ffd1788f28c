from decimal import Decimal

from django.contrib.gis.db import models
from django.contrib.postgres.indexes import BrinIndex, GistIndex
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db.models import F, Q
from django.db.models.functions import Cast

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


# Plausible refrigerated setpoints, degrees Celsius, for freight and for a reefer unit's range (the
# common units hold about -30 to +30 C): a figure outside is a typo (Fahrenheit, a lost minus).
REEFER_TEMPERATURE_MIN_C = Decimal(-30)
REEFER_TEMPERATURE_MAX_C = Decimal(30)


def reefer_range_errors(
    low: Decimal | None, high: Decimal | None, *, reefer: bool, what: str
) -> dict[str, str]:
    """What is wrong with a temperature range (`low`, `high`: the temperature_min_c and
    temperature_max_c fields) of a load's freight or a vehicle's unit: a reefer needs both ends,
    plausible and in order; anything else has none. `what` names the range in the messages."""
    if not reefer:
        message = f"Only a reefer has {what}; leave it empty or choose REEFER."
        return {
            name: message
            for name, value in (("temperature_min_c", low), ("temperature_max_c", high))
            if value is not None
        }
    errors = {}
    for name, value in (("temperature_min_c", low), ("temperature_max_c", high)):
        if value is None:
            errors[name] = f"A reefer needs {what}: both ends, in degrees Celsius."
        elif not REEFER_TEMPERATURE_MIN_C <= value <= REEFER_TEMPERATURE_MAX_C:
            bounds = f"{REEFER_TEMPERATURE_MIN_C}..{REEFER_TEMPERATURE_MAX_C}"
            errors[name] = f"{value} °C is outside the plausible {bounds} °C."
    if not errors and low > high:
        errors["temperature_max_c"] = f"The warmest setting ({high} °C) is below the coldest ({low} °C)."
    return errors


def reefer_range_constraint(table: str, reefer: Q) -> models.CheckConstraint:
    """The database's side of `reefer_range_errors` for rows where `reefer` holds: a range only
    there, plausible and in order (whether a reefer row must have one is left to the model)."""
    return models.CheckConstraint(
        condition=Q(temperature_min_c=None, temperature_max_c=None)
        | (
            reefer
            & Q(
                temperature_min_c__gte=REEFER_TEMPERATURE_MIN_C,
                temperature_max_c__lte=REEFER_TEMPERATURE_MAX_C,
                temperature_max_c__gte=F("temperature_min_c"),
            )
        ),
        name=f"{table}_temperature_range_reefer_only",
        violation_error_message="Only a reefer has a temperature range, within -30..30 °C and in order.",
    )


class FuelType(models.TextChoices):
    DIESEL = "DIESEL"
    CNG = "CNG"
    LNG = "LNG"
    ELECTRIC = "ELECTRIC"
    HYDROGEN = "HYDROGEN"


class Vehicle(BaseEntity):
    """A tractor-trailer unit (or straight truck) with its capacity and live position."""

    carrier = models.ForeignKey(Carrier, on_delete=models.PROTECT, related_name="vehicles")
    vehicle_number = models.CharField(
        max_length=32, unique=True, help_text="The unit number painted on the truck."
    )
    vin = models.CharField("VIN", max_length=17, unique=True)
    license_plate = models.CharField(max_length=16, blank=True)
    make = models.CharField(max_length=64)
    model = models.CharField(max_length=64)
    year = models.PositiveSmallIntegerField(validators=[MinValueValidator(1980), MaxValueValidator(2100)])
    vehicle_type = models.CharField(max_length=16, choices=VehicleType.choices)
    fuel_type = models.CharField(max_length=16, choices=FuelType.choices, default=FuelType.DIESEL)
    capacity_weight = models.DecimalField(max_digits=9, decimal_places=1, help_text="Payload capacity, kg.")
    capacity_volume = models.DecimalField(max_digits=7, decimal_places=2, help_text="Cargo volume, m3.")
    temperature_min_c = models.DecimalField(
        max_digits=4,
        decimal_places=1,
        null=True,
        blank=True,
        help_text="A reefer unit's coldest setting, degrees Celsius.",
    )
    temperature_max_c = models.DecimalField(
        max_digits=4,
        decimal_places=1,
        null=True,
        blank=True,
        help_text="A reefer unit's warmest setting, degrees Celsius.",
    )
    fuel_consumption_l_per_100km = models.DecimalField(
        max_digits=5, decimal_places=1, default=35, help_text="Litres of fuel per 100 km."
    )
    status = models.CharField(max_length=16, choices=VehicleStatus.choices, default=VehicleStatus.AVAILABLE)
    current_location = models.PointField(geography=True, null=True, blank=True)
    location_updated_at = models.DateTimeField(null=True, blank=True)
    # The OsmAnd device id is the credential of /osmand/: shown to ADMIN and DISPATCHER only.
    AUDIT_REDACTED_FIELDS = ("tracker_device_id",)
    tracker_device_id = models.CharField(
        max_length=64,
        null=True,
        blank=True,
        help_text="The id a phone or tracker reports with (OsmAnd protocol); it is the device's credential.",
    )
    fuel_level = models.FloatField(
        null=True,
        blank=True,
        validators=[MinValueValidator(0), MaxValueValidator(100)],
        help_text="Fuel level, percent of the tank (0-100), as last reported by the vehicle's tracker.",
    )
    odometer = models.DecimalField(max_digits=10, decimal_places=1, default=0, help_text="Odometer, km.")
    engine_hours = models.DecimalField(max_digits=9, decimal_places=1, default=0)
    last_maintenance_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "vehicles"
        ordering = ["vehicle_number"]
        indexes = [
            models.Index(fields=["carrier", "status"]),
            # `?within=` tests points against planar GeoJSON polygons: geometry, not geography.
            GistIndex(
                Cast("current_location", models.PointField(srid=4326)), name="vehicles_location_geom_gist"
            ),
        ]
        constraints = [
            choices_constraint("status", VehicleStatus, "vehicles"),
            choices_constraint("vehicle_type", VehicleType, "vehicles"),
            choices_constraint("fuel_type", FuelType, "vehicles"),
            models.UniqueConstraint(fields=["tracker_device_id"], name="vehicles_tracker_device_id_unique"),
            models.CheckConstraint(
                condition=Q(capacity_weight__gt=0) & Q(capacity_volume__gt=0),
                name="vehicles_capacity_positive",
            ),
            models.CheckConstraint(
                condition=Q(odometer__gte=0) & Q(engine_hours__gte=0) & Q(fuel_consumption_l_per_100km__gt=0),
                name="vehicles_counters_non_negative",
            ),
            models.CheckConstraint(
                condition=Q(fuel_level__isnull=True) | (Q(fuel_level__gte=0) & Q(fuel_level__lte=100)),
                name="vehicles_fuel_level_percent",
            ),
            reefer_range_constraint("vehicles", Q(vehicle_type=VehicleType.REEFER)),
        ]

    def __str__(self) -> str:
        return self.vehicle_number

    def clean(self) -> None:
        """A reefer has its unit's range (the equipment rule trusts no unknown unit); other
        trucks have none."""
        errors = reefer_range_errors(
            self.temperature_min_c,
            self.temperature_max_c,
            reefer=self.vehicle_type == VehicleType.REEFER,
            what="a unit temperature range",
        )
        if errors:
            raise ValidationError(errors)


class GpsPoint(models.Model):
    """One GPS fix of a vehicle: the tracking time series (tms.routers.TIMESERIES_MODELS).

    It may live in another database, so the vehicle is referenced by id without a foreign key. The
    composite primary key (vehicle_id, recorded_at) makes a repeated fix a no-op and is the B-tree
    every history read uses; the BRIN index serves time-range scans across vehicles. This table is
    the record of every fix: ingestion writes no audit row per fix.

    `relay_txid` marks the fixes whose VEHICLE_LOCATION_UPDATED event the tracking relay publishes
    from this table (the inserting transaction's id; see fleet.relay, and GpsRelayPending for how
    it finds them); it is null for fixes whose event went through the outbox with them.
    """

    pk = models.CompositePrimaryKey("vehicle_id", "recorded_at")
    vehicle_id = models.UUIDField()
    recorded_at = models.DateTimeField(help_text="When the device took the fix (UTC).")
    location = models.PointField(geography=True, spatial_index=False)
    speed_kmh = models.FloatField(null=True, blank=True)
    heading = models.FloatField(null=True, blank=True, help_text="Degrees clockwise from north, 0-360.")
    accuracy_m = models.FloatField(null=True, blank=True)
    fuel_level_pct = models.FloatField(null=True, blank=True)
    odometer_km = models.FloatField(null=True, blank=True)
    engine_hours = models.FloatField(null=True, blank=True)
    received_at = models.DateTimeField(help_text="When the TMS stored it.")
    relay_txid = models.BigIntegerField(null=True, blank=True)

    class Meta:
        db_table = "gps_points"
        indexes = [
            # The relay finds its fixes through gps_relay_pending and this table's primary key: no
            # index on relay_txid (one a TimescaleDB compressed chunk could not use anyway).
            BrinIndex(fields=["recorded_at"], name="gps_points_recorded_at_brin"),
        ]

    def __str__(self) -> str:
        return f"{self.vehicle_id} at {self.recorded_at:%Y-%m-%d %H:%M:%S}"


class GpsRelayPending(models.Model):
    """The fixes a batch stored for the tracking relay, one row per transaction, vehicle and hour
    of recorded_at: the relay's way into gps_points (fleet.relay). Each row bounds its fixes by
    vehicle and time, so the relay reads them through the primary key, and on TimescaleDB only
    from the chunks (and compressed segments) that hold them, however long the history and however
    late the fixes; by the hour, so that a vehicle's fixes spread over days in one batch (a late
    upload) do not make one bound that spans them all. Rows at or below the relay's cursor are
    deleted by the relay."""

    pk = models.CompositePrimaryKey("relay_txid", "vehicle_id", "hour")
    relay_txid = models.BigIntegerField()
    vehicle_id = models.UUIDField()
    hour = models.DateTimeField(help_text="recorded_at of the fixes, truncated to the hour (UTC).")
    first_recorded_at = models.DateTimeField()
    last_recorded_at = models.DateTimeField()
    fixes = models.IntegerField()
    received_at = models.DateTimeField()

    class Meta:
        db_table = "gps_relay_pending"

    def __str__(self) -> str:
        return f"{self.fixes} fixes of {self.vehicle_id} in transaction {self.relay_txid}"


class GpsLateBucket(models.Model):
    """A vehicle's 5-minute bucket that received a fix late (fleet.ingest), after TimescaleDB's
    continuous aggregate may have materialised it: history reads such a bucket from the raw fixes
    (fleet.selectors). Only written while the aggregate exists (fleet.timescale.LATE_BUCKETS_CTE);
    one small row per vehicle and bucket that ever received a late fix, kept for good (a mark
    whose fixes retention dropped reads as no fixes, as it should)."""

    pk = models.CompositePrimaryKey("vehicle_id", "bucket")
    vehicle_id = models.UUIDField()
    bucket = models.DateTimeField()

    class Meta:
        db_table = "gps_late_buckets"

    def __str__(self) -> str:
        return f"{self.vehicle_id} at {self.bucket:%Y-%m-%d %H:%M}"


class GpsDistanceMark(models.Model):
    """A vehicle's GPS odometer at the end of one hour (fleet.odometer): the metres along its fixes
    from its first fix through the last fix recorded in the hour, and that fix. Distance over a
    span is the difference of two readings; a reading between marks adds the few raw fixes after
    the mark. One row per vehicle and hour that holds fixes, written by fleet.odometer.refresh
    for settled hours only."""

    pk = models.CompositePrimaryKey("vehicle_id", "bucket")
    vehicle_id = models.UUIDField()
    bucket = models.DateTimeField(help_text="The hour's start (UTC).")
    cum_m = models.FloatField(help_text="Metres along the fixes from the first through last_recorded_at.")
    last_recorded_at = models.DateTimeField()
    last_location = models.PointField(geography=True, spatial_index=False)

    class Meta:
        db_table = "gps_distance_marks"

    def __str__(self) -> str:
        return f"{self.vehicle_id} at {self.bucket:%Y-%m-%d %H:%M}: {self.cum_m:.0f} m"


class GpsDistanceStale(models.Model):
    """A vehicle whose distance marks from `since` (an hour's start) on may miss a fix stored late
    (fleet.odometer): readings ignore those marks until the next refresh rebuilds them."""

    vehicle_id = models.UUIDField(primary_key=True)
    since = models.DateTimeField()

    class Meta:
        db_table = "gps_distance_stale"

    def __str__(self) -> str:
        return f"{self.vehicle_id} from {self.since:%Y-%m-%d %H:%M}"


class TrackingRelayCursor(models.Model):
    """How far the tracking relay has published gps_points: every fix of the transactions up to
    `relay_txid` (fleet.relay.relay_fixes)."""

    name = models.CharField(max_length=32, primary_key=True)
    relay_txid = models.BigIntegerField(default=0)
    published = models.BigIntegerField(default=0, help_text="Events published since the start.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "tracking_relay_cursors"

    def __str__(self) -> str:
        return f"{self.name}: {self.published} published"
