import datetime

import pytest
from django.contrib.gis.geos import Point
from django.utils import timezone

from events.models import AuditLog, OutboxEvent
from fleet.models import Carrier, GpsPoint, Vehicle, VehicleStatus
from fleet.tests.factories import CarrierFactory, VehicleFactory
from loads.tests.factories import load_in
from tms.tests.api_cases import CrudCases, counts

pytestmark = pytest.mark.django_db


def stored(instance) -> dict:
    """The instance's row as the database holds it now, every column."""
    return type(instance).objects.filter(pk=instance.pk).values().get()


class TestCarrierApi(CrudCases):
    path = "/api/carriers/"
    model = Carrier
    factory = staticmethod(CarrierFactory)
    update_body = {"name": "Prairie Line Haul", "is_active": False}
    bad_inputs = [
        ({"name": ""}, "name"),
        ({"dot_number": None}, "dot_number"),
        ({"contact_email": "not-an-email"}, "contact_email"),
        ({"is_active": "maybe"}, "is_active"),
    ]

    def create_body(self):
        return {"name": "Great Lakes Freight", "dot_number": "1234567", "mc_number": "MC998877"}

    def test_a_duplicate_dot_number_is_400(self, dispatcher):
        existing = CarrierFactory(dot_number="1234567")
        before, row = counts(Carrier), stored(existing)
        response = dispatcher.post(self.path, self.create_body(), format="json")
        assert response.status_code == 400
        assert "dot_number" in response.json()["error"]["details"]
        assert counts(Carrier) == before
        assert stored(existing) == row


class TestVehicleApi(CrudCases):
    path = "/api/vehicles/"
    model = Vehicle
    factory = staticmethod(VehicleFactory)
    update_body = {"make": "Kenworth", "model": "T680", "capacity_weight": 19500.0}
    bad_inputs = [
        ({"capacity_weight": -5}, "capacity_weight"),
        ({"capacity_weight": 0}, "capacity_weight"),
        ({"capacity_volume": "lots"}, "capacity_volume"),
        ({"vehicle_type": "SPACESHIP"}, "vehicle_type"),
        ({"year": 1850}, "year"),
        ({"carrier_id": "7c9e6679-7425-40de-944b-e07fc1f90ae7"}, "carrier_id"),
        ({"vin": "X" * 18}, "vin"),
        # A reefer has its unit's range, plausible and in order; other trucks have none.
        ({"temperature_min_c": None}, "temperature_min_c"),
        ({"temperature_max_c": None}, "temperature_max_c"),
        ({"temperature_min_c": "-45"}, "temperature_min_c"),
        ({"temperature_max_c": "86"}, "temperature_max_c"),
        ({"temperature_min_c": "5", "temperature_max_c": "2"}, "temperature_max_c"),
        ({"vehicle_type": "DRY_VAN"}, "temperature_min_c"),
    ]

    def create_body(self):
        return {
            "carrier_id": str(CarrierFactory().pk),
            "vehicle_number": "T9001",
            "vin": "3AKJHHDR5NSNE1234",
            "make": "Freightliner",
            "model": "Cascadia",
            "year": 2023,
            "vehicle_type": "REEFER",
            "temperature_min_c": "-30",
            "temperature_max_c": "30",
            "capacity_weight": "19000",
            "capacity_volume": "76",
        }

    def test_status_is_not_writable_through_update(self, dispatcher):
        vehicle = VehicleFactory()
        before, row = counts(Vehicle), stored(vehicle)
        response = dispatcher.patch(self.url(vehicle), {"status": "IN_TRANSIT"}, format="json")
        assert response.status_code == 400
        assert response.json()["error"]["details"] == {"status": ["This field is read-only."]}
        vehicle.refresh_from_db()
        assert vehicle.status == "AVAILABLE"
        assert counts(Vehicle) == before
        assert stored(vehicle) == row


def chicago(dx: float = 0, dy: float = 0) -> Point:
    return Point(-87.6298 + dx, 41.8781 + dy, srid=4326)


