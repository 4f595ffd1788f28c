"""One list envelope: every list the API answers is `{"count", "next", "previous", "results"}`,
paged by `page` and `page_size` (issue 12, item 2)."""

import uuid

import pytest
from django.utils import timezone

from drivers.tests.factories import DriverFactory
from fleet.ingest import GpsFix, ingest_without_audit
from fleet.tests.factories import CarrierFactory, VehicleFactory
from loads.tests.factories import FacilityFactory, LoadFactory

pytestmark = pytest.mark.django_db

ENVELOPE = {"count", "next", "previous", "results"}


@pytest.fixture
def world():
    vehicle = VehicleFactory(carrier=CarrierFactory())
    DriverFactory(carrier=vehicle.carrier)
    load = LoadFactory()
    FacilityFactory()
    now = timezone.now().replace(microsecond=0)
    ingest_without_audit(
        [GpsFix(vehicle.pk, now - timezone.timedelta(minutes=n), -90.0, 35.0, 50.0) for n in range(1, 4)]
    )
    return {"vehicle": vehicle.pk, "load": load.pk}


LISTS = [
    "/api/carriers",
    "/api/vehicles",
    "/api/drivers",
    "/api/facilities",
    "/api/loads",
    "/api/routes",
    "/api/fleet-plans",
    "/api/events",
    "/api/loads/{load}/stops",
    "/api/vehicles/{vehicle}/tracking",
    "/api/vehicles/{vehicle}/tracking?bucket=5m",
    "/api/network/lanes",
    "/api/network/lanes/{a}/{b}/carriers",
    "/api/network/paths?from={a}&to={b}",
]


@pytest.mark.parametrize("path", LISTS)
def test_every_list_has_the_one_envelope(dispatcher, world, path):
    url = path.format(**world, a=uuid.uuid4(), b=uuid.uuid4())
    response = dispatcher.get(url)
    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == ENVELOPE
    assert body["count"] == len(body["results"])


def test_a_track_is_paged_with_page_size(dispatcher, world):
    first = dispatcher.get(f"/api/vehicles/{world['vehicle']}/tracking?page_size=2").json()
    assert (first["count"], len(first["results"]), first["previous"]) == (3, 2, None)
    second = dispatcher.get(first["next"]).json()
    assert (len(second["results"]), second["next"]) == (1, None)
    assert dispatcher.get(second["previous"]).json()["results"] == first["results"]


def test_the_schema_describes_the_network_lists_with_the_envelope(client):
    schemas = client.get("/api/schema?format=json").json()["components"]["schemas"]
    for name in ("PaginatedLaneList", "PaginatedLaneCarrierList", "PaginatedRelayPathList"):
        assert set(schemas[name]["properties"]) == ENVELOPE, name
