"""The back office's audit trail and outbox pages: read-only for everyone, listed without a query
per row. Shared helpers and fixtures (the rows of every app): tms/tests/admin_cases.py."""

import pytest

from events.services import publish_event
from tms.tests.admin_cases import AdminPageCases, admin_url, counts

pytestmark = pytest.mark.django_db


def published_alert() -> None:
    """A change of the events app's own: one audit row and one outbox row."""
    publish_event(
        type="SYSTEM_ALERT", subject="yard", data={"severity": "INFO", "message": "m", "source": "t"}, by=None
    )


class TestPages(AdminPageCases):
    pages = [
        ("events.auditlog", "audit", False),
        ("events.outboxevent", "event", False),
    ]
    changelists = [
        ("/admin/events/auditlog/", published_alert),
        ("/admin/events/outboxevent/", published_alert),
    ]


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
