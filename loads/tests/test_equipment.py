"""Equipment through the API (issue 16, item 3): a load's required equipment and temperature range,
a reefer's unit range, and the assignment that refuses a truck that cannot haul the freight."""

from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction

from drivers.tests.factories import DriverFactory
from events.models import AuditLog, OutboxEvent
from fleet.models import Vehicle, VehicleType
from fleet.tests.factories import VehicleFactory
from fleet.tests.test_admin import vehicle_form
from loads import services
from loads.models import Load
from loads.tests.factories import FacilityFactory, LoadFactory
from tms.tests.admin_cases import admin_url
from tms.tests.admin_cases import counts as admin_counts
from tms.tests.api_cases import counts, unchanged

pytestmark = pytest.mark.django_db

FROZEN = {
    "required_equipment": "REEFER",
    "temperature_min_c": Decimal("-20"),
    "temperature_max_c": Decimal("-18"),
}


def load_body(**changes) -> dict:
    return {
        "shipper_id": str(FacilityFactory().pk),
        "consignee_id": str(FacilityFactory(city="Memphis").pk),
        "pickup_datetime": "2030-03-03T14:00:00Z",
        "delivery_datetime": "2030-03-04T20:00:00Z",
        "weight": "15000",
        "volume": "70",
        "rate": "2400.00",
        "commodity": "Frozen poultry",
        **changes,
    }


def assign(client, load, vehicle, driver=None):
    driver = driver or DriverFactory(carrier=vehicle.carrier)
    return client.post(
        f"/api/loads/{load.pk}/assign/",
        {"vehicle_id": str(vehicle.pk), "driver_id": str(driver.pk)},
        format="json",
    )


class TestLoadEquipmentFields:
    def test_a_reefer_load_is_booked_with_its_range(self, dispatcher):
        body = load_body(required_equipment="REEFER", temperature_min_c="-20", temperature_max_c="-18.5")
        response = dispatcher.post("/api/loads/", body, format="json")
        assert response.status_code == 201, response.json()
        answer = response.json()
        assert (answer["required_equipment"], answer["temperature_min_c"], answer["temperature_max_c"]) == (
            "REEFER",
            -20.0,
            -18.5,
        )
        load = Load.objects.get(pk=answer["id"])
        assert (load.temperature_min_c, load.temperature_max_c) == (Decimal("-20"), Decimal("-18.5"))
        created = AuditLog.objects.get(record_id=str(load.pk), action="CREATE").changed_data
        assert created["required_equipment"] == "REEFER"

    def test_a_load_needing_nothing_special_has_blank_equipment(self, dispatcher):
        response = dispatcher.post("/api/loads/", load_body(commodity="Paper"), format="json")
        assert response.status_code == 201
        assert response.json()["required_equipment"] == ""
        assert response.json()["temperature_min_c"] is None

    @pytest.mark.parametrize(
        ("change", "field"),
        [
            ({"required_equipment": "REEFER"}, "temperature_min_c"),
            ({"required_equipment": "REEFER", "temperature_min_c": "2"}, "temperature_max_c"),
            (
                {"required_equipment": "REEFER", "temperature_min_c": "5", "temperature_max_c": "2"},
                "temperature_max_c",
            ),
            (
                {"required_equipment": "REEFER", "temperature_min_c": "-40", "temperature_max_c": "-35"},
                "temperature_min_c",
            ),
            (
                {"required_equipment": "REEFER", "temperature_min_c": "34", "temperature_max_c": "38"},
                "temperature_max_c",
            ),
            (
                {"required_equipment": "DRY_VAN", "temperature_min_c": "2", "temperature_max_c": "4"},
                "temperature_min_c",
            ),
            ({"temperature_min_c": "2", "temperature_max_c": "4"}, "temperature_min_c"),
            ({"temperature_max_c": "4"}, "temperature_max_c"),
            ({"required_equipment": "HOVERCRAFT"}, "required_equipment"),
        ],
    )
    def test_a_bad_range_is_400_and_writes_nothing(self, dispatcher, change, field):
        body = load_body(**change)
        before = counts(Load)
        response = dispatcher.post("/api/loads/", body, format="json")
        assert response.status_code == 400, response.json()
        error = response.json()["error"]
        assert error["code"] == "validation_error"
        assert field in error["details"], error
        assert counts(Load) == before

    def test_turning_a_reefer_load_into_dry_freight_must_drop_its_range(self, dispatcher):
        load = LoadFactory(**FROZEN)
        with unchanged(load):
            response = dispatcher.patch(
                f"/api/loads/{load.pk}/", {"required_equipment": "DRY_VAN"}, format="json"
            )
        assert response.status_code == 400
        assert "Only a reefer" in response.json()["error"]["details"]["temperature_min_c"][0]
        body = {"required_equipment": "DRY_VAN", "temperature_min_c": None, "temperature_max_c": None}
        assert dispatcher.patch(f"/api/loads/{load.pk}/", body, format="json").status_code == 200
        load.refresh_from_db()
        assert (load.required_equipment, load.temperature_min_c) == ("DRY_VAN", None)

    def test_the_database_refuses_a_range_on_dry_freight(self):
        load = LoadFactory(required_equipment="DRY_VAN")
        with pytest.raises(IntegrityError), transaction.atomic():
            Load.objects.filter(pk=load.pk).update(temperature_min_c=2, temperature_max_c=4)
        with pytest.raises(IntegrityError), transaction.atomic():
            Load.objects.filter(pk=load.pk).update(required_equipment="REEFER")

    def test_loads_filter_by_required_equipment(self, viewer):
        frozen, flat, plain = LoadFactory(**FROZEN), LoadFactory(required_equipment="FLATBED"), LoadFactory()

        def ids(query):
            return {row["id"] for row in viewer.get(f"/api/loads/?{query}").json()["results"]}

        assert ids("required_equipment=REEFER") == {str(frozen.pk)}
        assert ids("required_equipment=REEFER&required_equipment=FLATBED") == {str(frozen.pk), str(flat.pk)}
        assert str(plain.pk) in ids("")
        assert viewer.get("/api/loads/?required_equipment=HOVERCRAFT").status_code == 400


