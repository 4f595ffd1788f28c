"""The back office's maps in a real browser (Debian's chromium, driven by Playwright; never a
downloaded browser) against the served app: on the dispatch board, names typed by users are shown
as text, never run as HTML, and the board opens its live stream with a ticket; a location field
draws its map with no internet."""

import contextlib
import shutil
from pathlib import Path

import pytest
from django.contrib.auth.models import Group
from django.contrib.gis.geos import Point
from django.test import Client

from fleet.tests.factories import VehicleFactory
from loads.tests.factories import FacilityFactory
from tms.api_defaults import DISPATCHER, ROLES
from tms.tests.factories import UserFactory
from tms.tests.served import served

pytestmark = pytest.mark.django_db(transaction=True)

CHROMIUM = Path("/usr/bin/chromium")
HOSTILE = "<img src=x onerror=__pwned=1>"  # fits a unit number (32 characters)
# The board's initial view (dispatch_board.js) when fewer than two vehicles have a position:
# centred on (-98.35, 39.5) at zoom 4, where a degree of longitude is 2^4 * 256 / 360 pixels.
CENTRE = (-98.35, 39.5)
PIXELS_PER_DEGREE = 2**4 * 256 / 360
FACILITY_OFFSET_DEGREES = 10


@pytest.fixture(scope="module")
def server(django_db_setup, django_db_blocker):
    with served(TMS_MAP_TILE_URL="") as address:  # no tiles from the internet
        yield address


@contextlib.contextmanager
def chromium(profile: Path):
    """Playwright's sync API runs an event loop in this thread: the database work comes before."""
    if not CHROMIUM.exists() or shutil.which("chromium") is None:
        pytest.skip("Debian's chromium is not installed (scripts/bootstrap installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile),  # a fresh user-data-dir
            executable_path=str(CHROMIUM),
            headless=True,
            args=[
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
            ],
        )  # fmt: skip
        try:
            yield context
        finally:
            context.close()


def staff_session(**user) -> str:
    for role in ROLES:
        Group.objects.get_or_create(name=role)
    client = Client()
    client.force_login(
        UserFactory(**{"username": "board-browser", "is_staff": True, "roles": [DISPATCHER], **user})
    )
    return client.cookies["sessionid"].value


def offline_browser(browser, server: str, session: str) -> list[str]:
    """Only this server answers; what else the pages asked for is listed."""
    offsite: list[str] = []

    def only_this_server(route) -> None:
        if route.request.url.startswith(f"http://{server}/"):
            route.continue_()
        else:
            offsite.append(route.request.url)
            route.abort()

    browser.add_cookies([{"name": "sessionid", "value": session, "url": f"http://{server}"}])
    browser.route("**/*", only_this_server)
    return offsite


def close_tooltips(page, box: dict) -> None:
    """Moves the mouse off the map until no tooltip is open. Leaflet's canvas drops a move that
    comes within 32 ms of the one before it, so a single move away can go unnoticed."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    for attempt in range(15):
        page.mouse.move(box["x"] + 5 + attempt % 2, box["y"] + 5)
        page.mouse.move(box["x"] + box["width"] / 2, max(box["y"] - 5, 0))  # off the map: mouseout
        try:
            page.wait_for_selector(".leaflet-tooltip", state="detached", timeout=1000)
            return
        except PlaywrightTimeout:
            continue
    raise AssertionError("a tooltip stayed open with the mouse off the map")


def tooltip_at(page, east_px: float) -> str:
    """Hovers the map that far east of its centre until a tooltip opens there; its text. Hover
    detection on Leaflet's canvas can miss a single early move, so it is tried a few times."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    box = page.locator("#dispatch-map").bounding_box()
    x, y = box["x"] + box["width"] / 2 + east_px, box["y"] + box["height"] / 2
    close_tooltips(page, box)
    for _ in range(15):
        page.mouse.move(x - 40, y)
        page.mouse.move(x, y, steps=4)
        page.mouse.move(x + 1, y)  # a second move inside the marker, past the canvas's throttle
        try:
            return page.wait_for_selector(".leaflet-tooltip", timeout=2000).text_content()
        except PlaywrightTimeout:
            continue
    raise AssertionError(f"no tooltip opened {east_px:.0f} px east of the map's centre")


def test_hostile_names_on_the_board_are_text_and_never_run(server, tmp_path):
    FacilityFactory(name=HOSTILE, location=Point(CENTRE[0] + FACILITY_OFFSET_DEGREES, CENTRE[1], srid=4326))
    VehicleFactory(vehicle_number=HOSTILE, current_location=Point(*CENTRE, srid=4326))
    session = staff_session()
    with chromium(tmp_path / "profile") as browser:
        browser.add_cookies([{"name": "sessionid", "value": session, "url": f"http://{server}"}])
        look_at_the_board(browser.new_page(), server)


def look_at_the_board(page, server: str) -> None:
    page.goto(f"http://{server}/admin/dispatch-board/")
    page.wait_for_selector('#board-connection[data-state="live"]')  # the ticket opened /ws

    truck = tooltip_at(page, 0)
    facility = tooltip_at(page, FACILITY_OFFSET_DEGREES * PIXELS_PER_DEGREE)

    assert truck.startswith(HOSTILE + " · ")
    assert facility.startswith(HOSTILE + " (")
    assert page.locator("img:not(.leaflet-marker-icon)").count() == 0
    assert page.evaluate("window.__pwned") is None


def test_a_location_field_draws_its_map_with_no_internet(server, tmp_path):
    """The new-facility form's map (its location is required): OpenLayers comes from this server,
    every other host is unreachable, and the map still draws and takes a click."""
    # Transactional tests empty the role permissions the migration granted: a superuser instead.
    session = staff_session(username="map-admin", is_superuser=True, roles=[])
    with chromium(tmp_path / "profile") as browser:
        offsite = offline_browser(browser, server, session)
        page = browser.new_page()
        page.goto(f"http://{server}/admin/loads/facility/add/")
        page.wait_for_selector("#id_location_map .ol-viewport")
        page.locator("#id_location_map").scroll_into_view_if_needed()  # below the fold at 1280x720
        box = page.locator("#id_location_map").bounding_box()
        page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        page.wait_for_function("document.getElementById('id_location').value.includes('Point')")

    assert not [url for url in offsite if url.endswith((".js", ".css"))], offsite  # only map tiles
