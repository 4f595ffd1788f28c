"""The back office's driver pages: every page loads for the roles that may see it, and actions go
through drivers.services (audit row, outbox event). Shared helpers and fixtures:
tms/tests/admin_cases.py."""

import datetime

import pytest
from django.utils import timezone

from drivers.models import DriverStatus
from drivers.tests.factories import DriverFactory, duty_log
from events.models import OutboxEvent
from tms.tests.admin_cases import AdminPageCases, messages_of, run_action

pytestmark = pytest.mark.django_db

DRIVERS = "/admin/drivers/driver/"


class TestPages(AdminPageCases):
    pages = [
        ("drivers.driver", "driver", True),
    ]
    changelists = [
        (DRIVERS, lambda: DriverFactory()),
    ]


def test_setting_a_driver_available_then_off_duty(client, world, desk):
    client.force_login(desk)
    response = run_action(client, DRIVERS, "set_available", [world.driver])
    assert messages_of(response) == [f"Available: {world.driver}."]
    world.driver.refresh_from_db()
    assert world.driver.status == DriverStatus.AVAILABLE
    response = run_action(client, DRIVERS, "set_off_duty", [world.driver])
    assert messages_of(response) == [f"Off duty: {world.driver}."]
    world.driver.refresh_from_db()
    assert world.driver.status == DriverStatus.OFF_DUTY
    assert OutboxEvent.objects.filter(type="DRIVER_STATUS_CHANGED", subject=str(world.driver.pk)).count() == 2


def test_the_list_and_the_page_show_the_hours_remaining_from_the_log(client, desk):
    driver = DriverFactory(name="Pat Wheeler")
    hours = datetime.timedelta(hours=1)
    duty_log(driver, timezone.now() - 9.5 * hours, ("DRIVING", 4.5), ("OFF_DUTY", 0.5), ("DRIVING", 4.5))
    client.force_login(desk)

    changelist = client.get(DRIVERS, {"q": "Pat Wheeler"}).content.decode()
    page = client.get(f"{DRIVERS}{driver.pk}/change/").content.decode()

    assert '<td class="field-hours_remaining">2.00</td>' in changelist
    assert '<div class="readonly">2.00</div>' in page
