"""The ELD graph in the back office: one 24-hour grid per day of the home terminal's zone, a line
per duty status, totals summing to 24 h, violations in red and listed with their rule."""

import datetime
import re
import xml.etree.ElementTree as ET
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth.models import Permission
from django.core.exceptions import PermissionDenied
from django.test import RequestFactory

from drivers.admin_eld import driver_log_view
from drivers.tests.factories import DriverFactory, duty_log
from tms.tests.factories import UserFactory

pytestmark = pytest.mark.django_db

CHICAGO = ZoneInfo("America/Chicago")
DAY = datetime.date(2025, 1, 14)  # no daylight-saving change near it
SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture
def driver():
    """On duty 06:00-07:00, driving 07:00-19:00 with no break (two violations), local time."""
    driver = DriverFactory()
    duty_log(
        driver,
        datetime.datetime.combine(DAY, datetime.time(6), tzinfo=CHICAGO),
        ("ON_DUTY", 1),
        ("DRIVING", 12),
    )
    return driver


def svg_for(html: str, day: datetime.date) -> ET.Element:
    match = re.search(rf'<svg [^>]*data-day="{day.isoformat()}".*?</svg>', html, re.S)
    assert match, f"no grid for {day}"
    return ET.fromstring(match.group(0))


def render(user, driver, day: str | None = "2025-01-15"):
    request = RequestFactory().get(f"/admin/drivers/driver/{driver.pk}/eld/{day}/")
    request.user = user
    response = driver_log_view(request, driver.pk, day)
    response.render()
    return response


class TestTheGraph:
    def test_a_day_is_drawn_as_lines_connectors_and_totals(self, driver):
        response = render(UserFactory(is_staff=True, is_superuser=True), driver)
        assert response.status_code == 200
        html = response.content.decode()
        assert html.count("data-day=") == 8
        svg = svg_for(html, DAY)
        lines = [
            (line.get("data-status"), line.get("x1"), line.get("x2"), line.get("y1"))
            for line in svg.iter(f"{SVG}line")
            if "seg" in line.get("class", "").split()
        ]
        # 36 px per hour after 44 px of row labels; rows OFF, SB, D, ON are 22 px tall from y=18.
        assert lines == [
            ("OFF_DUTY", "44.0", "260.0", "29.0"),
            ("ON_DUTY", "260.0", "296.0", "95.0"),
            ("DRIVING", "296.0", "728.0", "73.0"),
            ("OFF_DUTY", "728.0", "908.0", "29.0"),
        ]
        connectors = [
            (line.get("x1"), line.get("y1"), line.get("y2"))
            for line in svg.iter(f"{SVG}line")
            if line.get("class") == "connector"
        ]
        assert connectors == [("260.0", "29.0", "95.0"), ("296.0", "95.0", "73.0"), ("728.0", "73.0", "29.0")]
        totals = {text.get("data-row"): text.text for text in svg.iter(f"{SVG}text") if text.get("data-row")}
        assert totals == {"OFF": "11:00", "SB": "00:00", "D": "12:00", "ON": "01:00", "total": "= 24:00"}

    def test_violations_are_marked_in_red_and_listed_with_their_rule(self, driver):
        html = render(UserFactory(is_staff=True, is_superuser=True), driver).content.decode()
        marks = [
            (line.get("data-rule"), line.get("x1"), line.get("x2"))
            for line in svg_for(html, DAY).iter(f"{SVG}line")
            if line.get("class") == "violation"
        ]
        # The break was due at 15:00 (8 h of driving), the 11-hour limit passed at 18:00.
        assert marks == [("395.3(a)(3)(ii)", "584.0", "728.0"), ("395.3(a)(3)(i)", "692.0", "728.0")]
        assert ".eld .violation { stroke: #d11;" in html
        assert (
            '<td class="rule">49 CFR 395.3(a)(3)(ii)</td><td>2025-01-14 15:00</td><td>2025-01-14 19:00</td>'
            in html
        )
        assert "Drove 1 h past the 11 h driving limit" in html

    def test_a_day_without_records_is_off_duty_all_day(self, driver):
        html = render(UserFactory(is_staff=True, is_superuser=True), driver).content.decode()
        totals = {
            text.get("data-row"): text.text
            for text in svg_for(html, DAY + datetime.timedelta(days=1)).iter(f"{SVG}text")
            if text.get("data-row")
        }
        assert totals == {"OFF": "24:00", "SB": "00:00", "D": "00:00", "ON": "00:00", "total": "= 24:00"}

    def test_the_grid_uses_the_home_terminal_time_zone(self):
        driver = DriverFactory(home_terminal_timezone="America/New_York")
        start = datetime.datetime.combine(DAY, datetime.time(6), tzinfo=ZoneInfo("America/New_York"))
        duty_log(driver, start, ("DRIVING", 1))
        html = render(UserFactory(is_staff=True, is_superuser=True), driver).content.decode()
        [line] = [
            line for line in svg_for(html, DAY).iter(f"{SVG}line") if line.get("data-status") == "DRIVING"
        ]
        assert (line.get("x1"), line.get("x2")) == ("260.0", "296.0")

    def test_non_staff_are_refused(self, driver):
        with pytest.raises(PermissionDenied):
            render(UserFactory(), driver)


@pytest.mark.urls("drivers.tests.eld_urlconf")
class TestTheUrls:
    def url(self, driver, day=""):
        return f"/admin/drivers/driver/{driver.pk}/eld/" + (f"{day}/" if day else "")

    def test_staff_with_view_permission_see_it(self, client, driver):
        user = UserFactory(is_staff=True)
        user.user_permissions.add(Permission.objects.get(codename="view_driver"))
        client.force_login(user)
        response = client.get(self.url(driver, "2025-01-15"))
        assert response.status_code == 200
        assert b'data-rule="395.3(a)(3)(i)"' in response.content
        assert client.get(self.url(driver)).status_code == 200

    def test_staff_without_permission_get_403(self, client, driver):
        client.force_login(UserFactory(is_staff=True))
        assert client.get(self.url(driver)).status_code == 403

    def test_non_staff_are_sent_to_the_login(self, client, driver):
        client.force_login(UserFactory())
        response = client.get(self.url(driver))
        assert response.status_code == 302
        assert "/admin/login/" in response["Location"]

    def test_a_bad_day_or_driver_is_404(self, client, driver):
        client.force_login(UserFactory(is_staff=True, is_superuser=True))
        assert client.get(self.url(driver, "yesterday")).status_code == 404
        other = "3fa85f64-5717-4562-b3fc-2c963f66afa6"
        assert client.get(f"/admin/drivers/driver/{other}/eld/").status_code == 404
