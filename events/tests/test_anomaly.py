import time

import pytest

from events.anomaly import SustainedMutationRate, observe_mutation
from events.models import OutboxEvent
from fleet.tests.factories import CarrierFactory

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


def test_an_anomaly_emits_the_event_and_an_alert(settings):
    settings.ANOMALY_WINDOW_S = 2
    fired = []
    for t in [T0, T0 + 0.5, T0 + 1.0, T0 + 1.5]:
        fired += observe_mutation(42, t)
    assert len(fired) == 1
    anomaly = OutboxEvent.objects.get(type="ANOMALY_SUSPECTED")
    assert anomaly.topic == "tms.anomalies"
    assert anomaly.envelope["data"]["user_id"] == 42
    alert = OutboxEvent.objects.get(type="SYSTEM_ALERT")
    assert alert.envelope["data"]["source"] == "anomaly-detector"


def test_api_mutations_are_observed_within_seconds(dispatcher, settings, django_capture_on_commit_callbacks):
    """A client hammering the API at more than 1 write/s is flagged right after the write that
    tips it over, with no background job in between."""
    settings.ANOMALY_WINDOW_S = 2
    carrier = CarrierFactory()
    start = time.time()
    flagged_after = None
    while time.time() - start < 4 and flagged_after is None:
        with django_capture_on_commit_callbacks(execute=True):
            dispatcher.patch(f"/api/carriers/{carrier.pk}/", {"name": f"n{time.time()}"}, format="json")
        if OutboxEvent.objects.filter(type="ANOMALY_SUSPECTED").exists():
            flagged_after = time.time() - start
        time.sleep(0.2)
    assert flagged_after is not None
    assert flagged_after < 3
    event = OutboxEvent.objects.get(type="ANOMALY_SUSPECTED")
    assert event.envelope["data"]["user_id"] == dispatcher.user.pk
