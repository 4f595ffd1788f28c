"""`manage.py seed_demo`: a realistic, deterministic demo, written through the services.

Five carriers with fifty trucks and sixty drivers, thirty-odd shipper and consignee sites in US
freight cities, and two hundred loads in every status with times relative to now. Every write is a
service call by the `admin` user, so the demo has the audit rows and outbox events real work leaves.

Idempotent: entities are looked up by their natural keys (USDOT number, unit number, employee
number, facility name, load number DEMO-0001...) and only the missing ones are created; a second
run writes nothing but the demo users' passwords. The data come from a seeded random.Random, so two
databases seeded the same day hold the same demo.
"""

import hashlib
import math
import os
import random
import struct
import uuid
import zlib
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.gis.geos import Point
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management.base import BaseCommand
from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from customers import services as customer_services
from customers.models import Customer
from documents import services as document_services
from documents.models import DocumentKind
from drivers import hos
from drivers import selectors as driver_selectors
from drivers import services as driver_services
from drivers.models import Driver, DriverStatus, DutyStatus, LicenseClass
from drivers.planning import plan_driving
from events.models import AuditLog, OutboxEvent
from fleet import services as fleet_services
from fleet.models import Carrier, FuelType, Vehicle, VehicleStatus, VehicleType
from loads import services as load_services
from loads.models import Facility, FacilityType, Load, LoadStatus
from tms.api_defaults import ADMIN, DISPATCHER, DRIVER, VIEWER
from tms.context import correlation_id
from tms.exceptions import DomainError
from tms.geo import estimate_road_trip, great_circle_m

SEED = 20240601

# --- Static data ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class CarrierSpec:
    prefix: str
    name: str
    dot_number: str
    mc_number: str
    city: str
    state: str
    longitude: float
    latitude: float
    area_code: str
    domain: str


CARRIERS = [
    CarrierSpec("GLF", "Great Lakes Freightways", "2847193", "MC913204", "Chicago", "IL",
                -87.7400, 41.7900, "708", "greatlakesfreightways.example"),
    CarrierSpec("LST", "Lone Star Transport Co.", "3190427", "MC1047782", "Dallas", "TX",
                -96.8500, 32.7300, "214", "lonestartransport.example"),
    CarrierSpec("PSL", "Peach State Logistics", "2561088", "MC872311", "Atlanta", "GA",
                -84.4700, 33.6900, "404", "peachstatelogistics.example"),
    CarrierSpec("PCC", "Pacific Crest Carriers", "3378215", "MC1160459", "Ontario", "CA",
                -117.6000, 34.0500, "909", "pacificcrestcarriers.example"),
    CarrierSpec("RMH", "Rocky Mountain Haulers", "2930654", "MC985127", "Denver", "CO",
                -104.9000, 39.7800, "303", "rockymountainhaulers.example"),
]  # fmt: skip

NEIGHBOUR_STATES = {
    "IL": ["IN", "WI"],
    "TX": ["OK", "LA"],
    "GA": ["AL", "SC"],
    "CA": ["NV", "AZ"],
    "CO": ["WY"],
}

# (name, type, address, city, state, postal code, longitude, latitude, IANA zone)
FACILITIES = [
    ("Midwest Grocers Distribution Center", "WAREHOUSE", "4800 S Central Ave", "Chicago", "IL", "60638",
     -87.7617, 41.8055, "America/Chicago"),
    ("Will County Intermodal Yard", "TERMINAL", "2100 Arsenal Rd", "Elwood", "IL", "60421",
     -88.1125, 41.4064, "America/Chicago"),
    ("Lone Star Beverage Bottling", "SHIPPER", "3100 Irving Blvd", "Dallas", "TX", "75247",
     -96.8710, 32.8120, "America/Chicago"),
    ("Alliance Fulfillment Center", "WAREHOUSE", "2600 Eagle Pkwy", "Fort Worth", "TX", "76177",
     -97.3180, 32.9860, "America/Chicago"),
    ("Peachtree Paper Mill", "SHIPPER", "1500 Fulton Industrial Blvd SW", "Atlanta", "GA", "30336",
     -84.5490, 33.7560, "America/New_York"),
    ("Harbor Gateway Cold Storage", "SHIPPER_CONSIGNEE", "2000 E Anaheim St", "Los Angeles", "CA", "90744",
     -118.2390, 33.7800, "America/Los_Angeles"),
    ("Inland Empire Retail DC", "CONSIGNEE", "4500 E Airport Dr", "Ontario", "CA", "91761",
     -117.5770, 34.0590, "America/Los_Angeles"),
    ("Mid-South Distribution Hub", "WAREHOUSE", "3900 Air Park St", "Memphis", "TN", "38118",
     -89.9560, 35.0550, "America/Chicago"),
    ("Buckeye Consumer Goods", "SHIPPER", "2200 Rickenbacker Pkwy W", "Columbus", "OH", "43217",
     -82.9320, 39.8140, "America/New_York"),
    ("Crossroads Auto Parts", "SHIPPER", "5700 W Minnesota St", "Indianapolis", "IN", "46241",
     -86.2560, 39.7410, "America/Indiana/Indianapolis"),
    ("Heartland Foods Cold Storage", "SHIPPER_CONSIGNEE", "8200 NE Underground Dr", "Kansas City", "MO",
     "64161", -94.4700, 39.1630, "America/Chicago"),
    ("Front Range Building Supply", "CONSIGNEE", "4900 Brighton Blvd", "Denver", "CO", "80216",
     -104.9670, 39.7820, "America/Denver"),
    ("Sonoran Produce Terminal", "SHIPPER_CONSIGNEE", "4200 W Buckeye Rd", "Phoenix", "AZ", "85043",
     -112.1490, 33.4360, "America/Phoenix"),
    ("Puget Sound Import Warehouse", "WAREHOUSE", "5600 1st Ave S", "Seattle", "WA", "98108",
     -122.3340, 47.5520, "America/Los_Angeles"),
    ("Port Newark Container Depot", "TERMINAL", "1210 Corbin St", "Newark", "NJ", "07114",
     -74.1500, 40.6920, "America/New_York"),
    ("Coastal Empire Logistics Park", "WAREHOUSE", "400 Grange Rd", "Savannah", "GA", "31407",
     -81.1400, 32.1280, "America/New_York"),
    ("Gulf Coast Plastics", "SHIPPER", "8800 Clinton Dr", "Houston", "TX", "77029",
     -95.2640, 29.7450, "America/Chicago"),
    ("Border Crossing Cross-Dock", "TERMINAL", "12000 Mines Rd", "Laredo", "TX", "78045",
     -99.5760, 27.6180, "America/Chicago"),
    ("Bluegrass Air Freight Center", "WAREHOUSE", "1400 Grade Ln", "Louisville", "KY", "40213",
     -85.7310, 38.1640, "America/Kentucky/Louisville"),
    ("Music City Appliance DC", "CONSIGNEE", "700 Massman Dr", "Nashville", "TN", "37210",
     -86.6970, 36.1420, "America/Chicago"),
    ("Piedmont Textile Works", "SHIPPER", "3100 Westinghouse Blvd", "Charlotte", "NC", "28273",
     -80.9340, 35.1290, "America/New_York"),
    ("Keystone Retail Distribution", "CONSIGNEE", "4400 Paxton St", "Harrisburg", "PA", "17111",
     -76.8150, 40.2600, "America/New_York"),
    ("Wasatch Outdoor Goods", "SHIPPER_CONSIGNEE", "2200 S 5370 W", "Salt Lake City", "UT", "84120",
     -111.9980, 40.7260, "America/Denver"),
    ("High Desert Fulfillment", "WAREHOUSE", "900 Waltham Way", "Reno", "NV", "89502",
     -119.7600, 39.5050, "America/Los_Angeles"),
    ("Columbia River Lumber", "SHIPPER", "5500 NE Columbia Blvd", "Portland", "OR", "97218",
     -122.6060, 45.5780, "America/Los_Angeles"),
    ("North Star Dairy Co-op", "SHIPPER", "2500 Broadway St NE", "Minneapolis", "MN", "55413",
     -93.2240, 45.0000, "America/Chicago"),
    ("Gateway Steel Service Center", "SHIPPER", "9300 Riverview Dr", "St. Louis", "MO", "63147",
     -90.2180, 38.7080, "America/Chicago"),
    ("First Coast Grocery DC", "CONSIGNEE", "8000 Westside Industrial Dr", "Jacksonville", "FL", "32219",
     -81.7860, 30.3890, "America/New_York"),
    ("Motor City Assembly Plant", "CONSIGNEE", "6600 W Fort St", "Detroit", "MI", "48209",
     -83.1230, 42.2980, "America/Detroit"),
    ("Sooner Farm Equipment", "SHIPPER_CONSIGNEE", "5200 SW 29th St", "Oklahoma City", "OK", "73179",
     -97.6030, 35.4380, "America/Chicago"),
    ("Rio Grande Maquila Warehouse", "WAREHOUSE", "12000 Pellicano Dr", "El Paso", "TX", "79927",
     -106.2920, 31.7410, "America/Denver"),
    ("Lehigh Valley Fulfillment", "WAREHOUSE", "7000 Snowdrift Rd", "Allentown", "PA", "18106",
     -75.5900, 40.5820, "America/New_York"),
]  # fmt: skip
PICKUP_TYPES = {
    FacilityType.SHIPPER,
    FacilityType.SHIPPER_CONSIGNEE,
    FacilityType.WAREHOUSE,
    FacilityType.TERMINAL,
}
DELIVERY_TYPES = {
    FacilityType.CONSIGNEE,
    FacilityType.SHIPPER_CONSIGNEE,
    FacilityType.WAREHOUSE,
    FacilityType.TERMINAL,
}
AREA_CODES = {"IL": "312", "TX": "713", "GA": "912", "CA": "323", "TN": "901", "OH": "614", "IN": "317",
              "MO": "816", "CO": "720", "AZ": "602", "WA": "206", "NJ": "973", "KY": "502", "NC": "704",
              "PA": "717", "UT": "801", "NV": "775", "OR": "503", "MN": "612", "FL": "904", "MI": "313",
              "OK": "405"}  # fmt: skip

