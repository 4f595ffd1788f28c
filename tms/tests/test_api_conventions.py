"""The conventions every endpoint shares: the error envelope, auth, roles, throttling, correlation
ids, request size, health and the schema."""

import uuid

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from events.models import AuditLog, OutboxEvent
from fleet.models import Carrier
from fleet.tests.factories import CarrierFactory, VehicleFactory
from loads.tests.factories import FacilityFactory, LoadFactory

pytestmark = pytest.mark.django_db


def assert_envelope(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"}
    error = body["error"]
    assert set(error) == {"code", "message", "details", "correlation_id"}
    assert error["code"] == code
    assert error["message"]
    assert error["correlation_id"] == response["X-Request-ID"]
    return error


class TestErrorEnvelope:
    def test_malformed_json_is_400_and_writes_nothing(self, dispatcher):
        response = dispatcher.post("/api/carriers/", "{not json", content_type="application/json")
        assert_envelope(response, 400, "malformed_request")
        assert Carrier.objects.count() == 0
        assert AuditLog.objects.count() == 0

    def test_a_json_list_instead_of_an_object_is_400(self, dispatcher):
        response = dispatcher.post("/api/carriers/", [1, 2], format="json")
        assert_envelope(response, 400, "validation_error")

    def test_wrong_types_name_the_field(self, dispatcher):
        response = dispatcher.post(
            "/api/vehicles/",
            {"vehicle_number": "T1", "capacity_weight": "heavy", "year": "new"},
            format="json",
        )
        error = assert_envelope(response, 400, "validation_error")
        assert "capacity_weight" in error["details"]
        assert "year" in error["details"]

    def test_unknown_id_is_404(self, dispatcher):
        response = dispatcher.get(f"/api/loads/{uuid.uuid4()}/")
        assert_envelope(response, 404, "not_found")

    def test_malformed_id_is_404(self, dispatcher):
        response = dispatcher.get("/api/loads/not-a-uuid/")
        assert_envelope(response, 404, "not_found")

    def test_unknown_path_is_404_in_the_envelope(self, dispatcher):
        response = dispatcher.get("/api/no-such-thing/")
        assert_envelope(response, 404, "not_found")

    def test_method_not_allowed_is_405(self, dispatcher):
        load = LoadFactory()
        response = dispatcher.delete(f"/api/loads/{load.pk}/")
        assert_envelope(response, 405, "method_not_allowed")

    def test_unsupported_media_type_is_415(self, dispatcher):
        response = dispatcher.post("/api/carriers/", "name=x", content_type="text/plain")
        assert_envelope(response, 415, "unsupported_media_type")

    def test_oversize_body_is_413_before_parsing(self, dispatcher, settings):
        settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
        response = dispatcher.post("/api/carriers/", {"name": "x" * 2000, "dot_number": "1"}, format="json")
        error = assert_envelope(response, 413, "request_too_large")
        assert error["details"] == {"limit_bytes": 1000}
        assert Carrier.objects.count() == 0

    def test_deleting_a_referenced_row_is_409(self, dispatcher):
        vehicle = VehicleFactory()
        response = dispatcher.delete(f"/api/carriers/{vehicle.carrier_id}/")
        error = assert_envelope(response, 409, "conflict")
        assert error["details"] == {"referenced_by": ["vehicles"]}
        assert Carrier.objects.filter(pk=vehicle.carrier_id).exists()


class TestCorrelationId:
    def test_a_client_id_is_echoed_and_recorded_in_audit_and_event(self, dispatcher):
        facility_a, facility_b = FacilityFactory(), FacilityFactory()
        response = dispatcher.post(
            "/api/loads/",
            {
                "shipper_id": str(facility_a.pk),
                "consignee_id": str(facility_b.pk),
                "pickup_datetime": "2030-01-01T08:00:00Z",
                "delivery_datetime": "2030-01-02T08:00:00Z",
                "weight": "1000",
                "volume": "10",
                "rate": "500",
            },
            format="json",
            HTTP_X_REQUEST_ID="trace-abc-123",
        )
        assert response.status_code == 201, response.json()
        assert response["X-Request-ID"] == "trace-abc-123"
        assert AuditLog.objects.get(table_name="loads").correlation_id == "trace-abc-123"
        assert OutboxEvent.objects.get().envelope["correlationid"] == "trace-abc-123"

    def test_an_unsafe_client_id_is_replaced(self, dispatcher):
        response = dispatcher.get("/api/carriers/", HTTP_X_REQUEST_ID="bad id\r\nx")
        uuid.UUID(response["X-Request-ID"])

    def test_a_missing_id_is_generated(self, dispatcher):
        response = dispatcher.get("/api/carriers/")
        uuid.UUID(response["X-Request-ID"])


class TestAuthentication:
    def test_token_endpoint_returns_a_working_token(self, anon_client, dispatcher_user):
        response = anon_client.post(
            "/api/auth/token/",
            {"username": "dispatcher-user", "password": "pass-word-123"},
            format="json",
        )
        assert response.status_code == 200
        assert response.json()["roles"] == ["DISPATCHER"]
        token = response.json()["token"]
        anon_client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
        assert anon_client.get("/api/carriers/").status_code == 200

    def test_wrong_password_is_401(self, anon_client, dispatcher_user):
        response = anon_client.post(
            "/api/auth/token/", {"username": "dispatcher-user", "password": "nope"}, format="json"
        )
        assert_envelope(response, 401, "authentication_failed")

    def test_missing_fields_are_400(self, anon_client):
        response = anon_client.post("/api/auth/token/", {"username": "x"}, format="json")
        error = assert_envelope(response, 400, "validation_error")
        assert "password" in error["details"]

    def test_no_credentials_is_401(self, anon_client):
        response = anon_client.get("/api/loads/")
        assert_envelope(response, 401, "not_authenticated")
        assert response["WWW-Authenticate"] == "Token"

    def test_bad_token_is_401(self, anon_client):
        anon_client.credentials(HTTP_AUTHORIZATION="Token deadbeef")
        assert_envelope(anon_client.get("/api/loads/"), 401, "authentication_failed")

    def test_a_user_without_a_role_is_403(self, roleless_client):
        assert_envelope(roleless_client.get("/api/loads/"), 403, "permission_denied")


class TestThrottling:
    def test_too_many_requests_is_429_with_retry_after(self, dispatcher, settings):
        settings.REST_FRAMEWORK = {
            **settings.REST_FRAMEWORK,
            "DEFAULT_THROTTLE_RATES": {
                **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
                "user": "3/minute",
            },
        }
        statuses = [dispatcher.get("/api/carriers/").status_code for _ in range(4)]
        assert statuses == [200, 200, 200, 429]
        response = dispatcher.get("/api/carriers/")
        error = assert_envelope(response, 429, "throttled")
        assert int(response["Retry-After"]) > 0
        assert error["details"]["retry_after_s"] > 0

    def test_login_attempts_are_throttled(self, anon_client, settings):
        settings.REST_FRAMEWORK = {
            **settings.REST_FRAMEWORK,
            "DEFAULT_THROTTLE_RATES": {
                **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
                "auth": "2/minute",
            },
        }
        body = {"username": "x", "password": "y"}
        statuses = [anon_client.post("/api/auth/token/", body, format="json").status_code for _ in range(3)]
        assert statuses == [401, 401, 429]


class TestCors:
    def test_allowed_origin_gets_cors_headers(self, dispatcher, settings):
        settings.CORS_ALLOWED_ORIGINS = ["https://dispatch.example.com"]
        response = dispatcher.get("/api/carriers/", HTTP_ORIGIN="https://dispatch.example.com")
        assert response["Access-Control-Allow-Origin"] == "https://dispatch.example.com"

    def test_other_origins_get_none(self, dispatcher, settings):
        settings.CORS_ALLOWED_ORIGINS = ["https://dispatch.example.com"]
        response = dispatcher.get("/api/carriers/", HTTP_ORIGIN="https://evil.example.com")
        assert "Access-Control-Allow-Origin" not in response


class TestPagination:
    def test_lists_are_paginated_with_a_page_size_cap(self, viewer):
        CarrierFactory.create_batch(5)
        body = viewer.get("/api/carriers/?page_size=2").json()
        assert body["count"] == 5
        assert len(body["results"]) == 2
        assert body["next"].endswith("page=2&page_size=2")

    def test_a_page_past_the_end_is_404(self, viewer):
        assert_envelope(viewer.get("/api/carriers/?page=9"), 404, "not_found")

    @pytest.mark.parametrize("path", ["/api/loads/", "/api/vehicles/", "/api/drivers/", "/api/carriers/"])
    def test_list_queries_do_not_grow_with_rows(self, viewer, path):
        def count_queries() -> int:
            with CaptureQueriesContext(connection) as queries:
                assert viewer.get(path).status_code == 200
            return len(queries)

        viewer.get(path)  # the token's first request reads it from the database, later ones from the cache
        LoadFactory.create_batch(2)
        VehicleFactory.create_batch(2)
        few = count_queries()
        LoadFactory.create_batch(5)
        VehicleFactory.create_batch(5)
        assert count_queries() == few


class TestHealthAndSchema:
    def test_health_reports_each_dependency(self, client):
        response = client.get("/health")
        assert response.status_code == 200
        body = response.json()
        assert body["status"] == "ok"
        checks = body["checks"]
        assert checks["database"]["status"] == "up"
        assert checks["database"]["postgis"].startswith("3.")
        separate = settings.TIMESERIES_DATABASE_ALIAS != "default"
        assert checks["timeseries_database"]["backend"] == ("external" if separate else "same as database")
        assert checks["timeseries_database"]["status"] == "up"
        assert checks["redis"]["status"] == "up"
        assert checks["kafka"]["backend"] == "embedded (in-process relay)"
        assert checks["outbox"]["unpublished"] == 0
        assert checks["google_maps"]["backend"] == "embedded (great-circle)"

    def test_health_is_503_when_redis_is_down(self, client, settings):
        settings.REDIS_URL = "redis://127.0.0.1:1/0"
        response = client.get("/health")
        assert response.status_code == 503
        assert response.json()["checks"]["redis"]["status"] == "down"

    def test_openapi_schema_describes_the_transitions(self, client):
        response = client.get("/api/schema/?format=json")
        assert response.status_code == 200
        paths = response.json()["paths"]
        for path in [
            "/api/loads/{id}/assign/",
            "/api/loads/{id}/deliver/",
            "/api/vehicles/{id}/location/",
            "/api/drivers/{id}/status/",
            "/api/auth/token/",
        ]:
            assert any(p.rstrip("/").replace("/?", "") == path.rstrip("/") for p in paths) or path in paths

    def test_every_endpoint_is_in_the_schema_without_a_warning(self, tmp_path):
        # drf-spectacular leaves out a view it cannot describe, with a warning or an error.
        call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yaml"))
        schema = (tmp_path / "schema.yaml").read_text()
        for path in ("/api/routes/optimize-fleet", "/api/fleet-plans/{id}/accept", "/api/network/lanes"):
            assert f"  {path}:" in schema

    def test_swagger_ui_is_served_offline(self, client):
        response = client.get("/api/docs/")
        assert response.status_code == 200
        assert b"swagger-ui" in response.content
        assert b"cdn." not in response.content