class TestNearby:
    def test_near_orders_by_distance_within_the_radius(self, viewer):
        far = VehicleFactory(current_location=Point(-96.797, 32.7767, srid=4326))  # Dallas
        mid = VehicleFactory(current_location=chicago(dx=1.0))  # ~83 km east
        close = VehicleFactory(current_location=chicago(dy=0.1))  # ~11 km north
        VehicleFactory(current_location=None)
        body = viewer.get("/api/vehicles/?near=-87.6298,41.8781&radius_km=200").json()
        assert [row["id"] for row in body["results"]] == [str(close.pk), str(mid.pk)]
        assert 11_000 < body["results"][0]["distance_m"] < 11_300
        assert 82_000 < body["results"][1]["distance_m"] < 84_000
        everything = viewer.get("/api/vehicles/?near=-87.6298,41.8781").json()["results"]
        assert [row["id"] for row in everything] == [str(close.pk), str(mid.pk), str(far.pk)]

    def test_near_combines_with_other_filters(self, viewer):
        carrier = CarrierFactory()
        VehicleFactory(current_location=chicago(dy=0.01))
        mine = VehicleFactory(current_location=chicago(dy=0.02), carrier=carrier)
        body = viewer.get(f"/api/vehicles/?near=-87.6298,41.8781&radius_km=50&carrier_id={carrier.pk}").json()
        assert [row["id"] for row in body["results"]] == [str(mine.pk)]

    @pytest.mark.parametrize(
        "query",
        [
            "near=abc",
            "near=-87.6",
            "near=-200,41",
            "near=-87,95",
            "near=-87,41&radius_km=-1",
            "near=-87,41&radius_km=ten",
            "radius_km=10",
        ],
    )
    def test_bad_near_queries_are_400(self, viewer, query):
        VehicleFactory(current_location=chicago())
        before = counts(Vehicle)
        response = viewer.get(f"/api/vehicles/?{query}")
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "validation_error"
        assert counts(Vehicle) == before


class TestVehicleFilters:
    def test_status_availability_and_capacity(self, viewer):
        small = VehicleFactory(capacity_weight=8000)
        big = VehicleFactory(capacity_weight=22000)
        busy = load_in("ASSIGNED").vehicle

        def ids(query: str) -> set[str]:
            return {row["id"] for row in viewer.get(f"/api/vehicles/?{query}").json()["results"]}

        assert ids("available=true") == {str(small.pk), str(big.pk)}
        assert ids("available=false") == {str(busy.pk)}
        assert ids("status=ASSIGNED") == {str(busy.pk)}
        assert ids("min_capacity_weight=10000&available=true") == {str(big.pk)}
        before = counts(Vehicle)
        assert viewer.get("/api/vehicles/?status=FLYING").status_code == 400
        assert counts(Vehicle) == before


class TestVehicleStatus:
    def test_dispatcher_sends_a_vehicle_to_maintenance_and_back(self, dispatcher):
        vehicle = VehicleFactory()
        url = f"/api/vehicles/{vehicle.pk}/status/"
        response = dispatcher.post(url, {"status": "MAINTENANCE", "reason": "brakes"}, format="json")
        assert response.status_code == 200
        assert response.json()["status"] == "MAINTENANCE"
        event = OutboxEvent.objects.get(type="VEHICLE_STATUS_CHANGED")
        assert event.envelope["data"]["previous_status"] == "AVAILABLE"
        assert event.envelope["data"]["reason"] == "brakes"
        assert dispatcher.post(url, {"status": "AVAILABLE"}, format="json").json()["status"] == "AVAILABLE"

    def test_a_vehicle_on_a_load_cannot_go_to_maintenance(self, dispatcher):
        vehicle = load_in("ASSIGNED").vehicle
        before, row = counts(Vehicle), stored(vehicle)
        response = dispatcher.post(
            f"/api/vehicles/{vehicle.pk}/status/", {"status": "MAINTENANCE"}, format="json"
        )
        assert response.status_code == 409
        vehicle.refresh_from_db()
        assert vehicle.status == VehicleStatus.ASSIGNED
        assert counts(Vehicle) == before
        assert stored(vehicle) == row

    def test_load_driven_statuses_cannot_be_set_by_hand(self, dispatcher):
        vehicle = VehicleFactory()
        before, row = counts(Vehicle), stored(vehicle)
        response = dispatcher.post(
            f"/api/vehicles/{vehicle.pk}/status/", {"status": "IN_TRANSIT"}, format="json"
        )
        assert response.status_code == 400
        assert not OutboxEvent.objects.exists()
        assert counts(Vehicle) == before
        assert stored(vehicle) == row


