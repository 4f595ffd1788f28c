"""Domain writes while the Kafka broker is down: they commit, their events wait in the outbox, and
the relay catches up once the broker is back. The broker is a private Tansu of the test's own, since
stopping the shared one would break the other test workers; the consumer-group helpers are
events/tests/test_kafka.py's."""

import uuid
from collections import Counter

import pytest
from django.contrib.auth import get_user_model
from kafka.errors import KafkaError
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from events import kafka, relay
from events.models import OutboxEvent, ProcessedEvent
from events.tests.test_kafka import GROUP_TIMEOUTS, needs_kafka, register, until
from loads.models import Load
from loads.tests.factories import FacilityFactory, LoadFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _relay_by_hand(settings):
    """No on-commit relay: the test relays through the transport it means to test."""
    settings.EVENTS_RELAY_ON_COMMIT = False


@pytest.fixture
def superuser_client():
    """A transactional test's database has no role groups (the flush drops migration data)."""
    user = get_user_model().objects.create_superuser("kafka-tests", password="unused-password")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


@needs_kafka
def test_writes_commit_while_the_broker_is_down_and_the_relay_catches_up(
    private_broker, monkeypatch, superuser_client
):
    """N writes through the API and the services; the broker dies half way. The writes commit, their
    events wait in the outbox, and once the broker is back every event reaches the consumer once."""
    writes = 20
    transport = kafka.KafkaTransport(
        private_broker.bootstrap, request_timeout_ms=500, delivery_timeout_ms=1000, max_block_ms=1000
    )
    name = f"test-loads-{uuid.uuid4().hex[:8]}"
    handled: list[str] = []
    register(monkeypatch, name, lambda envelope: handled.append(envelope["subject"]), {"LOAD_CREATED"})

    def write(index: int) -> str:
        if index % 2:
            return str(LoadFactory().pk)
        body = {
            "shipper_id": str(FacilityFactory().pk),
            "consignee_id": str(FacilityFactory(city="Memphis").pk),
            "pickup_datetime": "2030-03-03T14:00:00Z",
            "delivery_datetime": "2030-03-04T20:00:00Z",
            "weight": "15000",
            "volume": "70",
            "rate": "2400.00",
        }
        response = superuser_client.post("/api/loads/", body, format="json")
        assert response.status_code == 201, response.content
        return response.json()["id"]

    loads = []
    for index in range(writes // 2):
        loads.append(write(index))
        assert relay.relay_pending(transport) == 1
    kafka.run_consumer(
        name,
        stop=until(lambda: len(handled) >= writes // 2),
        bootstrap_servers=private_broker.bootstrap,
        **GROUP_TIMEOUTS,
    )
    assert len(handled) == writes // 2

    private_broker.stop()
    for index in range(writes // 2, writes):
        loads.append(write(index))
        if index in (writes // 2, writes - 1):
            with pytest.raises(KafkaError):
                relay.relay_pending(transport)
    assert Load.objects.filter(pk__in=loads).count() == writes
    assert relay.backlog()["unpublished"] == writes // 2
    waiting = OutboxEvent.objects.filter(published_at=None)
    assert all(event.attempts >= 1 and event.last_error for event in waiting)

    private_broker.start()  # empty: a memory broker forgets topics, messages and groups
    # Reconnecting, the relay recreates the topics and so learns the broker lost its log: the
    # events it had published go out again with those that waited, oldest first.
    assert relay.relay_pending(transport) == 0
    assert relay.backlog()["unpublished"] == writes
    assert relay.relay_pending(transport) == writes
    assert relay.backlog() == {"unpublished": 0, "oldest_age_s": 0}
    kafka.run_consumer(
        name,
        stop=until(lambda: len(handled) >= writes),
        bootstrap_servers=private_broker.bootstrap,
        **GROUP_TIMEOUTS,
    )
    transport.close()
    assert Counter(handled) == Counter(loads)  # exactly N distinct events, each once (repeats ignored)
    assert ProcessedEvent.objects.filter(consumer=name).count() == writes