FIRST_NAMES = [
    "James", "Maria", "Robert", "Linda", "Michael", "Patricia", "David", "Jennifer", "William", "Elizabeth",
    "Carlos", "Angela", "Joseph", "Denise", "Thomas", "Sandra", "Marcus", "Tamika", "Daniel", "Rosa",
    "Kevin", "Brenda", "Anthony", "Lisa", "Terrence", "Kimberly", "Jose", "Monica", "Brian", "Shawn",
    "Luis", "Andre", "Travis", "Heather", "Dwayne", "Crystal", "Ray", "Tonya", "Gary", "Yolanda",
]  # fmt: skip
LAST_NAMES = [
    "Johnson", "Williams", "Brown", "Garcia", "Miller", "Davis", "Rodriguez", "Martinez", "Hernandez",
    "Lopez", "Wilson", "Anderson", "Thomas", "Taylor", "Moore", "Jackson", "Martin", "Lee", "Thompson",
    "White", "Harris", "Clark", "Lewis", "Robinson", "Walker", "Young", "Allen", "King", "Wright",
    "Scott", "Torres", "Nguyen", "Hill", "Flores", "Green", "Adams", "Nelson", "Baker", "Hall", "Rivera",
    "Campbell", "Mitchell", "Carter", "Roberts", "Phillips", "Evans", "Turner", "Parker", "Collins",
    "Edwards", "Stewart", "Morris", "Murphy", "Cook", "Rogers", "Morgan", "Cooper", "Peterson", "Reed",
]  # fmt: skip

# (make, model, VIN world manufacturer identifier)
TRACTORS = [
    ("Freightliner", "Cascadia", "3AK"),
    ("Kenworth", "T680", "1XK"),
    ("Peterbilt", "579", "1XP"),
    ("Volvo", "VNL 760", "4V4"),
    ("International", "LT625", "3HS"),
    ("Mack", "Anthem", "1M1"),
]
BOX_TRUCKS = [("Freightliner", "M2 106", "1FV"), ("International", "MV607", "3HA"), ("Isuzu", "FTR", "JAL")]

# Typical capacity of each equipment type: payload kg, cubic metres (a 53' dry van holds about 20 t
# and 3,400 ft3; a food-grade tanker about 9,000 gallons).
CAPACITY = {
    VehicleType.DRY_VAN: (20000, 95),
    VehicleType.REEFER: (19500, 85),
    VehicleType.FLATBED: (21300, 75),
    VehicleType.STEP_DECK: (21800, 80),
    VehicleType.TANKER: (22500, 34),
    VehicleType.BOX_TRUCK: (4500, 45),
}
# Ten units per carrier: mostly dry vans, with reefers, open decks, a tanker or step deck and a box truck.
FLEET_MIX = (
    [VehicleType.DRY_VAN] * 5 + [VehicleType.REEFER] * 2 + [VehicleType.FLATBED, None, VehicleType.BOX_TRUCK]
)
COMMODITIES = {
    VehicleType.DRY_VAN: ["Packaged beverages", "Paper products", "Consumer electronics", "Auto parts",
                          "Canned goods", "Household goods", "Pet food", "Apparel", "Retail merchandise"],
    VehicleType.REEFER: ["Frozen poultry", "Fresh produce", "Dairy products", "Frozen seafood", "Ice cream"],
    VehicleType.FLATBED: ["Steel coils", "Lumber", "Rebar", "Structural steel beams"],
    VehicleType.STEP_DECK: ["Construction equipment", "Agricultural machinery", "Industrial transformer"],
    VehicleType.TANKER: ["Liquid sweetener", "Vegetable oil", "Food-grade glycerin"],
    VehicleType.BOX_TRUCK: ["Furniture", "Appliances", "Restaurant supplies"],
}  # fmt: skip
# What each refrigerated commodity must be kept at, degrees Celsius (frozen at -18 or colder,
# fresh just above freezing). Every demo reefer unit covers them all (REEFER_UNITS).
REEFER_TEMPERATURES = {
    "Frozen poultry": (Decimal(-22), Decimal(-18)),
    "Fresh produce": (Decimal(1), Decimal(4)),
    "Dairy products": (Decimal(1), Decimal(4)),
    "Frozen seafood": (Decimal(-25), Decimal(-20)),
    "Ice cream": (Decimal(-25), Decimal("-22.5")),
}
# A carrier's two reefers: a multi-temperature unit and a standard one (no random draw, so the rest
# of the demo stays as it was).
REEFER_UNITS = [(Decimal(-30), Decimal(30)), (Decimal(-25), Decimal(25))]
RATE_PER_MILE = {VehicleType.REEFER: 0.35, VehicleType.FLATBED: 0.45, VehicleType.STEP_DECK: 0.6}
NOTES = [
    "Appointment required; call 24 h ahead.",
    "Driver assist unload.",
    "Seal number must match the BOL.",
    "No touch freight; lumper paid by consignee.",
    "Two-hour free time at the dock, then detention.",
    "Load bars required.",
]
DELAY_REASONS = [
    "Weather: winter storm on the interstate",
    "Shipper loading delay",
    "Traffic: construction lane closures",
    "Mechanical: tire replacement",
    "Consignee rescheduled the appointment",
]
CANCEL_REASONS = [
    "Customer cancelled the order",
    "Shipper rescheduled; will retender",
    "Freight not ready",
    "Rate not accepted",
    "Covered by another carrier",
]

