"""The Prometheus metrics every process records (a base module: it imports no app, so any app
may record into it). `tms/monitoring.py` serves them at /metrics with the figures read at scrape
time (outbox backlog, consumer lag).

Correct with several processes: when `PROMETHEUS_MULTIPROC_DIR` is set (`make run` sets it for the
whole topology), each process writes its samples to files there, and /metrics adds them up; it
must be set before this module is first imported, and emptied before the processes start.
"""

import time

from prometheus_client import Counter, Gauge, Histogram

HTTP_REQUEST_SECONDS = Histogram(
    "tms_http_request_duration_seconds",
    "Time to answer an HTTP request, by method, route pattern and status.",
    ["method", "route", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
DB_POOL_CONNECTIONS = Gauge(
    "tms_db_pool_connections",
    "PostgreSQL connections of the web processes' pools, by state (in_use, idle).",
    ["state"],
    multiprocess_mode="livesum",
)
DB_POOL_WAITING = Gauge(
    "tms_db_pool_requests_waiting",
    "Requests waiting for a pooled PostgreSQL connection.",
    multiprocess_mode="livesum",
)
EVENTS_RELAYED = Counter(
    "tms_relay_events_total",
    "Events handed to the transport (Kafka or the in-process consumers), by relay.",
    ["relay"],
)
EVENTS_CONSUMED = Counter(
    "tms_consumer_events_total",
    "Events a consumer handled, by consumer and outcome (handled, duplicate, dead_lettered).",
    ["consumer", "outcome"],
)
WEBSOCKET_CONNECTIONS = Gauge(
    "tms_websocket_connections",
    "Open /ws connections.",
    multiprocess_mode="livesum",
)
GPS_FIXES = Counter(
    "tms_gps_fixes_ingested_total",
    "GPS fixes stored: from batches (relayed from gps_points) or one at a time (API, OsmAnd, admin).",
    ["path"],
)

_POOL_SAMPLE_INTERVAL_S = 1.0
_pool_sampled_at = 0.0


def sample_database_pool(connection) -> None:
    """Records the pool's state, at most once a second per process (reading it takes its lock)."""
    global _pool_sampled_at
    now = time.monotonic()
    if now - _pool_sampled_at < _POOL_SAMPLE_INTERVAL_S:
        return
    _pool_sampled_at = now
    pool = connection.pool
    if pool is None:
        return
    stats = pool.get_stats()
    size, idle = stats.get("pool_size", 0), stats.get("pool_available", 0)
    DB_POOL_CONNECTIONS.labels("in_use").set(size - idle)
    DB_POOL_CONNECTIONS.labels("idle").set(idle)
    DB_POOL_WAITING.set(stats.get("requests_waiting", 0))
