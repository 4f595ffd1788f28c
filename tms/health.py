"""GET /health: each dependency, whether it is embedded or external, and whether it answers.

Everyone gets the status and its HTTP code (200 ok, 503 unavailable): enough for a load balancer.
The detail (each dependency, versions, backlogs) tells an attacker what to aim at, so it is for
operators only: those who may read /metrics (tms.monitoring.operator_allowed) and ADMIN tokens.
"""

import time

import redis
from django.conf import settings
from django.db import DatabaseError, connections
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from rest_framework import exceptions

from events.relay import backlog
from fleet.relay import relay_backlog
from tms.api_defaults import ADMIN, TokenAuthentication, roles_of
from tms.checks import SAME_DATABASE, missing_tables, timeseries_shares_the_main_database
from tms.monitoring import operator_allowed


def _timed(check) -> dict:
    started = time.perf_counter()
    try:
        result = {"status": "up", **check()}
    except Exception as error:  # noqa: BLE001 - any failure means the dependency is down
        result = {"status": "down", "error": f"{type(error).__name__}: {error}"[:300]}
    result["latency_ms"] = round((time.perf_counter() - started) * 1000, 1)
    return result


class DatabaseIncomplete(Exception):
    """The database answers but is not what the application needs."""


def _database(alias: str) -> dict:
    if alias != "default" and timeseries_shares_the_main_database():
        raise DatabaseIncomplete(SAME_DATABASE)
    # A database that answers without its tables serves nothing: every query on them would fail.
    if missing := missing_tables(alias):
        raise DatabaseIncomplete(f"missing tables (run manage.py migrate): {', '.join(missing)}")
    with connections[alias].cursor() as cursor:
        cursor.execute("select current_setting('server_version'), postgis_lib_version()")
        server_version, postgis_version = cursor.fetchone()
        cursor.execute("select extversion from pg_extension where extname = 'timescaledb'")
        timescale = cursor.fetchone()
    return {
        "postgresql": server_version,
        "postgis": postgis_version,
        "timescaledb": timescale[0] if timescale else None,
    }


def _redis() -> dict:
    client = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=1, socket_timeout=1)
    try:
        return {"version": client.info("server")["redis_version"]}
    finally:
        client.close()


def _backend(external: bool) -> str:
    return "external" if external else "embedded"


@never_cache
@require_GET
def health(request: HttpRequest) -> JsonResponse:
    timeseries_alias = settings.TIMESERIES_DATABASE_ALIAS
    checks = {
        "database": {
            "required": True,
            "backend": _backend(bool(settings.DATABASE_URL != settings.EMBEDDED_DATABASE_URL)),
            **_timed(lambda: _database("default")),
        },
        "timeseries_database": {
            "required": True,
            "backend": "external" if timeseries_alias != "default" else "same as database",
            **_timed(lambda: _database(timeseries_alias)),
        },
        "redis": {
            "required": True,
            "backend": _backend(settings.REDIS_URL != settings.EMBEDDED_REDIS_URL),
            **_timed(_redis),
        },
        "kafka": {
            "required": False,
            "backend": "external" if settings.KAFKA_BOOTSTRAP_SERVERS else "embedded (in-process relay)",
        },
        "outbox": {"required": False, **_timed(backlog)},
        # GPS fixes stored by batches wait for their own relay.
        "tracking_relay": {"required": False, **_timed(relay_backlog)},
        "neo4j": {
            "required": False,
            "backend": "external" if settings.NEO4J_URI else "embedded (in-process graph)",
        },
        "google_maps": {
            "required": False,
            "backend": "external" if settings.GOOGLE_MAPS_API_KEY else "embedded (great-circle)",
        },
    }
    healthy = all(c.get("status") == "up" for c in checks.values() if c["required"])
    body = {"status": "ok" if healthy else "unavailable"}
    if _shows_detail(request):
        body["checks"] = checks
    return JsonResponse(body, status=200 if healthy else 503)


def _shows_detail(request: HttpRequest) -> bool:
    if operator_allowed(request):
        return True
    try:
        authenticated = TokenAuthentication().authenticate(request)
    except (exceptions.AuthenticationFailed, DatabaseError):  # a wrong token; the database down
        return False
    return authenticated is not None and ADMIN in roles_of(authenticated[0])
