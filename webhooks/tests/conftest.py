"""A real HTTP receiver on 127.0.0.1 (http.server in a thread), and the setting that lets webhooks
reach it (loopback is refused by default)."""

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from webhooks import selectors, sending


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """Answers each POST with the next of `answers` (status, body, extra headers), then 200;
    a path listed in `held` waits until its event is set before answering."""

    port: int = 0
    requests: list[Received] = field(default_factory=list)
    answers: list[tuple[int, bytes, dict[str, str]]] = field(default_factory=list)
    held: dict[str, threading.Event] = field(default_factory=dict)
    arrived: threading.Condition = field(default_factory=threading.Condition)

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def answer(self, *statuses: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.answers.extend((status, body, headers or {}) for status in statuses)

    def wait_for(self, path: str, timeout: float = 30.0) -> bool:
        with self.arrived:
            return self.arrived.wait_for(lambda: any(r.path == path for r in self.requests), timeout)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            with state.arrived:
                state.requests.append(
                    Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                )
                state.arrived.notify_all()
            if self.path in state.held:
                state.held[self.path].wait(60)
            status, answer, headers = state.answers.pop(0) if state.answers else (200, b"ok", {})
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    for event in state.held.values():
        event.set()
    server.shutdown()
    server.server_close()


@pytest.fixture(autouse=True)
def _fresh_wanted_types():
    """Subscriptions made here by factories: the consumer reads the types they want afresh."""
    selectors.forget_wanted_event_types()
    yield
    selectors.forget_wanted_event_types()


@pytest.fixture(autouse=True)
def _cheap_passwords(settings):
    """The users made here sign in with tokens: PBKDF2 would cost most of each API test."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def private_targets(settings):
    """Webhooks may reach 127.0.0.1, where the receiver listens."""
    settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS = True
    sending._pool_manager = None
    yield
    sending._pool_manager = None
