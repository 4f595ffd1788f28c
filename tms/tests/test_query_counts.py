"""Every GET endpoint of the API answers in a known number of database queries, however many rows
it shows (NetBox's query_counts.json, Zulip's assert_database_query_count).

The endpoints are found by walking every URL pattern of the project (test_audit_coverage's walker):
each DRF view that answers GET has a case here, or says in NOT_MEASURED why not, so a new endpoint
without one fails. A list (and a GET action listing a row's related rows: a load's stops, a
vehicle's track, a driver's violations, the freight network's lanes) is requested over 2 and over 6
rows: both must take the same number of queries, so an N+1 fails here whatever the baseline says.
That number, and a detail's, must equal the endpoint's entry in query_counts.json.

A count is that of one request by a dispatcher (an admin for the ADMIN_ONLY endpoints), after a
first request has filled the caches (the process's, and the token's user and roles: tms.token_cache,
so token authentication takes no query), on every database the request may use.

The baseline is exact. A count that grows is a regression: fix it, or raise the entry knowingly. One
that shrinks must be written down too, so the file stays tight. A new endpoint (or variant) needs an
entry, and an entry no case measures is refused. To rewrite the file from what the endpoints take
now (one process, not under -n):

    TMS_UPDATE_QUERY_COUNTS=1 .venv/bin/python -m pytest tms/tests/test_query_counts.py

then read the diff of tms/tests/query_counts.json before committing it. The O(1) check still
applies while updating: an N+1 cannot be written into the baseline.
"""

import datetime
import json
import os
import uuid
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from unittest.mock import ANY

import pytest
from django.conf import settings
from django.contrib.gis.geos import Point
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connections, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from customers.services import create_customer
from documents.services import upload_document
from drivers.tests.factories import DriverFactory, duty_log
from events.handlers import store_event
from events.services import publish_event
from fleet.ingest import GpsFix, ingest_without_audit
from fleet.tests.factories import CarrierFactory, VehicleFactory
from loads.models import StopEvent, StopKind
from loads.services import add_stop
from loads.tests.factories import FacilityFactory, LoadFactory, load_in
from routing import graph as graph_module
from routing.api.views import _job_key
from routing.graph import Delivery, InProcessGraph
from routing.models import FleetPlan, FleetPlanStatus, Route
from routing.tests.factories import straight_route
from tms.tests.factories import UserFactory
from tms.tests.test_audit_coverage import url_patterns
from webhooks import services
from webhooks.tests.factories import SubscriptionFactory

pytestmark = pytest.mark.django_db

BASELINE = Path(__file__).with_name("query_counts.json")
UPDATE = os.environ.get("TMS_UPDATE_QUERY_COUNTS") == "1"
FEW, MANY = 2, 6

# GET endpoints measured by no case, and why.
NOT_MEASURED: dict[str, str] = {
    "schema": "the OpenAPI document, generated from the code: it reads no row",
    "swagger-ui": "a page that loads the OpenAPI document: it reads no row",
    "redoc": "a page that loads the OpenAPI document: it reads no row",
    "osmand": "a tracker reporting a fix (GET is a write here, see test_audit_coverage), not a read",
    "load-documents-download": "streams a file, not JSON; its queries are load-documents-detail's",
}

CHICAGO = (-87.6298, 41.8781)
HOUR = datetime.timedelta(hours=1)


def get_endpoints() -> set[str]:
    """The URL name of every DRF view that answers GET (Django's own views, the admin's, the
    health and metrics probes and the dispatch board, are not the API)."""
    found = set()
    for name, view in url_patterns():
        view_class = getattr(view, "cls", None)
        if view_class is None:
            continue
        routed = getattr(view, "actions", None)  # a viewset's {method: action}
        answers_get = "get" in routed if routed is not None else hasattr(view_class, "get")
        if answers_get and "get" in view_class.http_method_names:
            assert name is not None, view
            found.add(name)
    return found


