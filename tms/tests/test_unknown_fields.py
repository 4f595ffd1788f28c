"""Nothing a client sends is dropped silently: a body key an endpoint does not take is a 400 naming
it, and the request changes nothing (issue 12, item 2)."""

import importlib
import pkgutil
from datetime import timedelta
from pathlib import Path

import pytest
from django.apps import apps
from django.conf import settings
from django.utils import timezone
from rest_framework import serializers

from drivers.tests.factories import DriverFactory
from events.models import AuditLog, OutboxEvent
from fleet.models import GpsPoint, Vehicle
from fleet.tests.factories import CarrierFactory, VehicleFactory
from loads.models import Load
from loads.tests.factories import LoadFactory
from tms import api

pytestmark = pytest.mark.django_db

READ_ONLY_VEHICLE_FIELDS = {
    "id",
    "status",
    "current_location",
    "location_updated_at",
    "fuel_level",
    "distance_m",
    "created_at",
    "updated_at",
}


def details(response, status: int = 400) -> dict:
    assert response.status_code == status, response.content
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    return error["details"]


def written() -> tuple[int, int, int, int]:
    return tuple(model.objects.count() for model in (Vehicle, GpsPoint, AuditLog, OutboxEvent))


class TestVehicleLocation:
    """The issue's reproduction: the README's `speed`, `fuel_level` and `odometer` answered 200 and
    stored nulls."""

    def test_the_documented_measurements_are_stored(self, dispatcher):
        vehicle = VehicleFactory()
        body = {
            "longitude": -90.05,
            "latitude": 35.15,
            "speed": 88.5,
            "heading": 270,
            "accuracy": 6,
            "fuel_level": 42.5,
            "odometer": 301234.5,
            "engine_hours": 10234.25,
        }
        response = dispatcher.put(f"/api/vehicles/{vehicle.pk}/location", body, format="json")
        assert response.status_code == 200, response.content
        point = GpsPoint.objects.get(vehicle_id=vehicle.pk)
        assert (point.speed_kmh, point.heading, point.accuracy_m) == (88.5, 270, 6)
        assert (point.fuel_level_pct, point.odometer_km, point.engine_hours) == (42.5, 301234.5, 10234.25)
        history = dispatcher.get(f"/api/vehicles/{vehicle.pk}/tracking").json()["results"]
        assert [(fix["speed"], fix["fuel_level"], fix["odometer"]) for fix in history] == [
            (88.5, 42.5, 301234.5)
        ]

    def test_a_misspelt_measurement_is_400_naming_it_and_stores_nothing(self, dispatcher):
        vehicle = VehicleFactory(current_location=None)
        before = written()
        body = {"longitude": -90.05, "latitude": 35.15, "sped": 88.5, "fuel_level_pct": 40}
        response = dispatcher.put(f"/api/vehicles/{vehicle.pk}/location", body, format="json")
        assert details(response) == {"sped": ["Unknown field."], "fuel_level_pct": ["Unknown field."]}
        assert response.json()["error"]["message"] == "sped: Unknown field."
        assert written() == before
        vehicle.refresh_from_db()
        assert vehicle.current_location is None

    def test_unknown_fields_are_reported_beside_the_other_errors(self, dispatcher):
        vehicle = VehicleFactory()
        response = dispatcher.put(
            f"/api/vehicles/{vehicle.pk}/location", {"latitude": 95, "speeed": 1}, format="json"
        )
        assert set(details(response)) == {"longitude", "latitude", "speeed"}
        assert details(response)["speeed"] == ["Unknown field."]


