"""GPS ingestion through the API: batches, the PUT endpoint, OsmAnd; the storage layer underneath."""

import datetime
import uuid
from decimal import Decimal

import pytest
from django.contrib.gis.geos import Point
from django.urls import reverse
from django.utils import timezone

from events.models import AuditLog, OutboxEvent
from events.schemas import VehicleLocationUpdated
from fleet.ingest import GpsFix, IngestResult, Publish, ingest_without_audit
from fleet.models import GpsPoint, Vehicle
from fleet.tests.factories import VehicleFactory

pytestmark = pytest.mark.django_db

BATCH = "/api/tracking/batch"


def minute(n: float, base: datetime.datetime | None = None) -> datetime.datetime:
    base = base or timezone.now().replace(second=0, microsecond=0) - datetime.timedelta(hours=2)
    return base + datetime.timedelta(minutes=n)


def fix(vehicle, at: datetime.datetime, longitude: float = -90.0, latitude: float = 35.0, **extra) -> dict:
    return {
        "vehicle_id": str(vehicle.pk),
        "longitude": longitude,
        "latitude": latitude,
        "recorded_at": at.isoformat(),
        **extra,
    }


def stored(vehicle) -> list[tuple]:
    return [
        (row.recorded_at, round(row.location.x, 6), round(row.location.y, 6))
        for row in GpsPoint.objects.filter(vehicle_id=vehicle.pk).order_by("recorded_at")
    ]


def relay_marked() -> int:
    return GpsPoint.objects.exclude(relay_txid=None).count()


