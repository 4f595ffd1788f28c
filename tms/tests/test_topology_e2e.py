"""The production process topology end to end, with faults: the Procfile's own command lines run as
real processes (web, relay, the event-store, websocket-broadcast and freight-graph consumers, the
Celery worker and beat) against a Tansu broker, a Redis and the test database of this test's own.

- One API write reaches the event store, a /ws client and the freight graph.
- While a stream of API writes runs: the event-store consumer is killed (SIGKILL) and restarted; the
  broker is stopped and started again (its log starts over: the relay republishes the retained
  outbox and the consumers re-read); Redis is killed (SIGKILL) with fleet-plan jobs queued and
  restarted from its append-only file. Every event of the outbox then reached every consumer once,
  and every accepted fleet plan left QUEUED.

The broker and Redis are private (the shared ones serve the other test workers); the processes get
them, and this run's test database, through the environment, as a deployment would.
"""

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

import pytest
import redis
import requests
from celery import Celery
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connections
from django.utils import timezone
from rest_framework.authtoken.models import Token
from websockets.sync.client import connect

from events import kafka
from events.consumers import REGISTRY
from events.models import DeadLetter, OutboxEvent, ProcessedEvent, StoredEvent
from loads.models import Load
from loads.tests.factories import FacilityFactory, LoadFactory
from routing.models import FleetPlan, FleetPlanStatus
from tms.tests.test_topology import procfile

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(settings.BASE_DIR)
CONSUMERS = ["event-store", "websocket-broadcast", "freight-graph"]
EVENT_PROCESSES = ["web", "relay", *(f"consume-{name}" for name in CONSUMERS)]
# The processes queue again a fleet plan still QUEUED this long. Beat runs that check every 60 s,
# too seldom for this test, which sends beat's task itself.
REQUEUE_AFTER_S = 3


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for(
    what: str,
    condition: Callable[[], object],
    *,
    timeout: float,
    topology: "Topology | None" = None,
    every: float = 0.2,
    detail: Callable[[], str] | None = None,
):
    """Polls `condition` until it is truthy (returns it) or `timeout` passes (fails, saying `detail()`
    and with the processes' logs); fails at once when a process of the topology died."""
    deadline = time.monotonic() + timeout
    while True:
        if topology is not None:
            topology.check_running()
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            message = f"timed out after {timeout:.0f}s waiting for {what}"
            if detail is not None:
                message += f" ({detail()})"
            pytest.fail(message + (topology.logs() if topology is not None else ""))
        time.sleep(every)


