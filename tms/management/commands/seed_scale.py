"""A year of a mid-size carrier's history, fast: the dataset the dashboard, the lists and the admin
are judged on (issue 14, item 5).

    manage.py seed_scale [--loads 100000] [--fixes 10000000] [--trucks 500] [--drivers 600] ...

What it writes, consistent with itself:
- carriers, facilities in US cities across the country's time zones, trucks and drivers (a few
  thousand rows: bulk_create, so every model default applies);
- each truck's year, one load after another: it drives empty (deadhead) to the first pickup, waits
  for the appointment window, loads, drives through the load's stops (15% of loads have 3 or 4),
  unloads at the last delivery, waits for its next load. Loads carry their stops (`load_stops`,
  seed fields derived from the first pickup and the last delivery) and status timestamps; the load
  on the truck now is ASSIGNED, PICKED_UP, IN_TRANSIT or DELAYED (late for its window); some loads
  were cancelled before pickup and a few booked ones wait for a truck;
- the event store's history of those changes (LOAD_* and VEHICLE_STATUS_CHANGED, what the
  dashboard's utilisation reads), each driver's ELD log (off duty between loads, on duty at the
  docks, driving in stretches of at most 10.5 hours with 10-hour sleeper breaks, except a few
  stretches past 11 hours: those are the HOS violations, recorded as the engine would);
- GPS fixes every few minutes along those trips (time order across trucks, as trackers send them),
  into the time-series database (settings.TIMESERIES_DATABASE_ALIAS), chunks created first when it
  is a TimescaleDB hypertable and its continuous aggregate refreshed after.

History goes in by COPY (psycopg 3 `cursor.copy`), never row by row through the ORM: 10 million
fixes take minutes, not hours. It reports each phase's rows and rows/s while it runs. It refuses a
database that already holds loads, trucks or fixes unless --append, which adds a second, separately
numbered fleet beside them (nothing is ever deleted). Not audited: this is a bench and demo
dataset, as if imported, not the record of anybody's actions.

bench/bench_dashboard.py builds its database with this command.
"""

import json
import random
import struct
import time
import uuid
from array import array
from bisect import bisect_right
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.gis.geos import Point
from django.core.management.base import BaseCommand, CommandError
from django.db import connections, models, transaction
from django.utils import timezone

from drivers.hos import RULE_DRIVING_LIMIT
from drivers.models import Driver, DriverStatus, DutyStatus, DutyStatusRecord, HosViolation
from events.models import StoredEvent
from events.taxonomy import EventType
from fleet import odometer, timescale
from fleet.models import Carrier, GpsDistanceMark, GpsPoint, Vehicle, VehicleStatus, VehicleType
from loads.models import Facility, FacilityType, Load, LoadStatus, Stop, StopKind
from tms.geo import haversine_m

SEED = 14
# (city, state, longitude, latitude, IANA zone): freight hubs in every continental time zone.
CITIES = [
    ("Chicago", "IL", -87.76, 41.80, "America/Chicago"),
    ("Joliet", "IL", -88.11, 41.41, "America/Chicago"),
    ("Indianapolis", "IN", -86.25, 39.74, "America/Indiana/Indianapolis"),
    ("Columbus", "OH", -82.93, 39.81, "America/New_York"),
    ("Cincinnati", "OH", -84.51, 39.10, "America/New_York"),
    ("Detroit", "MI", -83.10, 42.33, "America/Detroit"),
    ("Milwaukee", "WI", -87.95, 43.04, "America/Chicago"),
    ("Minneapolis", "MN", -93.27, 44.98, "America/Chicago"),
    ("St. Louis", "MO", -90.20, 38.63, "America/Chicago"),
    ("Kansas City", "MO", -94.47, 39.16, "America/Chicago"),
    ("Louisville", "KY", -85.76, 38.25, "America/Kentucky/Louisville"),
    ("Memphis", "TN", -89.96, 35.06, "America/Chicago"),
    ("Nashville", "TN", -86.78, 36.16, "America/Chicago"),
    ("Atlanta", "GA", -84.55, 33.76, "America/New_York"),
    ("Savannah", "GA", -81.14, 32.13, "America/New_York"),
    ("Charlotte", "NC", -80.84, 35.23, "America/New_York"),
    ("Jacksonville", "FL", -81.66, 30.33, "America/New_York"),
    ("Orlando", "FL", -81.38, 28.54, "America/New_York"),
    ("Miami", "FL", -80.30, 25.80, "America/New_York"),
    ("Birmingham", "AL", -86.80, 33.52, "America/Chicago"),
    ("New Orleans", "LA", -90.07, 29.95, "America/Chicago"),
    ("Dallas", "TX", -96.87, 32.81, "America/Chicago"),
    ("Fort Worth", "TX", -97.32, 32.99, "America/Chicago"),
    ("Houston", "TX", -95.26, 29.75, "America/Chicago"),
    ("San Antonio", "TX", -98.49, 29.42, "America/Chicago"),
    ("Laredo", "TX", -99.51, 27.53, "America/Chicago"),
    ("El Paso", "TX", -106.44, 31.76, "America/Denver"),
    ("Oklahoma City", "OK", -97.52, 35.47, "America/Chicago"),
    ("Omaha", "NE", -95.94, 41.26, "America/Chicago"),
    ("Denver", "CO", -104.97, 39.78, "America/Denver"),
    ("Salt Lake City", "UT", -111.97, 40.76, "America/Denver"),
    ("Albuquerque", "NM", -106.65, 35.08, "America/Denver"),
    ("Phoenix", "AZ", -112.15, 33.44, "America/Phoenix"),
    ("Las Vegas", "NV", -115.14, 36.17, "America/Los_Angeles"),
    ("Los Angeles", "CA", -118.24, 33.78, "America/Los_Angeles"),
    ("Ontario", "CA", -117.58, 34.06, "America/Los_Angeles"),
    ("Fresno", "CA", -119.79, 36.74, "America/Los_Angeles"),
    ("Sacramento", "CA", -121.49, 38.58, "America/Los_Angeles"),
    ("Portland", "OR", -122.68, 45.52, "America/Los_Angeles"),
    ("Seattle", "WA", -122.33, 47.55, "America/Los_Angeles"),
    ("Boise", "ID", -116.20, 43.62, "America/Boise"),
    ("Newark", "NJ", -74.15, 40.69, "America/New_York"),
    ("Philadelphia", "PA", -75.17, 39.95, "America/New_York"),
    ("Pittsburgh", "PA", -79.99, 40.44, "America/New_York"),
    ("Harrisburg", "PA", -76.88, 40.27, "America/New_York"),
    ("Baltimore", "MD", -76.61, 39.29, "America/New_York"),
    ("Richmond", "VA", -77.44, 37.54, "America/New_York"),
    ("Albany", "NY", -73.76, 42.65, "America/New_York"),
    ("Boston", "MA", -71.06, 42.36, "America/New_York"),
    ("Fargo", "ND", -96.79, 46.88, "America/Chicago"),
    ("Sioux Falls", "SD", -96.73, 43.55, "America/Chicago"),
]
FACILITY_KINDS = ["WAREHOUSE", "SHIPPER", "CONSIGNEE", "SHIPPER_CONSIGNEE", "TERMINAL"]
COMMODITIES = [
    "Paper goods",
    "Beverages",
    "Auto parts",
    "Frozen foods",
    "Produce",
    "Building supply",
    "Consumer electronics",
    "Plastics",
    "Furniture",
    "Steel coils",
]
VIN_CHARS = "0123456789ABCDEFGHJKLMNPRSTUVWXYZ"
HOUR = 3600
SERVICE_S = HOUR  # loading or unloading
DRIVE_STRETCH_S = int(10.5 * HOUR)  # longest legal stretch the generator drives before a break
BREAK_S = 10 * HOUR
OVERDRIVE_SHARE = 0.04  # long legs driven in one stretch past 11 hours: the HOS violations
CIRCUITY = 1.2
COPY_BATCH = 20_000

