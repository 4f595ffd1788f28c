import uuid
from datetime import UTC, datetime

import pytest

from events.anomaly import SustainedMutationRate
from events.consumers import REGISTRY, Outcome, deliver
from events.models import OutboxEvent, ProcessedEvent
from events.taxonomy import TOPICS

pytestmark = pytest.mark.django_db

T0 = 1_800_000_000.0  # a fixed instant, whole second


def feed(rule, user_id: int, times: list[float]):
    return [rule.observe(user_id, t) for t in times]


class TestSustainedMutationRate:
    def test_two_a_second_for_the_whole_window_fires_once(self):
        rule = SustainedMutationRate(rate_per_s=1, window_s=5)
        results = feed(rule, 7, [T0 + i * 0.5 for i in range(16)])  # 8 s at 2/s
        fired = [r for r in results if r is not None]
        assert len(fired) == 1
        anomaly = fired[0]
        # At T0+4.0 the five seconds hold 2, 2, 2, 2, 1: nine mutations, more than 1/s x 5 s.
        assert (anomaly.user_id, anomaly.window_s, anomaly.mutations) == (7, 5, 9)
        assert anomaly.rate_per_s == 1.8
        assert results.index(anomaly) == 8

    def test_exactly_one_a_second_does_not_fire(self):
        rule = SustainedMutationRate(rate_per_s=1, window_s=5)
        assert not any(feed(rule, 7, [T0 + i for i in range(20)]))

    def test_a_burst_in_one_second_is_not_sustained(self):
        rule = SustainedMutationRate(rate_per_s=1, window_s=5)
        assert not any(feed(rule, 7, [T0 + i * 0.01 for i in range(50)]))

    def test_a_quiet_second_breaks_the_run(self):
        rule = SustainedMutationRate(rate_per_s=1, window_s=5)
        times = [T0 + s + 0.1 * k for s in (0, 1, 3, 4, 5) for k in range(3)]  # second 2 silent
        assert not any(feed(rule, 7, times))

    def test_users_are_counted_apart(self):
        rule = SustainedMutationRate(rate_per_s=1, window_s=3)
        # Together 2/s, but each user alone only 1/s: nobody is flagged.
        interleaved = [(1 + i % 2, T0 + i * 0.5) for i in range(12)]
        assert not any(rule.observe(user, t) for user, t in interleaved)


def envelope(actor: int | None, at: float, type: str = "LOAD_UPDATED") -> dict:
    """A change as the consumer receives it: an event a user's request emitted at `at`."""
    event = {
        "id": str(uuid.uuid4()),
        "type": type,
        "subject": str(uuid.uuid4()),
        "time": datetime.fromtimestamp(at, UTC).isoformat(),
        "data": {},
    }
    return event if actor is None else {**event, "actor": actor}


def test_an_anomaly_emits_the_event_and_an_alert(settings):
    settings.ANOMALY_WINDOW_S = 2
    detector = REGISTRY["anomaly-detector"]
    outcomes = [deliver(detector, envelope(42, t)) for t in [T0, T0 + 0.5, T0 + 1.0, T0 + 1.5]]
    assert outcomes == [Outcome.PROCESSED] * 4
    anomaly = OutboxEvent.objects.get(type="ANOMALY_SUSPECTED")
    assert anomaly.topic == "tms.anomalies"
    assert anomaly.envelope["data"]["user_id"] == 42
    alert = OutboxEvent.objects.get(type="SYSTEM_ALERT")
    assert alert.envelope["data"]["source"] == "anomaly-detector"
    # The detector's own events are the system's: no actor, so it never counts them.
    assert "actor" not in anomaly.envelope and "actor" not in alert.envelope


def test_a_redelivered_change_is_counted_once(settings):
    settings.ANOMALY_WINDOW_S = 2
    detector = REGISTRY["anomaly-detector"]
    first = envelope(42, T0)
    changes = [first, first, first, envelope(42, T0 + 1.0)]
    assert [deliver(detector, change) for change in changes] == [
        Outcome.PROCESSED,
        Outcome.DUPLICATE,
        Outcome.DUPLICATE,
        Outcome.PROCESSED,
    ]
    assert not OutboxEvent.objects.filter(type="ANOMALY_SUSPECTED").exists()


def test_events_the_system_emits_on_its_own_are_skipped_before_any_database_work(
    settings, django_assert_num_queries
):
    settings.ANOMALY_WINDOW_S = 2
    detector = REGISTRY["anomaly-detector"]
    with django_assert_num_queries(0):
        outcomes = [deliver(detector, envelope(None, T0 + i * 0.25)) for i in range(12)]
    assert set(outcomes) == {Outcome.SKIPPED}
    assert not ProcessedEvent.objects.exists()


@pytest.mark.parametrize("telemetry", ["VEHICLE_LOCATION_UPDATED", "DRIVER_LOCATION_UPDATED"])
def test_a_users_fleet_feed_is_telemetry_and_never_suspected(settings, django_assert_num_queries, telemetry):
    """A dispatcher's token feeding positions four times a second for the whole window: no alert."""
    settings.ANOMALY_WINDOW_S = 2
    detector = REGISTRY["anomaly-detector"]
    with django_assert_num_queries(0):
        outcomes = [deliver(detector, envelope(42, T0 + i * 0.25, telemetry)) for i in range(12)]
    assert set(outcomes) == {Outcome.SKIPPED}
    assert not OutboxEvent.objects.filter(type__in=["ANOMALY_SUSPECTED", "SYSTEM_ALERT"]).exists()
    # The same user's real changes at that rate still are.
    for t in [T0, T0 + 0.5, T0 + 1.0, T0 + 1.5]:
        deliver(detector, envelope(42, t))
    assert OutboxEvent.objects.filter(type="ANOMALY_SUSPECTED").count() == 1


def test_the_detector_is_a_registered_consumer_of_every_topic():
    detector = REGISTRY["anomaly-detector"]
    assert detector.event_types == frozenset()  # every type: a user may cause any of them
    assert set(detector.topics) == set(TOPICS.values())
