"""Domain writes through the event backbone, end to end: the outbox row commits or rolls back with
the change, the relay hands it to the event store and the event API, the event names the user whose
request made it, and anomaly detection sees those changes. The seams between the domain apps and
`events` (which imports none of them) are tested here, in the project that wires them."""

import time

import pytest
from django.db import transaction

from events.models import AuditLog, OutboxEvent, StoredEvent
from fleet.tests.factories import VehicleFactory
from loads import services
from loads.tests.factories import LoadFactory
from tms.api_defaults import DISPATCHER
from tms.tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_an_api_or_admin_change_names_the_signed_in_user_as_its_actor(dispatcher, client):
    load = LoadFactory()
    assert dispatcher.post(f"/api/loads/{load.pk}/cancel/", {"reason": "x"}, format="json").status_code == 200
    desk = UserFactory(username="desk", roles=[DISPATCHER], is_staff=True)
    client.force_login(desk)
    vehicle = VehicleFactory()
    response = client.post(
        "/admin/fleet/vehicle/",
        {"action": "send_to_maintenance", "_selected_action": [str(vehicle.pk)]},
    )
    assert response.status_code == 302
    cancelled = OutboxEvent.objects.get(type="LOAD_CANCELLED")
    assert cancelled.envelope["actor"] == dispatcher.user.pk
    maintenance = OutboxEvent.objects.get(type="VEHICLE_STATUS_CHANGED", subject=str(vehicle.pk))
    assert maintenance.envelope["actor"] == desk.pk
    assert "actor" not in OutboxEvent.objects.get(type="LOAD_CREATED").envelope  # a factory's


def test_a_rolled_back_change_leaves_no_event_and_no_audit_row():
    with pytest.raises(ZeroDivisionError), transaction.atomic():
        LoadFactory()
        assert OutboxEvent.objects.filter(type="LOAD_CREATED").count() == 1
        1 / 0
    assert not OutboxEvent.objects.exists()
    assert not AuditLog.objects.exists()


def test_events_keep_their_commit_order_per_aggregate():
    load = LoadFactory()
    services.cancel_load(load, by=None, reason="test")
    types = list(
        OutboxEvent.objects.filter(subject=str(load.pk)).order_by("sequence").values_list("type", flat=True)
    )
    assert types == ["LOAD_CREATED", "LOAD_CANCELLED"]


def test_a_committed_change_reaches_the_event_store(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        load = LoadFactory()
    stored = StoredEvent.objects.get(subject=str(load.pk))
    assert stored.type == "LOAD_CREATED"
    assert OutboxEvent.objects.get(subject=str(load.pk)).published_at is not None


def test_topics_show_the_embedded_backlog(viewer):
    LoadFactory()  # not relayed: the test transaction never commits
    topics = {t["topic"]: t for t in viewer.get("/api/events/topics").json()["topics"]}
    assert topics["tms.loads"]["unpublished"] == 1
    assert topics["tms.dlq"]["unpublished"] == 0
    assert len(topics) == 11  # every topic of the taxonomy, and tms.dlq


def test_filter_by_subject_type_and_time(viewer, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        load = LoadFactory()
    with django_capture_on_commit_callbacks(execute=True):
        LoadFactory()
    rows = viewer.get(f"/api/events/?subject={load.pk}").json()["results"]
    assert [(r["type"], r["subject"]) for r in rows] == [("LOAD_CREATED", str(load.pk))]
    assert viewer.get("/api/events/?type=LOAD_CREATED").json()["count"] == 2
    assert viewer.get("/api/events/?type=LOAD_DELIVERED").json()["count"] == 0
    assert viewer.get("/api/events/?start=2999-01-01T00:00:00Z").json()["count"] == 0
    assert viewer.get("/api/events/?start=notatime").status_code == 400


def test_api_mutations_are_observed_within_seconds(dispatcher, settings, django_capture_on_commit_callbacks):
    """A client hammering the API at more than 1 write/s is flagged right after the write that
    tips it over, with no background job in between: the in-process relay hands each committed
    event to the detector."""
    settings.ANOMALY_WINDOW_S = 2
    load = LoadFactory()
    start = time.time()
    flagged_after = None
    rate = 900
    while time.time() - start < 4 and flagged_after is None:
        rate += 1
        with django_capture_on_commit_callbacks(execute=True):
            response = dispatcher.patch(f"/api/loads/{load.pk}/", {"rate": str(rate)}, format="json")
        assert response.status_code == 200, response.content
        if OutboxEvent.objects.filter(type="ANOMALY_SUSPECTED").exists():
            flagged_after = time.time() - start
        time.sleep(0.2)
    assert flagged_after is not None
    assert flagged_after < 3
    event = OutboxEvent.objects.get(type="ANOMALY_SUSPECTED")
    assert event.envelope["data"]["user_id"] == dispatcher.user.pk
    updates = OutboxEvent.objects.filter(type="LOAD_UPDATED", subject=str(load.pk))
    assert {update.envelope["actor"] for update in updates} == {dispatcher.user.pk}
    assert "actor" not in event.envelope