# How many loads in each state; the active ones (assigned to a truck right now) need a free truck
# and driver each, so they stay below the fleet's 46 serviceable units.
DELIVERED, CANCELLED_UNASSIGNED, CANCELLED_ASSIGNED = (
    "DELIVERED",
    "CANCELLED_UNASSIGNED",
    "CANCELLED_ASSIGNED",
)
DELAYED_IN_TRANSIT, DELAYED_BEFORE_PICKUP = "DELAYED_IN_TRANSIT", "DELAYED_BEFORE_PICKUP"
LOAD_MIX = {
    DELIVERED: 96,
    CANCELLED_UNASSIGNED: 10,
    CANCELLED_ASSIGNED: 6,
    "CREATED": 48,
    "ASSIGNED": 12,
    "PICKED_UP": 6,
    "IN_TRANSIT": 14,
    DELAYED_IN_TRANSIT: 6,
    DELAYED_BEFORE_PICKUP: 2,
}
ACTIVE = {"ASSIGNED", "PICKED_UP", "IN_TRANSIT", DELAYED_IN_TRANSIT, DELAYED_BEFORE_PICKUP}
STATUS_OF = {
    DELIVERED: LoadStatus.DELIVERED,
    CANCELLED_UNASSIGNED: LoadStatus.CANCELLED,
    CANCELLED_ASSIGNED: LoadStatus.CANCELLED,
    DELAYED_IN_TRANSIT: LoadStatus.DELAYED,
    DELAYED_BEFORE_PICKUP: LoadStatus.DELAYED,
}
# Units in the shop and a driver off duty per carrier: they haul history, not current loads.
MAINTENANCE_UNITS = {
    "GLF-108": VehicleStatus.MAINTENANCE,
    "LST-110": VehicleStatus.MAINTENANCE,
    "PSL-109": VehicleStatus.OUT_OF_SERVICE,
    "RMH-107": VehicleStatus.MAINTENANCE,
}
OFF_DUTY_SLOT = 11  # the 12th driver of each carrier
EXPIRED_LICENCES = {("LST", 9): 12, ("PCC", 9): 64}  # (carrier, driver slot): days since expiry

USERS = [
    # username, role, staff, superuser, what the login is for
    ("admin", ADMIN, True, True, "superuser"),
    ("dispatcher", DISPATCHER, True, False, "DISPATCHER: runs the back office"),
    ("viewer", VIEWER, True, False, "VIEWER: read-only back office"),
    ("driver1", DRIVER, False, False, "DRIVER: API only (POST /api/auth/token/)"),
]
DRIVER1_EMPLOYEE_NUMBER = "GLF-1001"

# --- Specs: what the demo holds, derived from the seed alone -------------------------------------

VIN_VALUES = {**{str(d): d for d in range(10)}, **dict(zip("ABCDEFGH", range(1, 9), strict=True)),
              **dict(zip("JKLMNPR", [1, 2, 3, 4, 5, 7, 9], strict=True)),
              **dict(zip("STUVWXYZ", range(2, 10), strict=True))}  # fmt: skip
VIN_WEIGHTS = [8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2]
VIN_YEARS = dict(zip(range(2016, 2027), "GHJKLMNPRST", strict=True))
VIN_CHARS = "ABCDEFGHJKLMNPRSTUVWXYZ0123456789"


def vin(rng: random.Random, wmi: str, year: int, serial: int) -> str:
    """A 17-character VIN with a valid check digit (position 9, 49 CFR 565)."""
    body = wmi + "".join(rng.choice(VIN_CHARS) for _ in range(5)) + "0" + VIN_YEARS[year]
    body += rng.choice("ABCDEFGHJKLMNPRSTUVWXYZ") + f"{serial:06d}"
    total = sum(VIN_VALUES[char] * weight for char, weight in zip(body, VIN_WEIGHTS, strict=True))
    check = "X" if total % 11 == 10 else str(total % 11)
    return body[:8] + check + body[9:]


@dataclass
class VehicleSpec:
    carrier: CarrierSpec
    vehicle_number: str
    fields: dict
    home: tuple[float, float]


@dataclass
class DriverSpec:
    carrier: CarrierSpec
    employee_number: str
    fields: dict
    slot: int


@dataclass
class LoadPlan:
    kind: str
    shipper: int
    consignee: int
    pickup_datetime: datetime
    delivery_datetime: datetime
    distance_km: float
    driving_hours: float = 0.0
    load_number: str = ""
    carrier: CarrierSpec | None = None
    vehicle: VehicleSpec | None = None
    driver: DriverSpec | None = None
    weight: Decimal = Decimal(0)
    volume: Decimal = Decimal(0)
    rate: Decimal = Decimal(0)
    commodity: str = ""
    required_equipment: str = ""
    temperature_range: tuple[Decimal, Decimal] | None = None
    notes: str = ""
    picked_up_at: datetime | None = None
    in_transit_at: datetime | None = None
    delivered_at: datetime | None = None
    reason: str = ""
    expected_delivery_at: datetime | None = None
    progress: float = 0.0
    extra: dict = field(default_factory=dict)

    @property
    def status(self) -> str:
        return STATUS_OF.get(self.kind, self.kind)


