"""GET /metrics: Prometheus text format, for operators.

What the processes recorded (`tms/metrics.py`: request latency, pool, relays, consumers, WebSocket
connections, GPS fixes), added up over every process of the topology when PROMETHEUS_MULTIPROC_DIR
is set, plus what is read when scraped: the outbox and tracking-relay backlogs, and each consumer
group's lag when Kafka is in use (cached for a few seconds: asking the broker takes round trips).

Access: clients on loopback or in TMS_METRICS_ALLOWED_IPS, or any client presenting
`Authorization: Bearer <TMS_METRICS_TOKEN>`; everyone else gets 403.
"""

import hmac
import ipaddress
import logging
import os
import threading
import time

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest, multiprocess
from prometheus_client.core import GaugeMetricFamily

from events.kafka import describe_topics
from events.relay import backlog
from fleet.relay import relay_backlog
from tms.api import error_response
from tms.net import client_ip

logger = logging.getLogger(__name__)

LAG_CACHE_S = 10.0


class BacklogCollector:
    """Figures read at scrape time, once for the whole topology (not per process)."""

    def __init__(self) -> None:
        self._lag: list[dict] = []
        self._lag_read_at = 0.0
        self._lock = threading.Lock()

    def collect(self):
        outbox = backlog()
        yield GaugeMetricFamily(
            "tms_outbox_unpublished", "Outbox events not yet relayed.", outbox["unpublished"]
        )
        yield GaugeMetricFamily(
            "tms_outbox_oldest_age_seconds",
            "Age of the oldest unrelayed outbox event.",
            outbox["oldest_age_s"],
        )
        tracking = relay_backlog()
        yield GaugeMetricFamily(
            "tms_tracking_relay_unpublished",
            "GPS fixes from batches not yet relayed.",
            tracking.get("unpublished", 0),
        )
        if settings.KAFKA_BOOTSTRAP_SERVERS:
            lag = GaugeMetricFamily(
                "tms_consumer_lag",
                "Events a consumer group has yet to read, by group and topic.",
                labels=["group", "topic"],
            )
            for topic in self._topics():
                for group, behind in topic["lag"].items():
                    lag.add_metric([group, topic["topic"]], behind)
            yield lag

    def _topics(self) -> list[dict]:
        with self._lock:
            if time.monotonic() - self._lag_read_at > LAG_CACHE_S:
                try:
                    self._lag = describe_topics(timeout_ms=2000)
                except Exception as error:  # noqa: BLE001 - the other figures still count
                    logger.warning("could not read consumer lag: %s", error)
                    self._lag = []
                self._lag_read_at = time.monotonic()
            return self._lag


BACKLOG = BacklogCollector()


def operator_allowed(request: HttpRequest) -> bool:
    """Loopback, TMS_METRICS_ALLOWED_IPS, or the TMS_METRICS_TOKEN bearer: who reads /metrics and
    the detail of /health."""
    token = settings.TMS_METRICS_TOKEN
    header = request.headers.get("Authorization", "")
    if token and hmac.compare_digest(header.encode(), f"Bearer {token}".encode()):
        return True
    try:
        address = ipaddress.ip_address(client_ip(request))
    except ValueError:
        return False
    return address.is_loopback or any(address in network for network in settings.TMS_METRICS_ALLOWED_NETWORKS)


@never_cache
@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    if not operator_allowed(request):
        return error_response(403, "forbidden", "Metrics are for operators: see TMS_METRICS_TOKEN.")
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    scrape = CollectorRegistry()
    scrape.register(BACKLOG)
    body = generate_latest(registry) + generate_latest(scrape)
    return HttpResponse(body, content_type=CONTENT_TYPE_LATEST)