class TestResources:
    def test_creating_with_an_unknown_field_is_400_and_creates_nothing(self, dispatcher):
        carrier = CarrierFactory()
        before = written()
        body = {
            "carrier_id": str(carrier.pk),
            "vehicle_number": "T-900",
            "vehicle_type": "DRY_VAN",
            "capacity_weight": 20000,
            "capacity_volume": 80,
            "vin": "1FUJGLDR5CLBP8834",
            "make": "Freightliner",
            "model": "Cascadia",
            "year": 2022,
            "colour": "red",
        }
        response = dispatcher.post("/api/vehicles/", body, format="json")
        assert details(response) == {"colour": ["Unknown field."]}
        assert written() == before

    def test_a_read_only_field_is_400_naming_it_read_only(self, dispatcher):
        vehicle = VehicleFactory()
        before = written()
        response = dispatcher.patch(
            f"/api/vehicles/{vehicle.pk}", {"status": "IN_TRANSIT", "make": "Volvo"}, format="json"
        )
        assert details(response) == {"status": ["This field is read-only."]}
        assert written() == before
        assert Vehicle.objects.get(pk=vehicle.pk).make == vehicle.make

    def test_putting_back_what_a_get_gave_names_every_read_only_field(self, dispatcher):
        """The decision: a representation sent back whole is refused, so a client learns which of
        its fields it cannot set instead of believing it set them."""
        vehicle = VehicleFactory()
        representation = dispatcher.get(f"/api/vehicles/{vehicle.pk}").json()
        response = dispatcher.put(f"/api/vehicles/{vehicle.pk}", representation, format="json")
        refused = details(response)
        assert set(refused) == {
            "id",
            *(name for name, value in representation.items() if name in READ_ONLY_VEHICLE_FIELDS),
        }
        assert all(messages == ["This field is read-only."] for messages in refused.values())

    def test_an_action_body_with_an_unknown_field_changes_nothing(self, dispatcher):
        load = LoadFactory()
        before = (Load.objects.get(pk=load.pk).status, AuditLog.objects.count(), OutboxEvent.objects.count())
        response = dispatcher.post(
            f"/api/loads/{load.pk}/cancel", {"reason": "shipper called", "notify": True}, format="json"
        )
        assert details(response) == {"notify": ["Unknown field."]}
        after = (Load.objects.get(pk=load.pk).status, AuditLog.objects.count(), OutboxEvent.objects.count())
        assert after == before

    def test_publishing_an_event_with_an_unknown_field_is_400(self, dispatcher):
        before = OutboxEvent.objects.count()
        body = {"type": "SYSTEM_ALERT", "subject": "x", "data": {}, "topic": "tms.loads"}
        assert details(dispatcher.post("/api/events/publish", body, format="json")) == {
            "topic": ["Unknown field."]
        }
        assert OutboxEvent.objects.count() == before

    def test_logging_in_with_an_unknown_field_is_400(self, anon_client, dispatcher_user):
        body = {"username": dispatcher_user.username, "password": "pass-word-123", "remember": True}
        assert details(anon_client.post("/api/auth/token", body, format="json")) == {
            "remember": ["Unknown field."]
        }

    def test_query_strings_keep_their_other_parameters(self, viewer):
        """Query serializers leave keys they do not know to the others: paging, ordering, format."""
        vehicle = VehicleFactory()
        response = viewer.get(f"/api/vehicles/{vehicle.pk}/tracking?page=1&page_size=10&bucket=1h")
        assert response.status_code == 200, response.content


class TestBatch:
    def fix(self, vehicle, **extra) -> dict:
        return {"vehicle_id": str(vehicle.pk), "longitude": -90.0, "latitude": 35.0, **extra}

    def test_a_fix_with_an_unknown_field_is_rejected_naming_it_and_the_others_stored(self, dispatcher):
        vehicle = VehicleFactory()
        now = timezone.now().replace(microsecond=0)
        points = [
            self.fix(vehicle, recorded_at=(now - timedelta(minutes=2)).isoformat(), speed=50),
            self.fix(vehicle, recorded_at=(now - timedelta(minutes=1)).isoformat(), speed_kmh=50),
        ]
        response = dispatcher.post("/api/tracking/batch", {"points": points}, format="json")
        assert response.status_code == 200, response.content
        assert response.json()["rejected"] == [{"index": 1, "errors": {"speed_kmh": ["Unknown field."]}}]
        assert list(GpsPoint.objects.values_list("speed_kmh", flat=True)) == [50]

    def test_an_unknown_top_level_field_is_400_and_stores_nothing(self, dispatcher):
        vehicle = VehicleFactory()
        before = written()
        body = {"points": [self.fix(vehicle)], "gateway": "north"}
        assert details(dispatcher.post("/api/tracking/batch", body, format="json")) == {
            "gateway": ["Unknown field."]
        }
        assert written() == before


class Stop(api.Serializer):
    name = serializers.CharField()
    kind = serializers.CharField(read_only=True)


class Trip(api.Serializer):
    number = serializers.CharField()
    first = Stop()
    stops = Stop(many=True)