def vehicle_specs(rng: random.Random) -> list[VehicleSpec]:
    specs = []
    for carrier_index, carrier in enumerate(CARRIERS):
        special = VehicleType.STEP_DECK if carrier_index % 2 else VehicleType.TANKER
        mix = [special if vehicle_type is None else vehicle_type for vehicle_type in FLEET_MIX]
        for slot, vehicle_type in enumerate(mix):
            serial = 100000 * (carrier_index + 1) + rng.randint(1000, 9999) * 10 + slot
            year = rng.randint(2017, 2025)
            if vehicle_type == VehicleType.BOX_TRUCK:
                make, model, wmi = rng.choice(BOX_TRUCKS)
                consumption = rng.uniform(22, 28)
            else:
                make, model, wmi = rng.choice(TRACTORS)
                consumption = rng.uniform(32, 39)
            weight, volume = CAPACITY[vehicle_type]
            if vehicle_type in (VehicleType.DRY_VAN, VehicleType.REEFER):
                weight -= rng.choice([0, 200, 400, 600])  # a heavier tractor leaves less payload
            fuel = FuelType.CNG if (carrier_index, slot) in {(0, 2), (3, 4)} else FuelType.DIESEL
            age = 2026 - year
            odometer = max(5000, int(rng.gauss(170000, 30000) * age))
            home = (
                carrier.longitude + rng.uniform(-0.25, 0.25),
                carrier.latitude + rng.uniform(-0.18, 0.18),
            )
            vehicle_number = f"{carrier.prefix}-{101 + slot}"
            unit = {}
            if vehicle_type == VehicleType.REEFER:
                low, high = REEFER_UNITS[mix[:slot].count(VehicleType.REEFER) % len(REEFER_UNITS)]
                unit = {"temperature_min_c": low, "temperature_max_c": high}
            specs.append(
                VehicleSpec(
                    carrier=carrier,
                    vehicle_number=vehicle_number,
                    home=home,
                    fields={
                        "vehicle_number": vehicle_number,
                        "vin": vin(rng, wmi, year, serial % 1000000),
                        "license_plate": f"{carrier.state} {rng.choice('PRT')}{rng.randint(100000, 999999)}",
                        "make": make,
                        "model": model,
                        "year": year,
                        "vehicle_type": vehicle_type,
                        "fuel_type": fuel,
                        "capacity_weight": Decimal(weight),
                        "capacity_volume": Decimal(volume),
                        "fuel_consumption_l_per_100km": Decimal(f"{consumption:.1f}"),
                        "odometer": Decimal(odometer),
                        "engine_hours": Decimal(odometer // 70),
                        **unit,
                    },
                )
            )
    return specs


def _licence_number(rng: random.Random, state: str, last_name: str) -> str:
    digits = lambda n: "".join(str(rng.randint(0, 9)) for _ in range(n))  # noqa: E731
    formats = {
        "IL": lambda: last_name[0] + digits(11),
        "TX": lambda: digits(8),
        "GA": lambda: digits(9),
        "CA": lambda: rng.choice("ABCDEFGNRY") + digits(7),
        "CO": lambda: digits(9),
    }
    return formats.get(state, lambda: rng.choice("ABDKMS") + digits(8))()


def driver_specs(rng: random.Random, today: date) -> list[DriverSpec]:
    specs = []
    names = rng.sample([(first, last) for first in FIRST_NAMES for last in LAST_NAMES], 12 * len(CARRIERS))
    for carrier_index, carrier in enumerate(CARRIERS):
        for slot in range(12):
            first, last = names[carrier_index * 12 + slot]
            state = carrier.state if rng.random() < 0.8 else rng.choice(NEIGHBOUR_STATES[carrier.state])
            expired_days = EXPIRED_LICENCES.get((carrier.prefix, slot))
            expiry = (
                today - timedelta(days=expired_days)
                if expired_days
                else today + timedelta(days=rng.randint(40, 1500))
            )
            employee_number = f"{carrier.prefix}-{1001 + slot}"
            specs.append(
                DriverSpec(
                    carrier=carrier,
                    employee_number=employee_number,
                    slot=slot,
                    fields={
                        "employee_number": employee_number,
                        "name": f"{first} {last}",
                        "phone": f"({carrier.area_code}) 555-01{rng.randint(0, 99):02d}",
                        "email": f"{first}.{last}@{carrier.domain}".lower(),
                        "license_number": _licence_number(rng, state, last),
                        "license_state": state,
                        # The box-truck driver of each carrier holds a class B licence.
                        "license_class": LicenseClass.B if slot == 10 else LicenseClass.A,
                        "license_expiry": expiry,
                    },
                )
            )
    return specs


def _half_hour(moment: datetime) -> datetime:
    """Appointments fall on the half hour."""
    moment = moment.replace(second=0, microsecond=0)
    return moment - timedelta(minutes=moment.minute % 30)


def _trip_duration(driving_hours: float) -> timedelta:
    """Door to door: driving, a 10-hour rest per 11 hours and a 30-minute break per 8, the docks."""
    rests = int(driving_hours // 11) * 10 + int(driving_hours // 8) * 0.5
    return timedelta(hours=driving_hours + rests + 2)


def _minutes(rng: random.Random, low: int, high: int) -> timedelta:
    return timedelta(minutes=rng.randint(low, high))


def plan_loads(
    rng: random.Random, now: datetime, vehicles: list[VehicleSpec], drivers: list[DriverSpec]
) -> list[LoadPlan]:
    """The two hundred loads, with times relative to `now` and the truck and driver of each.

    Trucks and drivers are booked so that no two of a unit's loads overlap in time, and a unit
    on a current load has no later one.
    """
    today = timezone.localdate(now)
    points = [Point(f[6], f[7], srid=4326) for f in FACILITIES]
    origins = [i for i, f in enumerate(FACILITIES) if f[1] in PICKUP_TYPES]
    destinations = [i for i, f in enumerate(FACILITIES) if f[1] in DELIVERY_TYPES]
    plans = []
    for kind, count in LOAD_MIX.items():
        for _ in range(count):
            while True:
                shipper, consignee = rng.choice(origins), rng.choice(destinations)
                distance_km = great_circle_m(points[shipper], points[consignee]) / 1000
                if shipper != consignee and 250 <= distance_km <= 3200:
                    break
            _, hours = estimate_road_trip(points[shipper], points[consignee])
            duration = _trip_duration(float(hours))
            plan = LoadPlan(kind, shipper, consignee, now, now, distance_km, driving_hours=float(hours))
            _schedule(plan, rng, now, duration)
            plans.append(plan)
    plans.sort(key=lambda plan: plan.pickup_datetime)
    for number, plan in enumerate(plans, start=1):
        plan.load_number = f"DEMO-{number:04d}"

    free_at: dict[str, datetime] = {}
    for plan in plans:
        if plan.kind in {"CREATED", CANCELLED_UNASSIGNED}:
            if plan.kind == "CREATED" and rng.random() < 0.25:
                plan.carrier = rng.choice(CARRIERS)  # tendered, not yet covered
            _freight(plan, rng, None)
            continue
        _book(plan, rng, today, vehicles, drivers, free_at)
        _freight(plan, rng, plan.vehicle)
    return plans


def _schedule(plan: LoadPlan, rng: random.Random, now: datetime, duration: timedelta) -> None:
    kind = plan.kind
    if kind == DELIVERED:
        pickup = now - timedelta(days=rng.uniform(1, 45))
        pickup = min(pickup, now - duration - timedelta(hours=3))
    elif kind in ("CREATED", CANCELLED_UNASSIGNED):
        pickup = now + timedelta(hours=rng.uniform(4, 12 * 24))
    elif kind in ("ASSIGNED", CANCELLED_ASSIGNED):
        pickup = now + timedelta(hours=rng.uniform(2, 72))
    elif kind in ("PICKED_UP", DELAYED_BEFORE_PICKUP):
        pickup = now - timedelta(hours=rng.uniform(1, 3))
    else:  # on the road: somewhere between 10% and 75% of the trip
        plan.progress = rng.uniform(0.1, 0.75)
        pickup = now - max(duration * plan.progress, timedelta(hours=2))
    plan.pickup_datetime = _half_hour(pickup)
    # A load nobody has planned yet has its delivery appointment booked with a margin.
    margin = timedelta(hours=12) if kind == "CREATED" else timedelta(0)
    plan.delivery_datetime = _half_hour(plan.pickup_datetime + duration + margin + timedelta(minutes=59))

    if kind in (DELIVERED, "PICKED_UP", "IN_TRANSIT", DELAYED_IN_TRANSIT):
        latest = now - timedelta(minutes=5)
        plan.picked_up_at = min(plan.pickup_datetime + _minutes(rng, -20, 45), latest - timedelta(minutes=45))
    if kind in (DELIVERED, "IN_TRANSIT", DELAYED_IN_TRANSIT):
        plan.in_transit_at = plan.picked_up_at + _minutes(rng, 20, 40)
    if kind == DELIVERED:
        late = rng.random() < 0.15
        offset = _minutes(rng, 60, 8 * 60) if late else -_minutes(rng, 0, 180)
        plan.delivered_at = min(
            max(plan.delivery_datetime + offset, plan.in_transit_at + timedelta(hours=1)), now
        )
    if kind.startswith("DELAYED"):
        plan.reason = rng.choice(DELAY_REASONS[1:2] if kind == DELAYED_BEFORE_PICKUP else DELAY_REASONS)
        plan.expected_delivery_at = plan.delivery_datetime + timedelta(hours=rng.choice([2, 3, 4, 6, 8]))
    if kind.startswith("CANCELLED"):
        plan.reason = rng.choice(CANCEL_REASONS)


def _book(plan, rng, today, vehicles, drivers, free_at) -> None:
    """Picks a truck and driver of one carrier, free for the whole load."""
    active = plan.kind in ACTIVE
    start = plan.pickup_datetime - timedelta(hours=2)
    needed_until = max(today, timezone.localdate(plan.delivery_datetime))
    long_haul = plan.distance_km > 700
    carriers = rng.sample(CARRIERS, len(CARRIERS))
    for carrier in carriers:
        trucks = [
            v for v in vehicles
            if v.carrier is carrier
            and free_at.get(v.vehicle_number, start) <= start
            and not (active and v.vehicle_number in MAINTENANCE_UNITS)
            and not (long_haul and v.fields["vehicle_type"] == VehicleType.BOX_TRUCK)
        ]  # fmt: skip
        crew = [
            d for d in drivers
            if d.carrier is carrier
            and free_at.get(d.employee_number, start) <= start
            and d.fields["license_expiry"] >= needed_until
            and not (active and d.slot == OFF_DUTY_SLOT)
        ]  # fmt: skip
        if not trucks or not crew:
            continue
        vehicle = rng.choice(trucks)
        box_truck = vehicle.fields["vehicle_type"] == VehicleType.BOX_TRUCK
        matching = [d for d in crew if (d.fields["license_class"] == LicenseClass.B) == box_truck]
        driver = rng.choice(
            matching or [d for d in crew if d.fields["license_class"] == LicenseClass.A] or crew
        )
        if active:
            busy_until = datetime.max.replace(tzinfo=plan.pickup_datetime.tzinfo)
        elif plan.kind == DELIVERED:
            busy_until = plan.delivered_at + timedelta(hours=1)
        else:  # assigned, then cancelled at once
            busy_until = start
        free_at[vehicle.vehicle_number] = free_at[driver.employee_number] = busy_until
        plan.carrier, plan.vehicle, plan.driver = carrier, vehicle, driver
        return
    raise RuntimeError(f"no free truck and driver for {plan.load_number}; adjust LOAD_MIX")


def _freight(plan: LoadPlan, rng: random.Random, vehicle: VehicleSpec | None) -> None:
    if vehicle is None:
        vehicle_type = rng.choice([VehicleType.DRY_VAN] * 3 + [VehicleType.REEFER])
        weight, volume = rng.uniform(5000, 19000), rng.uniform(25, 84)
    else:
        vehicle_type = vehicle.fields["vehicle_type"]
        weight = float(vehicle.fields["capacity_weight"]) * rng.uniform(0.35, 0.95)
        volume = float(vehicle.fields["capacity_volume"]) * rng.uniform(0.3, 0.95)
        if vehicle_type == VehicleType.TANKER:
            volume = float(vehicle.fields["capacity_volume"]) * rng.uniform(0.85, 0.97)
    miles = plan.distance_km * 1.2 / 1.609344
    per_mile = rng.uniform(2.1, 3.3) + RATE_PER_MILE.get(vehicle_type, 0)
    plan.weight = Decimal(f"{weight:.0f}")
    plan.volume = Decimal(f"{volume:.1f}")
    plan.rate = Decimal(f"{max(450, miles * per_mile):.2f}")
    plan.commodity = rng.choice(COMMODITIES[vehicle_type])
    # The freight asks for the equipment it was picked for; a reefer load states its range.
    plan.required_equipment = vehicle_type
    plan.temperature_range = REEFER_TEMPERATURES.get(plan.commodity)
    plan.notes = rng.choice(NOTES) if rng.random() < 0.3 else ""


# --- Duty-status logs ----------------------------------------------------------------------------

PRE_TRIP = timedelta(minutes=45)  # inspection and loading before the pickup is recorded
UNLOADING = timedelta(minutes=45)  # at the dock before the delivery is recorded
SLEEPER_REST = timedelta(hours=10)  # a long-haul driver's rest, in the sleeper berth
LOG_SINCE = timedelta(days=8, hours=34)  # what the ELD grid and the clock read (drivers.selectors.LOOKBACK)


def duty_log(plans: list[LoadPlan], now: datetime) -> list[tuple[str, datetime]]:
    """A driver's duty-status changes over the last 8 days, from the loads they hauled: on duty
    for the pre-trip and loading, driving as far as the HOS engine allows (drivers.planning: a
    30-minute break after 8 hours, a 10-hour rest in the sleeper when the 11 or 14 hours run out),
    off duty if early, on duty at the dock, off duty after the delivery. A trip shorter than the
    estimate in its time slot (a delivery recorded early) was driven faster; one still on the
    road at `now` ends there with what the driver is doing then. Legal by construction: every
    stretch of driving is one the engine allows after the log before it."""
    rules = hos.RuleSet()
    changes: list[tuple[str, datetime]] = []
    segments: list[hos.Segment] = []

    def add(status: str, start: datetime, end: datetime) -> None:
        end = min(end, now)
        if end <= start:
            return
        if not changes or changes[-1][0] != status:
            changes.append((status, start))
        segments.append(hos.Segment(hos.DutyStatus(status), start, end))

    for plan in sorted(plans, key=lambda plan: plan.pickup_datetime):
        if plan.picked_up_at is None or (plan.delivered_at or now) < now - LOG_SINCE:
            continue  # not started, or before what the log shows
        add(DutyStatus.ON_DUTY, plan.picked_up_at - PRE_TRIP, plan.in_transit_at or now)
        if plan.in_transit_at is None:
            continue
        at = plan.in_transit_at
        # Driving ends when the truck is at the dock (or now, on the road).
        arrive_by = plan.delivered_at - UNLOADING if plan.delivered_at else now
        left = timedelta(hours=plan.driving_hours)
        while left > timedelta(0) and at < arrive_by:
            stretch = plan_driving(segments, at, rules, needed=left)
            driven = timedelta(0)
            for break_at in [*stretch.breaks, None]:
                until = at + (stretch.driving - driven) if break_at is None else break_at
                until = min(until, arrive_by)
                add(DutyStatus.DRIVING, at, until)
                driven, at = driven + (until - at), until
                if break_at is None or at >= arrive_by:
                    break
                add(DutyStatus.OFF_DUTY, at, at + BREAK)
                at += BREAK
            left -= driven
            if left > timedelta(0) and at < arrive_by and stretch.binding is not None:
                add(DutyStatus.SLEEPER_BERTH, at, at + SLEEPER_REST)
                at += SLEEPER_REST
        if plan.delivered_at is None:
            continue
        dock = max(at, plan.delivered_at - UNLOADING)
        add(DutyStatus.OFF_DUTY, at, dock)  # early: waiting for the appointment
        add(DutyStatus.ON_DUTY, dock, plan.delivered_at)
        if plan.delivered_at < now:
            changes.append((DutyStatus.OFF_DUTY, plan.delivered_at))  # a gap in `segments` is off duty
    return changes


BREAK = timedelta(minutes=30, seconds=1)  # as drivers.planning plans it


# --- The command ---------------------------------------------------------------------------------


# --- Multi-stop loads ----------------------------------------------------------------------------

MILK_RUN, TWO_DROP = "milk run", "two-drop"


def multi_stop_plans(plans: list[LoadPlan]) -> dict[str, str]:
    """Which booked (unassigned) loads of the demo get more stops: the first a milk run (three
    pickups near the shipper), the second a two-drop retail delivery (a first drop near the
    consignee). Chosen from the plans alone, so every run picks the same loads."""
    pending = [plan for plan in plans if plan.kind == "CREATED"]
    return {pending[0].load_number: MILK_RUN, pending[1].load_number: TWO_DROP}


def _nearest(facilities: list[Facility], to: Facility, excluded: set, count: int) -> list[Facility]:
    others = [f for f in facilities if f.pk not in excluded]
    return sorted(others, key=lambda f: great_circle_m(f.location, to.location))[:count]


def add_demo_stops(load: Load, shape: str, by, facilities: list[Facility]) -> None:
    """Turns a booked two-stop load into a milk run or a two-drop delivery through the stop
    services (audited and evented as a dispatcher's changes); the freight is split between the
    stops, and the load keeps its shipper, consignee and times."""
    pickup, delivery = load.stops.order_by("sequence")
    span = load.delivery_datetime - load.pickup_datetime
    excluded = {load.shipper_id, load.consignee_id}
    if shape == MILK_RUN:
        third = (load.weight / 3).quantize(Decimal("0.1"))
        for sequence, (site, share) in enumerate(
            zip(
                _nearest(facilities, load.shipper, excluded, 2), (third, load.weight - 2 * third), strict=True
            ),
            start=2,
        ):
            at = load.pickup_datetime + span * (sequence - 1) / 6
            load_services.add_stop(
                load,
                by=by,
                sequence=sequence,
                kind="PICKUP",
                facility=site,
                earliest_at=at,
                latest_at=at + timedelta(hours=1),
                weight=share,
                service_minutes=30,
            )
        # The first pickup's share last: the freight on board never drops below what is delivered.
        load_services.update_stop(
            pickup, by=by, weight=third, instructions="Milk run: first of three pickups"
        )
        return
    half = (load.weight / 2).quantize(Decimal("0.1"))
    [site] = _nearest(facilities, load.consignee, excluded, 1)
    load_services.update_stop(delivery, by=by, weight=load.weight - half, instructions="Second drop")
    at = load.pickup_datetime + span / 2
    load_services.add_stop(
        load,
        by=by,
        sequence=2,
        kind="DELIVERY",
        facility=site,
        earliest_at=at,
        latest_at=at + timedelta(hours=2),
        weight=half,
        pieces=12,
        instructions="First drop: store receiving, rear door",
    )


class Command(BaseCommand):
    help = "Seeds a realistic demo (carriers, fleet, drivers, facilities, 200 loads) through the services."

    def add_arguments(self, parser):
        parser.add_argument(
            "--if-empty",
            action="store_true",
            help="Do nothing (but print the logins) if any load exists.",
        )

    def handle(self, *args, if_empty: bool = False, **options):
        if if_empty and Load.objects.exists():
            self.stdout.write("Loads already exist; nothing seeded.")
            self._print_logins()
            return
        token = correlation_id.set(f"seed-demo-{uuid.uuid4()}")
        try:
            with transaction.atomic():
                created = self._seed()
        finally:
            correlation_id.reset(token)
        self._print_summary(created)
        self._print_logins()

    # --- seeding ---------------------------------------------------------------------------------

    def _seed(self) -> dict[str, int]:
        rng = random.Random(SEED)  # the demo's content: drawn in full on every run
        live = random.Random(SEED + 1)  # positions reported as entities are created
        now = timezone.now().replace(second=0, microsecond=0)
        created = dict.fromkeys(
            ["users", "carriers", "vehicles", "drivers", "customers", "facilities", "loads"], 0
        )
        users = self._users(created)
        by = users["admin"]

        carriers = {}
        for spec in CARRIERS:
            carrier = Carrier.objects.filter(dot_number=spec.dot_number).first()
            if carrier is None:
                carrier = fleet_services.create_carrier(
                    by=by,
                    name=spec.name,
                    dot_number=spec.dot_number,
                    mc_number=spec.mc_number,
                    contact_email=f"dispatch@{spec.domain}",
                    contact_phone=f"({spec.area_code}) 555-0100",
                )
                created["carriers"] += 1
            carriers[spec.prefix] = carrier

        vehicle_plan = vehicle_specs(rng)
        vehicles, new_vehicles = {}, set()
        existing = {
            v.vehicle_number: v
            for v in Vehicle.objects.filter(vehicle_number__in=[s.vehicle_number for s in vehicle_plan])
        }
        for spec in vehicle_plan:
            vehicle = existing.get(spec.vehicle_number)
            if vehicle is None:
                vehicle = fleet_services.create_vehicle(
                    by=by, carrier=carriers[spec.carrier.prefix], **spec.fields
                )
                fleet_services.update_vehicle_location(
                    vehicle,
                    by=by,
                    longitude=spec.home[0],
                    latitude=spec.home[1],
                    recorded_at=now - _minutes(live, 30, 720),
                )
                new_vehicles.add(spec.vehicle_number)
                created["vehicles"] += 1
            elif vehicle.vehicle_type == VehicleType.REEFER and vehicle.temperature_min_c is None:
                # A reefer seeded before units had a range: the equipment rule trusts no unknown unit.
                unit = {name: spec.fields[name] for name in ("temperature_min_c", "temperature_max_c")}
                vehicle = fleet_services.update_vehicle(vehicle, by=by, **unit)
            vehicles[spec.vehicle_number] = vehicle

        driver_plan = driver_specs(rng, timezone.localdate(now))
        drivers, new_drivers = {}, set()
        existing = {
            d.employee_number: d
            for d in Driver.objects.filter(employee_number__in=[s.employee_number for s in driver_plan])
        }
        for spec in driver_plan:
            driver = existing.get(spec.employee_number)
            if driver is None:
                driver = driver_services.create_driver(
                    by=by, carrier=carriers[spec.carrier.prefix], **spec.fields
                )
                new_drivers.add(spec.employee_number)
                created["drivers"] += 1
            drivers[spec.employee_number] = driver

        customers = demo_customers(by, created)
        facilities = []
        existing = {f.name: f for f in Facility.objects.filter(name__in=[row[0] for row in FACILITIES])}
        for name, facility_type, address, city, state, postal_code, lon, lat, zone in FACILITIES:
            # Drawn whether or not the site exists, so the loads planned below are the same on every run.
            contact = f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"
            phone = f"({AREA_CODES.get(state, '800')}) 555-01{rng.randint(0, 99):02d}"
            facility = existing.get(name)
            if facility is None:
                facility = load_services.create_facility(
                    by=by,
                    name=name,
                    facility_type=facility_type,
                    address=address,
                    city=city,
                    state=state,
                    postal_code=postal_code,
                    location=Point(lon, lat, srid=4326),
                    timezone=zone,
                    contact_name=contact,
                    contact_phone=phone,
                    customer=customers[name],
                )
                created["facilities"] += 1
            elif facility.customer_id is None:
                facility = load_services.update_facility(facility, by=by, customer=customers[name])
            facilities.append(facility)

        plans = plan_loads(rng, now, vehicle_plan, driver_plan)
        self._multi_stop = multi_stop_plans(plans)
        present = set(
            Load.objects.filter(load_number__startswith="DEMO-").values_list("load_number", flat=True)
        )
        for plan in plans:
            if plan.load_number in present:
                continue
            try:
                with transaction.atomic():
                    self._run_load(plan, by, now, live, carriers, vehicles, drivers, facilities)
            except DomainError as error:
                # Only when someone changed the demo's trucks or drivers since the last run.
                self.stderr.write(f"{plan.load_number} skipped: {error.message}")
            else:
                created["loads"] += 1

        # After the loads: these units hauled history but are out of service now.
        for vehicle_number, status in MAINTENANCE_UNITS.items():
            if vehicle_number in new_vehicles:
                fleet_services.set_vehicle_status(
                    vehicles[vehicle_number], by=by, status=status, reason="demo"
                )
        # New drivers get their last 8 days of duty status from the loads they hauled (duty_log),
        # then their status now: on duty for a load to pick up, whatever the log says on the road,
        # ready for dispatch on no load, except the one of each carrier on home time.
        hauled: dict[str, list[LoadPlan]] = {}
        for plan in plans:
            if (
                plan.driver is not None
                and plan.kind != CANCELLED_ASSIGNED
                and plan.load_number not in present
            ):
                hauled.setdefault(plan.driver.employee_number, []).append(plan)
        for spec in driver_plan:
            if spec.employee_number not in new_drivers:
                continue
            driver = drivers[spec.employee_number]
            for status, at in duty_log(hauled.get(spec.employee_number, []), now):
                driver = driver_services.report_driver_status(
                    driver, by=by, status=status, at=at, reason="demo log"
                )
            kinds = {plan.kind for plan in hauled.get(spec.employee_number, [])}
            if kinds & {"ASSIGNED", DELAYED_BEFORE_PICKUP}:
                driver_services.report_driver_status(driver, by=by, status=DriverStatus.ON_DUTY, at=now)
            elif spec.slot != OFF_DUTY_SLOT and driver_selectors.current_load_id(driver) is None:
                driver_services.report_driver_status(
                    driver, by=by, status=DriverStatus.AVAILABLE, reason="ready for dispatch", at=now
                )

        driver1 = Driver.objects.filter(employee_number=DRIVER1_EMPLOYEE_NUMBER).first()
        login = users["driver1"]
        if driver1 is not None and driver1.user_id is None and not Driver.objects.filter(user=login).exists():
            driver_services.update_driver(driver1, by=by, user=login)
        return created

    def _users(self, created: dict[str, int]) -> dict:
        User = get_user_model()
        users = {}
        for username, role, is_staff, is_superuser, _ in USERS:
            user, was_created = User.objects.get_or_create(
                username=username, defaults={"email": f"{username}@tms.example"}
            )
            created["users"] += was_created
            user.is_staff, user.is_superuser, user.is_active = is_staff, is_superuser, True
            # The demo's logins always work with the configured password, whatever happened since.
            if was_created or not user.check_password(settings.TMS_DEMO_PASSWORD):
                user.set_password(settings.TMS_DEMO_PASSWORD)
            user.save()
            user.groups.add(Group.objects.get(name=role))
            users[username] = user
        return users

    def _run_load(self, plan: LoadPlan, by, now, rng, carriers, vehicles, drivers, facilities) -> None:
        shipper, consignee = facilities[plan.shipper], facilities[plan.consignee]
        load = load_services.create_load(
            by=by,
            load_number=plan.load_number,
            shipper=shipper,
            consignee=consignee,
            carrier=carriers[plan.carrier.prefix] if plan.carrier and not plan.vehicle else None,
            pickup_datetime=plan.pickup_datetime,
            delivery_datetime=plan.delivery_datetime,
            weight=plan.weight,
            volume=plan.volume,
            rate=plan.rate,
            commodity=plan.commodity,
            required_equipment=plan.required_equipment,
            temperature_min_c=plan.temperature_range[0] if plan.temperature_range else None,
            temperature_max_c=plan.temperature_range[1] if plan.temperature_range else None,
            notes=plan.notes,
            **demo_billing(plan.load_number, shipper),
        )
        shape = self._multi_stop.get(plan.load_number)
        if shape is not None:
            add_demo_stops(load, shape, by, facilities)
        kind = plan.kind
        if kind == "CREATED":
            return
        if kind == CANCELLED_UNASSIGNED:
            load_services.cancel_load(load, by=by, reason=plan.reason)
            return
        vehicle, driver = vehicles[plan.vehicle.vehicle_number], drivers[plan.driver.employee_number]
        load_services.assign_load(load, by=by, vehicle=vehicle, driver=driver)
        if kind == CANCELLED_ASSIGNED:
            load_services.cancel_load(load, by=by, reason=plan.reason)
            return
        if kind in ("ASSIGNED", DELAYED_BEFORE_PICKUP):
            if kind == DELAYED_BEFORE_PICKUP:
                load_services.delay_load(
                    load, by=by, reason=plan.reason, expected_delivery_at=plan.expected_delivery_at
                )
            return
        load_services.pick_up_load(load, by=by, at=plan.picked_up_at)
        if kind == "PICKED_UP":
            return
        load_services.start_transit(load, by=by, at=plan.in_transit_at)
        if kind == DELIVERED:
            # Every delivered demo load has its proof (so TMS_REQUIRE_POD_ON_DELIVERY may be on).
            attach_demo_pod(load, consignee, by=by, driver=driver)
            load_services.deliver_load(load, by=by, at=plan.delivered_at)
            return
        # On the road: the truck and driver report a position along the lane.
        if kind == DELAYED_IN_TRANSIT:
            load_services.delay_load(
                load, by=by, reason=plan.reason, expected_delivery_at=plan.expected_delivery_at
            )
        start, end = shipper.location, consignee.location
        longitude = start.x + (end.x - start.x) * plan.progress
        latitude = start.y + (end.y - start.y) * plan.progress
        recorded_at = now - _minutes(rng, 1, 10)
        heading = math.degrees(math.atan2(end.x - start.x, end.y - start.y)) % 360
        fleet_services.update_vehicle_location(
            vehicle,
            by=by,
            longitude=longitude,
            latitude=latitude,
            recorded_at=recorded_at,
            speed_kmh=Decimal(f"{rng.uniform(80, 105):.1f}"),
            heading=Decimal(f"{heading:.1f}"),
        )
        driver_services.update_driver_location(
            driver, by=by, longitude=longitude, latitude=latitude, recorded_at=recorded_at
        )

    # --- output ----------------------------------------------------------------------------------

    def _print_summary(self, created: dict[str, int]) -> None:
        made = ", ".join(f"{count} {name}" for name, count in created.items())
        self.stdout.write(self.style.SUCCESS(f"Demo data ready (created: {made})."))

        def by_status(model) -> str:
            counts = dict(model.objects.values_list("status").annotate(n=Count("pk")).order_by("status"))
            statuses = [value for value, _ in model._meta.get_field("status").choices]
            return ", ".join(f"{status} {counts[status]}" for status in statuses if status in counts)

        self.stdout.write(f"  carriers    {Carrier.objects.count()}")
        self.stdout.write(f"  vehicles    {Vehicle.objects.count()}  ({by_status(Vehicle)})")
        self.stdout.write(f"  drivers     {Driver.objects.count()}  ({by_status(Driver)})")
        self.stdout.write(f"  customers   {Customer.objects.count()}")
        self.stdout.write(f"  facilities  {Facility.objects.count()}")
        self.stdout.write(f"  loads       {Load.objects.count()}  ({by_status(Load)})")
        self.stdout.write(
            f"  audit rows  {AuditLog.objects.count()}, outbox events {OutboxEvent.objects.count()}"
        )

    def _print_logins(self) -> None:
        # `make run` passes the HOST and PORT it serves on.
        admin_url = f"http://{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8000')}/admin/"
        self.stdout.write(f"Log in at {admin_url} with password {settings.TMS_DEMO_PASSWORD!r}:")
        for username, _, _, _, purpose in USERS:
            self.stdout.write(f"  {username:<11} {purpose}")


# --- Customers, references and proofs of delivery -----------------------------------------------

# A freight broker that pays for some loads it arranged between the demo's shippers and consignees.
BROKER = ("Crossroads Freight Brokerage", "XROADS")


def _customer_code(name: str, taken: set[str]) -> str:
    base = "".join(word[0] for word in name.split() if word[0].isalpha()).upper()[:6]
    code, n = base, 1
    while code in taken:
        n += 1
        code = f"{base}{n}"
    taken.add(code)
    return code


def demo_customers(by, created: dict[str, int]) -> dict[str, Customer]:
    """The company behind each demo facility (it ships, receives or both, and pays for what it
    ships), by facility name, and the broker (under its own name)."""
    taken: set[str] = set()
    wanted = [
        (
            name,
            _customer_code(name, taken),
            facility_type in PICKUP_TYPES,
            facility_type in DELIVERY_TYPES,
            city,
            state,
        )
        for name, facility_type, _, city, state, *_ in FACILITIES
    ]
    wanted.append((BROKER[0], BROKER[1], False, False, "Chicago", "IL"))
    existing = {c.code: c for c in Customer.objects.filter(code__in=[row[1] for row in wanted])}
    customers = {}
    for name, code, ships, receives, city, state in wanted:
        customer = existing.get(code)
        if customer is None:
            domain = f"{code.lower()}.example"
            customer = customer_services.create_customer(
                by=by,
                name=name,
                code=code,
                is_shipper=ships,
                is_consignee=receives,
                is_bill_to=ships or code == BROKER[1],
                contact_email=f"logistics@{domain}",
                billing_email=f"ap@{domain}",
                billing_city=city,
                billing_state=state,
                reference=f"V-{int(hashlib.sha256(code.encode()).hexdigest()[:6], 16) % 100000:05d}",
            )
            created["customers"] += 1
        customers[name] = customer
    return customers


def demo_billing(load_number: str, shipper: Facility) -> dict:
    """Who pays (the shipper's company; one load in five the broker's) and the load's reference
    numbers, derived from its number (the demo's random draws stay as they were)."""
    digest = int(hashlib.sha256(load_number.encode()).hexdigest()[:12], 16)
    customer = shipper.customer
    if digest % 5 == 0 or customer is None:
        customer = Customer.objects.filter(code=BROKER[1]).first()
    return {
        "customer": customer,
        "po_number": f"PO-{digest % 10_000_000:07d}",
        "bol_number": f"BOL-{(digest // 10_000_000) % 1_000_000:06d}",
        "customer_reference": f"{customer.code}-{digest % 9973:04d}" if customer else "",
    }


def pod_pdf(lines: list[str]) -> bytes:
    """A one-page PDF with these lines of text: a delivery receipt."""
    text = (
        "BT /F1 12 Tf 72 720 Td 16 TL "
        + " ".join(
            "({}) '".format(line.replace("\\", "").replace("(", "").replace(")", "")) for line in lines
        )
        + " ET"
    )
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(text), text.encode("latin-1", "replace")),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    body, offsets = b"%PDF-1.4\n", []
    for number, content in enumerate(objects, start=1):
        offsets.append(len(body))
        body += b"%d 0 obj\n%s\nendobj\n" % (number, content)
    xref = len(body)
    body += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    body += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    body += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%EOF\n" % (len(objects) + 1, xref)
    return body


def signature_png(seed: int, width: int = 160, height: int = 48) -> bytes:
    """A greyscale PNG of a scribbled signature: a photo of a signed receipt, in miniature."""
    ink = set()
    for x in range(8, width - 8):
        y = int(height / 2 + (height / 3) * math.sin((x + seed % 97) / (6 + seed % 5)) * math.cos(x / 23))
        ink.update({(x, y), (x, y + 1)})
    rows = b"".join(b"\x00" + bytes(0 if (x, y) in ink else 255 for x in range(width)) for y in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def attach_demo_pod(load: Load, consignee: Facility, *, by, driver: Driver) -> None:
    """The signed proof of delivery of a demo load, on its delivery stop: a PDF receipt, or (one in
    three) the driver's photo of the signature, as the driver's app would upload it."""
    delivery = load.stops.filter(kind="DELIVERY").order_by("-sequence").first()
    digest = int(hashlib.sha256(load.load_number.encode()).hexdigest()[:8], 16)
    if digest % 3 == 0:
        name, content = f"POD-{load.load_number}.png", signature_png(digest)
    else:
        lines = [
            "PROOF OF DELIVERY",
            f"Load {load.load_number}   BOL {load.bol_number}   PO {load.po_number}",
            f"Consignee: {consignee.name}, {consignee.city}, {consignee.state}",
            f"Driver: {driver.name}",
            "Received in good order. Signed: receiving clerk",
        ]
        name, content = f"POD-{load.load_number}.pdf", pod_pdf(lines)
    document_services.upload_document(
        load=load, by=by, kind=DocumentKind.POD, file=SimpleUploadedFile(name, content), stop=delivery
    )