class PrivateRedis:
    """A redis-server of this test's own on a free loopback port, persisting to an append-only file
    (fsync every second, no snapshots), so SIGKILL and a restart keep what it had."""

    def __init__(self, binary: str, directory: Path):
        self.binary, self.directory = binary, directory
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        with (self.directory / "redis.log").open("ab") as log:
            self.process = subprocess.Popen(
                [self.binary, "--bind", "127.0.0.1", "--port", str(self.port), "--save", "",
                 "--appendonly", "yes", "--appendfsync", "everysec", "--dir", str(self.directory)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log,
            )  # fmt: skip
        client = self.client()
        try:
            wait_for("redis-server to answer", lambda: self._ping(client), timeout=15)
        finally:
            client.close()

    def _ping(self, client: redis.Redis) -> bool:
        if self.process.poll() is not None:
            pytest.fail(f"redis-server exited: {(self.directory / 'redis.log').read_text()[-2000:]}")
        try:
            return bool(client.ping())
        except redis.exceptions.RedisError:  # also while it loads the append-only file
            return False

    def kill(self) -> None:
        """SIGKILL: no shutdown, no final write; only what the append-only file already has."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url, socket_timeout=2, socket_connect_timeout=2)


class Topology:
    """Processes of the Procfile, each as `sh -c "exec <its command line>"` from the repository
    root, in a session of its own (so the Celery worker's pool children go with it)."""

    def __init__(self, env: dict[str, str], log_dir: Path):
        self.commands = procfile()
        self.env, self.log_dir = env, log_dir
        self.base_url = f"http://{env['HOST']}:{env['PORT']}"
        self.processes: dict[str, subprocess.Popen] = {}

    def start(self, *names: str) -> None:
        for name in names:
            assert name not in self.processes, f"{name} is running already"
            with (self.log_dir / f"{name}.log").open("ab") as log:
                self.processes[name] = subprocess.Popen(
                    ["sh", "-c", f"exec {self.commands[name]}"],
                    cwd=ROOT,
                    env=self.env,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )

    def stop(self, name: str, sig: signal.Signals = signal.SIGTERM, timeout: float = 20) -> None:
        """Sends `sig` to the process's group and waits; SIGKILL if it takes longer than `timeout`."""
        process = self.processes.pop(name)
        for signum in (sig, signal.SIGKILL):
            if process.poll() is not None:
                break
            try:
                os.killpg(process.pid, signum)
                process.wait(timeout=timeout)
            except ProcessLookupError:
                break
            except subprocess.TimeoutExpired:
                continue
        process.wait()
        # Children left behind by a killed parent (the worker's pool) are still in its group.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)

    def kill(self, name: str) -> None:
        self.stop(name, signal.SIGKILL)

    def stop_all(self) -> None:
        """SIGTERM to every process at once, then each is waited for (SIGKILL after 10 s)."""
        for process in self.processes.values():
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGTERM)
        for name in list(self.processes):
            self.stop(name, timeout=10)

    def check_running(self) -> None:
        dead = {
            name: process.returncode for name, process in self.processes.items() if process.poll() is not None
        }
        if dead:
            pytest.fail(f"processes exited: {dead}" + self.logs(*dead))

    def logs(self, *names: str) -> str:
        parts = []
        for path in sorted(self.log_dir.glob("*.log")):
            if names and path.stem not in names:
                continue
            text = path.read_text(errors="replace").strip()
            if text:
                parts.append(f"\n--- {path.name} (end)\n{text[-3000:]}")
        return "".join(parts)


@pytest.fixture
def redis_binary() -> str:
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed: cannot run a Redis of the test's own")
    return binary


@pytest.fixture
def private_redis(redis_binary, tmp_path):
    directory = tmp_path / "redis"
    directory.mkdir()
    server = PrivateRedis(redis_binary, directory)
    server.start()
    yield server
    server.kill()


def database_url(alias: str) -> str:
    db = connections[alias].settings_dict
    credentials = quote(db["USER"]) + (f":{quote(db['PASSWORD'])}" if db.get("PASSWORD") else "")
    return f"postgis://{credentials}@{db['HOST'] or '127.0.0.1'}:{db['PORT']}/{db['NAME']}"


@pytest.fixture
def topology(private_broker, private_redis, tmp_path, settings):
    """The processes' environment (this test's broker, Redis and database); every process started
    through it is stopped at the end, whatever happened."""
    # This process writes too, as the back office would: its commits wake the relay process.
    settings.KAFKA_BOOTSTRAP_SERVERS = private_broker.bootstrap
    metrics = tmp_path / "metrics"
    metrics.mkdir()
    logs = tmp_path / "logs"
    logs.mkdir()
    inherited = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("CELERY_", "KAFKA_", "DATABASE_", "TIMESERIES_", "REDIS_", "ROUTING_", "TMS_"))
    }
    env = {
        **inherited,
        "PATH": f"{ROOT / '.venv' / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
        "DJANGO_SETTINGS_MODULE": "tms.settings",
        "PYTHONUNBUFFERED": "1",
        "DATABASE_URL": database_url("default"),
        "DATABASE_POOL_MAX_SIZE": "4",
        "DATABASE_POOL_MIN_SIZE": "1",
        "KAFKA_BOOTSTRAP_SERVERS": private_broker.bootstrap,
        "REDIS_URL": private_redis.url,
        "PROMETHEUS_MULTIPROC_DIR": str(metrics),
        "TMS_LOG_LEVEL": "WARNING",
        "HOST": "127.0.0.1",
        "PORT": str(free_port()),
        "WEB_CONCURRENCY": "1",
        "CELERY_CONCURRENCY": "1",
        "CELERY_BEAT_SCHEDULE_FILE": str(tmp_path / "celerybeat-schedule"),
        "ROUTING_FLEET_REQUEUE_AFTER_S": str(REQUEUE_AFTER_S),
    }
    if settings.TIMESERIES_DATABASE_ALIAS != "default":
        env["TIMESERIES_DATABASE_URL"] = database_url(settings.TIMESERIES_DATABASE_ALIAS)
    kafka.ensure_topics(private_broker.bootstrap)  # as `make run` does before it starts the processes
    processes = Topology(env, logs)
    try:
        yield processes
    finally:
        processes.stop_all()