class TestTheMechanism:
    """tms.api's serializers check every level: nested objects and each item of a list."""

    def test_nested_objects_and_list_items_are_checked(self):
        payload = Trip(
            data={
                "number": "T1",
                "first": {"name": "Memphis", "eta": "soon"},
                "stops": [{"name": "A"}, {"name": "B", "kind": "PICKUP"}],
            }
        )
        assert not payload.is_valid()
        assert payload.errors == {
            "first": {"eta": ["Unknown field."]},
            "stops": {1: {"kind": ["This field is read-only."]}},  # DRF keys list errors by index
        }

    def test_a_list_body_is_checked_item_by_item(self):
        payload = Stop(data=[{"name": "A"}, {"name": "B", "x": 1}], many=True)
        assert not payload.is_valid()
        assert payload.errors == {1: {"x": ["Unknown field."]}}

    def test_every_api_serializer_of_the_project_has_the_check(self):
        """A serializer built on DRF's own bases would drop unknown fields again."""
        packages = {"tms"} | {
            config.name.split(".")[0]
            for config in apps.get_app_configs()
            if Path(config.path).is_relative_to(settings.BASE_DIR) and "site-packages" not in config.path
        }
        assert {"events", "fleet", "drivers", "loads", "routing"} <= packages
        for package in packages:
            path = importlib.import_module(package).__path__
            for module in pkgutil.walk_packages(path, f"{package}."):
                if ".tests" not in module.name and ".migrations" not in module.name:
                    importlib.import_module(module.name)
        ours = [
            cls
            for cls in _subclasses(serializers.BaseSerializer)
            if cls.__module__.split(".")[0] in packages and ".tests" not in cls.__module__
        ]
        assert len(ours) > 30
        unchecked = [
            f"{cls.__module__}.{cls.__qualname__}"
            for cls in ours
            if not issubclass(cls, api.RejectUnknownFields | api.QuerySerializer)
        ]
        assert unchecked == []


def _subclasses(cls: type) -> set[type]:
    found = set()
    for sub in cls.__subclasses__():
        found |= {sub} | _subclasses(sub)
    return found


class TestListQueryParameters:
    """A list request's query parameter that nothing reads is refused, as a body field is: a typo in
    a filter would otherwise answer the whole list."""

    def test_a_misspelt_filter_is_a_400_naming_it(self, dispatcher):
        LoadFactory()
        response = dispatcher.get("/api/loads/?statuss=DELIVERED&colour=red")
        assert details(response) == {
            "statuss": ["Unknown query parameter."],
            "colour": ["Unknown query parameter."],
        }

    def test_filters_ordering_search_and_paging_are_known(self, dispatcher):
        load = LoadFactory()
        response = dispatcher.get(
            "/api/loads/",
            {
                "status": load.status,
                "carrier_id": "",
                "pickup_after": "2000-01-01T00:00:00Z",
                "ordering": "-pickup_datetime",
                "page": 1,
                "page_size": 10,
                "format": "json",
            },
        )
        assert response.status_code == 200, response.content
        assert [row["id"] for row in response.json()["results"]] == [str(load.pk)]

    def test_search_is_known_only_where_the_list_searches(self, dispatcher):
        load, _other = LoadFactory(), LoadFactory()
        response = dispatcher.get("/api/loads/", {"search": load.load_number})
        assert response.status_code == 200, response.content
        assert [row["id"] for row in response.json()["results"]] == [str(load.pk)]
        # Routes are not searchable: `search` there would be silently ignored.
        assert details(dispatcher.get("/api/routes/", {"search": load.load_number})) == {
            "search": ["Unknown query parameter."]
        }

    def test_an_endpoint_with_its_own_query_refuses_a_misspelt_parameter(self, dispatcher):
        driver = DriverFactory()
        # `?att=` (for `at`) used to answer the clock of now, as if the client had asked for it.
        assert details(dispatcher.get(f"/api/drivers/{driver.pk}/hos", {"att": "2026-01-01T00:00:00Z"})) == {
            "att": ["Unknown field."]
        }
        response = dispatcher.get(
            f"/api/drivers/{driver.pk}/hos", {"at": "2026-01-01T00:00:00Z", "format": "json"}
        )
        assert response.status_code == 200, response.content

    def test_an_action_with_a_query_parameter_it_does_not_read_changes_nothing(self, dispatcher):
        """Every GET endpoint is walked by test_query_counts; a write is refused before it runs."""
        load = LoadFactory()
        before = (Load.objects.get(pk=load.pk).status, AuditLog.objects.count(), OutboxEvent.objects.count())
        response = dispatcher.post(
            f"/api/loads/{load.pk}/cancel?notify=false", {"reason": "shipper called"}, format="json"
        )
        assert details(response) == {"notify": ["Unknown query parameter."]}
        after = (Load.objects.get(pk=load.pk).status, AuditLog.objects.count(), OutboxEvent.objects.count())
        assert after == before

    def test_a_detail_reads_only_format(self, dispatcher):
        load = LoadFactory()
        assert dispatcher.get(f"/api/loads/{load.pk}/", {"format": "json"}).status_code == 200
        # A detail is not paged: `page` there would be silently ignored.
        assert details(dispatcher.get(f"/api/loads/{load.pk}/", {"page": 2})) == {
            "page": ["Unknown query parameter."]
        }
        # A paged action of a detail reads the paginator's.
        response = dispatcher.get(f"/api/loads/{load.pk}/stops", {"page": 1, "page_size": 1})
        assert response.status_code == 200, response.content
        assert response.json()["count"] == 2