DUTY_CODES = [DutyStatus.OFF_DUTY, DutyStatus.SLEEPER_BERTH, DutyStatus.DRIVING, DutyStatus.ON_DUTY]
OFF, SLEEP, DRIVE, ON = range(4)


@dataclass(slots=True)
class PlannedStop:
    facility: int
    kind: str
    earliest: int
    latest: int
    arrival: int
    departure: int


@dataclass(slots=True)
class PlannedLoad:
    id: uuid.UUID
    number: str
    truck: int
    created: int
    assigned: int | None
    stops: list[PlannedStop]
    distance_m: int
    driving_s: int
    rate: int
    weight: int
    commodity: str
    cancelled: int | None = None


@dataclass(slots=True)
class TruckYear:
    """One truck's (and its driver's) year: where it was when (waypoints), its loads, its duty log."""

    times: array = field(default_factory=lambda: array("q"))
    lons: array = field(default_factory=lambda: array("d"))
    lats: array = field(default_factory=lambda: array("d"))
    duty_times: array = field(default_factory=lambda: array("q"))  # each record's start
    duty_codes: array = field(default_factory=lambda: array("b"))
    overdrives: list[tuple[int, int]] = field(default_factory=list)  # (start, end) past 11 h
    loads: list[PlannedLoad] = field(default_factory=list)
    km: float = 0.0

    def waypoint(self, at: int, lon: float, lat: float) -> None:
        if self.times and at <= self.times[-1]:
            at = self.times[-1] + 1
        if self.lons:
            self.km += haversine_m(self.lons[-1], self.lats[-1], lon, lat) / 1000
        self.times.append(at)
        self.lons.append(lon)
        self.lats.append(lat)

    def duty(self, at: int, code: int) -> None:
        if self.duty_codes and self.duty_codes[-1] == code:
            return
        if self.duty_times and at <= self.duty_times[-1]:  # a zero-length record: replace it
            self.duty_codes[-1] = code
            if len(self.duty_codes) > 1 and self.duty_codes[-2] == code:
                self.duty_times.pop()
                self.duty_codes.pop()
            return
        self.duty_times.append(at)
        self.duty_codes.append(code)


class Progress:
    """Prints a phase's rows and rows/s every few seconds, and at its end."""

    def __init__(self, out, phase: str):
        self.out, self.phase, self.rows = out, phase, 0
        self.began = self.shown = time.monotonic()

    def add(self, rows: int) -> None:
        self.rows += rows
        now = time.monotonic()
        if now - self.shown >= 5:
            self.shown = now
            self._print("…")

    def done(self) -> float:
        self._print("done")
        return time.monotonic() - self.began

    def _print(self, state: str) -> None:
        elapsed = max(time.monotonic() - self.began, 1e-6)
        self.out.write(
            f"  {self.phase:<22}{self.rows:>12,} rows {self.rows / elapsed:>10,.0f} rows/s"
            f" {elapsed:>7.1f} s {state}"
        )
        self.out.flush()


def _text(value: Any) -> str:
    """One value in COPY's text format."""
    if value is None:
        return "\\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict | list):
        value = json.dumps(value)
    value = str(value)
    if "\\" in value or "\t" in value or "\n" in value or "\r" in value:
        value = value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    return value


def _ewkb(lon: float, lat: float) -> str:
    """A WGS84 point as hex EWKB, which PostGIS reads faster than WKT."""
    return "0101000020E6100000" + struct.pack("<dd", lon, lat).hex()


