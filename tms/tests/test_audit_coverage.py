"""Every writing endpoint of the project says what it leaves in the audit trail, tagged with the
request's correlation id.

The endpoints are found by walking every URL pattern of the project (Django's resolver, through
every include) and every writing method (POST, PUT, PATCH, DELETE) of each view, so a new writing
endpoint without a case here fails. A case is AUDITED (the endpoint writes its audit row) or
UNAUDITED (it writes, deliberately without an audit row, and the case says what it writes instead).
The back office's model pages are checked model by model: they write through ServiceModelAdmin
(the services, hence their audit rows; tested in each app's test_admin.py) or are read-only."""

import datetime
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib import admin
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone
from rest_framework.authtoken.models import Token

from customers.services import create_customer
from documents.services import upload_document
from drivers.tests.factories import DriverFactory
from events.models import AuditLog, OutboxEvent
from fleet.models import GpsPoint
from fleet.tests.factories import CarrierFactory, VehicleFactory
from loads.services import add_stop
from loads.tests.factories import FacilityFactory, LoadFactory, load_in
from routing.models import FleetPlan, Route
from routing.tests.factories import proposed_plan
from tms.admin import ReadOnlyAdmin, ServiceModelAdmin
from tms.api_defaults import ADMIN, DISPATCHER, roles_of
from tms.tests.factories import UserFactory
from tms.times import rfc3339
from webhooks.models import WebhookDelivery, WebhookSubscription
from webhooks.tests.factories import SubscriptionFactory

pytestmark = pytest.mark.django_db

WRITING = ("post", "put", "patch", "delete")
Endpoint = tuple[str, str]  # (URL name as reverse() takes it, method)
Case = Callable[[Any], tuple[Any, str, str | None]]

# A function view cannot tell which methods it answers: each one says which of them write.
FUNCTION_VIEWS: dict[str, set[str]] = {
    "health": set(),
    "metrics": set(),
    "asyncapi": set(),
    "dispatch-board": set(),
    "admin:index": set(),
    "admin:app_list": set(),
    "admin:jsi18n": set(),
    "admin:view_on_site": set(),
    "admin:autocomplete": set(),
    "admin:password_change_done": set(),
    "admin:login": {"post"},
    "admin:logout": {"post"},
    "admin:password_change": {"post"},
    "admin:auth_user_password_change": {"post"},
    "admin:drivers_driver_eld": set(),
    "admin:drivers_driver_eld_day": set(),
    "admin:routing_fleetplan_plan": {"post"},
    "admin-home": set(),
    "admin-home-figures": set(),
    "admin:loads_load_transition": {"post"},
}
# Writes a method scan cannot see: the OsmAnd protocol reports positions with GET.
WRITING_GETS: set[Endpoint] = {("osmand", "get")}
# Django's own writes, not TMS data: admin sign-in and sign-out (sessions), password changes, and
# the user, group and token pages. No audit row; no case here.
DJANGO_OWN: set[Endpoint] = {
    ("admin:login", "post"),
    ("admin:logout", "post"),
    ("admin:password_change", "post"),
    ("admin:auth_user_password_change", "post"),
}
DJANGO_OWN_MODELS = {"auth.user", "auth.group", "authtoken.tokenproxy"}
MODEL_PAGES = ("changelist", "add", "change", "delete", "history")


def url_patterns(patterns=None, namespace: str = ""):
    """(name, view) of every URL pattern of the project, through every include; the name as
    reverse() takes it (with its namespace), None for an unnamed pattern."""
    for pattern in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(pattern, URLResolver):
            inner = ":".join(filter(None, [namespace, pattern.namespace]))
            yield from url_patterns(pattern.url_patterns, inner)
        elif isinstance(pattern, URLPattern):
            name = f"{namespace}:{pattern.name}" if namespace and pattern.name else pattern.name
            yield name, pattern.callback


def admin_model_pages() -> set[str]:
    return {
        f"admin:{model._meta.app_label}_{model._meta.model_name}_{page}"
        for model in admin.site._registry
        for page in MODEL_PAGES
    }