class TestBatch:
    def test_a_batch_stores_fixes_of_many_vehicles_and_moves_each_to_its_newest(self, dispatcher):
        truck, van = VehicleFactory(current_location=None), VehicleFactory(current_location=None)
        base = minute(0)
        points = [
            fix(truck, base, -90.0, 35.0, speed=80, heading=90),
            fix(van, base, -87.0, 41.0),
            fix(truck, minute(2, base), -90.2, 35.0),
            fix(truck, minute(1, base), -90.1, 35.0),
            fix(van, minute(1, base), -87.1, 41.0, fuel_level=55.5, odometer=120400.2),
        ]
        response = dispatcher.post(BATCH, {"points": points}, format="json")
        assert response.status_code == 200
        assert response.json() == {"accepted": 5, "duplicates": 0, "rejected": []}
        assert stored(truck) == [
            (base, -90.0, 35.0),
            (minute(1, base), -90.1, 35.0),
            (minute(2, base), -90.2, 35.0),
        ]
        first = GpsPoint.objects.get(vehicle_id=truck.pk, recorded_at=base)
        assert (first.speed_kmh, first.heading, first.accuracy_m, first.engine_hours) == (80, 90, None, None)
        van_last = GpsPoint.objects.get(vehicle_id=van.pk, recorded_at=minute(1, base))
        assert (van_last.fuel_level_pct, van_last.odometer_km) == (55.5, 120400.2)
        truck.refresh_from_db()
        van.refresh_from_db()
        assert truck.current_location.coords == pytest.approx((-90.2, 35.0))
        assert truck.location_updated_at == minute(2, base)
        assert van.location_updated_at == minute(1, base)
        # Published by the tracking relay from gps_points, not through the outbox; no audit per fix.
        assert relay_marked() == 5
        assert not OutboxEvent.objects.exists()
        assert not AuditLog.objects.exists()

    def test_posting_the_same_batch_again_stores_nothing_new(self, dispatcher):
        vehicle = VehicleFactory()
        points = [fix(vehicle, minute(n), -90 - n / 100) for n in range(3)]
        assert dispatcher.post(BATCH, {"points": points}, format="json").json()["accepted"] == 3
        vehicle.refresh_from_db()
        moved_at = vehicle.updated_at
        again = dispatcher.post(BATCH, {"points": points}, format="json")
        assert again.status_code == 200
        assert again.json() == {"accepted": 0, "duplicates": 3, "rejected": []}
        assert GpsPoint.objects.count() == 3
        assert relay_marked() == 3
        vehicle.refresh_from_db()
        assert vehicle.updated_at == moved_at

    def test_a_fix_repeated_within_one_batch_is_stored_once(self, dispatcher):
        vehicle = VehicleFactory()
        point = fix(vehicle, minute(0))
        response = dispatcher.post(
            BATCH, {"points": [point, point, {**point, "latitude": 36}]}, format="json"
        )
        assert response.json() == {"accepted": 1, "duplicates": 2, "rejected": []}
        assert GpsPoint.objects.count() == 1

    def test_bad_items_are_reported_with_their_index_and_the_good_ones_stored(self, dispatcher):
        vehicle = VehicleFactory()
        now = timezone.now()
        good = fix(vehicle, minute(0))
        points = [
            good,
            {**good, "latitude": 90.5},
            {**good, "longitude": -180.01, "recorded_at": minute(1).isoformat()},
            {**good, "recorded_at": (now + datetime.timedelta(minutes=6)).isoformat()},
            {**good, "recorded_at": "yesterday"},
            {**good, "recorded_at": "2026-11-25T08:00:00"},
            {**good, "vehicle_id": str(uuid.uuid4())},
            {"vehicle_id": str(vehicle.pk)},
            "not a fix",
            {**good, "vehicle_id": "T1000"},
            {**good, "recorded_at": minute(2).isoformat(), "speed": -1, "heading": "north"},
            {**good, "latitude": True},
            {**good, "recorded_at": (now - datetime.timedelta(days=400)).isoformat()},
            fix(vehicle, minute(3), speed=88.5, heading=359.9, accuracy=4),
        ]
        response = dispatcher.post(BATCH, {"points": points}, format="json")
        assert response.status_code == 200
        body = response.json()
        assert (body["accepted"], body["duplicates"]) == (2, 0)
        assert [(item["index"], sorted(item["errors"])) for item in body["rejected"]] == [
            (1, ["latitude"]),
            (2, ["longitude"]),
            (3, ["recorded_at"]),
            (4, ["recorded_at"]),
            (5, ["recorded_at"]),
            (6, ["vehicle_id"]),
            (7, ["latitude", "longitude", "recorded_at"]),
            (8, ["non_field_errors"]),
            (9, ["vehicle_id"]),
            (10, ["heading", "speed"]),
            (11, ["latitude"]),
            (12, ["recorded_at"]),
        ]
        messages = {item["index"]: item["errors"] for item in body["rejected"]}
        assert messages[3] == {"recorded_at": ["recorded_at is more than 5 minutes in the future."]}
        assert messages[5] == {"recorded_at": ["recorded_at needs a UTC offset, e.g. 2026-11-25T08:30:00Z."]}
        assert messages[6] == {"vehicle_id": ["Unknown vehicle."]}
        assert messages[7]["latitude"] == ["This field is required."]
        assert [row[0] for row in stored(vehicle)] == [minute(0), minute(3)]

    def test_fixes_out_of_order_only_move_the_vehicle_forward(self, dispatcher):
        vehicle = VehicleFactory(current_location=None)
        dispatcher.post(BATCH, {"points": [fix(vehicle, minute(10), -91.0)]}, format="json")
        late = [fix(vehicle, minute(5), -95.0), fix(vehicle, minute(9), -94.0)]
        assert dispatcher.post(BATCH, {"points": late}, format="json").json()["accepted"] == 2
        vehicle.refresh_from_db()
        assert vehicle.current_location.x == -91.0
        assert vehicle.location_updated_at == minute(10)
        newer = [fix(vehicle, minute(12), -92.0), fix(vehicle, minute(11), -93.0)]
        dispatcher.post(BATCH, {"points": newer}, format="json")
        vehicle.refresh_from_db()
        assert (vehicle.current_location.x, vehicle.location_updated_at) == (-92.0, minute(12))
        assert len(stored(vehicle)) == 5

    def test_more_than_10000_fixes_are_refused_whole(self, dispatcher):
        vehicle = VehicleFactory()
        base = minute(0)
        points = [fix(vehicle, base + datetime.timedelta(seconds=n)) for n in range(10_001)]
        response = dispatcher.post(BATCH, {"points": points}, format="json")
        assert response.status_code == 413
        error = response.json()["error"]
        assert error["code"] == "too_many_points"
        assert error["details"] == {"limit": 10_000, "received": 10_001}
        assert not GpsPoint.objects.exists()

    def test_10000_fixes_of_many_vehicles_are_stored_in_one_request(self, dispatcher):
        vehicles = VehicleFactory.create_batch(50)
        base = minute(0)
        points = [
            fix(vehicles[n % 50], base + datetime.timedelta(seconds=n // 50), -90 + n / 1e5)
            for n in range(10_000)
        ]
        response = dispatcher.post(BATCH, {"points": points}, format="json")
        assert response.json() == {"accepted": 10_000, "duplicates": 0, "rejected": []}
        assert GpsPoint.objects.count() == 10_000
        newest = base + datetime.timedelta(seconds=199)
        assert Vehicle.objects.filter(location_updated_at=newest).count() == 50

    @pytest.mark.parametrize(
        "body",
        [
            [],
            {"fixes": []},
            {"points": {"vehicle_id": "x"}},
            "points",
        ],
    )
    def test_a_body_without_a_points_list_is_400(self, dispatcher, body):
        response = dispatcher.post(BATCH, body, format="json")
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "validation_error"

    def test_malformed_json_and_nan_are_400(self, dispatcher):
        vehicle = VehicleFactory()
        for raw in (b"{", b'{"points": [{"latitude": NaN}]}'):
            response = dispatcher.generic("POST", BATCH, raw, content_type="application/json")
            assert response.status_code == 400
            assert response.json()["error"]["code"] == "malformed_request"
        assert dispatcher.post(BATCH, {"points": []}, format="json").json() == {
            "accepted": 0,
            "duplicates": 0,
            "rejected": [],
        }
        assert not GpsPoint.objects.filter(vehicle_id=vehicle.pk).exists()

    @pytest.mark.parametrize(
        ("client_fixture", "status"), [("viewer", 403), ("driver_client", 403), ("anon_client", 401)]
    )
    def test_only_operators_post_batches(self, request, client_fixture, status):
        client = request.getfixturevalue(client_fixture)
        vehicle = VehicleFactory()
        response = client.post(BATCH, {"points": [fix(vehicle, minute(0))]}, format="json")
        assert response.status_code == status
        assert not GpsPoint.objects.exists()

    def test_admin_posts_batches(self, admin_api):
        vehicle = VehicleFactory()
        response = admin_api.post(BATCH, {"points": [fix(vehicle, minute(0))]}, format="json")
        assert response.json()["accepted"] == 1


class TestPutLocation:
    def test_put_stores_the_full_fix_and_publishes_it_through_the_outbox(self, dispatcher):
        vehicle = VehicleFactory(current_location=None)
        at = minute(0)
        body = {
            "longitude": -90.049,
            "latitude": 35.1495,
            "recorded_at": at.isoformat(),
            "speed": 88.4,
            "heading": 271.5,
            "accuracy": 6.5,
            "fuel_level": 42.0,
            "odometer": 301234.5,
            "engine_hours": 10234.25,
        }
        response = dispatcher.put(f"/api/vehicles/{vehicle.pk}/location", body, format="json")
        assert response.json() == {"moved": True}
        point = GpsPoint.objects.get(vehicle_id=vehicle.pk)
        assert (point.recorded_at, point.location.x, point.location.y) == (at, -90.049, 35.1495)
        assert (point.speed_kmh, point.heading, point.accuracy_m) == (88.4, 271.5, 6.5)
        assert (point.fuel_level_pct, point.odometer_km, point.engine_hours) == (42.0, 301234.5, 10234.25)
        assert point.relay_txid is None  # its event is in the outbox, not left to the relay
        shown = dispatcher.get(f"/api/vehicles/{vehicle.pk}/").json()
        assert (shown["fuel_level"], shown["odometer"]) == (42.0, 301234.5)
        event = OutboxEvent.objects.get(type="VEHICLE_LOCATION_UPDATED")
        assert event.envelope["data"]["speed_kmh"] == 88.4
        assert event.envelope["data"]["heading"] == 271.5

    def test_putting_the_same_fix_twice_stores_and_publishes_it_once(self, dispatcher):
        vehicle = VehicleFactory()
        body = {"longitude": -90, "latitude": 35, "recorded_at": minute(0).isoformat()}
        assert dispatcher.put(f"/api/vehicles/{vehicle.pk}/location", body, format="json").json() == {
            "moved": True
        }
        assert dispatcher.put(f"/api/vehicles/{vehicle.pk}/location", body, format="json").json() == {
            "moved": False
        }
        assert GpsPoint.objects.count() == 1
        assert OutboxEvent.objects.filter(type="VEHICLE_LOCATION_UPDATED").count() == 1

    @pytest.mark.parametrize(
        ("field", "value"),
        [("accuracy", -1), ("fuel_level", 101), ("odometer", -0.1), ("engine_hours", "many")],
    )
    def test_bad_measurements_are_400(self, dispatcher, field, value):
        vehicle = VehicleFactory()
        body = {"longitude": -90, "latitude": 35, field: value}
        response = dispatcher.put(f"/api/vehicles/{vehicle.pk}/location", body, format="json")
        assert response.status_code == 400
        assert field in response.json()["error"]["details"]
        assert not GpsPoint.objects.exists()


class TestOsmAnd:
    @pytest.fixture
    def phone(self):
        return VehicleFactory(tracker_device_id="4f1c9e2a7b", current_location=None)

    def test_a_get_stores_the_fix_with_speed_converted_from_knots(self, anon_client, phone):
        at = minute(0)
        response = anon_client.get(
            "/osmand/",
            {
                "id": "4f1c9e2a7b",
                "lat": "41.8781",
                "lon": "-87.6298",
                "timestamp": str(int(at.timestamp())),
                "speed": "10",
                "bearing": "182.5",
                "altitude": "180",
                "accuracy": "12",
                "batt": "87",
                "hdop": "0.9",
            },
        )
        assert response.status_code == 200
        assert response.content == b""
        point = GpsPoint.objects.get(vehicle_id=phone.pk)
        assert (point.recorded_at, point.location.x, point.location.y) == (at, -87.6298, 41.8781)
        assert point.speed_kmh == pytest.approx(18.52)
        assert (point.heading, point.accuracy_m) == (182.5, 12)
        phone.refresh_from_db()
        assert phone.location_updated_at == at
        event = OutboxEvent.objects.get(type="VEHICLE_LOCATION_UPDATED")
        assert event.envelope["data"]["speed_kmh"] == pytest.approx(18.52)
        assert not AuditLog.objects.exists()

    def test_a_form_post_and_the_json_of_traccar_client_9_are_accepted(self, anon_client, phone):
        first, second = minute(0), minute(1)
        form = anon_client.post(
            "/osmand/",
            {"deviceid": "4f1c9e2a7b", "lat": "41.0", "lon": "-87.0", "timestamp": first.isoformat()},
        )
        assert form.status_code == 200
        body = {
            "device_id": "4f1c9e2a7b",
            "location": {
                "timestamp": second.isoformat().replace("+00:00", "Z"),
                "coords": {"latitude": 41.1, "longitude": -87.1, "speed": 25, "heading": -1, "accuracy": 8},
                "battery": {"level": 0.5, "is_charging": False},
            },
        }
        assert anon_client.post("/osmand/", body, format="json").status_code == 200
        points = GpsPoint.objects.filter(vehicle_id=phone.pk).order_by("recorded_at")
        assert [(p.recorded_at, p.location.y, p.speed_kmh, p.heading) for p in points] == [
            (first, 41.0, None, None),
            (second, 41.1, 90.0, None),  # 25 m/s; a negative heading means unknown
        ]

    @pytest.mark.parametrize(
        ("timestamp", "expected"),
        [
            ("1795000000", datetime.datetime(2026, 11, 18, 11, 6, 40, tzinfo=datetime.UTC)),
            ("1795000000123", datetime.datetime(2026, 11, 18, 11, 6, 40, 123000, tzinfo=datetime.UTC)),
            ("2026-11-18 11:06:40", datetime.datetime(2026, 11, 18, 11, 6, 40, tzinfo=datetime.UTC)),
            ("2026-11-18T13:06:40+02:00", datetime.datetime(2026, 11, 18, 11, 6, 40, tzinfo=datetime.UTC)),
        ],
    )
    def test_timestamps_in_seconds_milliseconds_or_text(self, anon_client, phone, timestamp, expected):
        params = {"id": "4f1c9e2a7b", "lat": "41", "lon": "-87", "timestamp": timestamp}
        assert anon_client.get("/osmand/", params).status_code == 200
        assert GpsPoint.objects.get(vehicle_id=phone.pk).recorded_at == expected

    def test_an_unknown_device_is_404_and_stores_nothing(self, anon_client, phone):
        response = anon_client.get("/osmand/", {"id": "nope", "lat": "41", "lon": "-87"})
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"
        assert not GpsPoint.objects.exists()

    @pytest.mark.parametrize(
        "params",
        [
            {"lat": "41", "lon": "-87"},
            {"id": "4f1c9e2a7b", "lon": "-87"},
            {"id": "4f1c9e2a7b", "lat": "95", "lon": "-87"},
            {"id": "4f1c9e2a7b", "lat": "north", "lon": "-87"},
            {"id": "4f1c9e2a7b", "lat": "41", "lon": "-87", "timestamp": "soon"},
            {"id": "4f1c9e2a7b", "lat": "41", "lon": "-87", "timestamp": "4102444800"},
            {"id": "4f1c9e2a7b", "lat": "41", "lon": "-87", "speed": "500"},
            {"id": "4f1c9e2a7b", "lat": "41", "lon": "-87", "bearing": "nan"},
        ],
    )
    def test_bad_parameters_are_400_and_store_nothing(self, anon_client, phone, params):
        response = anon_client.get("/osmand/", params)
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "validation_error"
        assert not GpsPoint.objects.exists()

    def test_a_fix_the_device_marks_invalid_is_acknowledged_not_stored(self, anon_client, phone):
        params = {"id": "4f1c9e2a7b", "lat": "41", "lon": "-87", "valid": "false"}
        assert anon_client.get("/osmand/", params).status_code == 200
        assert not GpsPoint.objects.exists()

    def test_a_resent_fix_is_acknowledged_and_stored_once(self, anon_client, phone):
        params = {"id": "4f1c9e2a7b", "lat": "41", "lon": "-87", "timestamp": str(int(minute(0).timestamp()))}
        assert anon_client.get("/osmand/", params).status_code == 200
        assert anon_client.get("/osmand/", params).status_code == 200
        assert GpsPoint.objects.count() == 1
        assert OutboxEvent.objects.count() == 1

    def test_each_device_is_throttled(self, anon_client, phone, settings):
        settings.REST_FRAMEWORK = {
            **settings.REST_FRAMEWORK,
            "DEFAULT_THROTTLE_RATES": {
                **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
                "osmand": "2/minute",
            },
        }
        VehicleFactory(tracker_device_id="other-phone")
        statuses = [
            anon_client.get(
                "/osmand/", {"id": "4f1c9e2a7b", "lat": "41", "lon": "-87", "timestamp": str(t)}
            ).status_code
            for t in (1795000000, 1795000010, 1795000020)
        ]
        assert statuses == [200, 200, 429]
        assert (
            anon_client.get("/osmand/", {"id": "other-phone", "lat": "41", "lon": "-87"}).status_code == 200
        )

    def test_each_client_address_is_throttled_whatever_device_it_names(self, anon_client, phone, settings):
        settings.REST_FRAMEWORK = {
            **settings.REST_FRAMEWORK,
            "DEFAULT_THROTTLE_RATES": {
                **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
                "osmand_address": "2/minute",
            },
        }
        statuses = [
            anon_client.get("/osmand/", {"id": device, "lat": "41", "lon": "-87"}).status_code
            for device in ("4f1c9e2a7b", "guessed-1", "guessed-2")
        ]
        assert statuses == [200, 404, 429]
        assert GpsPoint.objects.count() == 1

    def test_it_answers_at_osmand_slash_and_redirects_there_without_the_slash(self, anon_client, phone):
        assert reverse("osmand") == "/osmand/"
        response = anon_client.get("/osmand", {"id": "4f1c9e2a7b", "lat": "41", "lon": "-87"})
        assert response.status_code == 301
        assert response["Location"] == "/osmand/?id=4f1c9e2a7b&lat=41&lon=-87"
        assert not GpsPoint.objects.exists()

    def test_the_device_id_is_set_through_the_vehicle_api(self, dispatcher, phone):
        vehicle = VehicleFactory()
        url = f"/api/vehicles/{vehicle.pk}/"
        assert dispatcher.patch(url, {"tracker_device_id": "a1b2c3d4e5"}, format="json").status_code == 200
        assert dispatcher.get(url).json()["tracker_device_id"] == "a1b2c3d4e5"
        taken = dispatcher.patch(url, {"tracker_device_id": "4f1c9e2a7b"}, format="json")
        assert taken.status_code in (400, 409)
        assert (
            dispatcher.patch(url, {"tracker_device_id": ""}, format="json").json()["tracker_device_id"]
            is None
        )


class TestIngest:
    """The storage layer on its own."""

    def test_ingest_counts_and_moves(self):
        vehicle = VehicleFactory(current_location=None)
        fixes = [GpsFix(vehicle.pk, minute(n), -90 - n, 35.0) for n in range(3)]
        assert ingest_without_audit(fixes) == IngestResult(accepted=3, duplicates=0, vehicles_moved=1)
        assert ingest_without_audit(fixes) == IngestResult(accepted=0, duplicates=3, vehicles_moved=0)
        vehicle.refresh_from_db()
        assert vehicle.current_location.x == -92

    @pytest.mark.parametrize("publish", [Publish.RELAY, Publish.OUTBOX])
    def test_the_two_database_path_gives_the_same_result(self, publish):
        vehicle = VehicleFactory(current_location=Point(0, 0, srid=4326), location_updated_at=minute(1))
        fixes = [GpsFix(vehicle.pk, minute(n), -90 - n, 35.0, 50.0 + n) for n in range(4)]
        result = ingest_without_audit(fixes[:1], publish=publish, separate_timeseries=True)
        assert result == IngestResult(accepted=1, duplicates=0, vehicles_moved=0)
        result = ingest_without_audit(fixes, publish=publish, separate_timeseries=True)
        assert result == IngestResult(accepted=3, duplicates=1, vehicles_moved=1)
        vehicle.refresh_from_db()
        assert (vehicle.current_location.x, vehicle.location_updated_at) == (-93, minute(3))
        assert GpsPoint.objects.exclude(relay_txid=None).count() == (4 if publish is Publish.RELAY else 0)
        assert OutboxEvent.objects.count() == (0 if publish is Publish.RELAY else 4)

    @pytest.mark.parametrize("separate_timeseries", [False, True])
    def test_the_newest_fix_keeps_fuel_level_and_odometer_current(self, request, separate_timeseries):
        if not separate_timeseries:  # one statement stores the fixes and moves the vehicle
            request.getfixturevalue("one_database")
        vehicle = VehicleFactory(current_location=None, odometer=Decimal("1000.0"))
        assert vehicle.fuel_level is None

        def ingest(*fixes: GpsFix) -> None:
            ingest_without_audit(list(fixes), separate_timeseries=separate_timeseries)
            vehicle.refresh_from_db()

        reading = {"fuel_level_pct": 61.5, "odometer_km": 1200.04}
        ingest(GpsFix(vehicle.pk, minute(1), -90, 35, **reading))
        assert (vehicle.fuel_level, vehicle.odometer) == (61.5, Decimal("1200.0"))
        # An older fix does not move the vehicle, nor its readings.
        ingest(GpsFix(vehicle.pk, minute(0), -90, 35, fuel_level_pct=90.0, odometer_km=1100.0))
        assert (vehicle.fuel_level, vehicle.odometer) == (61.5, Decimal("1200.0"))
        # A newer fix without readings keeps the last ones; within a batch the newest one counts.
        ingest(GpsFix(vehicle.pk, minute(2), -90, 35))
        assert (vehicle.fuel_level, vehicle.odometer) == (61.5, Decimal("1200.0"))
        ingest(
            GpsFix(vehicle.pk, minute(4), -90, 35, fuel_level_pct=40.0, odometer_km=1300.0),
            GpsFix(vehicle.pk, minute(3), -90, 35, fuel_level_pct=50.0, odometer_km=1250.0),
        )
        assert (vehicle.fuel_level, vehicle.odometer) == (40.0, Decimal("1300.0"))

    def test_several_ingests_in_one_transaction_do_not_mix(self):
        truck, van = VehicleFactory(), VehicleFactory()
        assert ingest_without_audit([GpsFix(truck.pk, minute(0), 1, 1)]).accepted == 1
        assert ingest_without_audit([GpsFix(van.pk, minute(0), 2, 2)]).accepted == 1
        assert sorted(GpsPoint.objects.values_list("location", flat=True), key=lambda p: p.x) == [
            Point(1, 1, srid=4326),
            Point(2, 2, srid=4326),
        ]

    def test_outbox_events_match_the_schema(self):
        vehicle = VehicleFactory()
        ingest_without_audit(
            [GpsFix(vehicle.pk, minute(0), -90.5, 35.25, 61.0, 12.0)], publish=Publish.OUTBOX
        )
        data = OutboxEvent.objects.get().envelope["data"]
        parsed = VehicleLocationUpdated.model_validate(data)
        assert (parsed.vehicle_id, parsed.carrier_id) == (vehicle.pk, vehicle.carrier_id)
        assert (parsed.longitude, parsed.latitude, parsed.recorded_at) == (-90.5, 35.25, minute(0))
