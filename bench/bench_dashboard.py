"""Benchmark GET /api/dashboard and the admin's load list on a year of a mid-size carrier's history:
the dashboard cold (cache missed) and cached, the load list's time to first byte.

Run: python bench/bench_dashboard.py [--loads 100000] [--fixes 10000000] [--seconds 8] [--connections 32]
(or `make bench-dashboard`). Prints figures, never fails.

How it measures
- Its own database, `tms_scale` on the local PostgreSQL, built once by `manage.py seed_scale`
  (--loads, --fixes, --trucks, --drivers passed on) and reused while it holds about what was asked
  (dropped and rebuilt when asked for more). The build's time is printed.
- The server is started as `make run` starts it (bench_api.start_server: the Procfile's `web:`
  command), and the ceiling, a raw ASGI hello-world, by the same command line in the same run: only
  ratios measured in one run compare on the shared 2-core machine.
- Cold: one request at a time with a new range each time (the range's end moves by a second), so
  every request misses the cache and computes every figure: p50/p95 over --cold requests, for a
  30-day range and for a 1-day range.
- Cached: wrk at --connections on one URL (a 30-day range), warmed by one request first.
- Admin: a staff user's session (cookie), one request at a time: the time to the response's first
  byte (status line and headers) and to its last, for the load list's default page and filtered
  ones, p50/p95 over --admin requests each.
"""

import argparse
import http.client
import os
import statistics
import sys
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from importlib import import_module
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.common import setup_django  # noqa: E402  (after the path is set)

BENCH_DB = "tms_scale"
ADMIN_PAGES = {
    "admin list, default": "/admin/loads/load/",
    "admin list, filtered": "/admin/loads/load/?status__exact=DELIVERED&origin_state=TX",
    "admin list, next 7 d": "/admin/loads/load/?pickup=next_7d",
    "admin list, search": "/admin/loads/load/?q=S0042",
}


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--loads", type=int, default=100_000)
    parser.add_argument("--fixes", type=int, default=10_000_000)
    parser.add_argument("--trucks", type=int, default=500)
    parser.add_argument("--drivers", type=int, default=600)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--cold", type=int, default=20, help="cold requests per range")
    parser.add_argument("--admin", type=int, default=10, help="requests per admin page")
    return parser.parse_args()


def _estimate(cursor, table: str) -> int:
    cursor.execute("SELECT coalesce(max(reltuples), 0)::bigint FROM pg_class WHERE relname = %s", [table])
    return cursor.fetchone()[0]


def prepare_database(args) -> None:
    """Drops `tms_scale` when it holds clearly less than asked (seed_scale refuses to add to it)."""
    import psycopg

    port = os.environ.get("TMS_PG_PORT", "55432")
    with psycopg.connect(f"host=127.0.0.1 port={port} user=tms dbname=postgres", autocommit=True) as admin:
        if not admin.execute("select 1 from pg_database where datname = %s", [BENCH_DB]).fetchone():
            return
        with (
            psycopg.connect(f"host=127.0.0.1 port={port} user=tms dbname={BENCH_DB}") as bench,
            bench.cursor() as cursor,
        ):
            loads, fixes = _estimate(cursor, "loads"), _estimate(cursor, "gps_points")
        # The generator makes about what was asked (whole trips per truck): 90% of it is a dataset.
        if loads and loads >= 0.9 * args.loads and fixes >= 0.9 * args.fixes:
            return
        if loads or fixes:
            print(f"{BENCH_DB} holds {loads:,} loads and {fixes:,} fixes: rebuilding it", flush=True)
        admin.execute(f"DROP DATABASE {BENCH_DB} WITH (FORCE)")


