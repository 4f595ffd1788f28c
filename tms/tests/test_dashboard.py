"""The dispatch board at /admin/dispatch-board/: who may see it, what it embeds, how its script
gets the live stream's tickets (a POST, never the page's GET; never the API token), and that
Leaflet is served from our own static files."""

import json
import re
from io import StringIO

import pytest
from django.contrib.staticfiles import finders
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from rest_framework.authtoken.models import Token

from fleet import services as fleet_services
from fleet.tests.factories import VehicleFactory
from loads.tests.factories import LoadFactory, load_in
from tms.api_defaults import DISPATCHER
from tms.tests.factories import UserFactory

pytestmark = pytest.mark.django_db

BOARD = "/admin/dispatch-board/"
TICKET = "/api/ws/ticket"


@pytest.fixture
def staff_client():
    user = UserFactory(username="board-staff", is_staff=True, roles=[DISPATCHER])
    client = Client()
    client.force_login(user)
    client.user = user
    return client


def embedded(response, element_id: str):
    match = re.search(
        rf'<script id="{element_id}" type="application/json">(.*?)</script>', response.text, re.S
    )
    assert match, f"no #{element_id} in the page"
    return json.loads(match.group(1))


def writes(queries) -> list[str]:
    return [q["sql"] for q in queries if q["sql"].lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))]


def test_board_renders_for_staff_with_its_config_and_local_leaflet(staff_client):
    response = staff_client.get(BOARD)

    assert response.status_code == 200
    assert 'id="dispatch-map"' in response.text
    assert '<script src="/static/leaflet/leaflet.js">' in response.text
    assert 'href="/static/leaflet/leaflet.css"' in response.text
    # Every script and stylesheet is served from here (a random CSRF token may spell "cdn").
    assert re.findall(r'(?:src|href)="(?:https?:)?//', response.text) == []
    config = embedded(response, "board-config")
    assert "token" not in config
    assert config["ticket_url"] == TICKET
    assert config["csrf_token"]
    assert config["ws_path"] == "/ws"
    assert config["topics"] == ["tms.vehicles.tracking", "tms.vehicles", "tms.loads"]
    assert "no-store" in response["Cache-Control"]


def test_showing_the_board_writes_no_token_and_nothing_else(staff_client):
    staff_client.get(BOARD)  # the session's first request may touch the session row
    with CaptureQueriesContext(connection) as queries:
        assert staff_client.get(BOARD).status_code == 200
        assert staff_client.head(BOARD).status_code == 200
    assert writes(queries) == []
    assert not Token.objects.exists()


def test_the_boards_script_gets_a_ticket_with_a_post_carrying_the_csrf_token():
    user = UserFactory(username="board-csrf", is_staff=True, roles=[DISPATCHER])
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(user)
    config = embedded(browser.get(BOARD), "board-config")

    assert browser.post(config["ticket_url"], content_type="application/json").status_code == 403  # no CSRF
    response = browser.post(
        config["ticket_url"], content_type="application/json", HTTP_X_CSRFTOKEN=config["csrf_token"]
    )

    assert response.status_code == 200
    assert len(response.json()["ticket"]) == 43
    assert "no-store" in response["Cache-Control"]
    assert not Token.objects.exists()  # the board never needs the API token


def test_a_ticket_is_never_handed_out_on_a_get(staff_client):
    assert staff_client.get(TICKET).status_code == 405


def test_anonymous_is_redirected_to_the_admin_login():
    response = Client().get(BOARD)

    assert response.status_code == 302
    assert response["Location"] == f"/admin/login/?next={BOARD}"
    assert Client().post(TICKET).status_code == 401


def test_a_logged_in_user_who_is_not_staff_is_sent_to_login():
    user = UserFactory(username="not-staff", roles=[DISPATCHER])
    client = Client()
    client.force_login(user)

    response = client.get(BOARD)

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")
    assert not Token.objects.filter(user=user).exists()