def _stamp(epoch: int | None) -> str:
    return "\\N" if epoch is None else datetime.fromtimestamp(epoch, UTC).isoformat()


def _moment(epoch: int | None) -> datetime | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, UTC)


class ModelCopy:
    """COPY into a model's table, every concrete column: what a row does not name gets the field's
    default (so a column added later by a migration does not break the command)."""

    def __init__(self, model: type[models.Model], alias: str):
        self.alias = alias
        self.table = model._meta.db_table
        self.fields = [f for f in model._meta.concrete_fields]
        self.columns = [f.column for f in self.fields]
        connection = connections[alias]
        self.defaults = [
            None if f.null and not f.has_default() else f.get_db_prep_save(f.get_default(), connection)
            for f in self.fields
        ]
        self.names = [f.attname for f in self.fields]

    def line(self, row: dict[str, Any]) -> str:
        return (
            "\t".join(
                (_text(row[name]) if name in row else _text(default))
                for name, default in zip(self.names, self.defaults, strict=True)
            )
            + "\n"
        )


def copy_lines(alias: str, table: str, columns: list[str], lines, progress: Progress) -> None:
    """COPY text lines (each ending in a newline) into `table`, COPY_BATCH lines per write."""
    with connections[alias].cursor() as cursor:
        quoted = ", ".join(connections[alias].ops.quote_name(column) for column in columns)
        with cursor.cursor.copy(f"COPY {table} ({quoted}) FROM STDIN") as copy:
            batch: list[str] = []
            for line in lines:
                batch.append(line)
                if len(batch) >= COPY_BATCH:
                    copy.write("".join(batch))
                    progress.add(len(batch))
                    batch = []
            if batch:
                copy.write("".join(batch))
                progress.add(len(batch))


def copy_model(out, model: type[models.Model], rows, phase: str | None = None) -> float:
    alias = connections_alias(model)
    writer = ModelCopy(model, alias)
    progress = Progress(out, phase or writer.table)
    copy_lines(alias, writer.table, writer.columns, (writer.line(row) for row in rows), progress)
    return progress.done()


def connections_alias(model: type[models.Model]) -> str:
    from django.db import router

    return router.db_for_write(model)


ENTITY_MODELS = [Carrier, Facility, Vehicle, Driver, Load, Stop, HosViolation]
TIMESERIES_WRITTEN = [StoredEvent, DutyStatusRecord, GpsPoint, GpsDistanceMark]


