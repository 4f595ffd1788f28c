"""The request's correlation id and actor, visible to logs, audit rows and events without passing
them around."""

import logging
import re
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

correlation_id: ContextVar[str] = ContextVar("correlation_id", default="")


def _nobody() -> int | None:
    return None


# Who the running code acts for, as a function read when an event is emitted: a request's user is
# known only once the view has authenticated it (DRF authenticates tokens inside the view).
actor: ContextVar[Callable[[], int | None]] = ContextVar("actor", default=_nobody)

# A client may send its own id; anything that could break a log line or a header is replaced.
_ACCEPTED = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def accept_or_new(value: str | None) -> str:
    if value and _ACCEPTED.match(value):
        return value
    return str(uuid.uuid4())


def current_correlation_id() -> str:
    return correlation_id.get()


def current_actor() -> int | None:
    """The id of the user the running code acts for, or None (a command, a consumer, the system)."""
    return actor.get()()


@contextmanager
def acting_as(user_id: int | None) -> Iterator[None]:
    """Runs the block for `user_id` (None: for nobody, as consumers do)."""
    token = actor.set(lambda: user_id)
    try:
        yield
    finally:
        actor.reset(token)


class CorrelationIdLogFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.correlation_id = correlation_id.get() or "-"
        return True
