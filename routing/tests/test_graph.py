"""The freight network graph, in-process backend: the projection of events, its idempotency, the
queries, and the rebuild from the database."""

import datetime
import uuid

import pytest
from django.core.management import call_command
from django.utils import timezone

from drivers.tests.factories import DriverFactory
from events.consumers import REGISTRY, Outcome, deliver
from events.models import OutboxEvent
from fleet.tests.factories import VehicleFactory
from loads import services
from loads.tests.factories import FacilityFactory, LoadFactory, load_in
from routing import graph as graph_module
from routing.graph import Delivery, InProcessGraph

HOUR = 3600


@pytest.fixture
def graph(monkeypatch) -> InProcessGraph:
    """A fresh in-process graph as the process's graph, so the consumer writes to it."""
    fresh = InProcessGraph()
    monkeypatch.setattr(graph_module, "_shared", fresh)
    return fresh


def deliver_through(load, *, vehicle, driver, picked_up_at, transit_h: float):
    services.assign_load(load, by=None, vehicle=vehicle, driver=driver)
    services.pick_up_load(load, by=None, at=picked_up_at)
    services.start_transit(load, by=None, at=picked_up_at + datetime.timedelta(minutes=1))
    return services.deliver_load(load, by=None, at=picked_up_at + datetime.timedelta(hours=transit_h))


def replay(envelopes) -> list[str]:
    consumer = REGISTRY["freight-graph"]
    return [deliver(consumer, envelope) for envelope in envelopes]


def all_envelopes() -> list[dict]:
    return list(OutboxEvent.objects.order_by("sequence").values_list("envelope", flat=True))


@pytest.fixture
def chicago_lane(db):
    """Two loads delivered Chicago -> Indianapolis by one carrier (2 h and 4 h), one by another
    carrier (6 h), and a cancelled load on the same lane."""
    shipper, consignee = FacilityFactory(name="Chicago DC"), FacilityFactory(name="Indy DC")
    vehicle = VehicleFactory()
    driver = DriverFactory(carrier=vehicle.carrier)
    other_vehicle = VehicleFactory()
    other_driver = DriverFactory(carrier=other_vehicle.carrier)
    start = timezone.now() - datetime.timedelta(days=3)
    for transit_h, rate, truck, person in [
        (2, "1000.00", vehicle, driver),
        (4, "2000.00", vehicle, driver),
        (6, "1500.50", other_vehicle, other_driver),
    ]:
        load = LoadFactory(shipper=shipper, consignee=consignee, rate=rate)
        deliver_through(load, vehicle=truck, driver=person, picked_up_at=start, transit_h=transit_h)
        start += datetime.timedelta(hours=8)
    services.cancel_load(LoadFactory(shipper=shipper, consignee=consignee), by=None, reason="test")
    return {
        "shipper": str(shipper.id),
        "consignee": str(consignee.id),
        "carrier": str(vehicle.carrier_id),
        "other_carrier": str(other_vehicle.carrier_id),
    }


def test_delivered_loads_project_into_a_lane_with_counts_rates_and_transit(graph, chicago_lane):
    replay(all_envelopes())

    assert graph.top_lanes() == [
        {
            "origin_id": chicago_lane["shipper"],
            "destination_id": chicago_lane["consignee"],
            "load_count": 3,
            "total_rate": 4500.5,
            "average_rate": 1500.17,
            "total_transit_s": 12 * HOUR,
            "average_transit_s": 4.0 * HOUR,
        }
    ]


def test_carriers_for_a_lane_most_loads_first(graph, chicago_lane):
    replay(all_envelopes())

    assert graph.carriers_for_lane(chicago_lane["shipper"], chicago_lane["consignee"]) == [
        {"carrier_id": chicago_lane["carrier"], "load_count": 2},
        {"carrier_id": chicago_lane["other_carrier"], "load_count": 1},
    ]
    assert graph.carriers_for_lane(chicago_lane["consignee"], chicago_lane["shipper"]) == []