def writing_methods(name: str, view) -> set[str]:
    """The writing methods a view answers: a DRF viewset's routed methods, a class view's
    handlers, a function view's declaration (FUNCTION_VIEWS)."""
    view_class = getattr(view, "cls", None) or getattr(view, "view_class", None)
    if view_class is None:
        assert name in FUNCTION_VIEWS, (
            f"function view {name!r}: declare its writing methods in FUNCTION_VIEWS"
        )
        return FUNCTION_VIEWS[name]
    allowed = set(view_class.http_method_names)
    routed = getattr(view, "actions", None)  # a viewset's {method: action}
    methods = set(routed) if routed is not None else {m for m in WRITING if hasattr(view_class, m)}
    return {method for method in methods if method in WRITING and method in allowed}


def writing_endpoints() -> set[Endpoint]:
    model_pages = admin_model_pages()
    found = set(WRITING_GETS)
    for name, view in url_patterns():
        if name is None:
            # The admin's unnamed patterns only redirect: an object's bare URL to its change page,
            # the catch-all to the login page or a 404.
            assert view.__module__.startswith("django."), view
            continue
        if name in model_pages:
            continue  # test_every_back_office_model_page_writes_through_the_services
        found |= {(name, method) for method in writing_methods(name, view)}
    return found - DJANGO_OWN


def request_id(client) -> str:
    return client._credentials["HTTP_X_REQUEST_ID"]


def staff_session(client) -> Client:
    """A dispatcher signed in to the back office, sending the test's correlation id."""
    session = Client(HTTP_X_REQUEST_ID=request_id(client))
    session.force_login(
        UserFactory(username=f"desk-{uuid.uuid4().hex[:8]}", roles=[DISPATCHER], is_staff=True)
    )
    return session


def facility_body() -> dict:
    return {
        "name": "Dock 9",
        "address": "9 Port Rd",
        "city": "Savannah",
        "state": "GA",
        "postal_code": "31401",
        "location": {"type": "Point", "coordinates": [-81.0998, 32.0809]},
        "timezone": "America/New_York",
    }


def soon(hours: int) -> str:
    return (timezone.now() + datetime.timedelta(hours=hours)).isoformat()


def _assign(client):
    load = LoadFactory()
    vehicle = VehicleFactory()
    driver = DriverFactory(carrier=vehicle.carrier)
    body = {"vehicle_id": str(vehicle.pk), "driver_id": str(driver.pk)}
    return client.post(f"/api/loads/{load.pk}/assign/", body, format="json"), "loads", str(load.pk)


def _transition(status: str, action: str, body: dict | None = None) -> Case:
    def run(client):
        load = load_in(status)
        return (
            client.post(f"/api/loads/{load.pk}/{action}/", body or {}, format="json"),
            "loads",
            str(load.pk),
        )

    return run


def _on(factory, method: str, suffix: str, body: dict | None, table: str) -> Case:
    def run(client):
        obj = factory()
        return (
            getattr(client, method)(suffix.format(pk=obj.pk), body or {}, format="json"),
            table,
            str(obj.pk),
        )

    return run


def _put(factory, path: str, body: Callable[[object], dict], table: str) -> Case:
    def run(client):
        obj = factory()
        return client.put(path.format(pk=obj.pk), body(obj), format="json"), table, str(obj.pk)

    return run


def _create(path: str, body: Callable[[], dict], table: str) -> Case:
    def run(client):
        return client.post(path, body(), format="json"), table, None

    return run


def _published(response):
    """The audit row of a published event is the outbox row's creation (keyed by its sequence)."""
    event = OutboxEvent.objects.get(id=response.json()["id"])
    return response, "outbox_events", str(event.pk)


def _planned_in_the_back_office(client):
    response = staff_session(client).post("/admin/routing/fleetplan/plan/")
    return response, "fleet_plans", str(FleetPlan.objects.get().pk)


def _moved_in_the_back_office(client):
    load = load_in("ASSIGNED")
    response = staff_session(client).post(f"/admin/loads/load/{load.pk}/transition/pick-up/")
    return response, "loads", str(load.pk)


def _optimized_route(client):
    load, vehicle = LoadFactory(), VehicleFactory()
    response = client.post(
        "/api/routes/optimize-load", {"load_id": str(load.pk), "vehicle_id": str(vehicle.pk)}, format="json"
    )
    return response, "routes", str(Route.objects.get(load=load).pk)


def _customer():
    return create_customer(by=None, name="Acme Retail", code=f"C{uuid.uuid4().hex[:8]}")


def _document():
    return upload_document(
        load=LoadFactory(), by=None, kind="BOL", file=SimpleUploadedFile("bol.pdf", b"%PDF-1.4\n%%EOF\n")
    )