class TestVehicleUnitRange:
    def test_vehicles_filter_by_the_freight_they_may_haul(self, viewer):
        flatbed = VehicleFactory(vehicle_type=VehicleType.FLATBED)
        step_deck = VehicleFactory(vehicle_type=VehicleType.STEP_DECK)
        reefer = VehicleFactory(vehicle_type=VehicleType.REEFER)
        van = VehicleFactory(vehicle_type=VehicleType.DRY_VAN)

        def ids(equipment):
            rows = viewer.get(f"/api/vehicles/?required_equipment={equipment}&page_size=500").json()[
                "results"
            ]
            return {row["id"] for row in rows}

        assert ids("FLATBED") == {str(flatbed.pk), str(step_deck.pk)}
        assert ids("DRY_VAN") == {str(van.pk), str(reefer.pk)}
        assert ids("REEFER") == {str(reefer.pk)}

    def test_a_reefer_on_a_frozen_load_keeps_a_unit_cold_enough(self, dispatcher):
        load = LoadFactory(**FROZEN)
        reefer = VehicleFactory(vehicle_type=VehicleType.REEFER)
        services.assign_load(load, by=None, vehicle=reefer, driver=DriverFactory(carrier=reefer.carrier))
        with unchanged(reefer):
            response = dispatcher.patch(
                f"/api/vehicles/{reefer.pk}/", {"temperature_min_c": "-10"}, format="json"
            )
        assert response.status_code == 422, response.json()
        error = response.json()["error"]
        assert error["code"] == "equipment_mismatch"
        assert load.load_number in error["message"]
        # A change that still covers the freight is fine.
        response = dispatcher.patch(
            f"/api/vehicles/{reefer.pk}/", {"temperature_min_c": "-22"}, format="json"
        )
        assert response.status_code == 200, response.json()

    def test_the_database_refuses_a_unit_range_on_a_dry_van(self):
        van = VehicleFactory()
        with pytest.raises(IntegrityError), transaction.atomic():
            Vehicle.objects.filter(pk=van.pk).update(temperature_min_c=-20, temperature_max_c=20)


