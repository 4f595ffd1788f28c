"""The migrations to the seed's names keep and convert existing rows, both ways: renamed columns,
loads PENDING <-> CREATED, drivers' first and last name <-> name, and the dispatch status with
duty_status <-> the seed's DriverStatus with is_active (fleet/migrations/0004,
drivers/migrations/0003, loads/migrations/0003)."""

import datetime

import pytest
from django.contrib.gis.geos import Point
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

BEFORE = [
    ("fleet", "0003_gps_points_timescaledb"),
    ("drivers", "0002_hours_of_service"),
    ("loads", "0002_facility_geofence_stopevent"),
]
AFTER = [
    ("fleet", "0004_vehicle_seed_field_names"),
    ("drivers", "0003_driver_seed_name_and_status"),
    ("loads", "0003_load_seed_names_and_created_status"),
]


def migrate(targets):
    MigrationExecutor(connection).migrate(targets)
    return MigrationExecutor(connection).loader.project_state(targets).apps


@pytest.fixture
def at_the_old_names(transactional_db):
    apps = migrate(BEFORE)
    yield apps
    migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())


def test_rows_are_converted_to_the_seed_names_and_back(at_the_old_names):
    apps = at_the_old_names
    Carrier = apps.get_model("fleet", "Carrier")
    Driver = apps.get_model("drivers", "Driver")
    Facility = apps.get_model("loads", "Facility")
    Load = apps.get_model("loads", "Load")
    Vehicle = apps.get_model("fleet", "Vehicle")
    carrier = Carrier.objects.create(name="Acme", dot_number="1")

    def driver(n: int, status: str, duty_status: str):
        return Driver.objects.create(
            carrier=carrier,
            employee_number=f"E{n}",
            first_name="Ana",
            last_name=f"Diaz {n}",
            license_number=f"L{n}",
            license_state="IL",
            license_expiry=datetime.date(2030, 1, 1),
            status=status,
            duty_status=duty_status,
        )

    ready = driver(1, "AVAILABLE", "ON_DUTY")
    resting = driver(2, "AVAILABLE", "OFF_DUTY")
    hauling = driver(3, "ASSIGNED", "ON_DUTY")
    driving = driver(4, "IN_TRANSIT", "DRIVING")
    gone = driver(5, "INACTIVE", "OFF_DUTY")
    home = driver(6, "OFF_DUTY", "OFF_DUTY")
    here = Point(-87.6, 41.8, srid=4326)
    sites = [
        Facility.objects.create(
            name=name,
            address="1 Main St",
            city="Chicago",
            state="IL",
            postal_code="60601",
            location=here,
            timezone="America/Chicago",
        )
        for name in ("A", "B")
    ]
    truck = dict(
        carrier=carrier,
        make="Volvo",
        model="VNL",
        year=2022,
        vehicle_type="DRY_VAN",
        capacity_weight_kg=20000,
        capacity_volume_m3=90,
    )
    vehicle = Vehicle.objects.create(unit_number="T1", vin="1" * 17, status="ASSIGNED", **truck)
    moving = Vehicle.objects.create(unit_number="T2", vin="2" * 17, status="IN_TRANSIT", **truck)
    pickup = timezone.now()
    common = dict(
        shipper=sites[0],
        consignee=sites[1],
        pickup_location=here,
        delivery_location=here,
        pickup_address="a",
        delivery_address="b",
        pickup_at=pickup,
        delivery_at=pickup + datetime.timedelta(days=1),
        weight_kg=1000,
        volume_m3=10,
        rate=100,
    )
    Load.objects.create(load_number="L1", status="PENDING", **common)
    Load.objects.create(
        load_number="L2", status="ASSIGNED", carrier=carrier, vehicle=vehicle, driver=hauling, **common
    )
    Load.objects.create(
        load_number="L3", status="IN_TRANSIT", carrier=carrier, vehicle=moving, driver=driving, **common
    )

    apps = migrate(AFTER)
    Driver, Load = apps.get_model("drivers", "Driver"), apps.get_model("loads", "Load")
    assert list(apps.get_model("fleet", "Vehicle").objects.values_list("vehicle_number", "odometer")) == [
        ("T1", 0),
        ("T2", 0),
    ]
    converted = {row.pk: (row.name, row.status, row.is_active) for row in Driver.objects.all()}
    assert converted == {
        ready.pk: ("Ana Diaz 1", "AVAILABLE", True),
        resting.pk: ("Ana Diaz 2", "OFF_DUTY", True),
        hauling.pk: ("Ana Diaz 3", "ON_DUTY", True),
        driving.pk: ("Ana Diaz 4", "DRIVING", True),
        gone.pk: ("Ana Diaz 5", "OFF_DUTY", False),
        home.pk: ("Ana Diaz 6", "OFF_DUTY", True),
    }
    assert dict(Load.objects.values_list("load_number", "status")) == {
        "L1": "CREATED",
        "L2": "ASSIGNED",
        "L3": "IN_TRANSIT",
    }
    assert Load.objects.get(load_number="L1").weight == 1000

    apps = migrate(BEFORE)
    Driver, Load = apps.get_model("drivers", "Driver"), apps.get_model("loads", "Load")
    restored = {
        row.pk: (row.first_name, row.last_name, row.status, row.duty_status) for row in Driver.objects.all()
    }
    assert restored == {
        ready.pk: ("Ana", "Diaz 1", "AVAILABLE", "ON_DUTY"),
        resting.pk: ("Ana", "Diaz 2", "OFF_DUTY", "OFF_DUTY"),
        hauling.pk: ("Ana", "Diaz 3", "ASSIGNED", "ON_DUTY"),
        driving.pk: ("Ana", "Diaz 4", "IN_TRANSIT", "DRIVING"),
        gone.pk: ("Ana", "Diaz 5", "INACTIVE", "OFF_DUTY"),
        home.pk: ("Ana", "Diaz 6", "OFF_DUTY", "OFF_DUTY"),
    }
    assert dict(Load.objects.values_list("load_number", "status")) == {
        "L1": "PENDING",
        "L2": "ASSIGNED",
        "L3": "IN_TRANSIT",
    }
