"""The back office in a real browser (Debian's chromium, driven by Playwright) against the served
app, with every other host unreachable (offline): the admin home draws its tiles and charts, the
home and the dispatch board update when an event arrives on the live stream, the load page's map
draws its stops in order, and a transition button moves the load.

Playwright's sync API runs an event loop in the test's thread, where Django refuses database work:
the writes that happen while a page is open run in a worker thread (`in_thread`)."""

from concurrent.futures import ThreadPoolExecutor

import pytest
from django.contrib.gis.geos import Point
from django.db import connection
from django.utils import timezone

from drivers.tests.factories import DriverFactory
from fleet.tests.factories import VehicleFactory
from loads import services
from loads.models import Load, LoadStatus, Stop, StopKind
from loads.tests.factories import FacilityFactory, LoadFactory, load_in
from routing.tests.factories import straight_route
from tms.tests.served import served
from tms.tests.test_board_browser import chromium, offline_browser, staff_session

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(scope="module")
def server(django_db_setup, django_db_blocker):
    with served(TMS_MAP_TILE_URL="https://tiles.invalid/{z}/{x}/{y}.png") as address:  # tiles fail
        yield address


def in_thread(work):
    """`work()` in a worker thread with its own database connection, closed after."""

    def run():
        try:
            return work()
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(run).result()


def operator_session() -> str:
    # Transactional tests empty the role permissions the migration granted: a superuser, with the
    # role the live stream asks for.
    return staff_session(username="backoffice-browser", is_superuser=True)


def chart_data(page, canvas: str) -> list:
    return page.evaluate(f"Chart.getChart('{canvas}').data.datasets.map((dataset) => dataset.data)")


def tile(page, kpi: str) -> str:
    return page.locator(f'[data-kpi="{kpi}"] .dashboard-tile-value').text_content()


def test_the_admin_home_draws_its_tiles_and_charts_and_follows_events(server, tmp_path):
    delivered = load_in("DELIVERED", pickup_datetime=timezone.now())
    waiting = LoadFactory(pickup_datetime=timezone.now())
    session = operator_session()

    with chromium(tmp_path / "profile") as browser:
        offsite = offline_browser(browser, server, session)
        page = browser.new_page()
        page.goto(f"http://{server}/admin/")
        page.wait_for_selector("#dashboard[data-drawn]")

        tiles = page.locator(".dashboard-tile").count()
        status_counts = chart_data(page, "chart-status")[0]
        drawn = page.evaluate(
            "[...document.querySelectorAll('#dashboard canvas')]"
            ".map((canvas) => Boolean(Chart.getChart(canvas)) && canvas.width > 0)"
        )
        first = {kpi: tile(page, kpi) for kpi in ("loads", "delivered", "revenue")}
        page.wait_for_selector('#dashboard-connection[data-state="live"]')

        in_thread(lambda: services.cancel_load(Load.objects.get(pk=waiting.pk), by=None, reason="no dock"))
        page.wait_for_selector("#dashboard[data-refreshed-for]")  # refreshed after the event
        cancelled = list(LoadStatus.values).index("CANCELLED")
        page.wait_for_function(f"Chart.getChart('chart-status').data.datasets[0].data[{cancelled}] === 1")
        after = chart_data(page, "chart-status")[0]
        model_list = page.locator("#content-main .app-loads").count()

    assert tiles == 12
    assert drawn == [True] * 5
    statuses = list(LoadStatus.values)
    assert status_counts[statuses.index("DELIVERED")] == 1 and status_counts[statuses.index("CREATED")] == 1
    assert first == {"loads": "2", "delivered": "1", "revenue": f"${delivered.rate:,.0f}"}
    assert after[statuses.index("CREATED")] == 0 and after[statuses.index("CANCELLED")] == 1
    assert model_list == 1
    assert not [url for url in offsite if url.endswith((".js", ".css"))], offsite


