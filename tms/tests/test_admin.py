"""The dispatcher back office: every page loads for the roles that may see it, writes and actions go
through the services (audit row, outbox event), and refused changes are messages, not 500s."""

import datetime
from decimal import Decimal
from types import SimpleNamespace

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.gis.geos import LineString, Point
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from drivers.models import DriverStatus
from drivers.tests.factories import DriverFactory
from events.models import AuditAction, AuditLog, OutboxEvent
from fleet.admin import CarrierAdmin
from fleet.models import Carrier, VehicleStatus
from fleet.tests.factories import CarrierFactory, VehicleFactory
from loads import services as load_services
from loads.models import Load, LoadStatus
from loads.tests.factories import FacilityFactory, LoadFactory
from routing.models import FleetPlan, Route
from routing.tests.factories import proposed_plan
from tms.api_defaults import DISPATCHER, DRIVER, VIEWER
from tms.exceptions import BusinessRuleViolation
from tms.tests.factories import UserFactory

pytestmark = pytest.mark.django_db

LOADS = "/admin/loads/load/"
VEHICLES = "/admin/fleet/vehicle/"
DRIVERS = "/admin/drivers/driver/"
# The read-only inlines' management forms: a page with inlines is only valid with them.
NO_INLINE_ROWS = {
    f"{prefix}-{name}": value
    for prefix in ("vehicles", "drivers", "routes")
    for name, value in (("TOTAL_FORMS", "0"), ("INITIAL_FORMS", "0"), ("MIN_NUM_FORMS", "0"))
}


# --- Users and data --------------------------------------------------------------------------------


@pytest.fixture
def superuser(db):
    return UserFactory(username="root", is_staff=True, is_superuser=True)


@pytest.fixture
def desk(db):
    """A dispatcher with back-office access."""
    return UserFactory(username="desk", roles=[DISPATCHER], is_staff=True)


@pytest.fixture
def reader(db):
    return UserFactory(username="reader", roles=[VIEWER], is_staff=True)


@pytest.fixture
def world(db):
    carrier = CarrierFactory()
    vehicle = VehicleFactory(carrier=carrier)
    driver = DriverFactory(carrier=carrier)
    load = LoadFactory()
    route = Route.objects.create(
        load=load,
        vehicle=vehicle,
        driver=driver,
        origin=load.pickup_location,
        destination=load.delivery_location,
        path=LineString(load.pickup_location.coords, load.delivery_location.coords, srid=4326),
        distance_m=290_000,
        duration_s=11_900,
        provider="GREAT_CIRCLE",
    )
    return SimpleNamespace(
        carrier=carrier,
        vehicle=vehicle,
        driver=driver,
        load=load,
        facility=load.shipper,
        route=route,
        audit=AuditLog.objects.first(),
        event=OutboxEvent.objects.first(),
        plan=proposed_plan(horizon=datetime.timedelta(hours=1)),  # no load is due: nothing to solve
    )


def counts() -> tuple[int, int, int]:
    return AuditLog.objects.count(), OutboxEvent.objects.count(), LogEntry.objects.count()


