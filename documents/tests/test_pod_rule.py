"""TMS_REQUIRE_POD_ON_DELIVERY: delivering a load (its last delivery) needs a proof of delivery on
that stop or on the load; without one the delivery is refused and nothing changes."""

import datetime

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from documents import services
from documents.tests.conftest import PDF, PNG
from events.models import OutboxEvent
from loads import services as load_services
from loads.models import Load, Stop, StopKind
from loads.tests.factories import FacilityFactory, load_in
from tms.exceptions import ProofOfDeliveryRequired


def deliver(client, load):
    return client.post(f"/api/loads/{load.pk}/deliver/", {}, format="json")


def attach(load, *, kind="POD", stop=None):
    return services.upload_document(
        load=load, by=None, kind=kind, file=SimpleUploadedFile("pod.png", PNG), stop=stop
    )


@pytest.fixture
def pod_required(settings):
    settings.TMS_REQUIRE_POD_ON_DELIVERY = True


def test_delivering_without_a_pod_is_refused_and_changes_nothing(dispatcher, pod_required):
    load = load_in("IN_TRANSIT")
    attach(load, kind="BOL")  # paperwork, but not the proof
    response = deliver(dispatcher, load)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "proof_of_delivery_required"
    assert "proof of delivery" in error["message"]
    assert error["details"]["stop_id"] == str(load.stops.get(kind=StopKind.DELIVERY).pk)
    load.refresh_from_db()
    assert (load.status, load.delivered_at) == ("IN_TRANSIT", None)
    assert load.vehicle.status == "IN_TRANSIT"
    assert not OutboxEvent.objects.filter(type="LOAD_DELIVERED").exists()


def test_a_pod_on_the_delivery_stop_lets_the_load_be_delivered(dispatcher, pod_required):
    load = load_in("IN_TRANSIT")
    attach(load, stop=load.stops.get(kind=StopKind.DELIVERY))
    assert deliver(dispatcher, load).status_code == 200
    assert Load.objects.get(pk=load.pk).status == "DELIVERED"


def test_a_pod_on_the_whole_load_is_enough(dispatcher, pod_required):
    load = load_in("IN_TRANSIT")
    attach(load)
    assert deliver(dispatcher, load).status_code == 200


def test_a_driver_uploads_the_pod_then_delivers(driver_client, dispatcher, pod_required):
    load = load_in("IN_TRANSIT")
    load.driver.user = driver_client.user
    load.driver.save()
    delivery = load.stops.get(kind=StopKind.DELIVERY)
    upload = driver_client.post(
        f"/api/loads/{load.pk}/documents/",
        {"file": SimpleUploadedFile("pod.pdf", PDF), "kind": "POD", "stop_id": str(delivery.pk)},
        format="multipart",
    )
    assert upload.status_code == 201
    assert deliver(dispatcher, load).status_code == 200


def test_the_pod_of_an_earlier_drop_does_not_prove_the_last_one(dispatcher, pod_required):
    load = load_in("IN_TRANSIT")
    first_drop = load.stops.get(kind=StopKind.DELIVERY)
    final = FacilityFactory(name="Final drop")
    # A second drop after the first (the stop services are the `stops` work; the row is enough here).
    Stop.objects.create(
        load=load,
        sequence=3,
        kind=StopKind.DELIVERY,
        facility=final,
        location=final.location,
        address=final.address,
        earliest_at=first_drop.latest_at + datetime.timedelta(hours=2),
        latest_at=first_drop.latest_at + datetime.timedelta(hours=3),
    )
    attach(load, stop=first_drop)
    assert deliver(dispatcher, load).status_code == 422
    attach(load, stop=Stop.objects.get(load=load, sequence=3))
    assert deliver(dispatcher, load).status_code == 200


def test_without_the_setting_a_load_is_delivered_without_a_pod(dispatcher, settings):
    settings.TMS_REQUIRE_POD_ON_DELIVERY = False
    load = load_in("IN_TRANSIT")
    assert deliver(dispatcher, load).status_code == 200


def test_the_rule_is_the_delivery_services_whoever_calls_it(db, pod_required):
    """The admin's action and the geofence's auto-advance call the same service (the geofence logs
    the refusal and the load waits for its POD)."""
    load = load_in("IN_TRANSIT")
    with pytest.raises(ProofOfDeliveryRequired):
        load_services.deliver_load(load, by=None)
    assert Load.objects.get(pk=load.pk).status == "IN_TRANSIT"
