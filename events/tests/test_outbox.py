import uuid

import pytest
from django.db import transaction

from events.models import OutboxEvent
from events.outbox import InvalidEventData, UnknownEventType, emit
from events.relay import wake_relay
from events.schemas import SCHEMAS
from events.taxonomy import TOPICS, EventType
from tms.context import acting_as

pytestmark = pytest.mark.django_db
ALERT = {"severity": "WARNING", "message": "hello", "source": "tests"}


def test_every_event_type_has_a_topic():
    assert set(TOPICS) == set(EventType)
    assert len(EventType) == 36


def test_emit_writes_a_cloudevent_in_the_callers_transaction():
    subject = uuid.uuid4()
    with transaction.atomic():
        event = emit(EventType.SYSTEM_ALERT, subject=subject, data=ALERT)
    stored = OutboxEvent.objects.get(pk=event.pk)
    envelope = stored.envelope
    assert envelope["specversion"] == "1.0"
    assert envelope["id"] == str(stored.id)
    assert envelope["type"] == "SYSTEM_ALERT"
    assert envelope["subject"] == str(subject)
    assert envelope["dataschema"] == "/schemas/SYSTEM_ALERT/v1"
    assert envelope["data"] == {**ALERT, "details": {}}
    assert stored.topic == "tms.system.alerts"
    assert stored.published_at is None


def test_an_event_emitted_for_a_user_names_them_as_its_actor():
    with transaction.atomic(), acting_as(7):
        mine = emit(EventType.SYSTEM_ALERT, subject="x", data=ALERT)
    with transaction.atomic():
        systems = emit(EventType.SYSTEM_ALERT, subject="x", data=ALERT)
    assert OutboxEvent.objects.get(pk=mine.pk).envelope["actor"] == 7
    assert "actor" not in OutboxEvent.objects.get(pk=systems.pk).envelope


def test_a_transaction_wakes_the_relay_once_however_many_events_it_emits(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks, transaction.atomic():
        for index in range(3):
            emit(EventType.SYSTEM_ALERT, subject=f"s{index}", data=ALERT)
    assert callbacks == [wake_relay]


def test_a_wake_up_lost_with_a_rolled_back_savepoint_is_registered_again(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks, transaction.atomic():
        try:
            with transaction.atomic():
                emit(EventType.SYSTEM_ALERT, subject="gone", data=ALERT)
                raise RuntimeError("roll the savepoint back")
        except RuntimeError:
            pass
        emit(EventType.SYSTEM_ALERT, subject="kept", data=ALERT)
        emit(EventType.SYSTEM_ALERT, subject="kept too", data=ALERT)
    assert callbacks == [wake_relay]
    assert list(OutboxEvent.objects.values_list("subject", flat=True).order_by("sequence")) == [
        "kept",
        "kept too",
    ]


@pytest.mark.django_db(transaction=True)
def test_emit_outside_a_transaction_is_refused():
    with pytest.raises(RuntimeError, match=r"inside transaction\.atomic"):
        emit(EventType.SYSTEM_ALERT, subject="x", data=ALERT)
    assert not OutboxEvent.objects.exists()


@pytest.mark.parametrize(
    "data",
    [
        {},
        {**ALERT, "severity": "MILD"},
        {**ALERT, "unexpected": 1},
    ],
)
def test_data_that_breaks_the_schema_is_refused(data):
    with pytest.raises(InvalidEventData), transaction.atomic():
        emit(EventType.SYSTEM_ALERT, subject="x", data=data)
    assert not OutboxEvent.objects.exists()


def test_every_type_has_a_schema():
    assert set(SCHEMAS) == set(EventType)


@pytest.mark.parametrize("event_type", sorted(SCHEMAS))
def test_every_schema_refuses_fields_it_does_not_declare(event_type):
    """What the code sends is declared; anything else is a mistake the outbox must not carry."""
    assert SCHEMAS[event_type].model_config["extra"] == "forbid"


def test_unknown_event_types_are_refused():
    with pytest.raises(UnknownEventType), transaction.atomic():
        emit("LOAD_TELEPORTED", subject="x", data={})