# --- Rows ------------------------------------------------------------------------------------------
# A list case makes n rows the endpoint shows and returns its URL and how to count the rows shown in
# its body; a detail case makes its row and returns its URL.

Shown = Callable[[dict], int]


def results(body: dict) -> int:
    return len(body["results"])


def carriers(n: int) -> tuple[str, Shown]:
    CarrierFactory.create_batch(n)
    return "/api/carriers/", results


def vehicles(n: int) -> tuple[str, Shown]:
    VehicleFactory.create_batch(n, current_location=Point(*CHICAGO, srid=4326))
    return "/api/vehicles/", results


def vehicles_near(n: int) -> tuple[str, Shown]:
    vehicles(n)
    return f"/api/vehicles/?near={CHICAGO[0]},{CHICAGO[1]}&radius_km=50", results


def a_driver(**fields):
    """A driver with a user account and a position: every relation the serializer could follow."""
    user = UserFactory(username=f"driver-{uuid.uuid4().hex[:8]}", password=None)
    return DriverFactory(user=user, current_location=Point(*CHICAGO, srid=4326), **fields)


def drivers(n: int) -> tuple[str, Shown]:
    for _ in range(n):
        a_driver()
    return "/api/drivers/", results


def drivers_near(n: int) -> tuple[str, Shown]:
    drivers(n)
    return f"/api/drivers/?near={CHICAGO[0]},{CHICAGO[1]}&radius_km=50", results


def drivers_available_for_hours(n: int) -> tuple[str, Shown]:
    """Drivers with a log each: the filter runs the hours-of-service engine over every candidate."""
    for _ in range(n):
        duty_log(a_driver(), timezone.now() - 20 * HOUR, ("DRIVING", 4), ("OFF_DUTY", 12))
    return "/api/drivers/?available_for_hours=4", results


def facilities(n: int) -> tuple[str, Shown]:
    FacilityFactory.create_batch(n)
    return "/api/facilities/", results


def customers(n: int) -> tuple[str, Shown]:
    for _ in range(n):
        create_customer(by=None, name="Acme", code=f"C{uuid.uuid4().hex[:8]}")
    return "/api/customers/", results


def uploaded_documents(n: int):
    """n documents on one load, uploaded by n different users."""
    (load,) = assigned_loads(1)
    return [
        upload_document(
            load=load,
            by=UserFactory(username=f"clerk-{uuid.uuid4().hex[:8]}"),
            kind="POD",
            file=SimpleUploadedFile("pod.pdf", b"%PDF-1.4\n%%EOF\n"),
            stop=load.stops.last(),
        )
        for _ in range(n)
    ]


def documents(n: int) -> tuple[str, Shown]:
    load_id = uploaded_documents(n)[0].load_id if n else assigned_loads(1)[0].pk
    return f"/api/loads/{load_id}/documents/", results


def assigned_loads(n: int) -> list:
    """Loads on a carrier's vehicle and driver: every relation of a load is set."""
    return [load_in("ASSIGNED") for _ in range(n)]


def loads(n: int) -> tuple[str, Shown]:
    assigned_loads(n)
    return "/api/loads/", results


def a_load_with_stops(n: int):
    """A booked load of n stops: its pickup, n - 2 drops on the way, its delivery."""
    load = LoadFactory()
    pickup = load.stops.get(sequence=1)
    for _ in range(n - 2):
        add_stop(
            load,
            by=None,
            sequence=2,
            kind=StopKind.DELIVERY,
            facility=FacilityFactory(),
            earliest_at=pickup.earliest_at + HOUR,
            latest_at=pickup.earliest_at + 2 * HOUR,
        )
    return load


def load_stops(n: int) -> tuple[str, Shown]:
    return f"/api/loads/{a_load_with_stops(n).pk}/stops/", results


