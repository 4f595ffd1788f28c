"""The back office as a whole: who may use it (staff with a role), what the shared base class
(tms.admin.ServiceModelAdmin) does with every app's change (only changed fields reach the
service, a bulk delete goes through it row by row, a refusal is a message and writes nothing), and
the audit trail searched across the apps' changes. Each app's own pages are tested in its
tests/test_admin.py; shared helpers and fixtures: tms/tests/admin_cases.py."""

import pytest
from django.urls import reverse

from events.models import AuditAction, AuditLog
from fleet.admin import CarrierAdmin
from fleet.models import Carrier
from fleet.tests.factories import CarrierFactory
from loads import services as load_services
from tms.api_defaults import DRIVER
from tms.exceptions import BusinessRuleViolation
from tms.tests.admin_cases import admin_url, carrier_form, counts, messages_of
from tms.tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_staff_without_a_role_sees_no_tms_model(client, world):
    client.force_login(UserFactory(username="staff-only", is_staff=True))
    assert client.get(admin_url("loads.load", "changelist")).status_code == 403


def test_a_driver_login_cannot_use_the_admin(client, world):
    client.force_login(UserFactory(username="trucker", roles=[DRIVER]))
    response = client.get(admin_url("loads.load", "changelist"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


def test_saving_a_carrier_unchanged_writes_no_audit_row(client, desk):
    carrier = CarrierFactory(name="Prairie Wind Trucking", dot_number="1234567", mc_number="MC445566")
    client.force_login(desk)
    form = carrier_form(contact_email="", contact_phone="")
    response = client.post(admin_url("fleet.carrier", "change", carrier.pk), form)
    assert response.status_code == 302
    assert not AuditLog.objects.filter(record_id=str(carrier.pk)).exists()


def test_bulk_delete_deletes_each_carrier_through_the_service(client, desk):
    carriers = [CarrierFactory(), CarrierFactory()]
    client.force_login(desk)
    response = client.post(
        "/admin/fleet/carrier/",
        {"action": "delete_selected", "_selected_action": [str(c.pk) for c in carriers], "post": "yes"},
    )
    assert response.status_code == 302
    assert not Carrier.objects.filter(pk__in=[c.pk for c in carriers]).exists()
    deletions = AuditLog.objects.filter(table_name="carriers", action=AuditAction.DELETE)
    assert sorted(deletions.values_list("record_id", flat=True)) == sorted(str(c.pk) for c in carriers)


def test_a_service_refusing_a_save_shows_its_message_and_writes_nothing(client, world, desk, monkeypatch):
    def refuse(carrier, *, by, **fields):
        raise BusinessRuleViolation("Carrier records are frozen during the audit.")

    monkeypatch.setattr(CarrierAdmin, "update_service", refuse)
    client.force_login(desk)
    before = counts()
    url = admin_url("fleet.carrier", "change", world.carrier.pk)
    form = carrier_form(
        name="Renamed", dot_number=world.carrier.dot_number, mc_number=world.carrier.mc_number
    )
    response = client.post(url, form, follow=True)
    assert response.status_code == 200
    assert response.redirect_chain == [(url, 302)]
    assert "Carrier records are frozen during the audit." in messages_of(response)
    world.carrier.refresh_from_db()
    assert world.carrier.name != "Renamed"
    assert counts() == before


def test_audit_log_is_searchable_by_record_and_correlation_id_and_filterable(client, world, desk):
    client.force_login(desk)
    by_record = client.get("/admin/events/auditlog/", {"q": str(world.load.pk)})
    assert [row.record_id for row in by_record.context["cl"].result_list] == [str(world.load.pk)]
    creates = client.get("/admin/events/auditlog/", {"action__exact": "CREATE", "table_name__exact": "loads"})
    assert {row.table_name for row in creates.context["cl"].result_list} == {"loads"}

    load_services.cancel_load(world.load, by=desk, reason="test")  # outside a request: no correlation id
    client.post(
        "/admin/fleet/vehicle/",
        {"action": "send_to_maintenance", "_selected_action": [str(world.vehicle.pk)]},
        HTTP_X_REQUEST_ID="req-maint-1",
    )
    by_correlation = client.get("/admin/events/auditlog/", {"q": "req-maint-1"})
    assert [row.record_id for row in by_correlation.context["cl"].result_list] == [str(world.vehicle.pk)]
    events = client.get("/admin/events/outboxevent/", {"q": "req-maint-1"})
    # The truck left its carrier's available pool: its capacity event carries the same request id.
    assert sorted(event.type for event in events.context["cl"].result_list) == [
        "CARRIER_CAPACITY_CHANGED",
        "VEHICLE_STATUS_CHANGED",
    ]
    by_subject = client.get("/admin/events/outboxevent/", {"q": str(world.load.pk)})
    assert {event.type for event in by_subject.context["cl"].result_list} == {
        "LOAD_CREATED",
        "LOAD_CANCELLED",
    }
    by_type = client.get("/admin/events/outboxevent/", {"type__exact": "LOAD_CANCELLED"})
    assert [event.subject for event in by_type.context["cl"].result_list] == [str(world.load.pk)]
