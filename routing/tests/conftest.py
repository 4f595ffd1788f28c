from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from django.db import models

from events.models import AuditLog, OutboxEvent


def _rows(watched: tuple[type[models.Model], ...]) -> dict:
    state: dict = {model._meta.label: list(model.objects.order_by("pk").values()) for model in watched}
    state["audit rows"] = AuditLog.objects.count()
    state["events"] = OutboxEvent.objects.count()
    return state


@contextmanager
def _nothing_written(*watched: type[models.Model]) -> Iterator[None]:
    before = _rows(watched)
    yield
    assert _rows(watched) == before


@pytest.fixture
def nothing_written(db):
    """`with nothing_written(Route, Load): ...` asserts that the block adds, changes or deletes no
    row of those models, and writes no audit row and no event: a refused request did nothing."""
    return _nothing_written