def _uploaded_document(client):
    load = LoadFactory()
    body = {"file": SimpleUploadedFile("pod.pdf", b"%PDF-1.4\n%%EOF\n"), "kind": "POD"}
    return client.post(f"/api/loads/{load.pk}/documents/", body, format="multipart"), "load_documents", None


def _deleted_document(client):
    document = _document()
    response = client.delete(f"/api/loads/{document.load_id}/documents/{document.pk}/")
    return response, "load_documents", str(document.pk)


def _drop(load, sequence: int):
    """A delivery added on the way, an hour after the load's pickup opens."""
    opens = load.stops.get(sequence=1).earliest_at
    return add_stop(
        load,
        by=None,
        sequence=sequence,
        kind="DELIVERY",
        facility=FacilityFactory(),
        earliest_at=opens + datetime.timedelta(hours=1),
        latest_at=opens + datetime.timedelta(hours=2),
    )


def _stop_of_a_load():
    return _drop(LoadFactory(), 2)


def _stop_added(client):
    load = LoadFactory()
    pickup = load.stops.get(sequence=1)
    body = {
        "kind": "DELIVERY",
        "facility_id": str(FacilityFactory().pk),
        "earliest_at": rfc3339(pickup.earliest_at + datetime.timedelta(hours=1)),
        "latest_at": rfc3339(pickup.earliest_at + datetime.timedelta(hours=2)),
        "sequence": 2,
    }
    response = client.post(f"/api/loads/{load.pk}/stops/", body, format="json")
    return response, "load_stops", str(load.stops.get(sequence=2).pk)


def _stop_changed(method: str, body: dict | None) -> Case:
    def run(client):
        stop = _stop_of_a_load()
        response = getattr(client, method)(f"/api/loads/{stop.load_id}/stops/{stop.pk}", body, format="json")
        return response, "load_stops", str(stop.pk)

    return run


def _stops_reordered(client):
    load = LoadFactory()
    pickup, delivery = load.stops.order_by("sequence")
    first, second = _drop(load, 2), _drop(load, 3)
    order = [str(stop.pk) for stop in (pickup, second, first, delivery)]
    response = client.post(f"/api/loads/{load.pk}/stops/reorder", {"stop_ids": order}, format="json")
    return response, "load_stops", str(first.pk)