def load_visits(n: int) -> tuple[str, Shown]:
    """n visits of the load's vehicle at its shipper and consignee, alternately."""
    (load,) = assigned_loads(1)
    start = timezone.now() - n * HOUR
    for index in range(n):
        arrived_at = start + index * HOUR
        StopEvent.objects.create(
            load=load,
            vehicle=load.vehicle,
            facility=load.shipper if index % 2 == 0 else load.consignee,
            kind=StopKind.PICKUP if index % 2 == 0 else StopKind.DELIVERY,
            arrived_at=arrived_at,
            last_inside_at=arrived_at + datetime.timedelta(minutes=20),
            departed_at=arrived_at + datetime.timedelta(minutes=30),
            dwell_s=1800,
        )
    return f"/api/loads/{load.pk}/visits/", results


def routes(n: int) -> list[Route]:
    return [straight_route(load, vehicle=load.vehicle, driver=load.driver) for load in assigned_loads(n)]


def route_list(n: int) -> tuple[str, Shown]:
    routes(n)
    return "/api/routes/", results


def fleet_plans(n: int) -> list[FleetPlan]:
    """Proposed plans with their requester (what the solver leaves; solving takes a second each)."""
    requester = UserFactory(username=f"planner-{uuid.uuid4().hex[:8]}", password=None)
    return [
        FleetPlan.objects.create(
            status=FleetPlanStatus.PROPOSED,
            planned_at=timezone.now(),
            requested_by=requester,
            solved_at=timezone.now(),
            loads_planned=0,
            loads_unserved=0,
            vehicles_used=0,
            distance_m=0,
        )
        for _ in range(n)
    ]


def fleet_plan_list(n: int) -> tuple[str, Shown]:
    fleet_plans(n)
    return "/api/fleet-plans/", results


def published_events(n: int) -> None:
    """n alerts through the outbox, each also in the event store (as its consumer would)."""
    for index in range(n):
        event = publish_event(
            type="SYSTEM_ALERT",
            subject=f"yard-{index}",
            data={"severity": "INFO", "message": "gate", "source": "test"},
            by=None,
        )
        store_event(event.envelope)


def event_list(n: int) -> tuple[str, Shown]:
    published_events(n)
    return "/api/events/?type=SYSTEM_ALERT", results


def event_topics(n: int) -> tuple[str, Shown]:
    published_events(n)

    def unpublished(body: dict) -> int:
        return next(t["unpublished"] for t in body["topics"] if t["topic"] == "tms.system.alerts")

    return "/api/events/topics", unpublished


def a_track(n: int):
    """A vehicle with n fixes a minute apart, ending now."""
    vehicle = VehicleFactory()
    start = timezone.now() - datetime.timedelta(minutes=n)
    ingest_without_audit(
        [
            GpsFix(vehicle.pk, start + datetime.timedelta(minutes=i), CHICAGO[0] + 0.01 * i, CHICAGO[1], 50.0)
            for i in range(n)
        ]
    )
    return vehicle, start


def tracking(n: int) -> tuple[str, Shown]:
    vehicle, _ = a_track(n)
    return f"/api/vehicles/{vehicle.pk}/tracking", lambda body: len(body["results"])


def tracking_geojson(n: int) -> tuple[str, Shown]:
    vehicle, _ = a_track(n)
    return (
        f"/api/vehicles/{vehicle.pk}/tracking?format=geojson",
        lambda body: body["features"][0]["properties"]["points"],
    )


def tracking_buckets(n: int) -> tuple[str, Shown]:
    """n fixes in n 5-minute buckets."""
    vehicle = VehicleFactory()
    start = (timezone.now() - datetime.timedelta(hours=2)).replace(minute=0, second=0, microsecond=0)
    ingest_without_audit(
        [
            GpsFix(vehicle.pk, start + datetime.timedelta(minutes=5 * i), CHICAGO[0] + 0.01 * i, CHICAGO[1])
            for i in range(n)
        ]
    )
    end = start + datetime.timedelta(minutes=5 * n)
    window = f"start={start.isoformat()}&end={end.isoformat()}".replace("+00:00", "Z")
    return f"/api/vehicles/{vehicle.pk}/tracking?bucket=5m&{window}", lambda body: len(body["results"])


