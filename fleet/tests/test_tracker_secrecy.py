"""A vehicle's OsmAnd device id is the credential that moves it through /osmand/: only those who
manage trackers (ADMIN and DISPATCHER, who create and edit vehicles) see it. Viewers and drivers
never do: not in the API, not in the back office, not in events or audit rows."""

import pytest

from events.models import AuditLog, OutboxEvent
from fleet.models import Vehicle
from fleet.tests.factories import VehicleFactory
from tms.tests.admin_cases import admin_url

pytestmark = pytest.mark.django_db

DEVICE = "osmand-secret-4f1c9e2a7b"


@pytest.fixture
def vehicle():
    return VehicleFactory(tracker_device_id=DEVICE)


@pytest.mark.parametrize("who", ["admin_api", "dispatcher"])
def test_operators_read_the_device_id(request, who, vehicle):
    client = request.getfixturevalue(who)
    assert client.get(f"/api/vehicles/{vehicle.pk}/").json()["tracker_device_id"] == DEVICE
    listed = client.get("/api/vehicles/").json()["results"]
    assert [v["tracker_device_id"] for v in listed] == [DEVICE]


@pytest.mark.parametrize("who", ["viewer", "driver_client"])
def test_viewers_and_drivers_never_get_the_device_id(request, who, vehicle, driver_user):
    client = request.getfixturevalue(who)
    if who == "driver_client":  # a driver reads their carrier's fleet
        from drivers.tests.factories import DriverFactory

        DriverFactory(user=driver_user, carrier=vehicle.carrier)
    responses = [
        client.get(f"/api/vehicles/{vehicle.pk}/"),
        client.get("/api/vehicles/"),
        client.get("/api/vehicles/", {"near": "-87.6,41.9"}),
    ]
    assert [r.status_code for r in responses] == [200, 200, 200]
    for response in responses:
        assert DEVICE not in response.content.decode()
    assert "tracker_device_id" not in responses[0].json()


def test_the_back_office_shows_the_device_id_to_dispatchers_only(client, desk, reader, vehicle):
    page = admin_url("fleet.vehicle", "change", vehicle.pk)
    client.force_login(desk)
    assert DEVICE in client.get(page).content.decode()
    client.force_login(reader)
    shown = client.get(page)
    assert shown.status_code == 200
    assert DEVICE not in shown.content.decode()


def test_no_event_or_audit_row_carries_the_device_id(dispatcher):
    created = dispatcher.post(
        "/api/vehicles/",
        {
            "carrier_id": str(VehicleFactory().carrier_id),
            "vehicle_number": "T-900",
            "vin": "1FUJGLDR5CLBP8834",
            "vehicle_type": "DRY_VAN",
            "make": "Freightliner",
            "model": "Cascadia",
            "year": 2022,
            "license_plate": "IL-T900",
            "capacity_weight": 20000,
            "capacity_volume": 80,
            "tracker_device_id": DEVICE,
        },
        format="json",
    )
    assert created.status_code == 201, created.content
    vehicle = Vehicle.objects.get(pk=created.json()["id"])
    assert vehicle.tracker_device_id == DEVICE
    changed = dispatcher.patch(
        f"/api/vehicles/{vehicle.pk}/", {"tracker_device_id": DEVICE + "-2"}, format="json"
    )
    assert changed.status_code == 200
    rows = [
        *AuditLog.objects.values_list("changed_data", flat=True),
        *OutboxEvent.objects.values_list("envelope", flat=True),
    ]
    assert rows
    assert not [row for row in rows if DEVICE in str(row)]
    assert AuditLog.objects.filter(record_id=str(vehicle.pk)).count() == 2
