"""The back office's driver pages: every page loads for the roles that may see it, and actions go
through drivers.services (audit row, outbox event). Shared helpers and fixtures:
tms/tests/admin_cases.py."""

import pytest

from drivers.models import DriverStatus
from drivers.tests.factories import DriverFactory
from events.models import OutboxEvent
from tms.tests.admin_cases import (
    check_changelist_queries_do_not_grow_with_rows,
    check_operator_opens_changelist_add_and_change_page,
    check_viewer_sees_the_page_read_only,
    messages_of,
    run_action,
)

pytestmark = pytest.mark.django_db

DRIVERS = "/admin/drivers/driver/"


PAGES = [
    # (app_label.model, attribute of `world`, has an add page)
    ("drivers.driver", "driver", True),
]


@pytest.mark.parametrize("user_fixture", ["superuser", "desk"])
@pytest.mark.parametrize(("model", "attribute", "addable"), PAGES)
def test_operators_open_every_changelist_add_and_change_page(
    request, client, world, user_fixture, model, attribute, addable
):
    user = request.getfixturevalue(user_fixture)
    check_operator_opens_changelist_add_and_change_page(client, world, user, model, attribute, addable)


@pytest.mark.parametrize(("model", "attribute", "addable"), PAGES)
def test_viewer_sees_every_page_read_only(client, world, reader, model, attribute, addable):
    check_viewer_sees_the_page_read_only(client, world, reader, model, attribute)


@pytest.mark.parametrize(
    ("changelist", "make_row"),
    [
        (DRIVERS, lambda: DriverFactory()),
    ],
)
def test_changelists_take_the_same_number_of_queries_for_more_rows(client, world, desk, changelist, make_row):
    check_changelist_queries_do_not_grow_with_rows(client, desk, changelist, make_row)


def test_setting_a_driver_off_duty(client, world, desk):
    client.force_login(desk)
    response = run_action(client, DRIVERS, "set_off_duty", [world.driver])
    assert messages_of(response) == [f"Off duty: {world.driver}."]
    world.driver.refresh_from_db()
    assert world.driver.status == DriverStatus.OFF_DUTY
    assert OutboxEvent.objects.filter(type="DRIVER_STATUS_CHANGED", subject=str(world.driver.pk)).count() == 1