class TestAssignmentEquipment:
    def assert_refused(self, client, load, vehicle, reason: str):
        driver = DriverFactory(carrier=vehicle.carrier)
        with unchanged(load, vehicle, driver):
            response = assign(client, load, vehicle, driver)
        assert response.status_code == 422, response.json()
        error = response.json()["error"]
        assert error["code"] == "equipment_mismatch"
        assert (
            error["message"]
            == f"Vehicle {vehicle.vehicle_number} cannot haul load {load.load_number}: {reason}"
        )
        assert not OutboxEvent.objects.filter(type="LOAD_ASSIGNED", subject=str(load.pk)).exists()
        assert not AuditLog.objects.filter(action="TRANSITION", record_id=str(load.pk)).exists()
        return error

    def test_household_goods_on_a_tanker_are_refused(self, dispatcher):
        load = LoadFactory(required_equipment="DRY_VAN", commodity="Household goods")
        tanker = VehicleFactory(vehicle_type=VehicleType.TANKER)
        self.assert_refused(dispatcher, load, tanker, "The load needs a dry van; the truck is a tanker.")

    def test_frozen_freight_on_a_dry_van_is_refused(self, dispatcher):
        load = LoadFactory(**FROZEN)
        error = self.assert_refused(
            dispatcher, load, VehicleFactory(), "The load needs a reefer; the truck is a dry van."
        )
        assert error["details"]["required_equipment"] == "REEFER"
        assert error["details"]["vehicle_type"] == "DRY_VAN"

    def test_a_reefer_whose_unit_is_not_cold_enough_is_refused(self, dispatcher):
        load = LoadFactory(**FROZEN)
        reefer = VehicleFactory(vehicle_type=VehicleType.REEFER, temperature_min_c=-5, temperature_max_c=25)
        self.assert_refused(
            dispatcher,
            load,
            reefer,
            "The load must stay between -20 °C and -18 °C; the reefer unit holds -5 °C to 25 °C.",
        )

    @pytest.mark.parametrize(
        ("required", "vehicle_type"),
        [
            ("REEFER", "REEFER"),
            ("DRY_VAN", "REEFER"),
            ("FLATBED", "STEP_DECK"),
            ("", "TANKER"),
            ("BOX_TRUCK", "BOX_TRUCK"),
        ],
    )
    def test_a_truck_that_suits_the_freight_is_assigned(self, dispatcher, required, vehicle_type):
        load = LoadFactory(**(FROZEN if required == "REEFER" else {"required_equipment": required}))
        vehicle = VehicleFactory(vehicle_type=vehicle_type)
        response = assign(dispatcher, load, vehicle)
        assert response.status_code == 200, response.json()
        assert response.json()["vehicle_id"] == str(vehicle.pk)

    def test_an_assigned_load_cannot_be_edited_into_freight_its_truck_cannot_haul(self, dispatcher):
        load = LoadFactory()
        van = VehicleFactory()
        services.assign_load(load, by=None, vehicle=van, driver=DriverFactory(carrier=van.carrier))
        load.refresh_from_db()
        body = {"required_equipment": "REEFER", "temperature_min_c": "2", "temperature_max_c": "4"}
        with unchanged(load):
            response = dispatcher.patch(f"/api/loads/{load.pk}/", body, format="json")
        assert response.status_code == 422, response.json()
        assert response.json()["error"]["code"] == "equipment_mismatch"
        # Dry freight stays fine on the van.
        response = dispatcher.patch(
            f"/api/loads/{load.pk}/", {"required_equipment": "DRY_VAN"}, format="json"
        )
        assert response.status_code == 200


class TestBackOffice:
    def test_a_reefer_without_its_unit_range_is_a_form_error(self, client, desk):
        reefer = VehicleFactory(vehicle_type=VehicleType.REEFER)
        client.force_login(desk)
        before = admin_counts()
        form = vehicle_form(reefer, temperature_min_c="", temperature_max_c="")
        response = client.post(admin_url("fleet.vehicle", "change", reefer.pk), form)
        assert response.status_code == 200
        errors = response.context["adminform"].form.errors
        assert errors["temperature_min_c"] == [
            "A reefer needs a unit temperature range: both ends, in degrees Celsius."
        ]
        assert admin_counts() == before
        reefer.refresh_from_db()
        assert reefer.temperature_min_c == Decimal("-25")

    def test_a_truck_on_a_load_cannot_be_made_unfit_in_the_form(self, client, desk):
        load = LoadFactory(**FROZEN)
        reefer = VehicleFactory(vehicle_type=VehicleType.REEFER)
        services.assign_load(load, by=None, vehicle=reefer, driver=DriverFactory(carrier=reefer.carrier))
        client.force_login(desk)
        before = admin_counts()
        form = vehicle_form(reefer, temperature_min_c="0")
        response = client.post(admin_url("fleet.vehicle", "change", reefer.pk), form)
        assert response.status_code == 200
        [error] = response.context["adminform"].form.non_field_errors()
        assert error.startswith(f"Vehicle {reefer.vehicle_number} is on load {load.load_number}")
        assert admin_counts() == before
