"""Benchmark the served API against the ceiling of the same server.

Run: python bench/bench_api.py [--seconds 8] [--connections 32,512] [--only get_one,list_50,...]
Prints figures, never fails. Takes about 3 minutes (a first run adds ~1 minute of fixtures).

How it measures
- The server is started exactly as `make run` starts it: the Procfile's `web:` command (same server,
  same worker count), on a free loopback port, with the topology's environment (the local Kafka
  broker: writes leave their events in the outbox for the relay, no consumer runs in the request).
  It works on its own database, `tms_bench_api` on the local PostgreSQL (created, migrated and
  filled on the first run).
- The ceiling: `bench/hello_asgi.py`, a raw ASGI hello-world, served by the same command line in
  the same run. On a shared 2-core machine only ratios measured in one run compare.
- The client is wrk (a Debian package; `scripts/bootstrap` installs it), a separate process on the
  same 2 cores, with Lua scripts: requests rotate over 64 dispatcher tokens (a fleet of clients;
  one token would hit the per-user rate limit), GETs rotate over 200 loads.
- Scenarios, each at every --connections: GET one load; list 50 loads with two filters
  (status + carrier); vehicles near a point (PostGIS KNN, page of 50); create a load; assign +
  cancel (each wrk thread owns one connection and walks its own loads: assign to its own truck and
  driver, then cancel, so nothing collides).
- Errors = socket errors + timeouts + responses other than 2xx.
"""

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.common import setup_django  # noqa: E402  (after the path is set)

BENCH_DB = "tms_bench_api"
USERS = 64
READ_LOADS = 200
ASSIGN_LOADS = 3000  # pending loads for assign + cancel: a cancelled load is not assigned again
WEB_OVERRIDE = ""
LICENCE_MARGIN = timedelta(days=300)  # the factories' drivers hold a licence for ~700 days
ASSIGN_CREWS = 512  # a truck and a driver per connection, free again after each cancel


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--connections", default="32,512")
    parser.add_argument("--only", default="", help="comma-separated scenario names")
    parser.add_argument(
        "--web",
        default="",
        help="another web command to measure instead of the Procfile's (to compare servers); "
        "tms.asgi:application in it is swapped for the ceiling's app",
    )
    return parser.parse_args()


# --- Database and fixtures ---------------------------------------------------------------------