def test_redelivered_events_change_nothing(graph, chicago_lane):
    envelopes = all_envelopes()
    first = replay(envelopes)
    before = graph.top_lanes()

    outcomes = replay(envelopes)
    # The same deliveries under new event ids (a replay from another source): counted once per load.
    for envelope in envelopes:
        graph.apply({**envelope, "id": str(uuid.uuid4())})

    assert first.count(Outcome.PROCESSED) == outcomes.count(Outcome.DUPLICATE) > 0
    assert Outcome.PROCESSED not in outcomes
    assert graph.top_lanes() == before
    assert graph.carriers_for_lane(chicago_lane["shipper"], chicago_lane["consignee"])[0]["load_count"] == 2


def test_two_loads_on_one_lane_in_one_write_both_count_and_a_replay_changes_nothing():
    graph = InProcessGraph()
    deliveries = [
        Delivery("load-1", "chi", "ind", "carrier-1", 100.0, 3600),
        Delivery("load-2", "chi", "ind", "carrier-2", 300.0, 7200),
        Delivery("load-3", "chi", "ind", "carrier-1", 0.5, 60),
    ]
    graph.record_deliveries(deliveries)
    lanes, carriers = graph.top_lanes(), graph.carriers_for_lane("chi", "ind")

    graph.record_deliveries(deliveries)
    graph.record_deliveries(deliveries[1:2])

    assert (
        graph.top_lanes()
        == lanes
        == [
            {
                "origin_id": "chi",
                "destination_id": "ind",
                "load_count": 3,
                "total_rate": 400.5,
                "average_rate": 133.5,
                "total_transit_s": 10860,
                "average_transit_s": 3620.0,
            }
        ]
    )
    assert (
        graph.carriers_for_lane("chi", "ind")
        == carriers
        == [
            {"carrier_id": "carrier-1", "load_count": 2},
            {"carrier_id": "carrier-2", "load_count": 1},
        ]
    )


def test_a_cancelled_load_makes_no_lane(graph, db):
    services.cancel_load(LoadFactory(), by=None, reason="test")
    replay(all_envelopes())

    assert graph.top_lanes() == []


def test_the_consumer_takes_only_the_events_it_needs(db):
    assert REGISTRY["freight-graph"].event_types == {
        "LOAD_CREATED",
        "LOAD_ASSIGNED",
        "LOAD_DELIVERED",
        "VEHICLE_STATUS_CHANGED",
        "DRIVER_STATUS_CHANGED",
    }


def test_assignment_projects_carrier_vehicle_and_driver(graph, db):
    load = load_in("ASSIGNED")
    replay(all_envelopes())

    carrier = ("Carrier", str(load.carrier_id))
    assert graph._graph.has_edge(carrier, ("Vehicle", str(load.vehicle_id)), key="OPERATES")
    assert graph._graph.has_edge(carrier, ("Driver", str(load.driver_id)), key="EMPLOYS")
    assert ("Facility", str(load.shipper_id)) in graph._graph
    assert ("Facility", str(load.consignee_id)) in graph._graph


def test_a_vehicle_moved_to_another_carrier_is_operated_by_the_new_one_only():
    graph = InProcessGraph()
    graph.attach_vehicles([("truck", "old-carrier")])
    graph.attach_vehicles([("truck", "new-carrier"), ("truck", "new-carrier")])

    assert [(u, k) for u, _, k in graph._graph.in_edges(("Vehicle", "truck"), keys=True)] == [
        (("Carrier", "new-carrier"), "OPERATES")
    ]


def test_rebuild_from_database_equals_the_incremental_projection(graph, chicago_lane):
    replay(all_envelopes())
    incremental = InProcessGraph()
    incremental._graph = graph._graph.copy()

    rebuilt = InProcessGraph()
    counts = rebuilt.rebuild_from_database()

    assert counts == {
        "facilities": 2,
        "carriers": 2,
        "vehicles": 2,
        "drivers": 2,
        "delivered_loads": 3,
        "lanes": 1,
    }
    assert rebuilt.top_lanes() == incremental.top_lanes()
    assert set(rebuilt._graph.nodes) == set(incremental._graph.nodes)
    assert sorted(map(repr, rebuilt._graph.edges(keys=True, data=True))) == sorted(
        map(repr, incremental._graph.edges(keys=True, data=True))
    )