def driver_hos(n: int) -> tuple[str, Shown]:
    """n days of 9 hours' driving without a break: one violation (395.3(a)(3)(ii)) a day."""
    driver = a_driver()
    start = (timezone.now() - n * 24 * HOUR).replace(minute=0, second=0, microsecond=0)
    duty_log(driver, start, *[("DRIVING", 9), (None, 15)] * n)
    return f"/api/drivers/{driver.pk}/hos", lambda body: len(body["violations"])


def _graph(deliveries: list[Delivery]) -> None:
    """The process's freight graph, holding only these deliveries (the fixture restores it)."""
    graph = InProcessGraph()
    graph.record_deliveries(deliveries)
    graph_module._shared = graph


def _delivery(origin, destination, carrier) -> Delivery:
    return Delivery(str(uuid.uuid4()), str(origin.pk), str(destination.pk), str(carrier.pk), 1000.0, 3600.0)


def network_lanes(n: int) -> tuple[str, Shown]:
    carrier, origin = CarrierFactory(), FacilityFactory()
    _graph([_delivery(origin, FacilityFactory(), carrier) for _ in range(n)])
    return "/api/network/lanes", results


def network_lane_carriers(n: int) -> tuple[str, Shown]:
    origin, destination = FacilityFactory(), FacilityFactory()
    _graph([_delivery(origin, destination, CarrierFactory()) for _ in range(n)])
    return f"/api/network/lanes/{origin.pk}/{destination.pk}/carriers", results


def network_paths(n: int) -> tuple[str, Shown]:
    """n relay paths from origin to destination, each through a facility of its own."""
    carrier, origin, destination = CarrierFactory(), FacilityFactory(), FacilityFactory()
    deliveries = []
    for _ in range(n):
        relay = FacilityFactory()
        deliveries += [_delivery(origin, relay, carrier), _delivery(relay, destination, carrier)]
    _graph(deliveries)
    return f"/api/network/paths?from={origin.pk}&to={destination.pk}&max_hops=2&limit=20", results


def webhooks(n: int) -> tuple[str, Shown]:
    SubscriptionFactory.create_batch(n)
    return "/api/webhooks/", results


def webhook_deliveries(n: int) -> tuple[str, Shown]:
    subscription = SubscriptionFactory()
    for _ in range(n):
        services.record_deliveries_without_audit(
            {
                "id": str(uuid.uuid4()),
                "type": "SYSTEM_ALERT",
                "subject": "s",
                "time": timezone.now().isoformat(),
            }
        )
    return f"/api/webhooks/{subscription.pk}/deliveries", results


def dashboard(n: int) -> tuple[str, Shown]:
    """n loads picked up tomorrow, in a range of n + 2 days (its own cache key): a cached answer
    after the first GET (analytics/tests/test_dashboard.py counts the queries of a computed one)."""
    assigned_loads(n)
    today = timezone.localdate()
    window = f"from={today - datetime.timedelta(days=1)}&to={today + datetime.timedelta(days=n)}"
    return f"/api/dashboard?{window}", lambda body: sum(body["loads_by_status"].values())


LISTS: dict[str, Callable[[int], tuple[str, Shown]]] = {
    "dashboard": dashboard,
    "carrier-list": carriers,
    "vehicle-list": vehicles,
    "vehicle-list?near": vehicles_near,
    "vehicle-history": tracking,
    "vehicle-history?format=geojson": tracking_geojson,
    "vehicle-history?bucket": tracking_buckets,
    "driver-list": drivers,
    "driver-list?near": drivers_near,
    "driver-list?available_for_hours": drivers_available_for_hours,
    "driver-hos": driver_hos,
    "facility-list": facilities,
    "load-list": loads,
    "load-stops": load_stops,
    "load-visits": load_visits,
    "customer-list": customers,
    "load-documents-list": documents,
    "route-list": route_list,
    "fleet-plan-list": fleet_plan_list,
    "event-list": event_list,
    "event-topics": event_topics,
    "network-lanes": network_lanes,
    "network-lane-carriers": network_lane_carriers,
    "network-paths": network_paths,
    "webhook-list": webhooks,
    "webhook-deliveries": webhook_deliveries,
}