@pytest.fixture
def token() -> str:
    """A transactional test's database has no role groups (the flush drops migration data)."""
    user = get_user_model().objects.create_superuser("topology-tests", password="unused-password")
    return Token.objects.create(user=user).key


@pytest.fixture
def facilities():
    return str(FacilityFactory().pk), str(FacilityFactory(city="Memphis").pk)


def load_body(facilities: tuple[str, str]) -> dict:
    shipper, consignee = facilities
    return {
        "shipper_id": shipper,
        "consignee_id": consignee,
        "pickup_datetime": "2030-03-03T14:00:00Z",
        "delivery_datetime": "2030-03-04T20:00:00Z",
        "weight": "15000",
        "volume": "70",
        "rate": "2400.00",
    }


def wait_until_served(topology: Topology) -> None:
    def healthy() -> bool:
        try:
            return requests.get(f"{topology.base_url}/health", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    wait_for("web to answer /health", healthy, timeout=60, topology=topology, every=0.3)


def processed(consumer: str, event_ids) -> set[str]:
    rows = ProcessedEvent.objects.filter(consumer=consumer, event_id__in=list(event_ids))
    return {str(event_id) for event_id in rows.values_list("event_id", flat=True)}


def stored(event_ids) -> set[str]:
    rows = StoredEvent.objects.using(settings.TIMESERIES_DATABASE_ALIAS).filter(event_id__in=list(event_ids))
    return {str(event_id) for event_id in rows.values_list("event_id", flat=True)}


def wanted_by(consumer: str) -> dict[str, str]:
    """The outbox's event ids (with their type) that `consumer` handles."""
    outbox = OutboxEvent.objects.values_list("id", "type")
    return {str(event_id): kind for event_id, kind in outbox if REGISTRY[consumer].wants({"type": kind})}


def behind() -> dict[str, int]:
    """Per consumer (and the event store), how many events of the outbox it has not handled yet."""
    lag = {}
    for consumer in CONSUMERS:
        wanted = set(wanted_by(consumer))
        lag[consumer] = len(wanted - processed(consumer, wanted))
    every = set(wanted_by("event-store"))
    lag["event store"] = len(every - stored(every))
    return {name: count for name, count in lag.items() if count}


def dead_letters() -> list[tuple[str, str, str]]:
    return list(DeadLetter.objects.values_list("consumer", "event_type", "error"))


def caught_up(topology: Topology, what: str, timeout: float) -> None:
    """Waits until every consumer handled every event of the outbox; fails at once on a dead letter
    (an event given up on never reaches its consumer)."""

    def done() -> bool:
        assert not dead_letters(), f"events dead-lettered {what}: {dead_letters()}"
        return not behind()

    wait_for(
        f"every consumer to catch up {what}",
        done,
        timeout=timeout,
        topology=topology,
        every=0.5,
        detail=lambda: f"behind: {behind()}",
    )


def test_one_api_write_reaches_the_event_store_a_websocket_client_and_the_freight_graph(
    topology, token, facilities
):
    topology.start(*EVENT_PROCESSES)
    wait_until_served(topology)
    ws_url = topology.base_url.replace("http://", "ws://") + "/ws"
    with connect(ws_url, additional_headers={"Authorization": f"Token {token}"}, open_timeout=10) as stream:
        stream.send(json.dumps({"action": "subscribe", "topics": ["tms.loads"]}))
        assert json.loads(stream.recv(timeout=10)) == {"type": "subscribed", "topics": ["tms.loads"]}

        response = requests.post(
            f"{topology.base_url}/api/loads/",
            json=load_body(facilities),
            headers={"Authorization": f"Token {token}"},
            timeout=10,
        )
        assert response.status_code == 201, response.text
        load_id = response.json()["id"]
        event = OutboxEvent.objects.get(type="LOAD_CREATED", subject=load_id)
        event_id = str(event.id)

        # The consumers join their groups meanwhile (a few seconds on Tansu), then read from the start.
        deadline = time.monotonic() + 60
        received = None
        while received is None:
            topology.check_running()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                pytest.fail("the WebSocket client never got LOAD_CREATED" + topology.logs())
            try:
                message = json.loads(stream.recv(timeout=min(remaining, 1)))
            except TimeoutError:
                continue
            if message["type"] == "event" and message["event"]["id"] == event_id:
                received = message["event"]

    assert received["type"] == "LOAD_CREATED"
    assert received["subject"] == load_id
    assert received["data"]["load_id"] == load_id
    wait_for(
        "the event store and the freight graph to have the event",
        lambda: stored([event_id]) and processed("freight-graph", [event_id]),
        timeout=30,
        topology=topology,
    )
    row = StoredEvent.objects.using(settings.TIMESERIES_DATABASE_ALIAS).get(event_id=event_id)
    assert (row.type, row.subject, row.envelope) == ("LOAD_CREATED", load_id, event.envelope)
    assert ProcessedEvent.objects.filter(consumer="freight-graph", event_id=event_id).count() == 1
    assert not DeadLetter.objects.exists()


class WriteStream(threading.Thread):
    """POST /api/loads/ at a bounded rate until stopped (or `limit` writes); keeps every answer.
    HTTP only: this thread never touches the database."""

    def __init__(self, base_url: str, token: str, body: dict, *, per_second: float, limit: int):
        super().__init__(name="write-stream", daemon=True)
        self.url, self.body = f"{base_url}/api/loads/", body
        self.headers = {"Authorization": f"Token {token}"}
        self.interval, self.limit = 1 / per_second, limit
        self.answers: list[tuple[int | str, str | None]] = []  # (status or error, load id)
        self._stopping = threading.Event()

    def run(self) -> None:
        with requests.Session() as session:
            next_at = time.monotonic()
            while not self._stopping.is_set() and len(self.answers) < self.limit:
                try:
                    response = session.post(self.url, json=self.body, headers=self.headers, timeout=10)
                    created = response.status_code == 201
                    self.answers.append((response.status_code, response.json()["id"] if created else None))
                except requests.RequestException as error:
                    self.answers.append((type(error).__name__, None))
                next_at += self.interval
                self._stopping.wait(max(0.0, next_at - time.monotonic()))

    def created(self) -> list[str]:
        return [load_id for status, load_id in self.answers if status == 201]

    def stop(self) -> None:
        self._stopping.set()
        self.join(timeout=15)
        assert not self.is_alive()


def celery_queue(client: redis.Redis) -> list[bytes]:
    """The jobs waiting in Celery's default queue (kombu's Redis transport: a list named after it)."""
    return client.lrange("celery", 0, -1)


def job_of(plan_id: str, queue: list[bytes]) -> bytes | None:
    """The queued solver job of a fleet plan (its arguments start with the plan id)."""
    return next((job for job in queue if plan_id in json.loads(job)["headers"]["argsrepr"]), None)


class Clock:
    """Prints how long each phase took (shown with the output of a failed test)."""

    def __init__(self) -> None:
        self.started = self.last = time.monotonic()

    def __call__(self, phase: str) -> None:
        now = time.monotonic()
        print(f"{now - self.started:6.1f}s (+{now - self.last:4.1f}s) {phase}", flush=True)
        self.last = now


def test_writes_survive_a_killed_consumer_a_restarted_broker_and_a_killed_redis(
    topology, private_broker, private_redis, token, facilities
):
    clock = Clock()
    headers = {"Authorization": f"Token {token}"}

    def request_plan() -> requests.Response:
        url = f"{topology.base_url}/api/routes/optimize-fleet"
        return requests.post(url, json={"time_limit_s": 1}, headers=headers, timeout=30)

    topology.start(*EVENT_PROCESSES, "worker", "beat")
    wait_until_served(topology)
    stream = WriteStream(topology.base_url, token, load_body(facilities), per_second=2, limit=300)

    def more_writes(what: str, count: int = 8) -> None:
        target = len(stream.created()) + count
        wait_for(what, lambda: len(stream.created()) >= target, timeout=30, topology=topology)

    stream.start()
    try:
        more_writes("the first writes")
        caught_up(topology, "after they started (the groups joined)", 60)
        clock("the topology runs")

        # (a) The event-store consumer dies mid-stream (no clean shutdown, offsets not committed)
        # and comes back: it reads again from the group's last commit, and stores nothing twice.
        topology.kill("consume-event-store")
        time.sleep(1)
        topology.start("consume-event-store")
        more_writes("writes while the consumer restarts")
        caught_up(topology, "after the event-store consumer was killed", 60)
        clock("(a) the event-store consumer was killed and restarted")

        # (b) The broker stops while writes go on, and starts again with an empty log: the relay
        # republishes the retained outbox, the consumers read the new log from its start. The
        # freight-graph consumer is stopped first, so some events were only ever in the lost log.
        topology.stop("consume-freight-graph")
        more_writes("writes while the freight-graph consumer is stopped", 4)
        only_in_lost_log = set(wanted_by("freight-graph")) - processed(
            "freight-graph", wanted_by("freight-graph")
        )
        wait_for(
            "the relay to publish the events the freight graph has not read",
            lambda: not OutboxEvent.objects.filter(id__in=only_in_lost_log, published_at=None).exists(),
            timeout=30,
            topology=topology,
        )
        assert len(only_in_lost_log) >= 4
        private_broker.stop()
        more_writes("writes while the broker is down")
        private_broker.start()
        topology.start("consume-freight-graph")
        caught_up(topology, "after the broker restarted", 90)
        assert processed("freight-graph", only_in_lost_log) == only_in_lost_log
        clock("(b) the broker was stopped and started with an empty log")

        # (c) Redis dies with fleet-plan jobs queued: the worker is stopped first, so they wait.
        topology.stop("worker")
        plans = []
        for _ in range(3):
            response = request_plan()
            assert response.status_code == 202, response.text
            plans.append(response.json()["id"])
        client = private_redis.client()
        assert all(job_of(plan, celery_queue(client)) for plan in plans)
        # One job is lost anyway (as if Redis had come back without it): beat's requeue finds it.
        lost = plans[0]
        assert client.lrem("celery", 1, job_of(lost, celery_queue(client))) == 1
        time.sleep(1.5)  # appendfsync everysec: the append-only file has the queue now
        client.close()
        private_redis.kill()
        # Writes that need no Redis go on meanwhile (back office, management commands, a job that
        # was running): their events reach every consumer, the WebSocket broadcaster included.
        offline = [
            str(LoadFactory(shipper_id=facilities[0], consignee_id=facilities[1]).pk) for _ in range(5)
        ]
        offline_events = [str(event.id) for event in OutboxEvent.objects.filter(subject__in=offline)]
        wait_for(
            "the consumers that need no Redis to handle the writes made without it",
            lambda: (
                stored(offline_events) == set(offline_events)
                and processed("freight-graph", offline_events) == set(offline_events)
            ),
            timeout=30,
            topology=topology,
        )
        time.sleep(1)  # the WebSocket broadcaster reads the same topic: it has had them too
        refused = request_plan()
        assert refused.status_code == 503, refused.text  # nothing accepted that cannot be queued
        time.sleep(2)
        private_redis.start()
        client = private_redis.client()
        assert [plan for plan in plans if job_of(plan, celery_queue(client))] == plans[1:]
        client.close()
        clock("(c) Redis was killed with two jobs queued and restarted from its append-only file")
        topology.start("worker")
        response = request_plan()
        assert response.status_code == 202, response.text
        plans.append(response.json()["id"])
        wait_for(
            "the jobs that survived and a new one to be solved",
            lambda: not FleetPlan.objects.filter(pk__in=plans[1:], status=FleetPlanStatus.QUEUED).exists(),
            timeout=60,
            topology=topology,
        )
        # The lost job's plan has no job: it is queued again once stale, by beat's task. Beat sends
        # it every 60 s, and its first run may fall within this test; if not, the test sends the
        # task as beat would.
        stale = FleetPlan.objects.get(pk=lost)
        if stale.status == FleetPlanStatus.QUEUED:
            stale_in = (stale.updated_at - timezone.now()).total_seconds() + REQUEUE_AFTER_S + 0.5
            time.sleep(max(0.0, stale_in))
            beat = Celery("beat", broker=private_redis.url, set_as_current=False)
            try:
                beat.send_task("routing.tasks.requeue_stale_fleet_plans_task")
            finally:
                beat.close()
        wait_for(
            "the plan of the lost job to be queued again and solved",
            lambda: FleetPlan.objects.filter(pk=lost).exclude(status=FleetPlanStatus.QUEUED).exists(),
            timeout=60,
            topology=topology,
        )
        clock("(c) every fleet plan was solved, the lost job's after a requeue")
        more_writes("writes after Redis restarted")
    finally:
        stream.stop()

    caught_up(topology, "at the end", 60)
    clock(f"every consumer caught up; {len(stream.created())} API writes accepted of {len(stream.answers)}")
    topology.check_running()

    # Counts in = counts out. In: every LOAD_CREATED of the outbox (each accepted write has one).
    created = dict(OutboxEvent.objects.filter(type="LOAD_CREATED").values_list("subject", "id"))
    accepted = stream.created()
    assert len(accepted) == len(set(accepted)) >= 32, stream.answers
    assert set(accepted) | set(offline) <= set(created)
    assert Load.objects.count() == len(created)
    load_events = {str(event_id) for event_id in created.values()}
    # Out: the event store (its primary key is the event id) and each consumer's processed events
    # (unique per consumer and event id) hold the same set: each event once, none lost, none extra.
    every = set(wanted_by("event-store"))
    assert load_events <= every
    assert stored(every) == every
    assert StoredEvent.objects.using(settings.TIMESERIES_DATABASE_ALIAS).count() == len(every)
    for consumer in CONSUMERS:
        wanted = set(wanted_by(consumer))
        assert load_events <= wanted, consumer
        assert processed(consumer, wanted) == wanted, consumer
        assert ProcessedEvent.objects.filter(consumer=consumer).count() == len(wanted), consumer
    assert not dead_letters()

    # Every accepted fleet plan left QUEUED: PROPOSED, or FAILED with a reason.
    for plan in FleetPlan.objects.filter(pk__in=plans):
        assert plan.status in {FleetPlanStatus.PROPOSED, FleetPlanStatus.FAILED}, plan.status
        if plan.status == FleetPlanStatus.FAILED:
            assert plan.error["code"] and plan.error["message"], plan.error
    assert FleetPlan.objects.get(pk=lost).queue_attempts >= 1  # solved only because it was queued again
    assert not FleetPlan.objects.filter(status=FleetPlanStatus.QUEUED).exists()
