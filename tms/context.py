"""The request's correlation id, visible to logs, audit rows and events without passing it around."""

import logging
import re
import uuid
from contextvars import ContextVar

correlation_id: ContextVar[str] = ContextVar("correlation_id", default="")

# A client may send its own id; anything that could break a log line or a header is replaced.
_ACCEPTED = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def accept_or_new(value: str | None) -> str:
    if value and _ACCEPTED.match(value):
        return value
    return str(uuid.uuid4())


def current_correlation_id() -> str:
    return correlation_id.get()


class CorrelationIdLogFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.correlation_id = correlation_id.get() or "-"
        return True
