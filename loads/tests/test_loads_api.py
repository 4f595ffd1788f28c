from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction

from drivers.tests.factories import DriverFactory
from events.models import OutboxEvent
from loads.models import Facility, Load
from loads.tests.factories import FacilityFactory, LoadFactory, load_in
from tms.tests.api_cases import CrudCases

pytestmark = pytest.mark.django_db


class TestFacilityApi(CrudCases):
    path = "/api/facilities/"
    model = Facility
    factory = staticmethod(FacilityFactory)
    update_body = {"name": "Joliet DC 2", "timezone": "America/New_York"}
    bad_inputs = [
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"location": {"type": "Point", "coordinates": [-200, 41]}}, "location"),
        ({"location": {"type": "Point", "coordinates": [-87, 91]}}, "location"),
        ({"location": {"type": "Point", "coordinates": ["a", 1]}}, "location"),
        ({"location": {"type": "LineString", "coordinates": [[0, 0], [1, 1]]}}, "location"),
        ({"location": "POINT(1 2)"}, "location"),
        ({"facility_type": "SHIP"}, "facility_type"),
        ({"name": ""}, "name"),
    ]

    def create_body(self):
        return {
            "name": "Joliet DC",
            "facility_type": "WAREHOUSE",
            "address": "1 Logistics Way",
            "city": "Joliet",
            "state": "IL",
            "postal_code": "60431",
            "location": {"type": "Point", "coordinates": [-88.0817, 41.525]},
            "timezone": "America/Chicago",
        }

    def test_location_round_trips_as_geojson(self, dispatcher):
        response = dispatcher.post(self.path, self.create_body(), format="json")
        assert response.json()["location"] == {"type": "Point", "coordinates": [-88.0817, 41.525]}

    def test_a_facility_with_loads_cannot_be_deleted(self, dispatcher):
        load = LoadFactory()
        response = dispatcher.delete(f"{self.path}{load.shipper_id}/")
        assert response.status_code == 409
        assert Facility.objects.filter(pk=load.shipper_id).exists()


