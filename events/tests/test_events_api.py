import pytest

from events.models import AuditLog, OutboxEvent

pytestmark = pytest.mark.django_db

ALERT = {"severity": "CRITICAL", "message": "Yard gate down", "source": "ops"}


class TestPublish:
    def test_a_dispatcher_publishes_a_valid_event_to_its_topic(self, dispatcher):
        response = dispatcher.post(
            "/api/events/publish", {"type": "SYSTEM_ALERT", "subject": "yard-7", "data": ALERT}, format="json"
        )
        assert response.status_code == 202
        body = response.json()
        assert body["topic"] == "tms.system.alerts"
        event = OutboxEvent.objects.get(id=body["id"])
        assert event.envelope["data"] == {**ALERT, "details": {}}
        assert AuditLog.objects.get(table_name="outbox_events").user == dispatcher.user

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"type": "NOT_A_TYPE", "subject": "x", "data": ALERT}, "type"),
            ({"type": "SYSTEM_ALERT", "subject": "x", "data": {**ALERT, "severity": "MEH"}}, "data"),
            ({"type": "SYSTEM_ALERT", "subject": "x", "data": "text"}, "data"),
            ({"type": "SYSTEM_ALERT", "data": ALERT}, "subject"),
        ],
    )
    def test_invalid_events_are_400_and_not_published(self, dispatcher, body, field):
        response = dispatcher.post("/api/events/publish", body, format="json")
        assert response.status_code == 400
        assert field in response.json()["error"]["details"]
        assert not OutboxEvent.objects.exists()
        assert not AuditLog.objects.exists()

    @pytest.mark.parametrize("client_fixture", ["viewer", "driver_client"])
    def test_only_operators_publish(self, request, client_fixture):
        client = request.getfixturevalue(client_fixture)
        body = {"type": "SYSTEM_ALERT", "subject": "x", "data": ALERT}
        assert client.post("/api/events/publish", body, format="json").status_code == 403
        assert not OutboxEvent.objects.exists()


class TestEventStore:
    def test_drivers_cannot_read_the_event_stream(self, driver_client):
        assert driver_client.get("/api/events/").status_code == 403