def route_job() -> str:
    """A routing job started here and still queued."""
    job_id = str(uuid.uuid4())
    cache.set(_job_key(job_id), {"load": str(uuid.uuid4())})
    return f"/api/routes/jobs/{job_id}"


DETAILS: dict[str, Callable[[], str]] = {
    "carrier-detail": lambda: f"/api/carriers/{CarrierFactory().pk}/",
    "vehicle-detail": lambda: f"/api/vehicles/{VehicleFactory().pk}/",
    "driver-detail": lambda: f"/api/drivers/{a_driver().pk}/",
    "facility-detail": lambda: f"/api/facilities/{FacilityFactory().pk}/",
    "load-detail": lambda: f"/api/loads/{assigned_loads(1)[0].pk}/",
    "load-stop": lambda: "/api/loads/{0.load_id}/stops/{0.pk}".format(
        a_load_with_stops(3).stops.get(sequence=2)
    ),
    "route-detail": lambda: f"/api/routes/{routes(1)[0].pk}/",
    "fleet-plan-detail": lambda: f"/api/fleet-plans/{fleet_plans(1)[0].pk}/",
    "route-job": route_job,
    "driver-scorecard": lambda: f"/api/drivers/{a_driver().pk}/scorecard",
    "carrier-scorecard": lambda: f"/api/carriers/{CarrierFactory().pk}/scorecard",
    "webhook-detail": lambda: f"/api/webhooks/{SubscriptionFactory().pk}/",
    "customer-detail": lambda: f"/api/customers/{create_customer(by=None, name='Acme', code='ACME').pk}/",
    "load-documents-detail": lambda: "/api/loads/{0.load_id}/documents/{0.pk}/".format(
        uploaded_documents(1)[0]
    ),
}
CASES = {**LISTS, **DETAILS}
# Measured as an ADMIN, the only role that reads them.
ADMIN_ONLY = {"webhook-list", "webhook-deliveries", "webhook-detail"}


def client_for(request, key: str):
    return request.getfixturevalue("admin_api" if key.partition("?")[0] in ADMIN_ONLY else "dispatcher")


# --- Measuring -------------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, settings):
    """The embedded event backend (the topics of the outbox, not a broker's), a freight graph of the
    test's own, and a cheap password hash for the users made here (the dispatcher signs in with a
    token): PBKDF2 took a third of the module's time."""
    settings.KAFKA_BOOTSTRAP_SERVERS = ""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    monkeypatch.setattr(graph_module, "_shared", InProcessGraph())


@pytest.fixture(scope="module")
def baseline():
    """The recorded counts, and the counts measured in this run (written back when updating)."""
    if UPDATE and os.environ.get("PYTEST_XDIST_WORKER"):
        pytest.fail("Rewrite the baseline in one process (without -n): workers would overwrite each other.")
    recorded: dict[str, int] = json.loads(BASELINE.read_text()) if BASELINE.exists() else {}
    measured: dict[str, int] = {}
    yield recorded, measured
    if UPDATE and measured:
        kept = {key: count for key, count in {**recorded, **measured}.items() if key in CASES}
        BASELINE.write_text(json.dumps(dict(sorted(kept.items())), indent=2) + "\n")