def fixtures() -> dict:
    """Users, loads to read, trucks spread over the Midwest, and for assign + cancel fresh loads and
    one crew (truck + driver) per connection."""
    from django.contrib.auth.models import User
    from django.contrib.gis.geos import Point
    from django.utils import timezone
    from rest_framework.authtoken.models import Token

    from drivers.models import Driver
    from drivers.tests.factories import DriverFactory
    from fleet.models import Carrier, Vehicle
    from fleet.tests.factories import CarrierFactory, VehicleFactory
    from loads.models import Facility, Load, LoadStatus
    from loads.services import cancel_load
    from loads.tests.factories import FacilityFactory, LoadFactory
    from tms.api_defaults import DISPATCHER
    from tms.tests.factories import UserFactory

    users = list(User.objects.filter(username__startswith="bench-dispatcher-"))
    for n in range(len(users), USERS):
        users.append(UserFactory(username=f"bench-dispatcher-{n}", roles=[DISPATCHER]))
    tokens = [Token.objects.get_or_create(user=user)[0].key for user in users]

    carrier = Carrier.objects.filter(name="Bench Freight").first() or CarrierFactory(name="Bench Freight")
    shipper = Facility.objects.filter(name="Bench Shipper").first() or FacilityFactory(name="Bench Shipper")
    consignee = Facility.objects.filter(name="Bench Consignee").first() or FacilityFactory(
        name="Bench Consignee", city="Memphis", location=Point(-90.049, 35.1495, srid=4326)
    )
    while Load.objects.filter(carrier=carrier, status=LoadStatus.CREATED).count() < READ_LOADS:
        LoadFactory(shipper=shipper, consignee=consignee, carrier=carrier)
    read_ids = [
        str(pk) for pk in Load.objects.filter(carrier=carrier).values_list("pk", flat=True)[:READ_LOADS]
    ]

    while Vehicle.objects.filter(vehicle_number__startswith="BV").count() < 1000:
        n = Vehicle.objects.filter(vehicle_number__startswith="BV").count()
        VehicleFactory(
            carrier=carrier,
            vehicle_number=f"BV{n:05d}",
            vin=f"BENCHVIN{n:09d}",
            current_location=Point(-97 + (n % 40) * 0.3, 37 + (n // 40) * 0.3, srid=4326),
        )

    # Assign + cancel uses each (load, truck, driver) once: top up what earlier runs used.
    pairs_carrier = Carrier.objects.filter(name="Bench Pairs").first() or CarrierFactory(name="Bench Pairs")
    # A run that ended between an assign and its cancel left crews busy: free them.
    for load in Load.objects.filter(carrier=pairs_carrier, status=LoadStatus.ASSIGNED):
        cancel_load(load, by=None, reason="bench run ended before its cancel")
    assignable = Load.objects.filter(
        carrier=None,
        status=LoadStatus.CREATED,
        shipper=shipper,
        delivery_datetime__lt=timezone.now() + LICENCE_MARGIN,
    )
    free = list(assignable.values_list("pk", flat=True))
    while len(free) < ASSIGN_LOADS:
        free.append(LoadFactory(shipper=shipper, consignee=consignee).pk)
    vehicles = list(
        Vehicle.objects.filter(carrier=pairs_carrier, status="AVAILABLE")
        .order_by("vehicle_number")
        .values_list("pk", flat=True)
    )
    while len(vehicles) < ASSIGN_CREWS:
        n = Vehicle.objects.filter(carrier=pairs_carrier).count()
        vehicles.append(
            VehicleFactory(carrier=pairs_carrier, vehicle_number=f"BP{n:05d}", vin=f"BENCHPAIR{n:08d}").pk
        )
    drivers = list(
        Driver.objects.filter(carrier=pairs_carrier, status="AVAILABLE").values_list("pk", flat=True)
    )
    while len(drivers) < ASSIGN_CREWS:
        # Numbered from what the database holds: the factory's sequence restarts with each run.
        n = Driver.objects.filter(carrier=pairs_carrier).count()
        numbers = {"employee_number": f"BP{n:05d}", "license_number": f"BPL{n:07d}"}
        drivers.append(DriverFactory(carrier=pairs_carrier, **numbers).pk)
    return {
        "tokens": tokens,
        "read_ids": read_ids,
        "carrier": str(carrier.pk),
        "shipper": str(shipper.pk),
        "consignee": str(consignee.pk),
        "free_loads": [str(pk) for pk in free],
        "crews": [(str(v), str(d)) for v, d in zip(vehicles, drivers, strict=False)],
    }


# --- Servers -------------------------------------------------------------------------------------


def web_command() -> str:
    if WEB_OVERRIDE:
        return WEB_OVERRIDE
    for line in (ROOT / "Procfile").read_text().splitlines():
        if line.startswith("web:"):
            return line.partition(":")[2].strip()
    raise SystemExit("Procfile has no web process")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(app: str | None, database_url: str) -> tuple[subprocess.Popen, int]:
    command = web_command()
    if app is not None:
        command = command.replace("tms.asgi:application", app)
    port = free_port()
    env = {
        **os.environ,
        "PATH": f"{ROOT / '.venv' / 'bin'}:{os.environ['PATH']}",
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "DATABASE_URL": database_url,
        "KAFKA_BOOTSTRAP_SERVERS": os.environ.get(
            "KAFKA_BOOTSTRAP_SERVERS", f"127.0.0.1:{os.environ.get('TMS_KAFKA_PORT', '29092')}"
        ),
        "TMS_LOG_LEVEL": "WARNING",
    }
    server = subprocess.Popen(
        ["sh", "-c", f"exec {command}"],
        cwd=ROOT,
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2)
            return server, port
        except urllib.error.HTTPError:
            return server, port
        except OSError:
            time.sleep(0.3)
    stop(server)
    raise SystemExit(f"server did not answer: {command}")


def stop(server: subprocess.Popen) -> None:
    try:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=20)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(server.pid, signal.SIGKILL)


# --- wrk -----------------------------------------------------------------------------------------

LUA_COMMON = """
local tokens = {%(tokens)s}
local n = 0
local counter = 1
function setup(thread)
  thread:set("thread_id", counter)
  counter = counter + 1
end
local function auth()
  n = n + 1
  return {["Authorization"] = "Token " .. tokens[(n + (thread_id or 0)) %% #tokens + 1],
          ["Content-Type"] = "application/json"}
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('RESULT {"requests": %%d, "seconds": %%f, "errors": %%d, '
    .. '"p50": %%f, "p95": %%f, "p99": %%f}\\n',
    summary.requests, summary.duration / 1e6, e.connect + e.read + e.write + e.status + e.timeout,
    latency:percentile(50) / 1000, latency:percentile(95) / 1000, latency:percentile(99) / 1000))
end
"""

SCENARIOS = {
    "get_one": """
local ids = {%(read_ids)s}
function request()
  return wrk.format("GET", "/api/loads/" .. ids[n %% #ids + 1] .. "/", auth())
end
""",
    "list_50": """
function request()
  return wrk.format("GET", "/api/loads/?status=CREATED&carrier_id=%(carrier)s&page_size=50", auth())
end
""",
    "near": """
function request()
  return wrk.format("GET", "/api/vehicles/?near=-92.5,39.5&radius_km=150&page_size=50", auth())
end
""",
    "create": """
local body = '{"shipper_id": "%(shipper)s", "consignee_id": "%(consignee)s", '
  .. '"pickup_datetime": "%(pickup_datetime)s", "delivery_datetime": "%(delivery_datetime)s", '
  .. '"weight": "15000", "volume": "70", "rate": "2500.00"}'
function request()
  return wrk.format("POST", "/api/loads/", auth(), body)
end
""",
    # One connection per thread (wrk -t = -c): each has its own crew and walks its own loads.
    "assign_cancel": """
local loads = {%(free_loads)s}
local crews = {%(crews)s}
local per_thread = 0
local i = 0
local cancel_next = false
function init(args)
  per_thread = math.floor(#loads / tonumber(args[1]))
end
function request()
  local load = loads[(thread_id - 1) * per_thread + (i %% per_thread) + 1]
  local crew = crews[thread_id]
  if cancel_next then
    cancel_next = false
    i = i + 1
    return wrk.format("POST", "/api/loads/" .. load .. "/cancel/", auth(), '{"reason": "bench"}')
  end
  cancel_next = true
  return wrk.format("POST", "/api/loads/" .. load .. "/assign/", auth(),
    '{"vehicle_id": "' .. crew[1] .. '", "driver_id": "' .. crew[2] .. '"}')
end
""",
    "hello": """
function request()
  return wrk.format("GET", "/", auth())
end
""",
}


def lua_list(values) -> str:
    return ", ".join(json.dumps(v) if isinstance(v, str) else "{" + lua_list(v) + "}" for v in values)


def run_wrk(port: int, scenario: str, connections: int, seconds: int, data: dict, used: dict) -> dict:
    now = datetime.now(UTC)
    fields = {
        "tokens": lua_list(data["tokens"]),
        "read_ids": lua_list(data["read_ids"]),
        "carrier": data["carrier"],
        "shipper": data["shipper"],
        "consignee": data["consignee"],
        # Within the drivers' licences, so created loads may be assigned by a later run.
        "pickup_datetime": (now + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "delivery_datetime": (now + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "free_loads": "",
        "crews": lua_list(data["crews"]),
    }
    threads = 2
    args: list[str] = []
    if scenario == "assign_cancel":
        # One connection per thread; this run's share of the fresh loads.
        threads = connections
        share = len(data["free_loads"]) // data["assign_runs"]
        start = used.get("loads", 0)
        fields["free_loads"] = lua_list(data["free_loads"][start : start + share])
        used["loads"] = start + share
        args = ["--", str(connections)]
    script = (LUA_COMMON + SCENARIOS[scenario]) % fields
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as file:
        file.write(script)
    try:
        output = subprocess.run(
            [
                "wrk",
                f"-t{threads}",
                f"-c{connections}",
                f"-d{seconds}s",
                "--timeout",
                "10s",
                "-s",
                file.name,
                f"http://127.0.0.1:{port}",
                *args,
            ],
            capture_output=True,
            text=True,
            timeout=seconds + 60,
        )
    finally:
        os.unlink(file.name)
    match = re.search(r"^RESULT (.*)$", output.stdout, re.M)
    if not match:
        return {"error": (output.stdout + output.stderr)[-300:]}
    result = json.loads(match.group(1))
    result["rps"] = result["requests"] / result["seconds"]
    return result


def main() -> None:
    args = parse_args()
    global WEB_OVERRIDE
    WEB_OVERRIDE = args.web
    if not shutil.which("wrk"):
        raise SystemExit("wrk is not installed: apt-get install wrk (scripts/bootstrap does)")
    url = setup_django(BENCH_DB)
    t = time.monotonic()
    data = fixtures()
    print(f"fixtures ready in {time.monotonic() - t:.0f}s; web: {web_command()}")
    connections = [int(c) for c in args.connections.split(",")]
    wanted = [s for s in SCENARIOS if s != "hello" and (not args.only or s in args.only.split(","))]
    data["assign_runs"] = len(connections)
    used: dict = {}
    rows = []
    server, port = start_server("bench.hello_asgi:application", url)
    try:
        ceiling = {c: run_wrk(port, "hello", c, args.seconds, data, used) for c in connections}
    finally:
        stop(server)
    server, port = start_server(None, url)
    try:
        for scenario in wanted:
            for c in connections:
                rows.append((scenario, c, run_wrk(port, scenario, c, args.seconds, data, used)))
    finally:
        stop(server)
    print(
        f"\n{'scenario':<14}{'conns':>6}{'req/s':>10}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}"
        f"{'errors':>8}  ceiling"
    )
    for c, result in ceiling.items():
        print(row("hello (ceil.)", c, result, 100.0))
    for scenario, c, result in rows:
        if "error" in result:
            print(f"{scenario:<14}{c:>6}  wrk failed: {result['error']}")
        else:
            print(
                row(
                    scenario,
                    c,
                    result,
                    result["rps"] / ceiling[c]["rps"] * 100 if ceiling[c].get("rps") else 0,
                )
            )


def row(name: str, connections: int, result: dict, ratio: float) -> str:
    return (
        f"{name:<14}{connections:>6}{result.get('rps', 0):>10.0f}{result.get('p50', 0):>9.1f}"
        f"{result.get('p95', 0):>9.1f}{result.get('p99', 0):>9.1f}{result.get('errors', -1):>8}{ratio:>8.1f}%"
    )


if __name__ == "__main__":
    main()
