"""The outbox relay and the consumers, through the embedded (in-process) transport."""

import uuid
from datetime import timedelta

import pytest
import redis
from django.db import OperationalError, transaction
from django.utils import timezone

from events import relay
from events.consumers import Consumer, Outcome, deliver, deliver_batch, deliver_to_all
from events.models import DeadLetter, OutboxEvent, ProcessedEvent
from events.outbox import emit
from events.taxonomy import EventType
from tms.context import acting_as, current_actor

pytestmark = pytest.mark.django_db


def alert(message: str = "m") -> dict:
    return {"severity": "INFO", "message": message, "source": "tests"}


def emit_alerts(count: int) -> list[OutboxEvent]:
    with transaction.atomic():
        return [emit(EventType.SYSTEM_ALERT, subject=f"s{i}", data=alert(str(i))) for i in range(count)]


class Recording:
    name = "recording"

    def __init__(self, fail_times: int = 0):
        self.published: list[str] = []
        self.fail_times = fail_times

    def publish(self, events):
        if self.fail_times:
            self.fail_times -= 1
            raise ConnectionError("broker unreachable")
        self.published.extend(str(e.id) for e in events)


def test_relay_publishes_in_order_and_marks_rows_once():
    events = emit_alerts(5)
    transport = Recording()
    assert relay.relay_pending(transport) == 5
    assert transport.published == [str(e.id) for e in events]
    assert not OutboxEvent.objects.filter(published_at=None).exists()
    assert relay.relay_pending(transport) == 0
    assert len(transport.published) == 5


def test_relay_batches_are_bounded(settings):
    settings.EVENTS_RELAY_BATCH_SIZE = 2
    emit_alerts(5)
    assert relay.relay_batch(Recording()) == 2
    assert OutboxEvent.objects.filter(published_at=None).count() == 3


def test_a_transport_failure_keeps_the_events_and_counts_the_attempt():
    events = emit_alerts(3)
    transport = Recording(fail_times=1)
    with pytest.raises(ConnectionError):
        relay.relay_pending(transport)
    assert OutboxEvent.objects.filter(published_at=None).count() == 3
    failed = OutboxEvent.objects.get(pk=events[0].pk)
    assert failed.attempts == 1
    assert failed.last_error == "ConnectionError: broker unreachable"
    assert relay.relay_pending(transport) == 3
    assert transport.published == [str(e.id) for e in events]


def test_the_relay_reads_envelopes_as_stored_and_decodes_them_only_on_demand():
    (event,) = emit_alerts(1)
    (pending,) = relay.pending_events(10)
    assert (pending.sequence, pending.id, pending.type, pending.topic, pending.subject) == (
        event.sequence,
        event.id,
        "SYSTEM_ALERT",
        "tms.system.alerts",
        event.subject,
    )
    assert isinstance(pending.envelope_json, str)
    assert pending.envelope == event.envelope


def test_a_row_committed_inside_a_gap_of_the_batch_is_not_marked_published():
    """Rows are marked by their sequences: a row whose sequence lies between two of the batch's,
    committed while the batch was in the transport, was never published and must stay pending."""
    first, gap, last = emit_alerts(3)
    OutboxEvent.objects.filter(pk=gap.pk).delete()  # a rolled-back emit leaves such a gap

    class CommitsInTheGap(Recording):
        def publish(self, events):
            super().publish(events)
            OutboxEvent.objects.create(
                sequence=gap.sequence,
                id=gap.id,
                type=gap.type,
                topic=gap.topic,
                subject=gap.subject,
                envelope=gap.envelope,
            )

    transport = CommitsInTheGap()
    assert relay.relay_batch(transport) == 2
    assert transport.published == [str(first.id), str(last.id)]
    assert list(OutboxEvent.objects.filter(published_at=None).values_list("pk", flat=True)) == [gap.pk]
    assert relay.relay_batch(Recording()) == 1


def test_backlog_reports_count_and_age():
    assert relay.backlog() == {"unpublished": 0, "oldest_age_s": 0}
    events = emit_alerts(2)
    OutboxEvent.objects.filter(pk=events[0].pk).update(created_at=timezone.now() - timedelta(seconds=90))
    backlog = relay.backlog()
    assert backlog["unpublished"] == 2
    assert 89 < backlog["oldest_age_s"] < 95