def generate(args) -> dict:
    """The seed_scale dataset, once; a dispatcher's API token and a staff user's session cookie."""
    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.auth.models import User
    from django.core.management import call_command
    from rest_framework.authtoken.models import Token

    from loads.models import Load
    from tms.api_defaults import DISPATCHER
    from tms.tests.factories import UserFactory

    if not Load.objects.exists():
        began = time.monotonic()
        call_command(
            "seed_scale", loads=args.loads, fixes=args.fixes, trucks=args.trucks, drivers=args.drivers
        )
        print(f"seed_scale built {BENCH_DB} in {time.monotonic() - began:.0f} s", flush=True)
    user = User.objects.filter(username="bench-dashboard").first() or UserFactory(
        username="bench-dashboard", roles=[DISPATCHER]
    )
    token = Token.objects.get_or_create(user=user)[0].key
    staff = User.objects.filter(username="bench-admin").first() or User.objects.create_superuser(
        "bench-admin", "bench-admin@example.com", "bench-admin-password"
    )
    session = import_module(settings.SESSION_ENGINE).SessionStore()
    session[SESSION_KEY] = str(staff.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = staff.get_session_auth_hash()
    session.create()
    return {"token": token, "session": session.session_key}


def admin_page(port: int, session: str, path: str, count: int) -> tuple[list[float], list[float], int]:
    """Time to first byte and to last byte of `count` GETs of `path`, ms; the page's size."""
    first, last, size = [], [], 0
    for _ in range(count):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        began = time.perf_counter()
        connection.request("GET", path, headers={"Cookie": f"sessionid={session}"})
        response = connection.getresponse()  # returns once the status line and headers are in
        first.append((time.perf_counter() - began) * 1000)
        body = response.read()
        last.append((time.perf_counter() - began) * 1000)
        connection.close()
        if response.status != 200:
            raise RuntimeError(f"{path}: {response.status}")
        size = len(body)
    return first, last, size


def cold(port: int, token: str, days: int, count: int) -> list[float]:
    """`count` requests, each for a range nobody asked for before (a cache miss)."""
    timings = []
    end = datetime.now(UTC).replace(microsecond=0)
    for n in range(count):
        to = end - timedelta(seconds=n + days * 1000)  # distinct from the cached scenario's range
        start = to - timedelta(days=days)
        url = f"http://127.0.0.1:{port}/api/dashboard?from={start:%Y-%m-%dT%H:%M:%SZ}&to={to:%Y-%m-%dT%H:%M:%SZ}"
        request = urllib.request.Request(url, headers={"Authorization": f"Token {token}"})
        began = time.perf_counter()
        with urllib.request.urlopen(request, timeout=60) as response:
            response.read()
        timings.append((time.perf_counter() - began) * 1000)
    return timings


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def main() -> None:
    args = parse_args()
    prepare_database(args)
    # The server's speed, not the per-user rate limit (6,000 a minute: the cached run's 8 s at
    # ~700 req/s is within a few hundred requests of it, after which it would time 429s).
    url = setup_django(BENCH_DB, TMS_THROTTLE_USER="1000000/minute")
    from bench.bench_api import LUA_COMMON, run_wrk, start_server, stop, SCENARIOS  # noqa: I001

    data = generate(args)
    end = datetime.now(UTC).replace(microsecond=0)
    cached_url = (
        f"/api/dashboard?from={end - timedelta(days=30):%Y-%m-%dT%H:%M:%SZ}&to={end:%Y-%m-%dT%H:%M:%SZ}"
    )
    SCENARIOS["dashboard"] = f"""
function request()
  return wrk.format("GET", "{cached_url}", auth())
end
"""
    assert LUA_COMMON
    wrk_data = {"tokens": [data["token"]], "read_ids": [], "carrier": "", "shipper": "", "consignee": "",
                "crews": []}  # fmt: skip
    server, port = start_server("bench.hello_asgi:application", url)
    try:
        ceiling = run_wrk(port, "hello", args.connections, args.seconds, wrk_data, {})
    finally:
        stop(server)
    server, port = start_server(None, url)
    try:
        cold_30 = cold(port, data["token"], 30, args.cold)
        cold_1 = cold(port, data["token"], 1, args.cold)
        # Cached means warm: one request computes the answer first.
        warm = urllib.request.Request(
            f"http://127.0.0.1:{port}{cached_url}", headers={"Authorization": f"Token {data['token']}"}
        )
        urllib.request.urlopen(warm, timeout=120).read()
        cached = run_wrk(port, "dashboard", args.connections, args.seconds, wrk_data, {})
        admin = {
            name: admin_page(port, data["session"], path, args.admin) for name, path in ADMIN_PAGES.items()
        }
    finally:
        stop(server)
    with open("/proc/loadavg") as file:
        load_average = " ".join(file.read().split()[:3])
    print(f"\n{'scenario':<22}{'req/s':>8}{'p50 ms':>9}{'p95 ms':>9}  (cold: one request at a time)")
    for name, timings in (("cold, 30-day range", cold_30), ("cold, 1-day range", cold_1)):
        print(f"{name:<22}{'':>8}{statistics.median(timings):>9.1f}{percentile(timings, 0.95):>9.1f}")
    for name, result in (("cached, 30-day", cached), ("hello (ceiling)", ceiling)):
        if "error" in result:
            print(f"{name:<22}  wrk failed: {result['error']}")
        else:
            print(f"{name:<22}{result['rps']:>8.0f}{result['p50']:>9.1f}{result['p95']:>9.1f}"
                  f"  ({args.connections} connections, {result['errors']} errors)")  # fmt: skip
    if "rps" in cached and ceiling.get("rps"):
        print(f"cached / ceiling: {cached['rps'] / ceiling['rps'] * 100:.1f}% of the hello-world's req/s")
    print(f"\n{'admin page':<24}{'TTFB p50':>9}{'p95':>8}{'last p50':>10}{'p95':>8}   (ms, one at a time)")
    for name, (first, last, size) in admin.items():
        print(
            f"{name:<24}{statistics.median(first):>9.1f}{percentile(first, 0.95):>8.1f}"
            f"{statistics.median(last):>10.1f}{percentile(last, 0.95):>8.1f}   {size / 1024:.0f} KiB"
        )
    print(f"\nload average at the end: {load_average}")


if __name__ == "__main__":
    main()
