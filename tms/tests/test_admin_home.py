"""The admin home is the dashboard: GET /api/dashboard's figures come with the page for a range
(default: the last week in the operator's time zone), Chart.js is served from here, the model list
stays below, and the figures endpoint the page refreshes from answers for the range and the event
that prompted the refresh."""

import re
import uuid

import pytest
from django.contrib.staticfiles import finders
from django.test import Client
from django.utils import timezone

from loads import services
from loads.tests.factories import load_in
from tms.api_defaults import DISPATCHER
from tms.tests.factories import UserFactory
from tms.tests.test_dashboard import embedded

pytestmark = pytest.mark.django_db

HOME = "/admin/"
FIGURES = "/admin/dashboard/figures/"


@pytest.fixture
def staff_client():
    client = Client()
    client.force_login(UserFactory(username="home-staff", is_staff=True, roles=[DISPATCHER]))
    return client


def test_the_home_carries_the_dashboards_figures_charts_and_the_model_list(staff_client):
    delivered = load_in("DELIVERED", pickup_datetime=timezone.now())

    response = staff_client.get(HOME)

    assert response.status_code == 200
    figures = embedded(response, "dashboard-figures")
    assert figures["loads_by_status"]["DELIVERED"] == 1
    assert figures["service"]["deliveries"] == 1
    assert figures["service"]["revenue"] == float(delivered.rate)
    assert len(figures["trend"]) == 7  # the last week, today included
    assert '<script src="/static/chart.js/dist/chart.umd.min.js">' in response.text
    assert finders.find("chart.js/dist/chart.umd.min.js")
    # Every script and stylesheet from this server (a random CSRF token may spell "cdn": not checked).
    assert not re.findall(r'<(?:script|link)\b[^>]*\b(?:src|href)="(?:https?:)?//', response.text)
    assert 'href="/admin/loads/load/"' in response.text  # the model list is still there
    config = embedded(response, "dashboard-config")
    assert "tms.loads" in config["topics"] and "tms.vehicles.tracking" not in config["topics"]
    assert "token" not in config


def test_the_home_shows_the_range_asked_for(staff_client):
    response = staff_client.get(HOME, {"from": "2026-11-01", "to": "2026-11-30"})

    figures = embedded(response, "dashboard-figures")
    assert [day["date"] for day in figures["trend"]][:2] == ["2026-11-01", "2026-11-02"]
    assert len(figures["trend"]) == 30
    assert 'value="2026-11-01"' in response.text and 'value="2026-11-30"' in response.text


def test_a_bad_range_on_the_home_says_so_and_shows_the_last_week(staff_client):
    response = staff_client.get(HOME, {"from": "2026-11-30", "to": "2026-11-01"})

    assert response.status_code == 200
    assert "Must be before" in response.text
    assert len(embedded(response, "dashboard-figures")["trend"]) == 7


def test_the_figures_after_an_event_include_it_though_the_cache_was_not_bumped(staff_client):
    load = load_in("CREATED", pickup_datetime=timezone.now())
    before = staff_client.get(FIGURES).json()  # cached under the current version
    services.cancel_load(load, by=None, reason="shipper closed")  # no consumer bumps the version here

    stale = staff_client.get(FIGURES).json()
    fresh = staff_client.get(FIGURES, {"event": str(uuid.uuid4())}).json()

    assert before["loads_by_status"]["CREATED"] == stale["loads_by_status"]["CREATED"] == 1
    assert fresh["loads_by_status"]["CREATED"] == 0
    assert fresh["loads_by_status"]["CANCELLED"] == 1


@pytest.mark.parametrize(
    "query",
    [{"from": "2026-11-30", "to": "2026-11-01"}, {"from": "yesterday"}, {"event": "not-a-uuid"}],
)
def test_bad_figures_queries_get_a_400_envelope(staff_client, query):
    response = staff_client.get(FIGURES, query)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_error"


def test_the_figures_are_for_staff_only(client):
    client.force_login(UserFactory(username="not-staff", is_staff=False, roles=[DISPATCHER]))

    assert client.get(FIGURES).status_code == 302  # to the admin login
    assert client.get(HOME).status_code == 302
