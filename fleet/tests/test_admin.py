"""The back office's carrier and vehicle pages: every page loads for the roles that may see it,
adds, changes, deletes and actions go through fleet.services (audit row, outbox event), and refused
changes are messages, not 500s. Shared helpers and fixtures: tms/tests/admin_cases.py."""

import pytest

from events.models import AuditAction, AuditLog, OutboxEvent
from fleet.models import Carrier, VehicleStatus
from fleet.tests.factories import CarrierFactory, VehicleFactory
from loads import services as load_services
from tms.tests.admin_cases import AdminPageCases, admin_url, carrier_form, counts, messages_of, run_action

pytestmark = pytest.mark.django_db

VEHICLES = "/admin/fleet/vehicle/"


class TestPages(AdminPageCases):
    pages = [
        ("fleet.carrier", "carrier", True),
        ("fleet.vehicle", "vehicle", True),
    ]
    changelists = [
        (VEHICLES, lambda: VehicleFactory()),
        ("/admin/fleet/carrier/", lambda: VehicleFactory()),
    ]


def test_adding_changing_and_deleting_a_carrier_each_write_their_audit_row(client, desk):
    client.force_login(desk)

    response = client.post(admin_url("fleet.carrier", "add"), carrier_form())
    assert response.status_code == 302
    carrier = Carrier.objects.get(dot_number="1234567")
    created = AuditLog.objects.get(table_name="carriers", record_id=str(carrier.pk))
    assert created.action == AuditAction.CREATE
    assert created.user == desk
    assert created.changed_data["name"] == "Prairie Wind Trucking"
    assert created.correlation_id == response["X-Request-ID"]

    response = client.post(
        admin_url("fleet.carrier", "change", carrier.pk), carrier_form(name="Prairie Wind")
    )
    assert response.status_code == 302
    updated = AuditLog.objects.get(
        table_name="carriers", record_id=str(carrier.pk), action=AuditAction.UPDATE
    )
    assert updated.changed_data == {"name": ["Prairie Wind Trucking", "Prairie Wind"]}
    assert updated.user == desk

    response = client.post(admin_url("fleet.carrier", "delete", carrier.pk), {"post": "yes"})
    assert response.status_code == 302
    assert not Carrier.objects.filter(pk=carrier.pk).exists()
    deleted = AuditLog.objects.get(
        table_name="carriers", record_id=str(carrier.pk), action=AuditAction.DELETE
    )
    assert deleted.changed_data["dot_number"] == "1234567"
    assert deleted.user == desk


def test_a_carrier_with_vehicles_is_not_deleted(client, world, desk):
    client.force_login(desk)
    before = counts()
    response = client.post(admin_url("fleet.carrier", "delete", world.carrier.pk), {"post": "yes"})
    assert response.status_code == 200
    assert response.context["protected"]
    assert Carrier.objects.filter(pk=world.carrier.pk).exists()
    assert counts() == before


