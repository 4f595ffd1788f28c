"""One process topology everywhere: the Procfile (`make run`, a deployment) and docker-compose.yml
run the same processes, and every consumer registered in the code is one of them."""

import shlex
import subprocess
import sys
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


def test_the_web_application_starts_with_its_views_imported_and_its_heap_frozen():
    """tms.asgi.freeze_startup_heap: the objects a web process builds at start (Django, DRF, every
    view) sit in the collector's permanent generation, so full collections stop pausing requests
    on them; the views are imported before, not by the first request."""
    probe = (
        "import gc, sys; import tms.asgi; "
        "print(gc.get_freeze_count(), 'loads.api.views' in sys.modules, 'analytics.api.views' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    frozen, loads_views, analytics_views = result.stdout.split()
    assert int(frozen) > 100_000
    assert (loads_views, analytics_views) == ("True", "True")