AUDITED: dict[Endpoint, Case] = {
    ("load-stops", "post"): _stop_added,
    ("load-stop", "patch"): _stop_changed("patch", {"instructions": "Dock 4"}),
    ("load-stop", "delete"): _stop_changed("delete", None),
    ("load-reorder-stops", "post"): _stops_reordered,
    ("customer-list", "post"): _create("/api/customers/", lambda: {"name": "A", "code": "A1"}, "customers"),
    ("customer-detail", "put"): _on(
        _customer, "put", "/api/customers/{pk}/", {"name": "B", "code": "B1"}, "customers"
    ),
    ("customer-detail", "patch"): _on(
        _customer, "patch", "/api/customers/{pk}/", {"notes": "n"}, "customers"
    ),
    ("customer-detail", "delete"): _on(_customer, "delete", "/api/customers/{pk}/", None, "customers"),
    ("load-documents-list", "post"): _uploaded_document,
    ("load-documents-detail", "delete"): _deleted_document,
    ("carrier-list", "post"): _create(
        "/api/carriers/", lambda: {"name": "A", "dot_number": "42"}, "carriers"
    ),
    ("carrier-detail", "put"): _on(
        CarrierFactory, "put", "/api/carriers/{pk}/", {"name": "B", "dot_number": "43"}, "carriers"
    ),
    ("carrier-detail", "patch"): _on(
        CarrierFactory, "patch", "/api/carriers/{pk}/", {"name": "C"}, "carriers"
    ),
    ("carrier-detail", "delete"): _on(CarrierFactory, "delete", "/api/carriers/{pk}/", None, "carriers"),
    ("vehicle-list", "post"): _create(
        "/api/vehicles/",
        lambda: {
            "carrier_id": str(CarrierFactory().pk),
            "vehicle_number": "U1",
            "vin": "1FUJGLDR0CLBP8834",
            "make": "Volvo",
            "model": "VNL",
            "year": 2021,
            "vehicle_type": "DRY_VAN",
            "capacity_weight": "20000",
            "capacity_volume": "90",
        },
        "vehicles",
    ),
    ("vehicle-detail", "put"): _put(
        VehicleFactory,
        "/api/vehicles/{pk}/",
        lambda v: {
            "carrier_id": str(v.carrier_id),
            "vehicle_number": v.vehicle_number,
            "vin": v.vin,
            "make": "Mack",
            "model": "Anthem",
            "year": 2020,
            "vehicle_type": "FLATBED",
            "capacity_weight": "21000",
            "capacity_volume": "80",
        },
        "vehicles",
    ),
    ("vehicle-detail", "patch"): _on(
        VehicleFactory, "patch", "/api/vehicles/{pk}/", {"make": "Mack"}, "vehicles"
    ),
    ("vehicle-detail", "delete"): _on(VehicleFactory, "delete", "/api/vehicles/{pk}/", None, "vehicles"),
    ("vehicle-set-status", "post"): _on(
        VehicleFactory, "post", "/api/vehicles/{pk}/status/", {"status": "MAINTENANCE"}, "vehicles"
    ),
    ("vehicle-location", "put"): _on(
        VehicleFactory, "put", "/api/vehicles/{pk}/location", {"longitude": -80, "latitude": 35}, "vehicles"
    ),
    ("driver-list", "post"): _create(
        "/api/drivers/",
        lambda: {
            "carrier_id": str(CarrierFactory().pk),
            "employee_number": "E1",
            "name": "Al Bo",
            "license_number": "X1",
            "license_state": "OH",
            "license_expiry": "2031-01-01",
        },
        "drivers",
    ),
    ("driver-detail", "put"): _put(
        DriverFactory,
        "/api/drivers/{pk}/",
        lambda d: {
            "carrier_id": str(d.carrier_id),
            "employee_number": d.employee_number,
            "name": "Zed Bo",
            "license_number": d.license_number,
            "license_state": d.license_state,
            "license_expiry": "2031-01-01",
        },
        "drivers",
    ),
    ("driver-detail", "patch"): _on(DriverFactory, "patch", "/api/drivers/{pk}/", {"phone": "1"}, "drivers"),
    ("driver-detail", "delete"): _on(DriverFactory, "delete", "/api/drivers/{pk}/", None, "drivers"),
    ("driver-status", "put"): _on(
        DriverFactory, "put", "/api/drivers/{pk}/status", {"status": "ON_DUTY"}, "drivers"
    ),
    ("driver-location", "put"): _on(
        DriverFactory, "put", "/api/drivers/{pk}/location", {"longitude": -80, "latitude": 35}, "drivers"
    ),
    ("facility-list", "post"): _create("/api/facilities/", facility_body, "facilities"),
    ("facility-detail", "put"): _put(
        FacilityFactory, "/api/facilities/{pk}/", lambda f: facility_body(), "facilities"
    ),
    ("facility-detail", "patch"): _on(
        FacilityFactory, "patch", "/api/facilities/{pk}/", {"name": "Dock 10"}, "facilities"
    ),
    ("facility-detail", "delete"): _on(
        FacilityFactory, "delete", "/api/facilities/{pk}/", None, "facilities"
    ),
    ("load-list", "post"): _create(
        "/api/loads/",
        lambda: {
            "shipper_id": str(FacilityFactory().pk),
            "consignee_id": str(FacilityFactory().pk),
            "pickup_datetime": soon(24),
            "delivery_datetime": soon(48),
            "weight": "1000",
            "volume": "5",
            "rate": "900",
        },
        "loads",
    ),
    ("load-detail", "put"): _put(
        LoadFactory,
        "/api/loads/{pk}/",
        lambda load: {
            "shipper_id": str(load.shipper_id),
            "consignee_id": str(load.consignee_id),
            "pickup_datetime": soon(24),
            "delivery_datetime": soon(72),
            "weight": "1000",
            "volume": "5",
            "rate": "950",
        },
        "loads",
    ),
    ("load-detail", "patch"): _on(LoadFactory, "patch", "/api/loads/{pk}/", {"rate": "1"}, "loads"),
    ("load-assign", "post"): _assign,
    ("load-pick-up", "post"): _transition("ASSIGNED", "pickup"),
    ("load-in-transit", "post"): _transition("PICKED_UP", "in-transit"),
    ("load-deliver", "post"): _transition("IN_TRANSIT", "deliver"),
    ("load-cancel", "post"): _transition("CREATED", "cancel", {"reason": "x"}),
    ("load-delay", "post"): _transition("ASSIGNED", "delay", {"reason": "x"}),
    ("fleet-plan-accept", "post"): _on(
        proposed_plan, "post", "/api/fleet-plans/{pk}/accept/", None, "fleet_plans"
    ),
    ("fleet-plan-discard", "post"): _on(
        proposed_plan, "post", "/api/fleet-plans/{pk}/discard/", None, "fleet_plans"
    ),
    ("event-publish", "post"): lambda client: _published(
        client.post(
            "/api/events/publish",
            {
                "type": "SYSTEM_ALERT",
                "subject": "yard-7",
                "data": {"severity": "INFO", "message": "m", "source": "t"},
            },
            format="json",
        )
    ),
    ("route-optimize-load", "post"): lambda client: _optimized_route(client),
    ("route-optimize-fleet", "post"): _create(
        "/api/routes/optimize-fleet", lambda: {"time_limit_s": 1}, "fleet_plans"
    ),
    ("admin:routing_fleetplan_plan", "post"): lambda client: _planned_in_the_back_office(client),
    ("admin:loads_load_transition", "post"): lambda client: _moved_in_the_back_office(client),
}


