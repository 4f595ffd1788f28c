"""The `webhooks` consumer as `manage.py consume webhooks` runs it: a Kafka consumer group reading
the event stream from a real broker (Tansu, TMS_TEST_KAFKA_BOOTSTRAP), then the sender."""

import dataclasses
import json
import uuid
from collections import Counter

import pytest
from kafka.errors import KafkaError

from events import kafka
from events.consumers import REGISTRY
from events.models import ProcessedEvent
from events.tests.test_kafka import (
    BOOTSTRAP,
    GROUP_TIMEOUTS,
    alerts,
    needs_kafka,
    relay_through_kafka,
    start_group_at_end,
    until,
)
from webhooks import sender
from webhooks.models import DeliveryStatus, WebhookDelivery
from webhooks.tests.factories import SubscriptionFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("private_targets")]


@needs_kafka
def test_events_from_kafka_reach_the_receiver_once(receiver, monkeypatch, settings):
    settings.EVENTS_RELAY_ON_COMMIT = False  # relayed through Kafka by hand below
    kafka.ensure_topics(BOOTSTRAP)
    # The registered consumer as a group of its own, from the topic's end: other runs share the broker.
    name = f"test-webhooks-{uuid.uuid4().hex[:8]}"
    monkeypatch.setitem(REGISTRY, name, dataclasses.replace(REGISTRY["webhooks"], name=name))
    start_group_at_end(name, ["tms.system.alerts"])
    SubscriptionFactory(url=receiver.url(), event_types=["SYSTEM_ALERT"])
    events = alerts(["yard-1", "yard-2"], 3)
    ids = {str(event.id) for event in events}
    relay_through_kafka()
    try:
        kafka.run_consumer(
            name,
            stop=until(lambda: WebhookDelivery.objects.filter(event_id__in=ids).count() == 3),
            bootstrap_servers=BOOTSTRAP,
            **GROUP_TIMEOUTS,
        )
    finally:
        admin = kafka.admin_client(BOOTSTRAP)
        try:
            admin.delete_groups([name])  # the shared broker would keep it
        except KafkaError:
            pass  # still closing: harmless
        finally:
            admin.close()
    assert ProcessedEvent.objects.filter(consumer=name, event_id__in=ids).count() == 3
    sender.send_due_deliveries()
    # The group may also have read a few older alerts of other runs (see events/tests/test_kafka.py).
    sent = Counter(json.loads(request.body)["id"] for request in receiver.requests)
    assert {event_id: sent[event_id] for event_id in ids} == dict.fromkeys(ids, 1)
    mine = WebhookDelivery.objects.filter(event_id__in=ids)
    assert set(mine.values_list("status", flat=True)) == {DeliveryStatus.SUCCEEDED}
