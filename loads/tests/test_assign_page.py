"""The assign page (issue 14, item 3): the back office's assign action offers only the trucks and
drivers that can legally and physically take the load, trucks nearest to the first pickup first
with their deadhead distance, drivers with their hours left; an illegal choice posted anyway is
refused by the service with its reason."""

import datetime
import math
from decimal import Decimal

import pytest
from django.contrib.gis.geos import Point
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from drivers.models import DriverStatus
from drivers.tests.factories import DriverFactory, duty_log
from fleet.models import VehicleStatus, VehicleType
from fleet.tests.factories import CarrierFactory, VehicleFactory
from loads import services
from loads.models import Load, LoadStatus
from loads.selectors import assignment_candidates
from loads.tests.factories import LoadFactory
from tms.tests.admin_cases import counts, messages_of, run_action

pytestmark = pytest.mark.django_db

LOADS = "/admin/loads/load/"
CHICAGO = (-87.6298, 41.8781)  # the factory's shipper: the first pickup
REEFER = VehicleType.REEFER


def at(longitude: float, latitude: float) -> Point:
    return Point(longitude, latitude, srid=4326)


def km_between(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Great-circle distance on a 6,371 km sphere: PostGIS measures on the spheroid, within 0.5%."""
    (lon1, lat1), (lon2, lat2) = ((math.radians(x), math.radians(y)) for x, y in (a, b))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * 6371 * math.asin(math.sqrt(h))


@pytest.fixture
def yard():
    """A frozen load picking up in Chicago in five minutes (about 3.6 h of driving to
    Indianapolis), no carrier yet, and trucks and drivers of three carriers, legal and not."""
    now = timezone.now()
    load = LoadFactory(
        pickup_datetime=now + datetime.timedelta(minutes=5),
        delivery_datetime=now + datetime.timedelta(hours=10),
        weight=Decimal("12000"),
        volume=Decimal("60"),
        required_equipment=REEFER,
        temperature_min_c=Decimal("-20"),
        temperature_max_c=Decimal("-18"),
    )
    prairie, lakes, dunes = (
        CarrierFactory(name="Prairie"),
        CarrierFactory(name="Lakes"),
        CarrierFactory(name="Dunes"),
    )

    def reefer(carrier, where, **fields):
        return VehicleFactory(carrier=carrier, vehicle_type=REEFER, current_location=where, **fields)

    trucks = {
        "near": reefer(prairie, at(-87.70, 41.80)),  # ~10 km
        "joliet": reefer(lakes, at(-88.0817, 41.525)),  # ~55 km, another carrier: the load has none
        "milwaukee": reefer(prairie, at(-87.9065, 43.0389)),  # ~130 km
        "nowhere": reefer(prairie, None),  # never reported a position: last
    }
    illegal = {
        "dry van": VehicleFactory(carrier=prairie, current_location=at(*CHICAGO)),
        "warm unit": reefer(prairie, at(*CHICAGO), temperature_min_c=-5, temperature_max_c=25),
        "too small": reefer(prairie, at(*CHICAGO), capacity_weight=Decimal("10000")),
        "in maintenance": reefer(prairie, at(*CHICAGO), status=VehicleStatus.MAINTENANCE),
        "no driver": reefer(dunes, at(*CHICAGO)),  # Dunes' only driver has an expired licence
    }
    busy_load = LoadFactory()
    busy_truck = reefer(prairie, at(*CHICAGO))
    busy_driver = DriverFactory(carrier=prairie, name="Bo Busy", status=DriverStatus.AVAILABLE)
    services.assign_load(busy_load, by=None, vehicle=busy_truck, driver=busy_driver)
    illegal["busy"] = busy_truck

    drivers = {
        "ana": DriverFactory(carrier=prairie, name="Ana Avila", status=DriverStatus.AVAILABLE),
        "ben": DriverFactory(carrier=lakes, name="Ben Brooks", status=DriverStatus.AVAILABLE),
        "dee": DriverFactory(carrier=prairie, name="Dee Dunn", status=DriverStatus.AVAILABLE),
        "cal": DriverFactory(carrier=prairie, name="Cal Cole", status=DriverStatus.OFF_DUTY),
    }
    duty_log(drivers["dee"], now - datetime.timedelta(hours=5), ("DRIVING", 5))  # 6 h left: enough
    expired = timezone.localdate() - datetime.timedelta(days=1)
    short = DriverFactory(carrier=prairie, name="Sam Short", status=DriverStatus.AVAILABLE)
    # 9.5 h driven since the last 10-hour break, ending now: 1.5 h left, the load needs 3.6.
    duty_log(short, now - datetime.timedelta(hours=10), ("DRIVING", 5), ("OFF_DUTY", 0.5), ("DRIVING", 4.5))
    illegal_drivers = {
        "expired licence": DriverFactory(carrier=prairie, name="Eve Expired", license_expiry=expired),
        "short of hours": short,
        "inactive": DriverFactory(carrier=prairie, name="Ivy Inactive", is_active=False),
        "on another load": busy_driver,
        "only of Dunes": DriverFactory(carrier=dunes, name="Dan Dunes", license_expiry=expired),
        "of no listed truck's carrier": DriverFactory(name="Nat Nocarrier", status=DriverStatus.AVAILABLE),
    }
    return load, trucks, illegal, drivers, illegal_drivers


def open_page(client, load):
    return client.post(LOADS, {"action": "assign", "_selected_action": [str(load.pk)]})


def test_the_page_offers_exactly_the_legal_trucks_nearest_first_and_the_legal_drivers(client, desk, yard):
    load, trucks, _, drivers, _ = yard
    client.force_login(desk)
    page = open_page(client, load)
    assert page.status_code == 200
    form = page.context["form"]
    offered_trucks = [value for value, _ in form.fields["vehicle"].choices]
    assert offered_trucks == [str(trucks[name].pk) for name in ("near", "joliet", "milwaukee", "nowhere")]
    # Ready for dispatch first, then by hours left; off duty now is no bar for a load (hours decide).
    offered_drivers = [value for value, _ in form.fields["driver"].choices]
    assert offered_drivers == [str(drivers[name].pk) for name in ("ana", "ben", "dee", "cal")]

    html = page.content.decode()
    near_km = km_between(CHICAGO, (-87.70, 41.80))
    label = dict(form.fields["vehicle"].choices)[str(trucks["near"].pk)]
    assert label.startswith(
        f"{trucks['near'].vehicle_number} - Prairie (reefer -25.0..25.0 °C, 20,000 kg, 95.00 m3): "
    )
    shown_km = float(label.split(": ")[1].removesuffix(" km to the pickup"))
    assert shown_km == pytest.approx(near_km, rel=0.005)
    assert dict(form.fields["vehicle"].choices)[str(trucks["nowhere"].pk)].endswith(": position unknown")
    assert f"Dee Dunn - Prairie (AVAILABLE, 6.00 h left, licence to {drivers['dee'].license_expiry})" in html
    assert "Ana Avila - Prairie (AVAILABLE, 11.00 h left" in html
    assert "reefer -20.0..-18.0 °C" in html  # the load states what its freight needs


def test_the_selector_gives_deadhead_distances_in_order(yard):
    load, *_ = yard
    candidates = assignment_candidates(load)
    distances = [candidate.deadhead_m for candidate in candidates.trucks]
    assert distances[-1] is None
    assert distances[:-1] == sorted(distances[:-1])
    assert distances[1] / 1000 == pytest.approx(km_between(CHICAGO, (-88.0817, 41.525)), rel=0.005)


def test_a_load_tendered_to_a_carrier_offers_only_its_trucks_and_drivers(client, desk, yard):
    load, trucks, _, drivers, _ = yard
    services.update_load(load, by=None, carrier=trucks["joliet"].carrier)
    client.force_login(desk)
    form = open_page(client, load).context["form"]
    assert [value for value, _ in form.fields["vehicle"].choices] == [str(trucks["joliet"].pk)]
    assert [value for value, _ in form.fields["driver"].choices] == [str(drivers["ben"].pk)]


def test_dry_freight_is_offered_to_vans_and_reefers(client, desk, yard):
    load, trucks, illegal, _, _ = yard
    services.update_load(
        load, by=None, required_equipment=VehicleType.DRY_VAN, temperature_min_c=None, temperature_max_c=None
    )
    client.force_login(desk)
    offered = [value for value, _ in open_page(client, load).context["form"].fields["vehicle"].choices]
    assert offered[:2] == [str(illegal["dry van"].pk), str(illegal["warm unit"].pk)]  # both at the pickup
    assert str(trucks["near"].pk) in offered
    assert str(illegal["too small"].pk) not in offered
    assert str(illegal["busy"].pk) not in offered


@pytest.mark.parametrize(
    ("truck", "driver", "reason"),
    [
        ("dry van", "ana", "cannot haul load {load}: The load needs a reefer; the truck is a dry van."),
        ("warm unit", "ana", "the reefer unit holds -5 °C to 25 °C."),
        ("too small", "ana", "The load weighs 12000.0 kg"),
        ("busy", "ana", "is ASSIGNED."),
        ("near", "expired licence", "licence expires"),
        ("near", "short of hours", "can legally drive 1.50 h"),
    ],
)
def test_an_illegal_choice_posted_anyway_is_refused_by_the_service(client, desk, yard, truck, driver, reason):
    load, trucks, illegal, drivers, illegal_drivers = yard
    vehicle = {**trucks, **illegal}[truck]
    chosen = {**drivers, **illegal_drivers}[driver]
    client.force_login(desk)
    before = counts()
    response = run_action(
        client, LOADS, "assign", [load], apply="yes", vehicle=str(vehicle.pk), driver=str(chosen.pk)
    )
    [message] = messages_of(response)
    assert message.startswith(f"{load.load_number}: ")
    assert reason.format(load=load.load_number) in message
    assert Load.objects.get(pk=load.pk).status == LoadStatus.CREATED
    assert counts() == before


def test_the_page_takes_one_load_at_a_time(client, desk, yard):
    load, *_ = yard
    client.force_login(desk)
    response = run_action(client, LOADS, "assign", [load, LoadFactory()])
    assert messages_of(response) == [
        "Assign one load at a time: the page lists the trucks and drivers that may take it."
    ]


def test_the_page_costs_the_same_queries_however_many_candidates(client, desk, yard):
    load, trucks, *_ = yard
    client.force_login(desk)
    open_page(client, load)  # warm the session and content types
    with CaptureQueriesContext(connection) as few:
        open_page(client, load)
    carrier = trucks["near"].carrier
    for index in range(4):
        VehicleFactory(carrier=carrier, vehicle_type=REEFER, current_location=at(-87.6 - index / 10, 41.9))
        driver = DriverFactory(carrier=carrier, status=DriverStatus.AVAILABLE)
        duty_log(driver, timezone.now() - datetime.timedelta(hours=3), ("DRIVING", 2))
    with CaptureQueriesContext(connection) as many:
        page = open_page(client, load)
    assert len(page.context["form"].fields["vehicle"].choices) == 8
    assert len(page.context["form"].fields["driver"].choices) == 8
    assert len(many) == len(few)
