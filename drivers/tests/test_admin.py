"""The back office's driver pages: every page loads for the roles that may see it, and actions go
through drivers.services (audit row, outbox event). Shared helpers and fixtures:
tms/tests/admin_cases.py."""

import pytest

from drivers.models import DriverStatus
from drivers.tests.factories import DriverFactory
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