def test_a_vehicle_added_with_a_map_point_is_audited(client, desk, world):
    client.force_login(desk)
    response = client.post(
        admin_url("fleet.vehicle", "add"),
        {
            "vehicle_number": "PW-201",
            "carrier": str(world.carrier.pk),
            "vehicle_type": "REEFER",
            "temperature_min_c": "-25",
            "temperature_max_c": "20",
            "make": "Kenworth",
            "model": "T680",
            "year": "2023",
            "vin": "1XKYD49X0PJ123456",
            "license_plate": "NE 4411",
            "fuel_type": "DIESEL",
            "fuel_consumption_l_per_100km": "34.5",
            "capacity_weight": "19500",
            "capacity_volume": "85",
            "current_location": "SRID=4326;POINT (-95.9345 41.2565)",
            "odometer": "120000",
            "engine_hours": "4100",
        },
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    vehicle = world.carrier.vehicles.get(vehicle_number="PW-201")
    assert vehicle.status == VehicleStatus.AVAILABLE
    assert vehicle.current_location.coords == pytest.approx((-95.9345, 41.2565))
    row = AuditLog.objects.get(table_name="vehicles", record_id=str(vehicle.pk))
    assert row.action == AuditAction.CREATE
    assert row.user == desk


def vehicle_form(vehicle, **changes) -> dict:
    return {
        "vehicle_number": vehicle.vehicle_number,
        "carrier": str(vehicle.carrier_id),
        "vehicle_type": vehicle.vehicle_type,
        "temperature_min_c": "" if vehicle.temperature_min_c is None else str(vehicle.temperature_min_c),
        "temperature_max_c": "" if vehicle.temperature_max_c is None else str(vehicle.temperature_max_c),
        "make": vehicle.make,
        "model": vehicle.model,
        "year": str(vehicle.year),
        "vin": vehicle.vin,
        "license_plate": vehicle.license_plate,
        "fuel_type": vehicle.fuel_type,
        "fuel_consumption_l_per_100km": str(vehicle.fuel_consumption_l_per_100km),
        "capacity_weight": str(vehicle.capacity_weight),
        "capacity_volume": str(vehicle.capacity_volume),
        "current_location": vehicle.current_location.ewkt if vehicle.current_location else "",
        "odometer": str(vehicle.odometer),
        "engine_hours": str(vehicle.engine_hours),
        **changes,
    }


def test_moving_a_vehicle_on_the_map_is_a_location_report(client, world, desk):
    client.force_login(desk)
    url = admin_url("fleet.vehicle", "change", world.vehicle.pk)
    form = vehicle_form(world.vehicle, current_location="SRID=4326;POINT (-86.1581 39.7684)", make="Kenworth")
    assert client.post(url, form).status_code == 302
    world.vehicle.refresh_from_db()
    assert world.vehicle.current_location.coords == pytest.approx((-86.1581, 39.7684))
    assert world.vehicle.location_updated_at is not None
    assert world.vehicle.make == "Kenworth"
    event = OutboxEvent.objects.get(type="VEHICLE_LOCATION_UPDATED", subject=str(world.vehicle.pk))
    assert event.envelope["data"]["latitude"] == pytest.approx(39.7684)
    edits = AuditLog.objects.filter(table_name="vehicles", record_id=str(world.vehicle.pk))
    assert [row.changed_data.get("make") for row in edits if "make" in row.changed_data] == [
        ["Freightliner", "Kenworth"]
    ]


def test_a_vehicle_on_a_load_cannot_change_carrier_in_the_form(client, world, desk):
    load_services.assign_load(world.load, by=None, vehicle=world.vehicle, driver=world.driver)
    client.force_login(desk)
    before = counts()
    url = admin_url("fleet.vehicle", "change", world.vehicle.pk)
    response = client.post(url, vehicle_form(world.vehicle, carrier=str(CarrierFactory().pk)))
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["carrier"] == [
        "A vehicle on a load cannot change carrier."
    ]
    world.vehicle.refresh_from_db()
    assert world.vehicle.carrier == world.carrier
    assert counts() == before


def test_sending_a_vehicle_to_maintenance_and_back(client, world, desk):
    client.force_login(desk)
    response = run_action(client, VEHICLES, "send_to_maintenance", [world.vehicle])
    assert messages_of(response) == [f"Sent to maintenance: {world.vehicle.vehicle_number}."]
    world.vehicle.refresh_from_db()
    assert world.vehicle.status == VehicleStatus.MAINTENANCE
    response = run_action(client, VEHICLES, "return_to_service", [world.vehicle])
    assert messages_of(response) == [f"Returned to service: {world.vehicle.vehicle_number}."]
    world.vehicle.refresh_from_db()
    assert world.vehicle.status == VehicleStatus.AVAILABLE
    events = OutboxEvent.objects.filter(type="VEHICLE_STATUS_CHANGED", subject=str(world.vehicle.pk))
    assert [e.envelope["data"]["status"] for e in events.order_by("sequence")] == ["MAINTENANCE", "AVAILABLE"]
    rows = AuditLog.objects.filter(record_id=str(world.vehicle.pk), action=AuditAction.TRANSITION, user=desk)
    assert rows.count() == 2


def test_a_vehicle_on_a_load_is_not_sent_to_maintenance(client, world, desk):
    load_services.assign_load(world.load, by=None, vehicle=world.vehicle, driver=world.driver)
    client.force_login(desk)
    before = counts()
    response = run_action(client, VEHICLES, "send_to_maintenance", [world.vehicle])
    assert messages_of(response) == [
        f"{world.vehicle.vehicle_number}: A vehicle cannot go from ASSIGNED to MAINTENANCE."
    ]
    world.vehicle.refresh_from_db()
    assert world.vehicle.status == VehicleStatus.ASSIGNED
    assert counts() == before
