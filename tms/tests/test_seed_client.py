"""A client written from the seed's specification (shared/seed/tms-backend-spec.md, "Data Models and
Schema" and "Status Enumerations") works unchanged: it speaks only the seed's field names and enum
values, as a partner's integration would, and every name it reads is there."""

import pytest

from drivers.tests.factories import DriverFactory
from fleet.tests.factories import VehicleFactory
from loads.tests.factories import FacilityFactory

pytestmark = pytest.mark.django_db

# The seed's entities, field by field (BaseEntity's id and timestamps aside).
SEED_LOAD = {
    "load_number", "shipper_id", "consignee_id", "carrier_id", "vehicle_id", "driver_id",
    "pickup_location", "delivery_location", "pickup_address", "delivery_address",
    "pickup_datetime", "delivery_datetime", "weight", "volume", "rate", "status",
}  # fmt: skip
SEED_VEHICLE = {
    "carrier_id", "vehicle_number", "vehicle_type", "capacity_weight", "capacity_volume", "status",
    "current_location", "fuel_level", "odometer",
}  # fmt: skip
SEED_DRIVER = {
    "carrier_id", "license_number", "name", "phone", "email", "status", "current_location",
    "hours_remaining",
}  # fmt: skip
LOAD_STATUSES = ["CREATED", "ASSIGNED", "PICKED_UP", "IN_TRANSIT", "DELIVERED", "CANCELLED", "DELAYED"]
VEHICLE_STATUSES = ["AVAILABLE", "ASSIGNED", "IN_TRANSIT", "MAINTENANCE", "OUT_OF_SERVICE"]
DRIVER_STATUSES = ["AVAILABLE", "DRIVING", "ON_DUTY", "OFF_DUTY", "SLEEPER_BERTH"]


def point(lon: float, lat: float) -> dict:
    return {"type": "Point", "coordinates": [lon, lat]}


def test_a_load_booked_and_assigned_with_the_seeds_names(dispatcher):
    shipper, consignee = FacilityFactory(), FacilityFactory()
    vehicle = VehicleFactory()
    driver = DriverFactory(carrier=vehicle.carrier)
    booked = {
        "load_number": "SEED-0001",
        "shipper_id": str(shipper.pk),
        "consignee_id": str(consignee.pk),
        "pickup_location": point(-87.6298, 41.8781),
        "delivery_location": point(-86.1581, 39.7684),
        "pickup_address": "1 Dock St, Chicago, IL",
        "delivery_address": "2 Yard Rd, Indianapolis, IN",
        "pickup_datetime": "2027-03-01T14:00:00Z",
        "delivery_datetime": "2027-03-01T22:00:00Z",
        "weight": 12000.5,
        "volume": 60.25,
        "rate": 1850.0,
    }

    created = dispatcher.post("/api/loads", booked, format="json")

    assert created.status_code == 201, created.content
    load = created.json()
    assert set(load) >= SEED_LOAD
    assert {name: load[name] for name in booked} == booked
    assert load["status"] == "CREATED"
    listed = dispatcher.get("/api/loads", {"status": "CREATED"}).json()
    assert [row["load_number"] for row in listed["results"]] == ["SEED-0001"]

    assigned = dispatcher.post(
        f"/api/loads/{load['id']}/assign",
        {"vehicle_id": str(vehicle.pk), "driver_id": str(driver.pk)},
        format="json",
    )

    assert assigned.status_code == 200, assigned.content
    assert (assigned.json()["status"], assigned.json()["vehicle_id"], assigned.json()["driver_id"]) == (
        "ASSIGNED",
        str(vehicle.pk),
        str(driver.pk),
    )
    assert dispatcher.get(f"/api/vehicles/{vehicle.pk}").json()["status"] == "ASSIGNED"


def test_a_vehicle_reports_its_location_and_telemetry_with_the_seeds_names(dispatcher):
    vehicle = VehicleFactory()

    moved = dispatcher.put(
        f"/api/vehicles/{vehicle.pk}/location",
        {"longitude": -95.3698, "latitude": 29.7604, "speed": 88.0, "heading": 270.0, "fuel_level": 64.5,
         "odometer": 123456.7},
        format="json",
    )  # fmt: skip

    assert moved.status_code == 200, moved.content
    read = dispatcher.get(f"/api/vehicles/{vehicle.pk}").json()
    assert set(read) >= SEED_VEHICLE
    assert read["current_location"] == point(-95.3698, 29.7604)
    assert (read["fuel_level"], read["odometer"]) == (64.5, 123456.7)
    assert read["status"] in VEHICLE_STATUSES


def test_a_driver_speaks_the_seeds_driver_status(dispatcher):
    driver = DriverFactory()
    assert set(dispatcher.get(f"/api/drivers/{driver.pk}").json()) >= SEED_DRIVER

    for status in ["ON_DUTY", "DRIVING", "AVAILABLE", "SLEEPER_BERTH", "OFF_DUTY"]:
        changed = dispatcher.put(f"/api/drivers/{driver.pk}/status", {"status": status}, format="json")
        assert changed.status_code == 200, changed.content
        assert dispatcher.get(f"/api/drivers/{driver.pk}").json()["status"] == status
        assert [
            row["id"] for row in dispatcher.get("/api/drivers", {"status": status}).json()["results"]
        ] == [str(driver.pk)]


def test_the_schema_offers_exactly_the_seeds_enum_values(dispatcher):
    schemas = dispatcher.get("/api/schema/", HTTP_ACCEPT="application/json").json()["components"]["schemas"]

    def values(component: str) -> list[str]:
        return schemas[component]["enum"]

    assert sorted(values("LoadStatusEnum")) == sorted(LOAD_STATUSES)
    assert sorted(values("VehicleStatusEnum")) == sorted(VEHICLE_STATUSES)
    assert sorted(values("DriverStatusEnum")) == sorted(DRIVER_STATUSES)