class TestVehicleLocation:
    def url(self, vehicle) -> str:
        return f"/api/vehicles/{vehicle.pk}/location"

    def test_put_moves_the_vehicle_and_emits_the_event(self, dispatcher):
        vehicle = VehicleFactory(current_location=None)
        response = dispatcher.put(
            self.url(vehicle), {"longitude": -90.049, "latitude": 35.1495, "speed": 88}, format="json"
        )
        assert response.status_code == 200
        assert response.json() == {"moved": True}
        vehicle.refresh_from_db()
        assert (round(vehicle.current_location.x, 3), round(vehicle.current_location.y, 4)) == (
            -90.049,
            35.1495,
        )
        event = OutboxEvent.objects.get(type="VEHICLE_LOCATION_UPDATED")
        assert event.topic == "tms.vehicles.tracking"
        assert event.envelope["data"]["latitude"] == 35.1495
        assert AuditLog.objects.filter(record_id=str(vehicle.pk), action="UPDATE").count() == 1

    def test_an_older_fix_is_kept_in_the_track_but_does_not_move_the_vehicle_back(self, dispatcher):
        vehicle = VehicleFactory()
        now = timezone.now()
        newer = {"longitude": -90, "latitude": 35, "recorded_at": now.isoformat()}
        older = {
            "longitude": -91,
            "latitude": 36,
            "recorded_at": (now - datetime.timedelta(minutes=5)).isoformat(),
        }
        assert dispatcher.put(self.url(vehicle), newer, format="json").json() == {"moved": True}
        assert dispatcher.put(self.url(vehicle), older, format="json").json() == {"moved": False}
        vehicle.refresh_from_db()
        assert vehicle.current_location.x == -90
        # Both fixes are stored, and every stored fix is published; only the newer one moved it.
        assert GpsPoint.objects.filter(vehicle_id=vehicle.pk).count() == 2
        assert OutboxEvent.objects.filter(type="VEHICLE_LOCATION_UPDATED").count() == 2
        assert AuditLog.objects.filter(record_id=str(vehicle.pk), action="UPDATE").count() == 1

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"longitude": -181, "latitude": 35}, "longitude"),
            ({"longitude": -90, "latitude": 90.5}, "latitude"),
            ({"longitude": "west", "latitude": 35}, "longitude"),
            ({"latitude": 35}, "longitude"),
            ({"longitude": -90, "latitude": 35, "recorded_at": "2999-01-01T00:00:00Z"}, "recorded_at"),
            ({"longitude": -90, "latitude": 35, "recorded_at": "yesterday"}, "recorded_at"),
            ({"longitude": -90, "latitude": 35, "speed": -3}, "speed"),
            ({"longitude": -90, "latitude": 35, "heading": 361}, "heading"),
        ],
    )
    def test_bad_fixes_are_400_and_change_nothing(self, dispatcher, body, field):
        vehicle = VehicleFactory()
        before, row = counts(Vehicle), stored(vehicle)
        response = dispatcher.put(self.url(vehicle), body, format="json")
        assert response.status_code == 400
        assert field in response.json()["error"]["details"]
        vehicle.refresh_from_db()
        assert vehicle.location_updated_at is None
        assert not OutboxEvent.objects.exists()
        assert counts(Vehicle) == before
        assert stored(vehicle) == row
        assert not GpsPoint.objects.exists()

    def test_viewer_cannot_move_a_vehicle(self, viewer):
        vehicle = VehicleFactory()
        before, row = counts(Vehicle), stored(vehicle)
        assert (
            viewer.put(self.url(vehicle), {"longitude": 1, "latitude": 1}, format="json").status_code == 403
        )
        assert counts(Vehicle) == before
        assert stored(vehicle) == row
        assert not GpsPoint.objects.exists()


def test_driver_reads_only_their_carriers_fleet(driver_client):
    from drivers.tests.factories import DriverFactory

    mine = VehicleFactory()
    VehicleFactory()
    DriverFactory(carrier=mine.carrier, user=driver_client.user)
    rows = driver_client.get("/api/vehicles/").json()["results"]
    assert [row["id"] for row in rows] == [str(mine.pk)]
    carriers = driver_client.get("/api/carriers/").json()["results"]
    assert [row["id"] for row in carriers] == [str(mine.carrier_id)]
    before, row = counts(Vehicle), stored(mine)
    assert (
        driver_client.put(
            f"/api/vehicles/{mine.pk}/location", {"longitude": 1, "latitude": 1}, format="json"
        ).status_code
        == 403
    )
    assert counts(Vehicle) == before
    assert stored(mine) == row
    assert not GpsPoint.objects.exists()
