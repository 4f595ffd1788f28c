"""The loop of the long-running relays (events.relay.poll_forever): straight on while there is
work, the poll interval when idle, doubling back-off while failing, the stop flag between polls."""

import logging
import threading
import time
import uuid

import pytest
from django.db import connection

from events import relay
from events.relay import Wakeup, notify


@pytest.fixture
def sleeps(monkeypatch) -> list[float]:
    slept: list[float] = []
    monkeypatch.setattr(relay.time, "sleep", slept.append)
    return slept


def script(*outcomes):
    """A relay_once that returns (or raises) each outcome in turn, and the calls made."""
    calls: list[int] = []

    def relay_once() -> int:
        outcome = outcomes[len(calls)]
        calls.append(1)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    return relay_once, calls


def stop_after(calls: list, polls: int):
    return lambda: len(calls) >= polls


def test_relays_again_at_once_while_there_is_work_and_sleeps_when_idle(sleeps):
    relay_once, calls = script(500, 3, 0, 0, 7)
    relay.poll_forever(relay_once, poll_interval_s=0.5, stop=stop_after(calls, 5))
    assert len(calls) == 5
    assert sleeps == [0.5, 0.5]


def test_backs_off_doubling_up_to_the_limit_while_failing_then_resets(sleeps, caplog):
    down = ConnectionError("broker unreachable")
    relay_once, calls = script(*[down] * 8, 0, 0)
    with caplog.at_level(logging.WARNING, logger="events.relay"):
        relay.poll_forever(relay_once, poll_interval_s=0.5, stop=stop_after(calls, 10))
    assert sleeps == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0, 0.5, 0.5]
    assert relay.MAX_BACKOFF_S == 30.0
    assert [record.getMessage() for record in caplog.records][:3] == [
        "relay failed, retrying in 0.5s: broker unreachable",
        "relay failed, retrying in 1.0s: broker unreachable",
        "relay failed, retrying in 2.0s: broker unreachable",
    ]
    assert len(caplog.records) == 8


def test_a_stop_asked_before_the_first_poll_polls_nothing(sleeps):
    relay_once, calls = script()
    relay.poll_forever(relay_once, poll_interval_s=0.5, stop=lambda: True)
    assert calls == []
    assert sleeps == []


def test_the_outbox_relay_runs_on_it_and_prunes_after_each_poll_at_most_once_a_minute(
    monkeypatch, sleeps, caplog
):
    relay_once, calls = script(ConnectionError("broker unreachable"), 0, 2)
    monkeypatch.setattr(relay, "relay_pending", lambda transport, max_batches: relay_once())
    pruned: list[int] = []
    monkeypatch.setattr(relay, "prune_published", lambda: pruned.append(1))
    # Idle, the outbox relay waits for a commit's NOTIFY (or the poll interval): recorded as a sleep.
    monkeypatch.setattr(relay.Wakeup, "__call__", lambda self, timeout: sleeps.append(timeout))
    with caplog.at_level(logging.WARNING, logger="events.relay"):
        relay.run_forever(poll_interval_s=0.05, transport=object(), stop=stop_after(calls, 3))
    assert sleeps == [0.1, 0.05]
    assert pruned == [1]  # after the failed poll too; not again within the minute
    assert [(record.name, record.getMessage()) for record in caplog.records] == [
        ("events.relay", "relay failed, retrying in 0.1s: broker unreachable")
    ]


@pytest.mark.django_db(transaction=True)
def test_a_notify_after_commit_ends_the_relays_idle_wait_at_once():
    channel = f"tms_test_{uuid.uuid4().hex[:8]}"
    wakeup = Wakeup(channel)
    try:
        wakeup(0.01)  # connects and listens
        started = time.monotonic()
        wakeup(0.3)  # nothing notified: waits out its timeout
        assert time.monotonic() - started >= 0.25

        def commit_elsewhere():
            notify(channel)
            connection.close()

        threading.Timer(0.2, commit_elsewhere).start()
        started = time.monotonic()
        wakeup(10.0)
        assert 0.15 <= time.monotonic() - started < 2.0
    finally:
        wakeup.close()


@pytest.mark.django_db(transaction=True)
def test_a_notify_that_came_while_the_relay_worked_is_not_missed():
    channel = f"tms_test_{uuid.uuid4().hex[:8]}"
    wakeup = Wakeup(channel)
    try:
        wakeup(0.01)
        notify(channel)  # while the relay is busy, not waiting
        started = time.monotonic()
        wakeup(10.0)
        assert time.monotonic() - started < 1.0
    finally:
        wakeup.close()