def test_the_dispatch_board_updates_when_an_event_arrives(server, tmp_path):
    load = LoadFactory()
    vehicle = VehicleFactory(current_location=Point(-87.6, 41.9, srid=4326))
    driver = DriverFactory(carrier=vehicle.carrier)
    session = operator_session()

    with chromium(tmp_path / "profile") as browser:
        offline_browser(browser, server, session)
        page = browser.new_page()
        page.goto(f"http://{server}/admin/dispatch-board/")
        page.wait_for_selector('#board-connection[data-state="live"]')
        created_before = (
            page.locator("#board-load-counts tr", has_text="CREATED").locator("td").text_content()
        )

        in_thread(
            lambda: services.assign_load(
                Load.objects.get(pk=load.pk), by=None, vehicle=vehicle, driver=driver
            )
        )
        page.wait_for_selector("#board-feed li:has-text('LOAD_ASSIGNED')")
        counts = {
            status: page.locator("#board-load-counts tr", has_text=status).first.locator("td").text_content()
            for status in ("CREATED", "ASSIGNED")
        }
        row = page.locator("#board-loads tbody tr", has_text=load.load_number).text_content()
        feed_time = page.locator("#board-feed li:has-text('LOAD_ASSIGNED') time").text_content()

    assert created_before == "1"
    assert counts == {"CREATED": "0", "ASSIGNED": "1"}
    assert "ASSIGNED" in row and vehicle.vehicle_number in row
    assert feed_time.endswith((" CST", " CDT"))  # the operator's clock (TMS_TIME_ZONE), named


def test_the_load_page_maps_its_stops_in_order_offline(server, tmp_path):
    load = load_in("ASSIGNED")
    columbus = FacilityFactory(city="Columbus", state="OH", location=Point(-82.9988, 39.9612, srid=4326))
    Stop.objects.create(
        load=load, sequence=3, kind=StopKind.DELIVERY, facility=columbus, location=columbus.location,
        address=columbus.address, earliest_at=load.delivery_datetime, latest_at=load.delivery_datetime,
    )  # fmt: skip
    load.vehicle.current_location = Point(-87.0, 41.0, srid=4326)
    load.vehicle.save()
    straight_route(load, vehicle=load.vehicle, driver=load.driver)
    session = operator_session()

    with chromium(tmp_path / "profile") as browser:
        offsite = offline_browser(browser, server, session)
        page = browser.new_page()
        page.goto(f"http://{server}/admin/loads/load/{load.pk}/change/")
        page.wait_for_selector("#record-map[data-drawn] .stop-marker")
        labels = page.locator("#record-map .stop-marker").all_text_contents()
        positions = page.evaluate(
            "[...document.querySelectorAll('#record-map .stop-marker')]"
            ".map((marker) => marker.getBoundingClientRect().left)"
        )
        trucks = page.locator("#record-map .truck-marker").count()
        paths = page.locator("#record-map .route-path").count()

    assert labels == ["1", "2", "3"]
    assert positions[0] < positions[1] < positions[2]  # Chicago, Indianapolis, Columbus: west to east
    assert trucks == 1 and paths == 1
    assert any(url.startswith("https://tiles.invalid/") for url in offsite)  # the tiles failed
    assert not [url for url in offsite if url.endswith((".js", ".css"))], offsite


def test_a_transition_button_moves_the_load(server, tmp_path):
    load = load_in("ASSIGNED")
    session = operator_session()

    with chromium(tmp_path / "profile") as browser:
        offline_browser(browser, server, session)
        page = browser.new_page()
        page.goto(f"http://{server}/admin/loads/load/{load.pk}/change/")
        page.click('[data-transition="pick-up"]')
        page.wait_for_selector(".messagelist .success")
        picked_up = page.locator(".messagelist").text_content()
        page.click('[data-transition="cancel"]')
        page.fill("#id_reason", "consignee closed")
        page.click("input[type=submit]")
        page.wait_for_selector(".messagelist .success")
        cancelled = page.locator(".messagelist").text_content()
        buttons_left = page.locator("[data-transition]").count()

    load.refresh_from_db()
    assert "now PICKED_UP" in picked_up
    assert "now CANCELLED" in cancelled
    assert load.status == LoadStatus.CANCELLED
    assert load.picked_up_at is not None and load.cancellation_reason == "consignee closed"
    assert buttons_left == 0