class Command(BaseCommand):
    help = "Builds a year of history at a mid-size carrier's scale by COPY (see the module's docstring)."

    def add_arguments(self, parser):
        parser.add_argument("--loads", type=int, default=100_000, help="about this many loads")
        parser.add_argument("--fixes", type=int, default=10_000_000, help="about this many GPS fixes")
        parser.add_argument("--trucks", type=int, default=500)
        parser.add_argument("--drivers", type=int, default=600, help="at least --trucks; the rest are spares")
        parser.add_argument("--carriers", type=int, default=12)
        parser.add_argument("--facilities", type=int, default=300)
        parser.add_argument("--days", type=int, default=365, help="history up to now")
        parser.add_argument("--seed", type=int, default=SEED, help="random seed (ids, places, times)")
        parser.add_argument(
            "--append",
            action="store_true",
            help="add a second, separately numbered fleet to a database that already has data",
        )

    def handle(self, *args, **options):
        began = time.monotonic()
        if options["drivers"] < options["trucks"]:
            raise CommandError("--drivers must be at least --trucks (one driver per truck)")
        if min(options["loads"], options["trucks"], options["facilities"], options["carriers"]) < 1:
            raise CommandError("--loads, --trucks, --facilities and --carriers must be positive")
        if options["facilities"] < 4:
            raise CommandError("--facilities must be at least 4")
        has_data = (
            Load.objects.exists()
            or Vehicle.objects.exists()
            or GpsPoint.objects.exists()
            or DutyStatusRecord.objects.exists()
        )
        if has_data and not options["append"]:
            raise CommandError(
                "this database already has loads, trucks or GPS fixes: seed_scale builds a dataset on an "
                "empty one (use a database of its own), or pass --append to add a second fleet beside them"
            )
        rng = random.Random(options["seed"] if not has_data else None)
        tag = "S" if not has_data else "S" + "".join(rng.choice(VIN_CHARS[10:]) for _ in range(3))
        now = int(timezone.now().timestamp())
        start = now - options["days"] * 86400
        alias = settings.TIMESERIES_DATABASE_ALIAS
        self.stdout.write(
            f"seed_scale: {options['loads']:,} loads, {options['fixes']:,} fixes, {options['trucks']} trucks,"
            f" {options['drivers']} drivers over {options['days']} days"
        )
        with transaction.atomic(), transaction.atomic(using=alias):
            entities = self.entities(rng, tag, options, now)
            years = self.plan(rng, tag, options, entities, start, now)
            self.write_loads(rng, entities, years, now)
            self.write_events(rng, entities, years, now)
            self.write_duty(rng, entities, years, start, now)
            self.write_fixes(entities, years, options["fixes"], start, now)
            self.update_fleet(entities, years, now)
        self.refresh_aggregate(start, now)
        # The GPS odometer's marks over the fixes just copied (fleet.odometer; COPY bypasses ingest).
        began_marks = time.monotonic()
        marks = odometer.refresh(using=alias)
        self.stdout.write(f"  GPS odometer: {marks or 0:,} marks in {time.monotonic() - began_marks:.1f} s")
        # Only the tables written: a database-wide ANALYZE also analyses the cluster's shared
        # catalogs (pg_authid...), and inside a transaction (a test's) it holds their lock and
        # stalls every other database's ANALYZE until it ends.
        for model_alias, written in (("default", ENTITY_MODELS), (alias, TIMESERIES_WRITTEN)):
            with connections[model_alias].cursor() as cursor:
                cursor.execute("ANALYZE " + ", ".join(model._meta.db_table for model in written))
        self.stdout.write(f"seed_scale: done in {time.monotonic() - began:.0f} s")

    # --- Entities (bulk_create: a few thousand rows) -------------------------------------------

    def entities(self, rng: random.Random, tag: str, options, now: int) -> dict[str, Any]:
        t = time.monotonic()
        created = datetime.fromtimestamp(now - options["days"] * 86400 - 30 * 86400, UTC)
        carriers = Carrier.objects.bulk_create(
            [
                Carrier(
                    name=f"{CITIES[n % len(CITIES)][0]} Freight Lines {tag}{n}",
                    dot_number=f"{rng.randint(1_000_000, 3_999_999)}",
                    mc_number=f"MC{rng.randint(100_000, 1_199_999)}",
                )
                for n in range(options["carriers"])
            ]
        )
        facilities = []
        for n in range(options["facilities"]):
            city, state, lon, lat, zone = CITIES[n % len(CITIES)]
            lon, lat = lon + rng.uniform(-0.25, 0.25), lat + rng.uniform(-0.2, 0.2)
            facilities.append(
                Facility(
                    name=f"{city} {rng.choice(['Distribution', 'Logistics', 'Cold Storage', 'Fulfillment'])}"
                    f" {tag}{n}",
                    facility_type=rng.choice(FACILITY_KINDS),
                    address=f"{rng.randint(100, 9999)} {rng.choice(['Industrial', 'Commerce', 'Dock'])} Rd",
                    city=city,
                    state=state,
                    postal_code=f"{rng.randint(10000, 99999)}",
                    location=Point(lon, lat, srid=4326),
                    timezone=zone,
                )
            )
        facilities = Facility.objects.bulk_create(facilities)
        assert FacilityType.WAREHOUSE in FACILITY_KINDS
        vehicles = Vehicle.objects.bulk_create(
            [
                Vehicle(
                    carrier=carriers[n % len(carriers)],
                    vehicle_number=f"{tag}{n:05d}",
                    vin=(tag + "".join(rng.choice(VIN_CHARS) for _ in range(17)))[:17],
                    make=rng.choice(["Freightliner", "Kenworth", "Peterbilt", "Volvo", "International"]),
                    model="Class 8",
                    year=rng.randint(2016, 2025),
                    vehicle_type=VehicleType.DRY_VAN if rng.random() < 0.8 else VehicleType.REEFER,
                    capacity_weight=20000,
                    capacity_volume=90,
                )
                for n in range(options["trucks"])
            ]
        )
        today = datetime.fromtimestamp(now, UTC).date()
        drivers = Driver.objects.bulk_create(
            [
                Driver(
                    carrier=vehicles[n].carrier if n < len(vehicles) else carriers[n % len(carriers)],
                    employee_number=f"{tag}E{n:05d}",
                    name=f"Driver {tag}{n}",
                    license_number=f"{tag}L{n:08d}",
                    license_state=CITIES[n % len(CITIES)][1],
                    # A few expire soon or have expired: the dashboard's open exceptions list them.
                    license_expiry=today
                    + timedelta(days=rng.randint(-10, 40) if rng.random() < 0.03 else rng.randint(60, 1400)),
                )
                for n in range(options["drivers"])
            ]
        )
        # Everything existed before the history starts (utilisation counts a vehicle from created_at).
        Vehicle.objects.filter(pk__in=[v.pk for v in vehicles]).update(created_at=created)
        Driver.objects.filter(pk__in=[d.pk for d in drivers]).update(created_at=created)
        points = [(f.location.x, f.location.y) for f in facilities]
        neighbours = []
        for lon, lat in points:
            ranked = sorted(range(len(points)), key=lambda j: haversine_m(lon, lat, *points[j]))
            neighbours.append(ranked[1:])  # itself first
        self.stdout.write(
            f"  entities: {len(carriers)} carriers, {len(facilities)} facilities, {len(vehicles)} trucks,"
            f" {len(drivers)} drivers in {time.monotonic() - t:.1f} s"
        )
        return {
            "carriers": carriers,
            "facilities": facilities,
            "points": points,
            "neighbours": neighbours,
            "vehicles": vehicles,
            "drivers": drivers,
            "tag": tag,
        }

    # --- Each truck's year (in memory, compact) --------------------------------------------------

    def plan(self, rng, tag, options, entities, start: int, now: int) -> list[TruckYear]:
        t = time.monotonic()
        points, neighbours = entities["points"], entities["neighbours"]
        trucks = len(entities["vehicles"])
        per_truck = max(1, round(options["loads"] * 0.985 / trucks))  # 1.5%: booked, waiting for a truck
        cycle = (now - start) / per_truck
        speed_ms = settings.ROUTING_AVERAGE_SPEED_KMH / 3.6
        near = min(12, len(points) - 1)
        years = []
        for index in range(trucks):
            year = TruckYear()
            at = start + rng.randint(0, 12 * HOUR)
            position = rng.randrange(len(points))
            year.waypoint(start - HOUR, *points[position])
            year.duty(start - HOUR, OFF)
            number = 0
            while at < now and number < per_truck * 2:
                number += 1
                shipper = rng.choice(neighbours[position][:near])
                consignee = rng.choice(neighbours[shipper][near // 2 : near * 4] or neighbours[shipper])
                roll = rng.random()
                extra_pickup = roll > 0.93  # a second pickup near the first
                extra_delivery = 0.85 < roll <= 0.93 or roll > 0.98  # a second delivery past the first
                facilities = [shipper, consignee]
                if extra_pickup:
                    facilities.insert(1, self.other(rng, neighbours[shipper][:near], facilities))
                if extra_delivery:
                    facilities.append(self.other(rng, neighbours[consignee][:near], facilities))
                pickups = 2 if extra_pickup else 1
                kinds = [StopKind.PICKUP] * pickups + [StopKind.DELIVERY] * (len(facilities) - pickups)
                load = PlannedLoad(
                    id=uuid.UUID(int=rng.getrandbits(128), version=4),
                    number=f"{tag}{index:04d}-{number:04d}",
                    truck=index,
                    created=at - rng.randint(6 * HOUR, 5 * 86400),
                    assigned=at,
                    stops=[],
                    distance_m=0,
                    driving_s=0,
                    rate=0,
                    weight=rng.randint(4000, 19000),
                    commodity=rng.choice(COMMODITIES),
                )
                year.loads.append(load)
                if rng.random() < 0.015:  # cancelled before pickup: the truck waits for the next one
                    load.cancelled = at + rng.randint(HOUR, 6 * HOUR)
                    for n, facility in enumerate(facilities):
                        window = at + (n + 1) * 8 * HOUR
                        load.stops.append(PlannedStop(facility, kinds[n], window, window + 2 * HOUR, 0, 0))
                    load.rate = rng.randint(600, 3000)
                    at = max(load.cancelled + HOUR, round(start + number * cycle))
                    continue
                # Deadhead to the first pickup.
                at = self.drive(rng, year, at, points[position], points[shipper], speed_ms)
                loaded_m = 0.0
                for n, facility in enumerate(facilities):
                    if n:
                        leg_m = haversine_m(*points[facilities[n - 1]], *points[facility]) * CIRCUITY
                        loaded_m += leg_m
                        at = self.drive(rng, year, at, points[facilities[n - 1]], points[facility], speed_ms)
                    arrival = at
                    # The appointment: most trucks get there ahead of it; about one in eight is late.
                    if n == len(facilities) - 1:
                        latest = arrival + rng.choice([-1, 1, 1, 1, 1, 1, 1, 1]) * rng.randint(0, 3 * HOUR)
                        latest -= latest % 900
                        if load.stops:  # the seed's rule: delivered after picked up
                            latest = max(latest, load.stops[0].earliest + 2 * HOUR)
                        earliest = latest - 2 * HOUR
                    else:
                        earliest = arrival + rng.choice([-1, 1, 1, 1, 1, 1, 1, 1]) * rng.randint(0, 3 * HOUR)
                        earliest -= earliest % 900
                        latest = earliest + (2 * HOUR if n else 0)
                    begin = max(arrival, earliest)  # waits off duty for the window to open
                    if begin > arrival:
                        year.duty(arrival, OFF)
                    year.duty(begin, ON)
                    departure = begin + SERVICE_S
                    year.waypoint(departure, *points[facility])
                    at = departure
                    load.stops.append(PlannedStop(facility, kinds[n], earliest, latest, begin, departure))
                load.distance_m = round(loaded_m)
                load.driving_s = round(loaded_m / speed_ms)
                load.rate = round(loaded_m / 1609.344 * rng.uniform(2.1, 3.6)) + 150
                year.duty(at, OFF)
                position = facilities[-1]
                at = max(at + HOUR, round(start + number * cycle + rng.uniform(-0.15, 0.15) * cycle))
            years.append(year)
        self.stdout.write(
            f"  planned {sum(len(y.loads) for y in years):,} loads of {trucks} trucks"
            f" in {time.monotonic() - t:.1f} s"
        )
        return years

    @staticmethod
    def other(rng, candidates: list[int], taken: list[int]) -> int:
        """A facility among `candidates` that the load does not stop at yet."""
        free = [c for c in candidates if c not in taken]
        return rng.choice(free) if free else max(set(range(max(taken) + 2)) - set(taken))

    def drive(self, rng, year: TruckYear, at: int, origin, destination, speed_ms: float) -> int:
        """Drives from `origin` to `destination` from `at` in legal stretches with sleeper breaks
        (a few long legs in one stretch past 11 hours: violations); returns the arrival."""
        total_s = round(haversine_m(*origin, *destination) * CIRCUITY / speed_ms)
        if total_s < 60:
            return at
        stretch = DRIVE_STRETCH_S
        if total_s > 11.5 * HOUR and rng.random() < OVERDRIVE_SHARE:
            stretch = round(min(total_s, 13 * HOUR))
        driven = 0
        year.waypoint(at, *origin)
        while driven < total_s:
            part = min(stretch, total_s - driven)
            year.duty(at, DRIVE)
            if part > 11 * HOUR:
                year.overdrives.append((at + 11 * HOUR, at + part))
            at += part
            driven += part
            share = driven / total_s
            year.waypoint(
                at,
                origin[0] + (destination[0] - origin[0]) * share,
                origin[1] + (destination[1] - origin[1]) * share,
            )
            if driven < total_s:
                year.duty(at, SLEEP)
                at += BREAK_S
                year.waypoint(at, year.lons[-1], year.lats[-1])
            stretch = DRIVE_STRETCH_S
        return at

    # --- Loads, stops ----------------------------------------------------------------------------

    def load_state(self, load: PlannedLoad, now: int) -> dict[str, Any]:
        """The load's status and timestamps as of `now`."""
        first, last = load.stops[0], load.stops[-1]
        state: dict[str, Any] = {"assigned_at": _moment(load.assigned)}
        if load.cancelled is not None:
            if load.cancelled <= now:
                return {
                    **state,
                    "status": LoadStatus.CANCELLED,
                    "cancelled_at": _moment(load.cancelled),
                    "cancellation_reason": "Shipper cancelled the order",
                    "vehicle": False,
                }
            return {**state, "status": LoadStatus.ASSIGNED}
        if load.assigned is None:
            return {"status": LoadStatus.CREATED, "vehicle": False}
        if first.arrival > now:
            return {**state, "status": LoadStatus.ASSIGNED}
        state["picked_up_at"] = _moment(first.arrival)
        if first.departure > now:
            return {**state, "status": LoadStatus.PICKED_UP}
        state["in_transit_at"] = _moment(first.departure)
        if last.arrival <= now:
            return {**state, "status": LoadStatus.DELIVERED, "delivered_at": _moment(last.arrival)}
        if last.arrival > last.latest:  # on its way and going to miss the window
            return {
                **state,
                "status": LoadStatus.DELAYED,
                "delay_reason": "Traffic and weather on the lane",
                "expected_delivery_at": _moment(last.arrival),
            }
        return {**state, "status": LoadStatus.IN_TRANSIT}

    def waiting_loads(self, rng, entities, count: int, now: int) -> list[PlannedLoad]:
        """Booked loads waiting for a truck, picked up in the next days."""
        points = entities["points"]
        loads = []
        for n in range(count):
            shipper = rng.randrange(len(points))
            consignee = rng.choice(entities["neighbours"][shipper][6:48] or entities["neighbours"][shipper])
            earliest = now + rng.randint(2 * HOUR, 9 * 86400)
            earliest -= earliest % 900
            metres = haversine_m(*points[shipper], *points[consignee]) * CIRCUITY
            delivery = earliest + round(metres / 20) + 2 * HOUR
            delivery -= delivery % 900
            loads.append(
                PlannedLoad(
                    id=uuid.UUID(int=rng.getrandbits(128), version=4),
                    number=f"{entities['tag']}B-{n:05d}",
                    truck=-1,
                    created=now - rng.randint(HOUR, 3 * 86400),
                    assigned=None,
                    stops=[
                        PlannedStop(shipper, StopKind.PICKUP, earliest, earliest + 2 * HOUR, 0, 0),
                        PlannedStop(consignee, StopKind.DELIVERY, delivery - 2 * HOUR, delivery, 0, 0),
                    ],
                    distance_m=round(metres),
                    driving_s=round(metres / (settings.ROUTING_AVERAGE_SPEED_KMH / 3.6)),
                    rate=round(metres / 1609.344 * 2.8) + 150,
                    weight=rng.randint(4000, 19000),
                    commodity=rng.choice(COMMODITIES),
                )
            )
        return loads

    def write_loads(self, rng, entities, years: list[TruckYear], now: int) -> None:
        facilities, vehicles, drivers = entities["facilities"], entities["vehicles"], entities["drivers"]
        waiting = self.waiting_loads(
            rng, entities, max(1, round(sum(len(y.loads) for y in years) * 0.015)), now
        )
        entities["waiting"] = waiting

        def everything():
            for year in years:
                yield from year.loads
            yield from waiting

        def load_rows():
            for load in everything():
                first, last = load.stops[0], load.stops[-1]
                shipper, consignee = facilities[first.facility], facilities[last.facility]
                state = self.load_state(load, now)
                on_truck = load.truck >= 0 and state.pop("vehicle", True)
                vehicle = vehicles[load.truck] if load.truck >= 0 else None
                yield {
                    "id": load.id,
                    "created_at": _moment(load.created),
                    "updated_at": _moment(min(now, max(load.created, load.stops[-1].arrival or 0))),
                    "load_number": load.number,
                    "shipper_id": shipper.pk,
                    "consignee_id": consignee.pk,
                    "carrier_id": vehicle.carrier_id if vehicle else None,
                    "vehicle_id": vehicle.pk if on_truck else None,
                    "driver_id": drivers[load.truck].pk if on_truck else None,
                    "pickup_location": _ewkb(shipper.location.x, shipper.location.y),
                    "pickup_address": shipper.address,
                    "pickup_datetime": _moment(first.earliest),
                    "delivery_location": _ewkb(consignee.location.x, consignee.location.y),
                    "delivery_address": consignee.address,
                    "delivery_datetime": _moment(last.latest),
                    "commodity": load.commodity,
                    "weight": load.weight,
                    "volume": 60,
                    "rate": load.rate,
                    "estimated_distance_m": load.distance_m,
                    "estimated_driving_hours": round(load.driving_s / HOUR, 2),
                    **state,
                }

        copy_model(self.stdout, Load, load_rows(), "loads")

        def stop_rows():
            for load in everything():
                for sequence, stop in enumerate(load.stops, start=1):
                    facility = facilities[stop.facility]
                    delivered_weight = load.weight if stop.kind == StopKind.DELIVERY else None
                    yield {
                        "id": uuid.UUID(int=rng.getrandbits(128), version=4),
                        "created_at": _moment(load.created),
                        "updated_at": _moment(load.created),
                        "load_id": load.id,
                        "sequence": sequence,
                        "kind": stop.kind,
                        "facility_id": facility.pk,
                        "location": _ewkb(facility.location.x, facility.location.y),
                        "address": facility.address,
                        "earliest_at": _moment(stop.earliest),
                        "latest_at": _moment(stop.latest),
                        "weight": delivered_weight if len(load.stops) == 2 else None,
                        "arrived_at": _moment(stop.arrival)
                        if load.cancelled is None and 0 < stop.arrival <= now
                        else None,
                        "departed_at": _moment(stop.departure)
                        if load.cancelled is None and 0 < stop.departure <= now
                        else None,
                    }

        copy_model(self.stdout, Stop, stop_rows(), "load_stops")

    # --- The event store: load and vehicle status history ------------------------------------------

    def write_events(self, rng, entities, years: list[TruckYear], now: int) -> None:
        vehicles, drivers = entities["vehicles"], entities["drivers"]

        def event(kind: EventType, subject, at: int, data: dict[str, Any]) -> dict[str, Any]:
            event_id = uuid.UUID(int=rng.getrandbits(128), version=4)
            moment = datetime.fromtimestamp(at, UTC).isoformat().replace("+00:00", "Z")
            return {
                "event_id": event_id,
                "type": kind.value,
                "subject": str(subject),
                "time": _moment(at),
                "correlation_id": "",
                "envelope": {
                    "specversion": "1.0",
                    "id": str(event_id),
                    "type": kind.value,
                    "source": "/tms/seed_scale",
                    "subject": str(subject),
                    "time": moment,
                    "datacontenttype": "application/json",
                    "data": data,
                },
            }

        def rows():
            for index, year in enumerate(years):
                vehicle, driver = vehicles[index], drivers[index]
                for load in year.loads:
                    first, last = load.stops[0], load.stops[-1]
                    base = {
                        "load_id": str(load.id),
                        "load_number": load.number,
                        "carrier_id": str(vehicle.carrier_id),
                        "vehicle_id": None,
                        "driver_id": None,
                    }
                    on = {**base, "vehicle_id": str(vehicle.pk), "driver_id": str(driver.pk)}
                    yield event(
                        EventType.LOAD_CREATED,
                        load.id,
                        load.created,
                        {
                            **base,
                            "previous_status": None,
                            "status": "CREATED",
                            "shipper_id": str(entities["facilities"][first.facility].pk),
                            "consignee_id": str(entities["facilities"][last.facility].pk),
                            "pickup_datetime": datetime.fromtimestamp(first.earliest, UTC).isoformat(),
                            "delivery_datetime": datetime.fromtimestamp(last.latest, UTC).isoformat(),
                            "weight": load.weight,
                            "volume": 60,
                            "rate": load.rate,
                        },
                    )
                    changes = [(load.assigned, EventType.LOAD_ASSIGNED, "CREATED", "ASSIGNED", on)]
                    if load.cancelled is not None:
                        changes.append(
                            (
                                load.cancelled,
                                EventType.LOAD_CANCELLED,
                                "ASSIGNED",
                                "CANCELLED",
                                {**base, "reason": "Shipper cancelled the order"},
                            )
                        )
                        vehicle_changes = [
                            (load.assigned, "AVAILABLE", "ASSIGNED"),
                            (load.cancelled, "ASSIGNED", "AVAILABLE"),
                        ]
                    else:
                        late = max(0, last.arrival - last.latest)
                        changes += [
                            (
                                first.arrival,
                                EventType.LOAD_PICKED_UP,
                                "ASSIGNED",
                                "PICKED_UP",
                                {
                                    **on,
                                    "picked_up_at": _moment(first.arrival).isoformat(),
                                    "pickup_datetime": _moment(first.earliest).isoformat(),
                                },
                            ),
                            (first.departure, EventType.LOAD_IN_TRANSIT, "PICKED_UP", "IN_TRANSIT", on),
                            (
                                last.arrival,
                                EventType.LOAD_DELIVERED,
                                "IN_TRANSIT",
                                "DELIVERED",
                                {
                                    **on,
                                    "delivered_at": _moment(last.arrival).isoformat(),
                                    "on_time": not late,
                                    "late_by_s": late,
                                },
                            ),
                        ]
                        vehicle_changes = [
                            (load.assigned, "AVAILABLE", "ASSIGNED"),
                            (first.departure, "ASSIGNED", "IN_TRANSIT"),
                            (last.arrival, "IN_TRANSIT", "AVAILABLE"),
                        ]
                    for at, kind, previous, status, data in changes:
                        if at <= now:
                            yield event(
                                kind, load.id, at, {**data, "previous_status": previous, "status": status}
                            )
                    for at, previous, status in vehicle_changes:
                        if at <= now:
                            yield event(
                                EventType.VEHICLE_STATUS_CHANGED,
                                vehicle.pk,
                                at,
                                {
                                    "vehicle_id": str(vehicle.pk),
                                    "carrier_id": str(vehicle.carrier_id),
                                    "previous_status": previous,
                                    "status": status,
                                    "reason": "",
                                    "load_id": str(load.id),
                                },
                            )
            for load in entities["waiting"]:
                yield event(
                    EventType.LOAD_CREATED,
                    load.id,
                    load.created,
                    {
                        "load_id": str(load.id),
                        "load_number": load.number,
                        "previous_status": None,
                        "status": "CREATED",
                        "carrier_id": None,
                        "vehicle_id": None,
                        "driver_id": None,
                        "shipper_id": str(entities["facilities"][load.stops[0].facility].pk),
                        "consignee_id": str(entities["facilities"][load.stops[-1].facility].pk),
                        "pickup_datetime": _moment(load.stops[0].earliest).isoformat(),
                        "delivery_datetime": _moment(load.stops[-1].latest).isoformat(),
                        "weight": load.weight,
                        "volume": 60,
                        "rate": load.rate,
                    },
                )

        copy_model(self.stdout, StoredEvent, rows(), "event_store")

    # --- Duty logs and HOS violations --------------------------------------------------------------

    def write_duty(self, rng, entities, years: list[TruckYear], start: int, now: int) -> None:
        drivers = entities["drivers"]

        def rows():
            for index, driver in enumerate(drivers):
                if index < len(years):
                    times, codes = years[index].duty_times, years[index].duty_codes
                else:  # a spare driver: off duty all year
                    times, codes = array("q", [start - HOUR]), array("b", [OFF])
                for n, (begin, code) in enumerate(zip(times, codes, strict=True)):
                    if begin > now:
                        break
                    end = times[n + 1] if n + 1 < len(times) else None
                    yield {
                        "id": uuid.UUID(int=rng.getrandbits(128), version=4),
                        "driver_id": driver.pk,
                        "status": DUTY_CODES[code].value,
                        "started_at": _moment(begin),
                        "ended_at": _moment(end) if end is not None and end <= now else None,
                        "note": "",
                        "created_at": _moment(begin),
                    }

        copy_model(self.stdout, DutyStatusRecord, rows(), "duty_status_records")

        def violations():
            for index, year in enumerate(years):
                for begin, end in year.overdrives:
                    if end <= now:
                        yield {
                            "id": uuid.UUID(int=rng.getrandbits(128), version=4),
                            "driver_id": drivers[index].pk,
                            "rule": RULE_DRIVING_LIMIT,
                            "start": _moment(begin),
                            "end": _moment(end),
                            "message": "More than 11 hours of driving in the 14-hour window",
                            "created_at": _moment(end),
                            "updated_at": _moment(end),
                        }

        copy_model(self.stdout, HosViolation, violations(), "hos_violations")

    # --- GPS fixes ---------------------------------------------------------------------------------

    def write_fixes(self, entities, years: list[TruckYear], fixes: int, start: int, now: int) -> None:
        """Every truck reports at the same instants, `step` apart, positions interpolated along its
        waypoints; rows in time order across trucks (the BRIN index relies on it)."""
        alias = settings.TIMESERIES_DATABASE_ALIAS
        per_truck = max(2, fixes // max(1, len(years)))
        step = max(1, (now - start) // per_truck)
        instants = range(now - (per_truck - 1) * step, now + 1, step)
        timescale.ensure_chunks(alias, [_moment(at) for at in range(instants[0], now + 86400, 86400)])
        ids = [str(v.pk) for v in entities["vehicles"][: len(years)]]
        cursors = [0] * len(years)
        average = settings.ROUTING_AVERAGE_SPEED_KMH

        def lines():
            for at in instants:
                stamp = datetime.fromtimestamp(at, UTC).isoformat()
                for index, year in enumerate(years):
                    times = year.times
                    k = cursors[index]
                    if k + 1 < len(times) and times[k + 1] <= at:
                        k = bisect_right(times, at, k) - 1
                        cursors[index] = k
                    if k + 1 < len(times):
                        t0, t1 = times[k], times[k + 1]
                        share = (at - t0) / (t1 - t0)
                        lon0, lat0 = year.lons[k], year.lats[k]
                        lon1, lat1 = year.lons[k + 1], year.lats[k + 1]
                        lon, lat = lon0 + (lon1 - lon0) * share, lat0 + (lat1 - lat0) * share
                        moving = lon0 != lon1 or lat0 != lat1
                    else:
                        lon, lat, moving = year.lons[-1], year.lats[-1], False
                    speed = average if moving else 0
                    yield f"{ids[index]}\t{stamp}\t{_ewkb(lon, lat)}\t{speed}\t{stamp}\n"

        progress = Progress(self.stdout, "gps_points")
        copy_lines(
            alias,
            GpsPoint._meta.db_table,
            ["vehicle_id", "recorded_at", "location", "speed_kmh", "received_at"],
            lines(),
            progress,
        )
        progress.done()

    def position(self, year: TruckYear, at: int) -> tuple[float, float]:
        k = bisect_right(year.times, at) - 1
        if k < 0:
            return year.lons[0], year.lats[0]
        if k + 1 >= len(year.times):
            return year.lons[-1], year.lats[-1]
        share = (at - year.times[k]) / (year.times[k + 1] - year.times[k])
        return (
            year.lons[k] + (year.lons[k + 1] - year.lons[k]) * share,
            year.lats[k] + (year.lats[k + 1] - year.lats[k]) * share,
        )

    def update_fleet(self, entities, years: list[TruckYear], now: int) -> None:
        """Trucks and drivers as they are now: status, position, odometer; each driver's status is
        their log's open record."""
        moment = _moment(now)
        vehicles, drivers = entities["vehicles"], entities["drivers"]
        for index, year in enumerate(years):
            vehicle = vehicles[index]
            status = VehicleStatus.AVAILABLE
            for load in year.loads:
                state = self.load_state(load, now)["status"]
                if state == LoadStatus.ASSIGNED or state == LoadStatus.PICKED_UP:
                    status = VehicleStatus.ASSIGNED
                elif state in (LoadStatus.IN_TRANSIT, LoadStatus.DELAYED):
                    status = VehicleStatus.IN_TRANSIT
            vehicle.status = status
            vehicle.current_location = Point(*self.position(year, now), srid=4326)
            vehicle.location_updated_at = moment
            vehicle.odometer = round(year.km, 1)
            drivers[index].current_location = vehicle.current_location
            drivers[index].location_updated_at = moment
        for index, driver in enumerate(drivers):
            if index < len(years):
                codes, times = years[index].duty_codes, years[index].duty_times
                k = bisect_right(times, now) - 1
                driver.status = DriverStatus(DUTY_CODES[codes[max(k, 0)]].value)
            else:
                driver.status = DriverStatus.OFF_DUTY
        Vehicle.objects.bulk_update(
            vehicles[: len(years)], ["status", "current_location", "location_updated_at", "odometer"], 500
        )
        Driver.objects.bulk_update(drivers, ["status", "current_location", "location_updated_at"], 500)

    def refresh_aggregate(self, start: int, now: int) -> None:
        """With TimescaleDB, the continuous aggregate over the new history (outside a transaction)."""
        alias = settings.TIMESERIES_DATABASE_ALIAS
        with connections[alias].cursor() as cursor:
            if timescale.extension_state(cursor) != "installed" or not timescale.has_aggregate(cursor):
                return
            t = time.monotonic()
            cursor.execute(
                f"CALL refresh_continuous_aggregate('{timescale.AGGREGATE}', %s, %s)",
                [_moment(start - 86400), _moment(now)],
            )
            self.stdout.write(f"  {timescale.AGGREGATE} refreshed in {time.monotonic() - t:.1f} s")
