"""The freight network API: /api/network/lanes, /lanes/{origin}/{destination}/carriers, /paths,
through the project's own URLs (routing.api.urls under api/)."""

import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from fleet.tests.factories import CarrierFactory
from loads.tests.factories import FacilityFactory
from routing import graph as graph_module
from routing.graph import Delivery, InProcessGraph

HOUR = 3600


@pytest.fixture
def network(db, monkeypatch):
    """Chicago -> Indianapolis twice (2 h and 4 h) by one carrier, once by another; Chicago ->
    St. Louis (1 h) -> Indianapolis (1 h)."""
    chicago, indy, stl = (
        FacilityFactory(name="Chicago"),
        FacilityFactory(name="Indy"),
        FacilityFactory(name="STL"),
    )
    fast, slow = CarrierFactory(name="Fast Freight"), CarrierFactory(name="Slow Freight")
    graph = InProcessGraph()
    graph.record_deliveries(
        Delivery(str(uuid.uuid4()), str(origin.id), str(destination.id), str(carrier.id), rate, hours * HOUR)
        for origin, destination, carrier, rate, hours in [
            (chicago, indy, fast, 1000.0, 2),
            (chicago, indy, fast, 2000.0, 4),
            (chicago, indy, slow, 1500.0, 6),
            (chicago, stl, slow, 500.0, 1),
            (stl, indy, slow, 400.0, 1),
        ]
    )
    monkeypatch.setattr(graph_module, "_shared", graph)
    return {"chicago": chicago, "indy": indy, "stl": stl, "fast": fast, "slow": slow}


def test_lanes_busiest_first_with_facility_names(dispatcher, network):
    response = dispatcher.get("/api/network/lanes?limit=2")

    assert response.status_code == 200
    lanes = response.json()["results"]
    assert [(lane["origin_name"], lane["destination_name"], lane["load_count"]) for lane in lanes] == [
        ("Chicago", "Indy", 3),
        ("Chicago", "STL", 1),
    ]
    assert lanes[0]["total_rate"] == 4500.0
    assert lanes[0]["average_rate"] == 1500.0
    assert lanes[0]["average_transit_s"] == 4 * HOUR


def test_lanes_take_the_same_queries_however_many_lanes(dispatcher, network):
    dispatcher.get(
        "/api/network/lanes?limit=2"
    )  # the token's first request reads it, later ones from the cache
    with CaptureQueriesContext(connection) as one:
        dispatcher.get("/api/network/lanes?limit=1")
    with CaptureQueriesContext(connection) as three:
        dispatcher.get("/api/network/lanes?limit=3")

    assert len(one) == len(three)


def test_viewers_read_the_network(viewer, network):
    assert viewer.get("/api/network/lanes").status_code == 200


@pytest.mark.parametrize(
    "url",
    [
        "/api/network/lanes",
        f"/api/network/lanes/{uuid.uuid4()}/{uuid.uuid4()}/carriers",
        "/api/network/paths",
    ],
)
def test_drivers_are_refused(driver_client, network, url):
    response = driver_client.get(url)

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"


def test_anonymous_requests_are_refused(anon_client, network):
    assert anon_client.get("/api/network/lanes").status_code == 401


@pytest.mark.parametrize("limit", ["0", "101", "many"])
def test_a_bad_lane_limit_is_a_400(dispatcher, network, limit):
    response = dispatcher.get(f"/api/network/lanes?limit={limit}")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_error"


def test_carriers_for_a_lane_most_loads_first_with_names(dispatcher, network):
    chicago, indy = network["chicago"].id, network["indy"].id

    response = dispatcher.get(f"/api/network/lanes/{chicago}/{indy}/carriers")

    assert response.status_code == 200
    assert response.json()["results"] == [
        {"carrier_id": str(network["fast"].id), "load_count": 2, "carrier_name": "Fast Freight"},
        {"carrier_id": str(network["slow"].id), "load_count": 1, "carrier_name": "Slow Freight"},
    ]


def test_a_lane_nobody_ran_has_no_carriers(viewer, network):
    response = viewer.get(f"/api/network/lanes/{network['indy'].id}/{network['chicago'].id}/carriers")

    assert response.status_code == 200
    assert response.json()["results"] == []


def test_a_lane_with_an_id_that_is_not_a_uuid_is_a_404_as_for_any_object(dispatcher, network):
    response = dispatcher.get(f"/api/network/lanes/not-a-uuid/{network['indy'].id}/carriers")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_paths_fastest_first_with_facility_names(dispatcher, network):
    chicago, indy = network["chicago"].id, network["indy"].id

    response = dispatcher.get(f"/api/network/paths?from={chicago}&to={indy}&max_hops=2")

    assert response.status_code == 200
    paths = response.json()["results"]
    assert [[f["name"] for f in p["facilities"]] for p in paths] == [
        ["Chicago", "STL", "Indy"],
        ["Chicago", "Indy"],
    ]
    assert [(p["hops"], p["total_average_transit_s"]) for p in paths] == [(2, 2 * HOUR), (1, 4 * HOUR)]


def test_paths_within_one_hop_are_direct_lanes_only(dispatcher, network):
    chicago, indy = network["chicago"].id, network["indy"].id

    response = dispatcher.get(f"/api/network/paths?from={chicago}&to={indy}&max_hops=1")

    assert [p["facility_ids"] for p in response.json()["results"]] == [[str(chicago), str(indy)]]


@pytest.mark.parametrize(
    "query",
    [
        "",
        "from={chicago}",
        "from=nope&to={indy}",
        "from={chicago}&to={indy}&max_hops=0",
        "from={chicago}&to={indy}&max_hops=6",
    ],
)
def test_bad_path_queries_are_a_400(dispatcher, network, query):
    response = dispatcher.get(
        "/api/network/paths?" + query.format(chicago=network["chicago"].id, indy=network["indy"].id)
    )

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_error"