def test_board_state_has_vehicles_loads_by_status_and_the_open_loads(staff_client):
    in_transit = load_in("IN_TRANSIT")
    pending = LoadFactory()
    delivered = load_in("DELIVERED")
    parked = VehicleFactory(current_location=None)

    state = embedded(staff_client.get(BOARD), "board-state")

    by_id = {vehicle["id"]: vehicle for vehicle in state["vehicles"]}
    assert by_id[str(in_transit.vehicle_id)]["status"] == "IN_TRANSIT"
    assert by_id[str(in_transit.vehicle_id)]["location"] == [-87.6298, 41.8781]
    assert by_id[str(parked.pk)]["location"] is None
    assert state["load_counts"] == {
        "CREATED": 1,
        "ASSIGNED": 0,
        "PICKED_UP": 0,
        "IN_TRANSIT": 1,
        "DELAYED": 0,
        "DELIVERED": 1,
        "CANCELLED": 0,
    }
    listed = {load["load_number"]: load for load in state["loads"]}
    assert set(listed) == {in_transit.load_number, pending.load_number}
    assert delivered.load_number not in listed
    assert listed[in_transit.load_number]["vehicle"] == in_transit.vehicle.vehicle_number
    assert listed[in_transit.load_number]["origin"] == "Chicago, IL"
    assert len(state["facilities"]) == 6


def test_board_feed_starts_with_the_latest_stored_events_but_positions(
    staff_client, django_capture_on_commit_callbacks
):
    vehicle = VehicleFactory()
    with django_capture_on_commit_callbacks(execute=True):
        load = LoadFactory()
    with django_capture_on_commit_callbacks(execute=True):
        fleet_services.update_vehicle_location(vehicle, by=None, longitude=-87.0, latitude=41.0)

    events = embedded(staff_client.get(BOARD), "board-state")["events"]

    assert [(e["type"], e["subject"]) for e in events] == [("LOAD_CREATED", str(load.pk))]
    assert events[0]["data"]["load_number"] == load.load_number


def test_board_query_count_does_not_grow_with_the_fleet(staff_client, django_assert_max_num_queries):
    load_in("ASSIGNED")
    staff_client.get(BOARD)  # warms the session and content types
    with django_assert_max_num_queries(20) as small:
        staff_client.get(BOARD)
    for _ in range(4):
        load_in("IN_TRANSIT")
    with django_assert_max_num_queries(len(small.captured_queries)):
        assert staff_client.get(BOARD).status_code == 200


def test_the_tile_url_comes_from_settings(staff_client, settings):
    settings.TMS_MAP_TILE_URL = "http://tiles.example.invalid/{z}/{x}/{y}.png"

    config = embedded(staff_client.get(BOARD), "board-config")

    assert config["tile_url"] == "http://tiles.example.invalid/{z}/{x}/{y}.png"


def test_admin_index_links_to_the_board(staff_client):
    staff_client.user.is_superuser = True
    staff_client.user.save()

    response = staff_client.get("/admin/")

    assert response.status_code == 200
    assert f'href="{BOARD}"' in response.text
    assert 'id="content-main"' in response.text  # the app list is still there


def test_static_finders_and_collectstatic_find_leaflet():
    leaflet = finders.find("leaflet/leaflet.js")
    assert leaflet and leaflet.endswith("node_modules/leaflet/dist/leaflet.js")
    assert finders.find("leaflet/leaflet.css")
    assert finders.find("dashboard/dispatch_board.js")

    out = StringIO()
    call_command("collectstatic", "--dry-run", "--noinput", "-v", "2", stdout=out)
    assert "node_modules/leaflet/dist/leaflet.js'" in out.getvalue()
    assert "static/dashboard/dispatch_board.js'" in out.getvalue()


def test_hostile_names_reach_the_board_and_the_admin_only_escaped(staff_client):
    """The browser test (test_board_browser) shows the script renders them as text; here the HTML
    itself never carries them as markup."""
    from loads.tests.factories import FacilityFactory

    hostile = '<img src=x onerror="window.__pwned=1">'
    facility = FacilityFactory(name=hostile)
    VehicleFactory(vehicle_number="<b>T-1</b>")
    staff_client.user.is_superuser = True
    staff_client.user.save()
    pages = [
        staff_client.get(BOARD),
        staff_client.get("/admin/loads/facility/"),
        staff_client.get(f"/admin/loads/facility/{facility.pk}/change/"),
        staff_client.get("/admin/fleet/vehicle/"),
    ]
    assert [page.status_code for page in pages] == [200, 200, 200, 200]
    for page in pages:
        assert "<img src=x" not in page.text
        assert "<b>T-1</b>" not in page.text
    assert embedded(pages[0], "board-state")["facilities"][0]["name"] == hostile