def test_rebuild_graph_command_clears_rebuilds_and_prints_counts(graph, chicago_lane, capsys):
    graph.record_deliveries([Delivery("stale", "x", "y", None, 1.0, 60)])

    call_command("rebuild_graph")

    assert capsys.readouterr().out.strip() == (
        "InProcessGraph: 2 facilities, 2 carriers, 2 vehicles, 2 drivers, 3 delivered loads, 1 lanes"
    )
    assert [(lane["origin_id"], lane["load_count"]) for lane in graph.top_lanes()] == [
        (chicago_lane["shipper"], 3)
    ]


def small_network() -> InProcessGraph:
    """A -> D direct in 10 h; via B in 2 + 3 h; via C in 1 + 2 h; B -> C in 0.5 h.
    A -> B averages two loads (1 h and 3 h)."""
    graph = InProcessGraph()
    lanes = [
        ("A", "D", 10),
        ("A", "B", 1),
        ("A", "B", 3),
        ("B", "D", 3),
        ("A", "C", 1),
        ("C", "D", 2),
        ("B", "C", 0.5),
        ("D", "A", 1),
    ]
    graph.record_deliveries(
        Delivery(f"load-{n}", origin, destination, "carrier", 100.0, int(hours * HOUR))
        for n, (origin, destination, hours) in enumerate(lanes)
    )
    return graph


@pytest.mark.parametrize(
    ("max_hops", "limit", "expected"),
    [
        (3, 5, [(["A", "C", "D"], 3), (["A", "B", "C", "D"], 4.5), (["A", "B", "D"], 5), (["A", "D"], 10)]),
        (2, 5, [(["A", "C", "D"], 3), (["A", "B", "D"], 5), (["A", "D"], 10)]),
        (1, 5, [(["A", "D"], 10)]),
        (3, 2, [(["A", "C", "D"], 3), (["A", "B", "C", "D"], 4.5)]),
    ],
)
def test_relay_paths_fastest_total_average_transit_first(max_hops, limit, expected):
    paths = small_network().relay_paths("A", "D", max_hops=max_hops, limit=limit)

    assert [(p["facility_ids"], p["total_average_transit_s"] / HOUR) for p in paths] == expected
    assert [p["hops"] for p in paths] == [len(ids) - 1 for ids, _ in expected]


@pytest.mark.parametrize(
    ("origin", "destination", "max_hops"),
    [("A", "Z", 3), ("Z", "A", 3), ("A", "A", 3), ("C", "B", 2)],
)
def test_relay_paths_without_a_route_within_the_hops_are_empty(origin, destination, max_hops):
    assert small_network().relay_paths(origin, destination, max_hops=max_hops) == []


def test_relay_paths_never_revisit_a_facility():
    # C -> D -> A -> B is the only way, through the D -> A backhaul.
    paths = small_network().relay_paths("C", "B", max_hops=5)

    assert [p["facility_ids"] for p in paths] == [["C", "D", "A", "B"]]


@pytest.mark.parametrize("max_hops", [0, 6, True, "3"])
def test_relay_paths_refuse_an_unbounded_search(max_hops):
    with pytest.raises(ValueError, match="max_hops"):
        small_network().relay_paths("A", "D", max_hops=max_hops)


def test_top_lanes_busiest_first_then_by_revenue():
    graph = InProcessGraph()
    graph.record_deliveries(
        [
            Delivery("1", "A", "B", None, 100.0, 60),
            Delivery("2", "A", "B", None, 100.0, 60),
            Delivery("3", "B", "C", None, 900.0, 60),
            Delivery("4", "C", "A", None, 500.0, 60),
        ]
    )

    assert [(lane["origin_id"], lane["destination_id"]) for lane in graph.top_lanes()] == [
        ("A", "B"),
        ("B", "C"),
        ("C", "A"),
    ]
    assert len(graph.top_lanes(limit=2)) == 2