def _gps_fixes(client):
    vehicle = VehicleFactory()
    at = (timezone.now() - datetime.timedelta(minutes=5)).isoformat()
    body = {
        "points": [{"vehicle_id": str(vehicle.pk), "longitude": -90.0, "latitude": 35.0, "recorded_at": at}]
    }
    response = client.post("/api/tracking/batch", body, format="json")
    return response, GpsPoint.objects.filter(vehicle_id=vehicle.pk).exists()


def _osmand(method: str):
    def run(client):
        vehicle = VehicleFactory(tracker_device_id=f"dev-{uuid.uuid4().hex}")
        at = str(int((timezone.now() - datetime.timedelta(minutes=5)).timestamp()))
        params = {"id": vehicle.tracker_device_id, "lat": "41.8781", "lon": "-87.6298", "timestamp": at}
        response = getattr(client, method)("/osmand/", params)
        return response, GpsPoint.objects.filter(vehicle_id=vehicle.pk).exists()

    return run


def _api_token(client):
    user = UserFactory(username=f"tokenless-{uuid.uuid4().hex[:8]}", roles=[DISPATCHER])
    user.set_password("a-long-enough-password")
    user.save()
    body = {"username": user.username, "password": "a-long-enough-password"}
    response = client.post("/api/auth/token/", body, format="json")
    return response, Token.objects.filter(user=user).exists()


def _ws_ticket(client):
    response = client.post("/api/ws/ticket")
    return response, cache.get(f"ws-ticket:{response.json()['ticket']}") == client.user.pk


# Writing endpoints without an audit row, each with the reason and what it writes instead (checked).
UNAUDITED: dict[Endpoint, tuple[str, Callable[[Any], tuple[Any, bool]]]] = {
    ("tracking-batch", "post"): ("GPS fixes: the gps_points table is the record of every fix", _gps_fixes),
    ("osmand", "post"): ("GPS fixes: the gps_points table is the record of every fix", _osmand("post")),
    ("osmand", "get"): ("GPS fixes: the gps_points table is the record of every fix", _osmand("get")),
    ("auth-token", "post"): ("an API token: a credential, not TMS data", _api_token),
    ("ws-ticket", "post"): ("a /ws ticket: a credential, kept in Redis for 30 s, not TMS data", _ws_ticket),
}


def _subscription() -> WebhookSubscription:
    return SubscriptionFactory()


def _subscribed(client):
    response = client.post("/api/webhooks/", {"url": "https://93.184.215.14/hook"}, format="json")
    return response, "webhook_subscriptions", None


def _disabled_subscription() -> WebhookSubscription:
    return SubscriptionFactory(active=False)


def _test_delivery(client):
    subscription = SubscriptionFactory()
    response = client.post(f"/api/webhooks/{subscription.pk}/test", format="json")
    return response, "webhook_deliveries", str(WebhookDelivery.objects.get(subscription=subscription).pk)


