"""The dashboard cache's single flight, against the real Redis: on a miss one caller computes and
the others wait for its answer."""

import json
import threading
import uuid

import pytest
from django.core.cache import cache

from analytics.cache import cached

CALLERS = 6


def test_callers_missing_the_same_key_at_once_compute_it_once():
    params = {"run": str(uuid.uuid4())}
    computed = []
    lock = threading.Lock()
    everybody = threading.Event()

    def compute():
        with lock:
            computed.append(1)
            if len(computed) == CALLERS:
                everybody.set()
        # Without a single flight every caller gets here: wait (boundedly) for all of them, so that
        # none finds the answer already stored.
        everybody.wait(timeout=1)
        return {"answer": 42}

    start = threading.Barrier(CALLERS)
    answers = []

    def call():
        start.wait()
        answers.append(cached("test-single-flight", params, compute))

    threads = [threading.Thread(target=call) for _ in range(CALLERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(computed) == 1
    assert [json.loads(answer) for answer in answers] == [{"answer": 42}] * CALLERS


def test_a_failed_computation_releases_the_key_for_the_next_caller():
    params = {"run": str(uuid.uuid4())}

    def fail():
        raise RuntimeError("database went away")

    with pytest.raises(RuntimeError):
        cached("test-single-flight", params, fail)
    assert not [key for key in cache._cache.get_client().keys("*test-single-flight*computing*")]
    assert json.loads(cached("test-single-flight", params, lambda: {"answer": 7})) == {"answer": 7}