class TestLoadApi(CrudCases):
    path = "/api/loads/"
    model = Load
    factory = staticmethod(LoadFactory)
    deletable = False
    update_body = {"rate": 2100.0, "commodity": "Paper rolls"}

    def create_body(self):
        return {
            "shipper_id": str(FacilityFactory().pk),
            "consignee_id": str(FacilityFactory(city="Memphis").pk),
            "pickup_datetime": "2030-03-03T14:00:00Z",
            "delivery_datetime": "2030-03-04T20:00:00Z",
            "weight": "15000",
            "volume": "70",
            "rate": "2400.00",
            "commodity": "Canned goods",
        }

    bad_inputs = [
        ({"delivery_datetime": "2030-03-03T13:00:00Z"}, "delivery_datetime"),
        ({"delivery_datetime": "2030-03-03T14:00:00Z"}, "delivery_datetime"),
        ({"weight": "-1"}, "weight"),
        ({"weight": "0"}, "weight"),
        ({"volume": "0"}, "volume"),
        ({"rate": "-10"}, "rate"),
        ({"rate": "12345678901"}, "rate"),
        ({"pickup_datetime": "tomorrow"}, "pickup_datetime"),
        ({"shipper_id": "3fa85f64-5717-4562-b3fc-2c963f66afa6"}, "shipper_id"),
        ({"consignee_id": "not-a-uuid"}, "consignee_id"),
        ({"pickup_location": {"type": "Point", "coordinates": [10, 100]}}, "pickup_location"),
        ({"weight": True}, "weight"),
    ]

    def test_create_fills_addresses_and_estimates_from_the_facilities(self, dispatcher):
        shipper = FacilityFactory(city="Chicago")
        consignee = FacilityFactory(city="Indianapolis", state="IN")
        body = {**self.create_body(), "shipper_id": str(shipper.pk), "consignee_id": str(consignee.pk)}
        response = dispatcher.post(self.path, body, format="json")
        assert response.status_code == 201
        load = response.json()
        assert load["status"] == "CREATED"
        assert load["load_number"].startswith("L")
        assert load["pickup_address"] == f"{shipper.address}, Chicago, IL"
        assert load["pickup_location"] == {"type": "Point", "coordinates": [-87.6298, 41.8781]}
        event = OutboxEvent.objects.get(type="LOAD_CREATED")
        assert event.topic == "tms.loads"
        assert event.envelope["specversion"] == "1.0"
        assert event.envelope["subject"] == load["id"]
        assert event.envelope["data"]["weight"] == 15000.0

    def test_estimates_follow_great_circle_times_circuity(self, dispatcher):
        load = LoadFactory()  # Chicago -> Indianapolis: 265 km great circle
        assert 315_000 < load.estimated_distance_m < 322_000  # x 1.2
        assert Decimal("3.5") < load.estimated_driving_hours < Decimal("3.7")  # at 88 km/h

    def test_same_shipper_and_consignee_is_400(self, dispatcher):
        facility = FacilityFactory()
        body = {**self.create_body(), "shipper_id": str(facility.pk), "consignee_id": str(facility.pk)}
        response = dispatcher.post(self.path, body, format="json")
        assert response.status_code == 400
        assert "consignee_id" in response.json()["error"]["details"]

    def test_a_duplicate_load_number_is_400(self, dispatcher):
        LoadFactory(load_number="ACME-1")
        response = dispatcher.post(self.path, {**self.create_body(), "load_number": "ACME-1"}, format="json")
        assert response.status_code == 400
        assert Load.objects.filter(load_number="ACME-1").count() == 1

    def test_an_assigned_load_may_not_outgrow_its_truck(self, dispatcher):
        load = load_in("ASSIGNED")
        response = dispatcher.patch(f"{self.path}{load.pk}/", {"weight": "25000"}, format="json")
        assert response.status_code == 422
        assert response.json()["error"]["code"] == "capacity_exceeded"
        load.refresh_from_db()
        assert load.weight == Decimal("12000")

    @pytest.mark.parametrize("status", ["PICKED_UP", "IN_TRANSIT", "DELIVERED", "CANCELLED"])
    def test_a_load_under_way_or_done_cannot_be_edited(self, dispatcher, status):
        load = load_in(status)
        response = dispatcher.patch(f"{self.path}{load.pk}/", {"rate": "1"}, format="json")
        assert response.status_code == 409
        load.refresh_from_db()
        assert load.rate == Decimal("1850.00")

    def test_moving_the_delivery_point_recomputes_the_estimate(self, dispatcher):
        load = LoadFactory()
        dallas = {"type": "Point", "coordinates": [-96.797, 32.7767]}
        response = dispatcher.patch(f"{self.path}{load.pk}/", {"delivery_location": dallas}, format="json")
        assert response.status_code == 200
        assert response.json()["estimated_distance_m"] > 1_000_000

    def test_status_is_read_only_in_updates(self, dispatcher):
        load = LoadFactory()
        dispatcher.patch(f"{self.path}{load.pk}/", {"status": "DELIVERED"}, format="json")
        load.refresh_from_db()
        assert load.status == "CREATED"

    def test_filters(self, viewer):
        pending = LoadFactory()
        moving = load_in("IN_TRANSIT")

        def ids(query: str) -> list[str]:
            return [row["id"] for row in viewer.get(f"{self.path}?{query}").json()["results"]]

        assert ids("status=CREATED") == [str(pending.pk)]
        assert set(ids("status=CREATED&status=IN_TRANSIT")) == {str(pending.pk), str(moving.pk)}
        assert ids(f"driver_id={moving.driver_id}") == [str(moving.pk)]
        assert ids(f"search={pending.load_number}") == [str(pending.pk)]
        assert viewer.get(f"{self.path}?pickup_after=notadate").status_code == 400
        assert viewer.get(f"{self.path}?status=LOST").status_code == 400


def test_a_driver_reads_only_their_own_loads(driver_client):
    mine = load_in("ASSIGNED")
    mine.driver.user = driver_client.user
    mine.driver.save()
    load_in("ASSIGNED")
    LoadFactory()
    rows = driver_client.get("/api/loads/").json()["results"]
    assert [row["id"] for row in rows] == [str(mine.pk)]


def test_a_driver_without_a_driver_record_sees_no_loads(driver_client):
    load_in("ASSIGNED")
    assert driver_client.get("/api/loads/").json()["count"] == 0


class TestDatabaseGuarantees:
    """What must hold even if a bug slipped past the services."""

    def test_one_active_load_per_vehicle(self):
        first = load_in("ASSIGNED")
        second = LoadFactory()
        with pytest.raises(IntegrityError), transaction.atomic():
            Load.objects.filter(pk=second.pk).update(
                status="ASSIGNED",
                vehicle=first.vehicle,
                driver=DriverFactory(carrier=first.carrier),
                carrier=first.carrier,
            )

    def test_one_active_load_per_driver(self):
        first = load_in("ASSIGNED")
        second = load_in("DELIVERED")
        with pytest.raises(IntegrityError), transaction.atomic():
            Load.objects.filter(pk=second.pk).update(status="IN_TRANSIT", driver=first.driver)

    @pytest.mark.parametrize(
        "change",
        [
            {"status": "LOST"},
            {"weight": Decimal("-1")},
            {"status": "ASSIGNED"},  # without a vehicle and driver
        ],
    )
    def test_check_constraints(self, change):
        load = LoadFactory()
        with pytest.raises(IntegrityError), transaction.atomic():
            Load.objects.filter(pk=load.pk).update(**change)

    def test_delivery_after_pickup(self):
        load = LoadFactory()
        with pytest.raises(IntegrityError), transaction.atomic():
            Load.objects.filter(pk=load.pk).update(delivery_datetime=load.pickup_datetime)