# Endpoints for ADMIN alone (the system's configuration), written by an admin's client.
ADMIN_AUDITED: dict[Endpoint, Case] = {
    ("webhook-list", "post"): _subscribed,
    ("webhook-detail", "put"): _put(
        _subscription,
        "/api/webhooks/{pk}/",
        lambda s: {"url": "https://93.184.215.15/hook", "event_types": ["LOAD_CREATED"]},
        "webhook_subscriptions",
    ),
    ("webhook-detail", "patch"): _on(
        _subscription, "patch", "/api/webhooks/{pk}/", {"description": "ERP"}, "webhook_subscriptions"
    ),
    ("webhook-detail", "delete"): _on(
        _subscription, "delete", "/api/webhooks/{pk}/", None, "webhook_subscriptions"
    ),
    ("webhook-enable", "post"): _on(
        _disabled_subscription, "post", "/api/webhooks/{pk}/enable", None, "webhook_subscriptions"
    ),
    ("webhook-disable", "post"): _on(
        _subscription, "post", "/api/webhooks/{pk}/disable", None, "webhook_subscriptions"
    ),
    ("webhook-send-test", "post"): _test_delivery,
}


def test_every_writing_endpoint_has_a_case():
    assert not set(AUDITED) & set(UNAUDITED)
    assert not set(ADMIN_AUDITED) & (set(AUDITED) | set(UNAUDITED))
    assert writing_endpoints() == set(AUDITED) | set(UNAUDITED) | set(ADMIN_AUDITED)


def test_every_back_office_model_page_writes_through_the_services():
    for model, model_admin in admin.site._registry.items():
        if model._meta.label_lower in DJANGO_OWN_MODELS:
            continue
        assert isinstance(model_admin, ServiceModelAdmin | ReadOnlyAdmin), model._meta.label


@pytest.fixture
def traced(dispatcher):
    """The dispatcher's client, sending a correlation id of its own."""
    correlation_id = f"audit-{uuid.uuid4()}"
    dispatcher.credentials(
        HTTP_AUTHORIZATION=dispatcher._credentials["HTTP_AUTHORIZATION"], HTTP_X_REQUEST_ID=correlation_id
    )
    return dispatcher


@pytest.fixture(autouse=True)
def _jobs_run_now(eager_celery, settings):
    """optimize-load and optimize-fleet queue Celery jobs: they run in the request here."""
    settings.ROUTING_FLEET_TIME_LIMIT_S = 1


@pytest.mark.parametrize("endpoint", sorted(AUDITED), ids=lambda e: f"{e[0]}.{e[1]}")
def test_each_mutation_writes_its_audit_row(traced, endpoint):
    response, table, record_id = AUDITED[endpoint](traced)
    assert response.status_code < 400, response.content
    user = response.wsgi_request.user  # the dispatcher, through the API or the back office
    assert DISPATCHER in roles_of(user)
    rows = AuditLog.objects.filter(correlation_id=request_id(traced), table_name=table)
    if record_id is None:
        record_id = response.json()["id"]
    assert rows.filter(record_id=record_id, user=user).exists(), list(rows.values())


@pytest.mark.parametrize("endpoint", sorted(ADMIN_AUDITED), ids=lambda e: f"{e[0]}.{e[1]}")
def test_each_admin_mutation_writes_its_audit_row(admin_api, endpoint):
    correlation_id = f"audit-{uuid.uuid4()}"
    admin_api.credentials(
        HTTP_AUTHORIZATION=admin_api._credentials["HTTP_AUTHORIZATION"], HTTP_X_REQUEST_ID=correlation_id
    )
    response, table, record_id = ADMIN_AUDITED[endpoint](admin_api)
    assert response.status_code < 400, response.content
    user = response.wsgi_request.user
    assert ADMIN in roles_of(user)
    rows = AuditLog.objects.filter(correlation_id=correlation_id, table_name=table)
    if record_id is None:
        record_id = response.json()["id"]
    assert rows.filter(record_id=record_id, user=user).exists(), list(rows.values())


@pytest.mark.parametrize("endpoint", sorted(UNAUDITED), ids=lambda e: f"{e[0]}.{e[1]}")
def test_each_unaudited_write_writes_without_an_audit_row_as_it_says(traced, endpoint):
    reason, case = UNAUDITED[endpoint]
    response, written = case(traced)
    assert response.status_code == 200, response.content
    assert written, reason
    assert not AuditLog.objects.filter(correlation_id=request_id(traced)).exists(), reason
