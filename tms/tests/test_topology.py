"""One process topology everywhere: the Procfile (`make run`, a deployment) and docker-compose.yml
run the same processes, and every consumer registered in the code is one of them."""

import shlex
from pathlib import Path

import pytest
import yaml
from django.conf import settings

from events.consumers import REGISTRY

ROOT = Path(settings.BASE_DIR)
# Long-running processes that are not consumers; each must run everywhere too.
NON_CONSUMERS = {
    "web": "tms.asgi:application",
    "worker": "celery -A tms worker",
    "beat": "celery -A tms beat",
    "relay": "manage.py relay_events",
    "relay-tracking": "manage.py relay_tracking",
    "send-webhooks": "manage.py send_webhooks",
}


def procfile() -> dict[str, str]:
    processes = {}
    for line in (ROOT / "Procfile").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, command = line.partition(":")
            processes[name.strip()] = command.strip()
    return processes


def compose() -> dict[str, str]:
    """The application services of docker-compose.yml (those built from this repository that run
    for good, not the one-shot jobs), by name."""
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    one_shot = {"migrate", "kafka-topics"}
    return {
        name: service["command"] if isinstance(service["command"], str) else shlex.join(service["command"])
        for name, service in services.items()
        if "build" in service and name not in one_shot
    }


def expected() -> dict[str, str]:
    return {**NON_CONSUMERS, **{f"consume-{name}": f"manage.py consume {name}" for name in REGISTRY}}


@pytest.mark.parametrize("source", [procfile, compose], ids=["Procfile", "docker-compose.yml"])
def test_every_process_of_the_topology_runs_and_nothing_else(source):
    processes = source()
    assert sorted(processes) == sorted(expected())
    for name, command in expected().items():
        assert command in processes[name], f"{name} runs {processes[name]!r}"


def test_consumer_processes_are_named_after_the_consumer_they_run():
    for name in REGISTRY:
        assert procfile()[f"consume-{name}"].endswith(f"manage.py consume {name}")
