"""The back office's audit trail and outbox pages: read-only for everyone, listed without a query
per row. Shared helpers and fixtures (the rows of every app): tms/tests/admin_cases.py."""

import pytest

from events.services import publish_event
from tms.tests.admin_cases import (
    admin_url,
    check_changelist_queries_do_not_grow_with_rows,
    check_operator_opens_changelist_add_and_change_page,
    check_viewer_sees_the_page_read_only,
    counts,
)

pytestmark = pytest.mark.django_db


def published_alert() -> None:
    """A change of the events app's own: one audit row and one outbox row."""
    publish_event(
        type="SYSTEM_ALERT", subject="yard", data={"severity": "INFO", "message": "m", "source": "t"}, by=None
    )


PAGES = [
    # (app_label.model, attribute of `world`, has an add page)
    ("events.auditlog", "audit", False),
    ("events.outboxevent", "event", False),
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
        ("/admin/events/auditlog/", published_alert),
        ("/admin/events/outboxevent/", published_alert),
    ],
)
def test_changelists_take_the_same_number_of_queries_for_more_rows(client, world, desk, changelist, make_row):
    check_changelist_queries_do_not_grow_with_rows(client, desk, changelist, make_row)


@pytest.mark.parametrize("model", ["events.auditlog", "events.outboxevent"])
def test_audit_log_and_outbox_cannot_be_added_changed_or_deleted(client, world, superuser, model):
    client.force_login(superuser)
    obj = world.audit if model == "events.auditlog" else world.event
    before = counts()
    assert client.get(admin_url(model, "add")).status_code == 403
    assert client.post(admin_url(model, "change", obj.pk), {}).status_code == 403
    assert client.post(admin_url(model, "delete", obj.pk), {"post": "yes"}).status_code == 403
    page = client.get(admin_url(model, "change", obj.pk))
    assert 'name="_save"' not in page.content.decode()
    assert counts() == before
