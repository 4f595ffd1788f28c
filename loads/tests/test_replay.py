import datetime
import io
import json

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from drivers.tests.factories import DriverFactory
from events.consumers import REGISTRY, Consumer
from fleet.tests.factories import VehicleFactory
from loads.models import Load
from loads.tests.factories import FacilityFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def delivered_load(dispatcher, django_capture_on_commit_callbacks):
    """A load taken through its whole life over the API, every commit relayed to the event store."""
    vehicle = VehicleFactory()
    driver = DriverFactory(carrier=vehicle.carrier)
    shipper, consignee = FacilityFactory(), FacilityFactory(city="Memphis")

    def call(method, path, body):
        with django_capture_on_commit_callbacks(execute=True):
            response = getattr(dispatcher, method)(path, body, format="json")
        assert response.status_code < 300, response.json()
        return response.json()

    pickup = timezone.now() + datetime.timedelta(days=1)
    load = call(
        "post",
        "/api/loads/",
        {
            "shipper_id": str(shipper.pk),
            "consignee_id": str(consignee.pk),
            "pickup_datetime": pickup.isoformat(),
            "delivery_datetime": (pickup + datetime.timedelta(days=1)).isoformat(),
            "weight": "15000.5",
            "volume": "70",
            "rate": "2400.10",
        },
    )
    url = f"/api/loads/{load['id']}/"
    call(
        "patch",
        url,
        {"rate": "2600.00", "delivery_datetime": (pickup + datetime.timedelta(days=2)).isoformat()},
    )
    call("post", f"{url}assign/", {"vehicle_id": str(vehicle.pk), "driver_id": str(driver.pk)})
    call("post", f"{url}delay/", {"reason": "weather"})
    for step in ("pickup", "in-transit", "deliver"):
        call("post", f"{url}{step}/", {})
    return Load.objects.get(pk=load["id"])


def replay(*args) -> dict:
    out = io.StringIO()
    call_command("replay_events", *args, stdout=out)
    return json.loads(out.getvalue())


def test_a_load_rebuilt_from_its_events_matches_the_table(delivered_load):
    report = replay("--aggregate", str(delivered_load.pk))
    assert report == {"loads": [{"load_id": str(delivered_load.pk), "events": 7, "differences": {}}]}


def test_a_table_changed_behind_the_services_back_is_reported(delivered_load):
    Load.objects.filter(pk=delivered_load.pk).update(rate=1, status="CANCELLED")
    out = io.StringIO()
    with pytest.raises(CommandError, match="differs"):
        call_command("replay_events", "--aggregate", str(delivered_load.pk), stdout=out)
    differences = json.loads(out.getvalue())["loads"][0]["differences"]
    assert differences == {"status": ["DELIVERED", "CANCELLED"], "rate": ["2600.00", "1.00"]}


def test_stored_events_replay_into_a_new_projection(delivered_load):
    seen: list[str] = []
    REGISTRY["test-projection"] = Consumer(name="test-projection", handler=lambda e: seen.append(e["type"]))
    try:
        first = replay("--aggregate", str(delivered_load.pk), "--consumer", "test-projection")
        again = replay("--aggregate", str(delivered_load.pk), "--consumer", "test-projection")
    finally:
        del REGISTRY["test-projection"]
    assert first["outcomes"] == {"processed": 7}
    assert again["outcomes"] == {"duplicate": 7}
    assert seen[0] == "LOAD_CREATED"
    assert seen[-1] == "LOAD_DELIVERED"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "--aggregate"),
        (("--aggregate", "nope"), "UUID"),
        (("--since", "yesterday"), "ISO"),
        (("--aggregate", "3fa85f64-5717-4562-b3fc-2c963f66afa6"), "no events"),
        (("--since", "2020-01-01T00:00:00Z", "--consumer", "nobody"), "unknown consumer"),
    ],
)
def test_bad_arguments_are_clear_errors(args, message):
    with pytest.raises(CommandError, match=message):
        call_command("replay_events", *args, stdout=io.StringIO())
