"""Hostile input gets a 4xx in the error envelope and changes nothing, never a 500: JSON nested
50,000 deep, dates at the ends of the calendar, empty polygons, NUL bytes in tokens."""

import json

import pytest
from rest_framework.authtoken.models import Token

from drivers.models import Driver
from drivers.tests.factories import DriverFactory
from events.models import AuditLog, OutboxEvent
from fleet.tests.factories import VehicleFactory
from loads.models import Load
from tms.parsers import MAX_JSON_DEPTH, loads
from tms.tests.factories import UserFactory
from tms.tests.test_api_conventions import assert_envelope
from tms.tests.test_ws import closed_with, connect, request, run

DEEP = "[" * 50_000 + "]" * 50_000
DEEP_OBJECT = '{"a":' * 50_000 + "1" + "}" * 50_000


def nothing_written() -> tuple[int, int, int]:
    return Load.objects.count(), AuditLog.objects.count(), OutboxEvent.objects.count()


@pytest.mark.django_db
class TestDeeplyNestedJson:
    @pytest.mark.parametrize("body", [DEEP, DEEP_OBJECT])
    @pytest.mark.parametrize(
        "path",
        [
            "/api/auth/token/",
            "/api/loads/",
            "/api/events/publish",
            "/osmand/?id=phone",
            "/api/tracking/batch",
        ],
    )
    def test_is_a_400_that_writes_nothing(self, dispatcher, path, body):
        before = nothing_written()
        response = dispatcher.generic("POST", path, body, content_type="application/json")
        assert_envelope(response, 400, "malformed_request")
        assert nothing_written() == before

    def test_in_a_within_polygon_is_a_400(self, dispatcher):
        within = '{"type": "Polygon", "coordinates": ' + DEEP + "}"
        assert_envelope(dispatcher.get("/api/vehicles/", {"within": within}), 400, "validation_error")

    def test_nesting_up_to_the_limit_is_parsed(self, dispatcher):
        body = "[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH
        response = dispatcher.generic("POST", "/api/loads/", body, content_type="application/json")
        assert_envelope(response, 400, "validation_error")  # a list, not a load: but parsed


@pytest.mark.parametrize(
    ("document", "depth_ok"),
    [
        ("[]", True),
        ('{"a": [1, {"b": "[[[[[[[[[["}]}', True),  # brackets inside strings do not count
        ('"\\"[[[["', True),  # nor after an escaped quote
        ('["\\\\", "' + "[" * 100 + '", "", "\\u005b"]', True),  # an escaped backslash ends no string
        ('["\\\\", ' + "[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH + "]", False),  # nor hides brackets
        ("[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH, True),
        ("[" * (MAX_JSON_DEPTH + 1) + "]" * (MAX_JSON_DEPTH + 1), False),
        ("[{" * 40 + "}]" * 40, False),  # mixed brackets count together
        ("[[]," * 70 + "[]" + "]" * 70, False),
    ],
)
def test_depth_is_bounded_before_parsing(document, depth_ok):
    if depth_ok:
        assert loads(document) == json.loads(document)
    else:
        with pytest.raises(ValueError, match="nested deeper"):
            loads(document)


@pytest.mark.django_db
class TestDatesOutOfRange:
    @pytest.mark.parametrize("when", ["0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z"])
    @pytest.mark.parametrize("param", ["at", "start", "end"])
    def test_on_the_hos_clock_are_a_400(self, dispatcher, when, param):
        driver = DriverFactory()
        response = dispatcher.get(f"/api/drivers/{driver.pk}/hos", {param: when})
        error = assert_envelope(response, 400, "validation_error")
        assert param in error["details"]

    @pytest.mark.parametrize("when", ["0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z"])
    def test_on_a_duty_status_update_are_a_400_that_writes_nothing(self, dispatcher, when):
        driver = DriverFactory()
        before = nothing_written()
        response = dispatcher.put(
            f"/api/drivers/{driver.pk}/status", {"status": "ON_DUTY", "at": when}, format="json"
        )
        error = assert_envelope(response, 400, "validation_error")
        assert set(error["details"]) == {"at"}
        assert nothing_written() == before
        assert Driver.objects.get(pk=driver.pk).status == driver.status

    @pytest.mark.parametrize("when", ["0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z"])
    @pytest.mark.parametrize("param", ["start", "end"])
    @pytest.mark.parametrize("bucket", [None, "1h"])
    def test_on_tracking_history_are_a_400(self, dispatcher, when, param, bucket):
        vehicle = VehicleFactory()
        query = {param: when, **({"bucket": bucket} if bucket else {})}
        error = assert_envelope(
            dispatcher.get(f"/api/vehicles/{vehicle.pk}/tracking", query), 400, "validation_error"
        )
        assert param in error["details"]

    def test_on_a_driver_location_are_a_400(self, dispatcher):
        driver = DriverFactory()
        body = {"longitude": 1, "latitude": 1, "recorded_at": "0001-01-01T00:00:00Z"}
        response = dispatcher.put(f"/api/drivers/{driver.pk}/location", body, format="json")
        assert_envelope(response, 400, "validation_error")
        assert Driver.objects.get(pk=driver.pk).current_location is None


@pytest.mark.django_db
@pytest.mark.parametrize(
    "within",
    [
        '{"type": "Polygon", "coordinates": [[]]}',
        '{"type": "Polygon", "coordinates": []}',
        '{"type": "MultiPolygon", "coordinates": []}',
        '{"type": "MultiPolygon", "coordinates": [[[]]]}',
    ],
)
def test_an_empty_polygon_in_within_is_a_400(dispatcher, within):
    assert_envelope(dispatcher.get("/api/vehicles/", {"within": within}), 400, "validation_error")


@pytest.mark.django_db
def test_a_nul_byte_in_an_api_token_is_a_401(anon_client):
    response = anon_client.get("/api/loads/", HTTP_AUTHORIZATION="Token abc\x00def")
    assert_envelope(response, 401, "authentication_failed")


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("header", [b"Token abc\x00def", b"Token " + b"\x00" * 40])
def test_a_nul_byte_in_the_websocket_token_closes_with_4401(header):
    async def scenario():
        stream = await connect("/ws", headers=[(b"authorization", header)])
        return await closed_with(stream)

    assert run(scenario) == 4401


@pytest.mark.django_db(transaction=True)
def test_a_deeply_nested_websocket_message_is_an_error_and_the_stream_stays_open():
    token = Token.objects.create(user=UserFactory(is_superuser=True)).key

    async def scenario():
        stream = await connect("/ws", headers=[(b"authorization", f"Token {token}".encode())])
        await stream.send_to(text_data="[" * 8000 + "]" * 8000)
        error = await stream.receive_json_from(timeout=3)
        pong = await request(stream, {"action": "ping"})
        await stream.disconnect()
        return error, pong

    error, pong = run(scenario)
    assert error["code"] == "invalid_json"
    assert pong == {"type": "pong"}