def measure(client, url: str) -> tuple[int, list[str], dict]:
    """The queries of one GET, on every database it may use, after a first one warmed the caches."""
    client.get(url)
    with ExitStack() as stack:
        databases = sorted({"default", settings.TIMESERIES_DATABASE_ALIAS})
        captured = [stack.enter_context(CaptureQueriesContext(connections[alias])) for alias in databases]
        response = client.get(url)
    assert response.status_code == 200, (url, response.content)
    queries = [query["sql"] for context in captured for query in context.captured_queries]
    return len(queries), queries, response.json()


def measure_rows(client, make: Callable[[int], tuple[str, Shown]], n: int) -> tuple[int, list[str]]:
    """The queries of the list over exactly n rows (made in a savepoint of each database, then
    rolled back)."""
    with ExitStack() as stack:
        databases = sorted({"default", settings.TIMESERIES_DATABASE_ALIAS})
        for alias in databases:
            stack.enter_context(transaction.atomic(using=alias))
        url, shown = make(n)
        count, queries, body = measure(client, url)
        assert shown(body) == n, (url, body)
        for alias in databases:
            transaction.set_rollback(True, using=alias)
    return count, queries


def matches_baseline(baseline, key: str, count: int, queries: list[str]) -> None:
    recorded, measured = baseline
    measured[key] = count
    if UPDATE:
        return
    listing = "\n".join(queries)
    assert key in recorded, (
        f"{key} takes {count} queries and has no baseline: add it (see this module's docstring)\n{listing}"
    )
    if count > recorded[key]:
        raise AssertionError(
            f"{key} takes {count} queries, {count - recorded[key]} more than its baseline of "
            f"{recorded[key]}: fix the regression, or raise the baseline knowingly\n{listing}"
        )
    assert count == recorded[key], (
        f"{key} takes {count} queries, fewer than its baseline of {recorded[key]}: lower the baseline "
        f"(see this module's docstring)"
    )


def test_every_get_endpoint_has_a_case():
    measured = {key.partition("?")[0] for key in CASES}
    assert not measured & set(NOT_MEASURED)
    assert get_endpoints() == measured | set(NOT_MEASURED)


def test_the_baseline_has_an_entry_for_each_case_and_no_other(baseline):
    recorded, _ = baseline
    if UPDATE:
        pytest.skip("the baseline is being rewritten")
    assert sorted(set(CASES) - set(recorded)) == [], "cases without a baseline: add them"
    assert sorted(set(recorded) - set(CASES)) == [], "baselines no case measures: remove them"


@pytest.mark.parametrize("key", sorted(LISTS))
def test_a_list_takes_the_same_queries_over_few_or_many_rows(request, baseline, key):
    client = client_for(request, key)
    few, few_queries = measure_rows(client, LISTS[key], FEW)
    many, many_queries = measure_rows(client, LISTS[key], MANY)
    listing = "\n".join(many_queries)
    assert many == few, f"{key}: {few} queries over {FEW} rows, {many} over {MANY}: an N+1\n{listing}"
    matches_baseline(baseline, key, few, few_queries)


@pytest.mark.parametrize("key", sorted(DETAILS))
def test_a_detail_takes_its_baseline_queries(request, baseline, key):
    count, queries, _ = measure(client_for(request, key), DETAILS[key]())
    matches_baseline(baseline, key, count, queries)


@pytest.mark.parametrize("key", sorted(CASES))
def test_a_query_parameter_nothing_reads_is_a_400_naming_it(request, key):
    """Every GET endpoint (a list, a detail, an action, a view with its own query) refuses a query
    parameter it does not read, as a list's filters do (tms.api.ChecksQueryString): `GET
    /api/loads/{id}?fields=id` answering the whole load would let the client believe it was
    understood."""
    url = LISTS[key](1)[0] if key in LISTS else DETAILS[key]()
    client = client_for(request, key)
    assert client.get(url).status_code == 200, url
    response = client.get(f"{url}{'&' if '?' in url else '?'}colour=red")
    assert response.status_code == 400, (url, response.content)
    assert response.json()["error"]["details"] == {"colour": [ANY]}, url