def messages_of(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def run_action(client, changelist: str, action: str, objects, **data):
    return client.post(
        changelist,
        {"action": action, "_selected_action": [str(obj.pk) for obj in objects], **data},
        follow=True,
    )


# --- Pages -----------------------------------------------------------------------------------------

PAGES = [
    # (app_label.model, attribute of `world`, has an add page)
    ("fleet.carrier", "carrier", True),
    ("fleet.vehicle", "vehicle", True),
    ("drivers.driver", "driver", True),
    ("loads.facility", "facility", True),
    ("loads.load", "load", True),
    ("routing.route", "route", False),
    ("routing.fleetplan", "plan", False),
    ("events.auditlog", "audit", False),
    ("events.outboxevent", "event", False),
]


def admin_url(model: str, view: str, *args) -> str:
    app_label, model_name = model.split(".")
    return reverse(f"admin:{app_label}_{model_name}_{view}", args=args)


@pytest.mark.parametrize("user_fixture", ["superuser", "desk"])
@pytest.mark.parametrize(("model", "attribute", "addable"), PAGES)
def test_operators_open_every_changelist_add_and_change_page(
    request, client, world, user_fixture, model, attribute, addable
):
    client.force_login(request.getfixturevalue(user_fixture))
    obj = getattr(world, attribute)
    listing = client.get(admin_url(model, "changelist"))
    assert listing.status_code == 200
    assert listing.context["cl"].result_count >= 1
    assert client.get(admin_url(model, "change", obj.pk)).status_code == 200
    assert client.get(admin_url(model, "add")).status_code == (200 if addable else 403)


@pytest.mark.parametrize(("model", "attribute", "addable"), PAGES)
def test_viewer_sees_every_page_read_only(client, world, reader, model, attribute, addable):
    client.force_login(reader)
    obj = getattr(world, attribute)
    before = counts()
    listing = client.get(admin_url(model, "changelist"))
    assert listing.status_code == 200
    assert 'name="action"' not in listing.content.decode()
    change_page = client.get(admin_url(model, "change", obj.pk))
    assert change_page.status_code == 200
    assert 'name="_save"' not in change_page.content.decode()
    assert client.post(admin_url(model, "change", obj.pk), {}).status_code == 403
    assert client.get(admin_url(model, "add")).status_code == 403
    assert client.post(admin_url(model, "delete", obj.pk), {"post": "yes"}).status_code == 403
    assert counts() == before


def test_staff_without_a_role_sees_no_tms_model(client, world):
    client.force_login(UserFactory(username="staff-only", is_staff=True))
    assert client.get(admin_url("loads.load", "changelist")).status_code == 403


def test_a_driver_login_cannot_use_the_admin(client, world):
    client.force_login(UserFactory(username="trucker", roles=[DRIVER]))
    response = client.get(admin_url("loads.load", "changelist"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


def test_loads_cannot_be_deleted_even_by_a_superuser(client, world, superuser):
    client.force_login(superuser)
    assert client.post(admin_url("loads.load", "delete", world.load.pk), {"post": "yes"}).status_code == 403
    actions = client.get(LOADS).context["action_form"].fields["action"].choices
    assert "delete_selected" not in [name for name, _ in actions]
    assert Load.objects.filter(pk=world.load.pk).exists()


@pytest.mark.parametrize(
    ("changelist", "make_row"),
    [
        (LOADS, lambda: LoadFactory()),
        (VEHICLES, lambda: VehicleFactory()),
        (DRIVERS, lambda: DriverFactory()),
        ("/admin/events/auditlog/", lambda: LoadFactory()),
        ("/admin/events/outboxevent/", lambda: LoadFactory()),
        ("/admin/fleet/carrier/", lambda: VehicleFactory()),
        ("/admin/routing/route/", lambda: None),
    ],
)
def test_changelists_take_the_same_number_of_queries_for_more_rows(client, world, desk, changelist, make_row):
    client.force_login(desk)
    client.get(changelist)  # warm the session and content types
    with CaptureQueriesContext(connection) as few:
        assert client.get(changelist).status_code == 200
    for _ in range(4):
        make_row()
    assigned = LoadFactory()
    other = CarrierFactory()
    load_services.assign_load(
        assigned, by=None, vehicle=VehicleFactory(carrier=other), driver=DriverFactory(carrier=other)
    )
    with CaptureQueriesContext(connection) as many:
        assert client.get(changelist).status_code == 200
    assert len(many) == len(few), [query["sql"] for query in many]


# --- Add, change, delete go through the services -----------------------------------------------------


def carrier_form(**changes) -> dict:
    return {
        "name": "Prairie Wind Trucking",
        "dot_number": "1234567",
        "mc_number": "MC445566",
        "contact_email": "ops@prairiewind.example",
        "contact_phone": "(402) 555-0110",
        "is_active": "on",
        **NO_INLINE_ROWS,
        **changes,
    }


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


def test_saving_a_carrier_unchanged_writes_no_audit_row(client, desk):
    carrier = CarrierFactory(name="Prairie Wind Trucking", dot_number="1234567", mc_number="MC445566")
    client.force_login(desk)
    form = carrier_form(contact_email="", contact_phone="")
    response = client.post(admin_url("fleet.carrier", "change", carrier.pk), form)
    assert response.status_code == 302
    assert not AuditLog.objects.filter(record_id=str(carrier.pk)).exists()


def test_bulk_delete_deletes_each_carrier_through_the_service(client, desk):
    carriers = [CarrierFactory(), CarrierFactory()]
    client.force_login(desk)
    response = client.post(
        "/admin/fleet/carrier/",
        {"action": "delete_selected", "_selected_action": [str(c.pk) for c in carriers], "post": "yes"},
    )
    assert response.status_code == 302
    assert not Carrier.objects.filter(pk__in=[c.pk for c in carriers]).exists()
    deletions = AuditLog.objects.filter(table_name="carriers", action=AuditAction.DELETE)
    assert sorted(deletions.values_list("record_id", flat=True)) == sorted(str(c.pk) for c in carriers)


def test_a_carrier_with_vehicles_is_not_deleted(client, world, desk):
    client.force_login(desk)
    before = counts()
    response = client.post(admin_url("fleet.carrier", "delete", world.carrier.pk), {"post": "yes"})
    assert response.status_code == 200
    assert response.context["protected"]
    assert Carrier.objects.filter(pk=world.carrier.pk).exists()
    assert counts() == before


def test_a_service_refusing_a_save_shows_its_message_and_writes_nothing(client, world, desk, monkeypatch):
    def refuse(carrier, *, by, **fields):
        raise BusinessRuleViolation("Carrier records are frozen during the audit.")

    monkeypatch.setattr(CarrierAdmin, "update_service", refuse)
    client.force_login(desk)
    before = counts()
    url = admin_url("fleet.carrier", "change", world.carrier.pk)
    form = carrier_form(
        name="Renamed", dot_number=world.carrier.dot_number, mc_number=world.carrier.mc_number
    )
    response = client.post(url, form, follow=True)
    assert response.status_code == 200
    assert response.redirect_chain == [(url, 302)]
    assert "Carrier records are frozen during the audit." in messages_of(response)
    world.carrier.refresh_from_db()
    assert world.carrier.name != "Renamed"
    assert counts() == before


def test_a_vehicle_added_with_a_map_point_is_audited(client, desk, world):
    client.force_login(desk)
    response = client.post(
        admin_url("fleet.vehicle", "add"),
        {
            "unit_number": "PW-201",
            "carrier": str(world.carrier.pk),
            "vehicle_type": "REEFER",
            "make": "Kenworth",
            "model": "T680",
            "year": "2023",
            "vin": "1XKYD49X0PJ123456",
            "license_plate": "NE 4411",
            "fuel_type": "DIESEL",
            "fuel_consumption_l_per_100km": "34.5",
            "capacity_weight_kg": "19500",
            "capacity_volume_m3": "85",
            "current_location": "SRID=4326;POINT (-95.9345 41.2565)",
            "odometer_km": "120000",
            "engine_hours": "4100",
        },
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    vehicle = world.carrier.vehicles.get(unit_number="PW-201")
    assert vehicle.status == VehicleStatus.AVAILABLE
    assert vehicle.current_location.coords == pytest.approx((-95.9345, 41.2565))
    row = AuditLog.objects.get(table_name="vehicles", record_id=str(vehicle.pk))
    assert row.action == AuditAction.CREATE
    assert row.user == desk


def vehicle_form(vehicle, **changes) -> dict:
    return {
        "unit_number": vehicle.unit_number,
        "carrier": str(vehicle.carrier_id),
        "vehicle_type": vehicle.vehicle_type,
        "make": vehicle.make,
        "model": vehicle.model,
        "year": str(vehicle.year),
        "vin": vehicle.vin,
        "license_plate": vehicle.license_plate,
        "fuel_type": vehicle.fuel_type,
        "fuel_consumption_l_per_100km": str(vehicle.fuel_consumption_l_per_100km),
        "capacity_weight_kg": str(vehicle.capacity_weight_kg),
        "capacity_volume_m3": str(vehicle.capacity_volume_m3),
        "current_location": vehicle.current_location.ewkt if vehicle.current_location else "",
        "odometer_km": str(vehicle.odometer_km),
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


def test_status_fields_are_read_only(client, world, desk):
    client.force_login(desk)
    vehicle_page = client.get(admin_url("fleet.vehicle", "change", world.vehicle.pk))
    assert "status" not in vehicle_page.context["adminform"].form.fields
    driver_form = client.get(admin_url("drivers.driver", "change", world.driver.pk)).context["adminform"].form
    assert not {"status", "duty_status", "hours_remaining"} & set(driver_form.fields)
    load_form = client.get(admin_url("loads.load", "change", world.load.pk)).context["adminform"].form
    assert not {"status", "vehicle", "driver", "assigned_at", "delivered_at"} & set(load_form.fields)


def test_adding_a_load_books_it_through_the_service(client, desk):
    shipper = FacilityFactory(name="Cornbelt Mills")
    consignee = FacilityFactory(name="Hoosier Bakery", city="Indianapolis", location=Point(-86.1581, 39.7684))
    client.force_login(desk)
    pickup = timezone.now() + datetime.timedelta(days=2)
    delivery = pickup + datetime.timedelta(hours=8)
    response = client.post(
        admin_url("loads.load", "add"),
        {
            "shipper": str(shipper.pk),
            "consignee": str(consignee.pk),
            "pickup_at_0": pickup.strftime("%Y-%m-%d"),
            "pickup_at_1": pickup.strftime("%H:%M:%S"),
            "delivery_at_0": delivery.strftime("%Y-%m-%d"),
            "delivery_at_1": delivery.strftime("%H:%M:%S"),
            "commodity": "Flour",
            "weight_kg": "18000",
            "volume_m3": "60",
            "rate": "950",
            **NO_INLINE_ROWS,
        },
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    load = Load.objects.get(shipper=shipper)
    assert load.status == LoadStatus.PENDING
    assert load.load_number  # generated by the service
    assert load.pickup_location == shipper.location
    assert load.estimated_distance_m > 0
    assert OutboxEvent.objects.filter(type="LOAD_CREATED", subject=str(load.pk)).count() == 1
    assert AuditLog.objects.get(table_name="loads", record_id=str(load.pk)).user == desk


def test_a_load_on_the_road_opens_view_only(client, world, desk):
    load_services.assign_load(world.load, by=None, vehicle=world.vehicle, driver=world.driver)
    load_services.pick_up_load(world.load, by=None)
    client.force_login(desk)
    url = admin_url("loads.load", "change", world.load.pk)
    page = client.get(url)
    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()
    assert client.post(url, {}).status_code == 403


def test_an_assigned_load_cannot_outgrow_its_truck_in_the_form(client, world, desk):
    load_services.assign_load(world.load, by=None, vehicle=world.vehicle, driver=world.driver)
    client.force_login(desk)
    load = Load.objects.get(pk=world.load.pk)
    before = counts()
    form = {
        "load_number": load.load_number,
        "shipper": str(load.shipper_id),
        "consignee": str(load.consignee_id),
        "pickup_at_0": load.pickup_at.strftime("%Y-%m-%d"),
        "pickup_at_1": load.pickup_at.strftime("%H:%M:%S"),
        "delivery_at_0": load.delivery_at.strftime("%Y-%m-%d"),
        "delivery_at_1": load.delivery_at.strftime("%H:%M:%S"),
        "pickup_address": load.pickup_address,
        "pickup_location": load.pickup_location.ewkt,
        "delivery_address": load.delivery_address,
        "delivery_location": load.delivery_location.ewkt,
        "weight_kg": "25000",
        "volume_m3": str(load.volume_m3),
        "rate": str(load.rate),
        **NO_INLINE_ROWS,
    }
    response = client.post(admin_url("loads.load", "change", load.pk), form)
    assert response.status_code == 200
    assert "reassign first" in response.context["adminform"].form.errors["weight_kg"][0]
    assert counts() == before


# --- Load actions --------------------------------------------------------------------------------


def test_assign_action_asks_for_a_vehicle_and_driver_then_assigns(client, world, desk):
    client.force_login(desk)
    page = client.post(LOADS, {"action": "assign", "_selected_action": [str(world.load.pk)]})
    assert page.status_code == 200
    assert page.templates[0].name == "admin/intermediate_action.html"
    form = page.context["form"]
    assert list(form.fields["vehicle"].queryset) == [world.vehicle]
    assert list(form.fields["driver"].queryset) == [world.driver]

    response = client.post(
        LOADS,
        {
            "action": "assign",
            "_selected_action": [str(world.load.pk)],
            "apply": "yes",
            "vehicle": str(world.vehicle.pk),
            "driver": str(world.driver.pk),
        },
    )
    assert response.status_code == 302
    load = Load.objects.get(pk=world.load.pk)
    assert (load.status, load.vehicle, load.driver, load.carrier) == (
        LoadStatus.ASSIGNED,
        world.vehicle,
        world.driver,
        world.carrier,
    )
    world.vehicle.refresh_from_db()
    world.driver.refresh_from_db()
    assert world.vehicle.status == VehicleStatus.ASSIGNED
    assert world.driver.status == DriverStatus.ASSIGNED
    request_id = response["X-Request-ID"]
    transitions = AuditLog.objects.filter(action=AuditAction.TRANSITION, correlation_id=request_id, user=desk)
    assert sorted(transitions.values_list("table_name", flat=True)) == ["drivers", "loads", "vehicles"]
    events = OutboxEvent.objects.filter(envelope__correlationid=request_id)
    assert sorted(events.values_list("type", flat=True)) == [
        "DRIVER_STATUS_CHANGED",
        "LOAD_ASSIGNED",
        "VEHICLE_STATUS_CHANGED",
    ]
    followed = client.get(LOADS)
    assert f"Assigned to {world.vehicle} and {world.driver}: {load.load_number}." in messages_of(followed)


def test_assigning_an_over_capacity_vehicle_reports_the_error_and_changes_nothing(client, world, desk):
    heavy = LoadFactory(weight_kg=Decimal("26000"))
    client.force_login(desk)
    before = counts()
    response = run_action(
        client,
        LOADS,
        "assign",
        [heavy],
        apply="yes",
        vehicle=str(world.vehicle.pk),
        driver=str(world.driver.pk),
    )
    assert response.status_code == 200
    assert messages_of(response) == [
        f"{heavy.load_number}: The load weighs 26000.0 kg; vehicle {world.vehicle.unit_number} carries "
        "20000.0 kg."
    ]
    heavy.refresh_from_db()
    world.vehicle.refresh_from_db()
    assert (heavy.status, heavy.vehicle) == (LoadStatus.PENDING, None)
    assert world.vehicle.status == VehicleStatus.AVAILABLE
    assert counts() == before


def test_assigning_two_loads_to_one_truck_assigns_the_first_and_refuses_the_second(client, world, desk):
    second = LoadFactory()
    first, second = sorted([world.load, second], key=lambda load: load.load_number)
    client.force_login(desk)
    response = run_action(
        client,
        LOADS,
        "assign",
        [first, second],
        apply="yes",
        vehicle=str(world.vehicle.pk),
        driver=str(world.driver.pk),
    )
    assert messages_of(response) == [
        f"{second.load_number}: Vehicle {world.vehicle.unit_number} is ASSIGNED.",
        f"Assigned to {world.vehicle} and {world.driver}: {first.load_number}.",
    ]
    assert Load.objects.get(pk=first.pk).status == LoadStatus.ASSIGNED
    assert Load.objects.get(pk=second.pk).status == LoadStatus.PENDING
    assert OutboxEvent.objects.filter(type="LOAD_ASSIGNED").count() == 1


def test_assign_form_refuses_a_vehicle_and_driver_of_different_carriers(client, world, desk):
    stranger = DriverFactory()
    client.force_login(desk)
    before = counts()
    response = client.post(
        LOADS,
        {
            "action": "assign",
            "_selected_action": [str(world.load.pk)],
            "apply": "yes",
            "vehicle": str(world.vehicle.pk),
            "driver": str(stranger.pk),
        },
    )
    assert response.status_code == 200
    assert "work for different carriers" in response.context["form"].non_field_errors()[0]
    assert Load.objects.get(pk=world.load.pk).status == LoadStatus.PENDING
    assert counts() == before


def test_only_pending_loads_are_assigned_by_the_action(client, world, desk):
    load_services.cancel_load(world.load, by=None, reason="test")
    client.force_login(desk)
    response = run_action(
        client,
        LOADS,
        "assign",
        [world.load],
        apply="yes",
        vehicle=str(world.vehicle.pk),
        driver=str(world.driver.pk),
    )
    assert messages_of(response) == [
        f"{world.load.load_number}: Load is CANCELLED; only PENDING loads are assigned here."
    ]


def test_milestone_actions_move_the_load_to_delivered(client, world, desk):
    load_services.assign_load(world.load, by=None, vehicle=world.vehicle, driver=world.driver)
    client.force_login(desk)
    number = world.load.load_number
    steps = [
        (
            "mark_picked_up",
            LoadStatus.PICKED_UP,
            "LOAD_PICKED_UP",
            f"Picked up: {number}.",
            VehicleStatus.ASSIGNED,
        ),
        ("mark_in_transit", LoadStatus.IN_TRANSIT, "LOAD_IN_TRANSIT", f"In transit: {number}.", "IN_TRANSIT"),
        ("mark_delivered", LoadStatus.DELIVERED, "LOAD_DELIVERED", f"Delivered: {number}.", "AVAILABLE"),
    ]
    for action, status, event_type, message, vehicle_status in steps:
        response = run_action(client, LOADS, action, [world.load])
        assert messages_of(response) == [message]
        assert Load.objects.get(pk=world.load.pk).status == status
        assert OutboxEvent.objects.filter(type=event_type, subject=str(world.load.pk)).count() == 1
        world.vehicle.refresh_from_db()
        assert world.vehicle.status == vehicle_status
    rows = AuditLog.objects.filter(table_name="loads", record_id=str(world.load.pk), user=desk)
    assert rows.filter(action=AuditAction.TRANSITION).count() == 3


def test_a_milestone_out_of_order_is_reported_and_changes_nothing(client, world, desk):
    client.force_login(desk)
    before = counts()
    response = run_action(client, LOADS, "mark_delivered", [world.load])
    assert messages_of(response) == [f"{world.load.load_number}: A load cannot go from PENDING to DELIVERED."]
    assert Load.objects.get(pk=world.load.pk).status == LoadStatus.PENDING
    assert counts() == before


def test_cancel_action_asks_for_a_reason_and_cancels_each_load(client, world, desk):
    delivered = LoadFactory()
    other = CarrierFactory()
    vehicle, driver = VehicleFactory(carrier=other), DriverFactory(carrier=other)
    load_services.assign_load(delivered, by=None, vehicle=vehicle, driver=driver)
    for step in (load_services.pick_up_load, load_services.start_transit, load_services.deliver_load):
        step(delivered, by=None)
    client.force_login(desk)

    page = client.post(
        LOADS, {"action": "cancel", "_selected_action": [str(world.load.pk), str(delivered.pk)]}
    )
    assert page.status_code == 200
    assert "reason" in page.context["form"].fields
    empty = client.post(
        LOADS,
        {"action": "cancel", "_selected_action": [str(world.load.pk)], "apply": "yes", "reason": ""},
    )
    assert empty.status_code == 200
    assert empty.context["form"].errors["reason"]

    response = run_action(
        client, LOADS, "cancel", [world.load, delivered], apply="yes", reason="Customer cancelled"
    )
    assert f"{delivered.load_number}: A load cannot go from DELIVERED to CANCELLED." in messages_of(response)
    assert f"Cancelled: {world.load.load_number}." in messages_of(response)
    load = Load.objects.get(pk=world.load.pk)
    assert (load.status, load.cancellation_reason) == (LoadStatus.CANCELLED, "Customer cancelled")
    event = OutboxEvent.objects.get(type="LOAD_CANCELLED")
    assert event.subject == str(load.pk)
    assert event.envelope["data"]["reason"] == "Customer cancelled"
    assert Load.objects.get(pk=delivered.pk).status == LoadStatus.DELIVERED


# --- Vehicle and driver actions -------------------------------------------------------------------


def test_sending_a_vehicle_to_maintenance_and_back(client, world, desk):
    client.force_login(desk)
    response = run_action(client, VEHICLES, "send_to_maintenance", [world.vehicle])
    assert messages_of(response) == [f"Sent to maintenance: {world.vehicle.unit_number}."]
    world.vehicle.refresh_from_db()
    assert world.vehicle.status == VehicleStatus.MAINTENANCE
    response = run_action(client, VEHICLES, "return_to_service", [world.vehicle])
    assert messages_of(response) == [f"Returned to service: {world.vehicle.unit_number}."]
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
        f"{world.vehicle.unit_number}: A vehicle cannot go from ASSIGNED to MAINTENANCE."
    ]
    world.vehicle.refresh_from_db()
    assert world.vehicle.status == VehicleStatus.ASSIGNED
    assert counts() == before


def test_setting_a_driver_off_duty(client, world, desk):
    client.force_login(desk)
    response = run_action(client, DRIVERS, "set_off_duty", [world.driver])
    assert messages_of(response) == [f"Off duty: {world.driver}."]
    world.driver.refresh_from_db()
    assert world.driver.status == DriverStatus.OFF_DUTY
    assert OutboxEvent.objects.filter(type="DRIVER_STATUS_CHANGED", subject=str(world.driver.pk)).count() == 1


# --- Audit trail and outbox ------------------------------------------------------------------------


def test_audit_log_is_searchable_by_record_and_correlation_id_and_filterable(client, world, desk):
    client.force_login(desk)
    by_record = client.get("/admin/events/auditlog/", {"q": str(world.load.pk)})
    assert [row.record_id for row in by_record.context["cl"].result_list] == [str(world.load.pk)]
    creates = client.get("/admin/events/auditlog/", {"action__exact": "CREATE", "table_name__exact": "loads"})
    assert {row.table_name for row in creates.context["cl"].result_list} == {"loads"}

    load_services.cancel_load(world.load, by=desk, reason="test")  # outside a request: no correlation id
    client.post(
        "/admin/fleet/vehicle/",
        {"action": "send_to_maintenance", "_selected_action": [str(world.vehicle.pk)]},
        HTTP_X_REQUEST_ID="req-maint-1",
    )
    by_correlation = client.get("/admin/events/auditlog/", {"q": "req-maint-1"})
    assert [row.record_id for row in by_correlation.context["cl"].result_list] == [str(world.vehicle.pk)]
    events = client.get("/admin/events/outboxevent/", {"q": "req-maint-1"})
    assert [event.type for event in events.context["cl"].result_list] == ["VEHICLE_STATUS_CHANGED"]
    by_subject = client.get("/admin/events/outboxevent/", {"q": str(world.load.pk)})
    assert {event.type for event in by_subject.context["cl"].result_list} == {
        "LOAD_CREATED",
        "LOAD_CANCELLED",
    }
    by_type = client.get("/admin/events/outboxevent/", {"type__exact": "LOAD_CANCELLED"})
    assert [event.subject for event in by_type.context["cl"].result_list] == [str(world.load.pk)]


@pytest.mark.parametrize("model", ["events.auditlog", "events.outboxevent"])
def test_audit_log_and_outbox_cannot_be_added_changed_or_deleted(client, world, superuser, model):
    client.force_login(superuser)
    obj = world.audit if model == "events.auditlog" else world.event
    before = counts()
    assert client.get(admin_url(model, "add")).status_code == 403
    assert client.post(admin_url(model, "change", obj.pk), {}).status_code == 403
    assert client.post(admin_url(model, "delete", obj.pk), {"post": "yes"}).status_code == 403
    page = client.get(admin_url(model, "change", obj.pk))
    assert 'name="_save"' not in page.content.decode()
    assert counts() == before


def test_accepting_a_fleet_plan_in_the_back_office_assigns_through_the_services(client, desk):
    carrier = CarrierFactory()
    vehicle = VehicleFactory(carrier=carrier)  # in Chicago, like the factory's shipper
    driver = DriverFactory(carrier=carrier)
    load = LoadFactory(pickup_at=timezone.now() + datetime.timedelta(hours=2))
    plan = proposed_plan()
    client.force_login(desk)
    page = client.get(admin_url("routing.fleetplan", "change", plan.pk)).content.decode()
    assert vehicle.unit_number in page and load.load_number in page

    response = run_action(client, admin_url("routing.fleetplan", "changelist"), "accept", [plan])

    assert any("Accepted" in message for message in messages_of(response))
    load.refresh_from_db()
    assert (load.status, load.vehicle_id, load.driver_id) == ("ASSIGNED", vehicle.pk, driver.pk)
    plan.refresh_from_db()
    assert plan.status == "ACCEPTED" and plan.accepted_by == desk
    assert AuditLog.objects.filter(table_name="fleet_plans", record_id=str(plan.pk), user=desk).exists()


def test_a_dispatcher_requests_a_fleet_plan_from_the_back_office(
    client, desk, reader, settings, eager_celery
):
    settings.ROUTING_FLEET_TIME_LIMIT_S = 1
    changelist = admin_url("routing.fleetplan", "changelist")
    client.force_login(reader)
    assert "Plan the fleet" not in client.get(changelist).content.decode()
    assert client.post(reverse("admin:routing_fleetplan_plan")).status_code == 403
    assert not FleetPlan.objects.exists()
    client.force_login(desk)
    assert "Plan the fleet" in client.get(changelist).content.decode()

    response = client.post(reverse("admin:routing_fleetplan_plan"), follow=True)

    (plan,) = FleetPlan.objects.all()
    assert response.redirect_chain[-1][0] == admin_url("routing.fleetplan", "change", plan.pk)
    assert plan.status == "PROPOSED" and plan.requested_by == desk