def test_published_rows_are_pruned_after_the_retention():
    old, recent = emit_alerts(2)
    relay.relay_pending(Recording())
    OutboxEvent.objects.filter(pk=old.pk).update(published_at=timezone.now() - timedelta(hours=100))
    assert relay.prune_published(timedelta(hours=72)) == 1
    assert list(OutboxEvent.objects.values_list("pk", flat=True)) == [recent.pk]


class TestConsumers:
    def envelope(self, event_type: str = "SYSTEM_ALERT") -> dict:
        return {"id": str(uuid.uuid4()), "type": event_type, "subject": "x", "data": {}}

    def test_redelivery_has_no_second_effect(self):
        seen: list[str] = []
        consumer = Consumer(name="counter", handler=lambda e: seen.append(e["id"]))
        envelope = self.envelope()
        assert deliver(consumer, envelope) == Outcome.PROCESSED
        assert deliver(consumer, envelope) == Outcome.DUPLICATE
        assert seen == [envelope["id"]]
        assert ProcessedEvent.objects.filter(consumer="counter").count() == 1

    def test_consumers_only_get_their_types(self):
        seen: list[str] = []
        consumer = Consumer(
            name="loads-only",
            handler=lambda e: seen.append(e["type"]),
            event_types=frozenset({"LOAD_CREATED"}),
        )
        assert deliver(consumer, self.envelope("SYSTEM_ALERT")) == Outcome.SKIPPED
        assert deliver(consumer, self.envelope("LOAD_CREATED")) == Outcome.PROCESSED
        assert seen == ["LOAD_CREATED"]
        assert consumer.topics == ["tms.loads"]

    def test_a_consumer_acts_for_nobody_even_inside_a_users_request(self):
        actors: list[int | None] = []
        consumer = Consumer(name="who", handler=lambda e: actors.append(current_actor()))
        with acting_as(7):
            assert deliver(consumer, self.envelope()) == Outcome.PROCESSED
            assert current_actor() == 7
        assert actors == [None]

    def test_a_consumer_skips_what_its_accepts_refuses_without_touching_the_database(
        self, django_assert_num_queries
    ):
        seen: list[str] = []
        consumer = Consumer(
            name="signed", handler=lambda e: seen.append(e["id"]), accepts=lambda e: "actor" in e
        )
        with django_assert_num_queries(0):
            assert deliver(consumer, self.envelope()) == Outcome.SKIPPED
        signed = {**self.envelope(), "actor": 7}
        assert deliver(consumer, signed) == Outcome.PROCESSED
        assert seen == [signed["id"]]

    def test_a_batched_consumer_records_a_batch_in_one_statement(self, django_assert_num_queries):
        seen: list[str] = []
        consumer = Consumer(
            name="batched",
            handler=lambda e: seen.append(e["id"]),
            event_types=frozenset({"SYSTEM_ALERT"}),
            batched=True,
        )
        first, second, before, other = (
            self.envelope(),
            self.envelope(),
            self.envelope(),
            self.envelope("LOAD_CREATED"),
        )
        assert deliver(consumer, before) == Outcome.PROCESSED
        batch = [first, before, other, second, first]
        with django_assert_num_queries(3):  # savepoint, the INSERT, release
            outcomes = deliver_batch(consumer, batch)
        assert outcomes == {Outcome.PROCESSED: 2, Outcome.DUPLICATE: 2, Outcome.SKIPPED: 1}
        assert seen == [before["id"], first["id"], second["id"]]
        rows = ProcessedEvent.objects.filter(consumer="batched").values_list("event_id", flat=True)
        assert sorted(str(event_id) for event_id in rows) == sorted([first["id"], second["id"], before["id"]])

    def test_a_batch_handler_gets_the_new_events_of_a_batch_at_once_in_order(self):
        calls: list[list[str]] = []
        consumer = Consumer(
            name="batched",
            handler=lambda e: calls.append([e["id"]]),
            batched=True,
            batch_handler=lambda envelopes: calls.append([e["id"] for e in envelopes]),
        )
        first, second, third = self.envelope(), self.envelope(), self.envelope()
        assert deliver_batch(consumer, [first, second]) == {Outcome.PROCESSED: 2}
        assert deliver_batch(consumer, [second, third, first]) == {Outcome.PROCESSED: 1, Outcome.DUPLICATE: 2}
        assert calls == [[first["id"], second["id"]], [third["id"]]]

    def test_a_handler_failing_in_a_batch_costs_only_its_own_event(self):
        seen: list[str] = []
        poison = self.envelope()

        def handler(envelope):
            if envelope["id"] == poison["id"]:
                raise ValueError("cannot parse")
            seen.append(envelope["id"])

        consumer = Consumer(name="batched", handler=handler, max_attempts=2, backoff_s=0, batched=True)
        good = [self.envelope(), self.envelope()]
        outcomes = deliver_batch(consumer, [good[0], poison, good[1]])
        assert outcomes == {Outcome.PROCESSED: 2, Outcome.DEAD_LETTERED: 1}
        # The batch's transaction rolled back, then each event went alone (the first twice, then).
        assert seen == [good[0]["id"], good[0]["id"], good[1]["id"]]
        rows = ProcessedEvent.objects.filter(consumer="batched").values_list("event_id", flat=True)
        assert sorted(str(event_id) for event_id in rows) == sorted(e["id"] for e in good)
        assert DeadLetter.objects.get().event_id == uuid.UUID(poison["id"])

    def test_a_transient_failure_is_retried(self):
        calls: list[int] = []

        def flaky(envelope):
            calls.append(1)
            if len(calls) < 3:
                raise TimeoutError("slow")

        consumer = Consumer(name="flaky", handler=flaky, max_attempts=3, backoff_s=0)
        assert deliver(consumer, self.envelope()) == Outcome.PROCESSED
        assert len(calls) == 3
        assert not DeadLetter.objects.exists()

    @pytest.mark.parametrize(
        "down",
        [
            redis.exceptions.ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused."),
            ConnectionRefusedError(111, "Connection refused"),
            OperationalError("connection to server failed"),
        ],
        ids=["redis", "socket", "database"],
    )
    def test_a_dependency_that_stays_down_is_raised_not_dead_lettered(self, down):
        """A service the handler needs is down: nothing wrong with the event, so no dead letter.
        The caller hands it over again later (the Kafka consumer rewinds its batch; the relay
        keeps the outbox rows)."""

        def needs_it(envelope):
            raise down

        consumer = Consumer(name="broadcast", handler=needs_it, max_attempts=2, backoff_s=0)
        with pytest.raises(type(down)):
            deliver(consumer, self.envelope())
        assert not DeadLetter.objects.exists()
        assert not ProcessedEvent.objects.filter(consumer="broadcast").exists()

    def test_the_in_process_relay_keeps_events_whose_consumer_lost_a_dependency(self, monkeypatch):
        (event,) = emit_alerts(1)
        calls: list[str] = []

        def broadcast(envelope):
            calls.append(envelope["id"])
            if len(calls) <= 3:  # down for the first relay's three attempts
                raise redis.exceptions.ConnectionError("Connection refused.")

        monkeypatch.setattr(
            "events.consumers.REGISTRY",
            {"broadcast": Consumer(name="broadcast", handler=broadcast, backoff_s=0)},
        )
        with pytest.raises(redis.exceptions.ConnectionError):
            relay.relay_pending(relay.InProcessTransport())
        assert OutboxEvent.objects.filter(published_at=None).count() == 1
        assert relay.relay_pending(relay.InProcessTransport()) == 1
        assert calls == [str(event.id)] * 4
        assert ProcessedEvent.objects.filter(consumer="broadcast", event_id=event.id).exists()
        assert not DeadLetter.objects.exists()

    def test_a_poison_event_is_dead_lettered_and_others_still_run(self):
        written: list[str] = []

        def broken(envelope):
            ProcessedEvent.objects.create(consumer="side-effect", event_id=uuid.uuid4())
            raise ValueError("cannot parse")

        consumers = [
            Consumer(name="broken", handler=broken, max_attempts=2, backoff_s=0),
            Consumer(name="fine", handler=lambda e: written.append(e["id"])),
        ]
        envelope = self.envelope()
        outcomes = deliver_to_all(envelope, consumers)
        assert outcomes == {"broken": Outcome.DEAD_LETTERED, "fine": Outcome.PROCESSED}
        letter = DeadLetter.objects.get()
        assert (letter.consumer, letter.attempts, letter.error) == ("broken", 2, "ValueError: cannot parse")
        assert letter.envelope == envelope
        # The failed attempts left nothing behind: no side effect, not marked processed.
        assert not ProcessedEvent.objects.filter(consumer__in=["side-effect", "broken"]).exists()
        assert written == [envelope["id"]]
