"""Helpers for the long-running management commands (relays, consumers)."""

import signal
import threading
from collections.abc import Callable


def stop_on_signals() -> Callable[[], bool]:
    """Makes SIGTERM and SIGINT ask the caller's loop to stop after its current batch, rather than
    kill it mid-way; returns the question the loop asks ("stop now?")."""
    stopping = threading.Event()

    def stop(signum, frame) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    return stopping.is_set
