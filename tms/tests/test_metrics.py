"""GET /metrics: what operators scrape, and who may read it."""

import re

import pytest

from events.outbox import emit
from events.taxonomy import EventType

pytestmark = pytest.mark.django_db


def sample(text: str, name: str, **labels: str) -> float:
    """The value of one sample of the Prometheus text `text` (0 when absent)."""
    wanted = ",".join(f'{key}="{value}"' for key, value in labels.items())
    pattern = rf"^{re.escape(name)}(?:\{{{re.escape(wanted)}\}})? (\S+)$" if labels else rf"^{name} (\S+)$"
    match = re.search(pattern, text, re.M)
    return float(match.group(1)) if match else 0.0


def scrape(client) -> str:
    response = client.get("/metrics")
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain")
    return response.content.decode()


def test_requests_are_counted_by_route_pattern_and_status(dispatcher, anon_client):
    route = "api/loads/?$"
    before = sample(
        scrape(anon_client),
        "tms_http_request_duration_seconds_count",
        method="GET",
        route=route,
        status="200",
    )

    for _ in range(3):
        assert dispatcher.get("/api/loads/").status_code == 200
    dispatcher.get("/api/loads/?status=NOPE")  # a 400 counts under its own status

    text = scrape(anon_client)
    after = sample(text, "tms_http_request_duration_seconds_count", method="GET", route=route, status="200")
    assert after - before == 3
    assert (
        sample(text, "tms_http_request_duration_seconds_count", method="GET", route=route, status="400") >= 1
    )


def test_the_outbox_backlog_and_the_age_of_its_oldest_event_are_reported(anon_client):
    emit(
        EventType.SYSTEM_ALERT,
        subject="metrics-test",
        data={"severity": "INFO", "message": "hello", "source": "tests"},
    )

    text = scrape(anon_client)

    assert sample(text, "tms_outbox_unpublished") >= 1
    assert sample(text, "tms_outbox_oldest_age_seconds") >= 0
    assert "tms_tracking_relay_unpublished" in text


def test_gps_fixes_are_counted(dispatcher, anon_client):
    from fleet.tests.factories import VehicleFactory

    vehicle = VehicleFactory()
    before = sample(scrape(anon_client), "tms_gps_fixes_ingested_total", path="batch")
    body = {
        "points": [
            {
                "vehicle_id": str(vehicle.pk),
                "longitude": -87.6,
                "latitude": 41.8,
                "recorded_at": f"2026-12-01T10:0{i}:00Z",
            }
            for i in range(4)
        ]
    }
    assert dispatcher.post("/api/tracking/batch", body, format="json").json()["accepted"] == 4

    assert sample(scrape(anon_client), "tms_gps_fixes_ingested_total", path="batch") - before == 4


def test_other_addresses_need_the_operators_token(client, settings):
    settings.TMS_METRICS_TOKEN = "s3cret-metrics-token"
    remote = {"REMOTE_ADDR": "203.0.113.9"}

    refused = client.get("/metrics", **remote)
    wrong = client.get("/metrics", HTTP_AUTHORIZATION="Bearer nope", **remote)
    allowed = client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-metrics-token", **remote)

    assert refused.status_code == wrong.status_code == 403
    assert refused.json()["error"]["code"] == "forbidden"
    assert allowed.status_code == 200 and b"tms_http_request_duration_seconds" in allowed.content


def test_an_allowed_network_reads_without_a_token(client, settings):
    import ipaddress

    settings.TMS_METRICS_ALLOWED_NETWORKS = [ipaddress.ip_network("10.0.0.0/8")]

    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="11.1.2.3").status_code == 403
