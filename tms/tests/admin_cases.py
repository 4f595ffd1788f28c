"""The back office's shared test helpers: the users, a small world of rows for every admin page, and
the checks every app's admin tests run on their own pages (each app's tests/test_admin.py).

Its fixtures are registered for the whole suite (conftest.py's `pytest_plugins`).
"""

import datetime
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest
from django.contrib.admin.models import LogEntry
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from drivers.tests.factories import DriverFactory
from events.models import AuditLog, OutboxEvent
from fleet.tests.factories import CarrierFactory, VehicleFactory
from loads import services as load_services
from loads.tests.factories import LoadFactory
from routing.tests.factories import proposed_plan, straight_route
from tms.api_defaults import DISPATCHER, VIEWER
from tms.tests.factories import UserFactory

# The read-only inlines' management forms: a page with inlines is only valid with them.
NO_INLINE_ROWS = {
    f"{prefix}-{name}": value
    for prefix in ("vehicles", "drivers", "routes", "stops", "documents")
    for name, value in (("TOTAL_FORMS", "0"), ("INITIAL_FORMS", "0"), ("MIN_NUM_FORMS", "0"))
}


# --- Users and data --------------------------------------------------------------------------------


@pytest.fixture
def superuser(db):
    return UserFactory(username="root", is_staff=True, is_superuser=True)


@pytest.fixture
def desk(db):
    """A dispatcher with back-office access."""
    return UserFactory(username="desk", roles=[DISPATCHER], is_staff=True)


@pytest.fixture
def reader(db):
    return UserFactory(username="reader", roles=[VIEWER], is_staff=True)


@pytest.fixture
def world(db):
    carrier = CarrierFactory()
    vehicle = VehicleFactory(carrier=carrier)
    driver = DriverFactory(carrier=carrier)
    load = LoadFactory()
    route = straight_route(load, vehicle=vehicle, driver=driver)
    return SimpleNamespace(
        carrier=carrier,
        vehicle=vehicle,
        driver=driver,
        load=load,
        facility=load.shipper,
        route=route,
        audit=AuditLog.objects.first(),
        event=OutboxEvent.objects.first(),
        plan=proposed_plan(horizon=datetime.timedelta(hours=1)),  # no load is due: nothing to solve
    )


def counts() -> tuple[int, int, int]:
    return AuditLog.objects.count(), OutboxEvent.objects.count(), LogEntry.objects.count()


def messages_of(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def run_action(client, changelist: str, action: str, objects, **data):
    return client.post(
        changelist,
        {"action": action, "_selected_action": [str(obj.pk) for obj in objects], **data},
        follow=True,
    )


def admin_url(model: str, view: str, *args) -> str:
    app_label, model_name = model.split(".")
    return reverse(f"admin:{app_label}_{model_name}_{view}", args=args)


def carrier_form(**changes) -> dict:
    return {
        "name": "Prairie Wind Trucking",
        "dot_number": "1234567",
        "mc_number": "MC445566",
        "contact_email": "ops@prairiewind.example",
        "contact_phone": "(402) 555-0110",
        "is_active": "on",
        **NO_INLINE_ROWS,
        **changes,
    }


# --- The checks every app runs on its own pages ------------------------------------------------------


@pytest.mark.django_db
class AdminPageCases:
    """The back-office checks written once (as tms/tests/api_cases.py does for the API): each app's
    test class lists its pages and changelists; these cases check every role and the query count."""

    # (app_label.model, attribute of `world` holding a row, whether it has an add page)
    pages: list[tuple[str, str, bool]] = []
    # (changelist URL, a function adding one row it lists)
    changelists: list[tuple[str, Callable[[], Any]]] = []

    def pytest_generate_tests(self, metafunc):
        if "model" in metafunc.fixturenames:
            metafunc.parametrize(("model", "attribute", "addable"), self.pages)
        if "changelist" in metafunc.fixturenames:
            metafunc.parametrize(("changelist", "make_row"), self.changelists)

    @pytest.mark.parametrize("user_fixture", ["superuser", "desk"])
    def test_operators_open_every_changelist_add_and_change_page(
        self, request, client, world, user_fixture, model, attribute, addable
    ):
        client.force_login(request.getfixturevalue(user_fixture))
        obj = getattr(world, attribute)
        listing = client.get(admin_url(model, "changelist"))
        assert listing.status_code == 200
        assert listing.context["cl"].result_count >= 1
        assert client.get(admin_url(model, "change", obj.pk)).status_code == 200
        assert client.get(admin_url(model, "add")).status_code == (200 if addable else 403)

    def test_viewer_sees_every_page_read_only(self, client, world, reader, model, attribute, addable):
        client.force_login(reader)
        obj = getattr(world, attribute)
        before = counts()
        listing = client.get(admin_url(model, "changelist"))
        assert listing.status_code == 200
        assert 'name="action"' not in listing.content.decode()
        change_page = client.get(admin_url(model, "change", obj.pk))
        assert change_page.status_code == 200
        assert 'name="_save"' not in change_page.content.decode()
        assert client.post(admin_url(model, "change", obj.pk), {}).status_code == 403
        assert client.get(admin_url(model, "add")).status_code == 403
        assert client.post(admin_url(model, "delete", obj.pk), {"post": "yes"}).status_code == 403
        assert counts() == before

    def test_changelists_take_the_same_number_of_queries_for_more_rows(
        self, client, world, desk, changelist, make_row
    ):
        client.force_login(desk)
        client.get(changelist)  # warm the session and content types
        with CaptureQueriesContext(connection) as few:
            assert client.get(changelist).status_code == 200
        for _ in range(4):
            make_row()
        assigned = LoadFactory()
        other = CarrierFactory()
        load_services.assign_load(
            assigned, by=None, vehicle=VehicleFactory(carrier=other), driver=DriverFactory(carrier=other)
        )
        with CaptureQueriesContext(connection) as many:
            assert client.get(changelist).status_code == 200
        assert len(many) == len(few), [query["sql"] for query in many]
