"""The Neo4j backend's Cypher, checked against a fake driver that records each statement and its
parameters. No Neo4j server can run here, so these tests pin the statements and parameters the
backend sends; they do not execute the Cypher."""

import re

import pytest

from loads.tests.factories import FacilityFactory, load_in
from routing import graph as graph_module
from routing.graph import (
    CYPHER_ADD_CARRIERS,
    CYPHER_ADD_FACILITIES,
    CYPHER_ATTACH_DRIVERS,
    CYPHER_ATTACH_VEHICLES,
    CYPHER_CARRIERS_FOR_LANE,
    CYPHER_CLEAR,
    CYPHER_CONSTRAINTS,
    CYPHER_RECORD_DELIVERIES,
    CYPHER_TOP_LANES,
    Delivery,
    InProcessGraph,
    Neo4jGraph,
)


class FakeSession:
    def __init__(self, driver):
        self.driver = driver

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def run(self, query, parameters=None):
        self.driver.statements.append((query, dict(parameters or {})))
        return iter(self.driver.results.pop(0) if self.driver.results else [])


class FakeDriver:
    """Records (query, parameters) per statement; answers with the queued lists of records."""

    def __init__(self, results=None):
        self.statements: list[tuple[str, dict]] = []
        self.results = list(results or [])
        self.databases: list[str | None] = []

    def session(self, database=None):
        self.databases.append(database)
        return FakeSession(self)


def lanes_sent(driver) -> list[list[dict]]:
    """The lane rows of each CYPHER_RECORD_DELIVERIES statement, in order."""
    return [params["lanes"] for query, params in driver.statements if query == CYPHER_RECORD_DELIVERIES]


def test_a_delivery_is_merged_into_its_lane_once_per_load_id():
    driver = FakeDriver()
    Neo4jGraph(driver, database="freight").record_deliveries(
        [Delivery("load-1", "chi", "ind", "carrier-1", 1850.0, 7200)]
    )

    assert driver.statements == [
        (
            CYPHER_RECORD_DELIVERIES,
            {
                "lanes": [
                    {
                        "origin_id": "chi",
                        "destination_id": "ind",
                        "carrier_ids": ["carrier-1"],
                        "deliveries": [
                            {
                                "load_id": "load-1",
                                "carrier_id": "carrier-1",
                                "rate": 1850.0,
                                "transit_s": 7200,
                            }
                        ],
                    }
                ]
            },
        )
    ]
    assert driver.databases == ["freight"]
    assert "MERGE (c)-[s:SERVED {destination_id: lane.destination_id}]->(o)" in CYPHER_RECORD_DELIVERIES


def test_two_loads_on_one_lane_in_one_statement_are_one_row_with_both():
    """The rows of one statement all read the lane as it was before the statement: two rows of
    one lane both read load_count 0 and both wrote 1 (loads of 100 and 300 made a lane of one
    load, 300). Grouped per lane, the statement reads each lane once and adds both loads."""
    driver = FakeDriver()
    Neo4jGraph(driver).record_deliveries(
        [
            Delivery("load-1", "chi", "ind", "carrier-1", 100.0, 3600),
            Delivery("load-2", "chi", "stl", None, 50.0, 1800),
            Delivery("load-3", "chi", "ind", "carrier-2", 300.0, 7200),
            Delivery("load-1", "chi", "ind", "carrier-1", 100.0, 3600),  # the same load twice
            Delivery("load-4", "chi", "ind", "carrier-1", 0.5, 60),
        ]
    )

    assert lanes_sent(driver) == [
        [
            {
                "origin_id": "chi",
                "destination_id": "ind",
                "carrier_ids": ["carrier-1", "carrier-2"],
                "deliveries": [
                    {"load_id": "load-1", "carrier_id": "carrier-1", "rate": 100.0, "transit_s": 3600},
                    {"load_id": "load-3", "carrier_id": "carrier-2", "rate": 300.0, "transit_s": 7200},
                    {"load_id": "load-4", "carrier_id": "carrier-1", "rate": 0.5, "transit_s": 60},
                ],
            },
            {
                "origin_id": "chi",
                "destination_id": "stl",
                "carrier_ids": [],
                "deliveries": [{"load_id": "load-2", "carrier_id": None, "rate": 50.0, "transit_s": 1800}],
            },
        ]
    ]


def test_the_statement_adds_only_the_loads_a_lane_has_not_counted():
    """Replaying a delivery changes nothing: the loads already in the lane's load_ids are dropped
    before any total is computed, and every total and SERVED count comes from the rest."""
    statement = CYPHER_RECORD_DELIVERIES
    fresh = "[delivery IN lane.deliveries WHERE NOT delivery.load_id IN l.load_ids] AS new"
    assert statement.index(fresh) < statement.index("SET l.load_ids = l.load_ids + [delivery IN new")
    assert "WHERE size(new) > 0" in statement
    assert "l.load_count + size(new) AS load_count" in statement
    assert "reduce(total = l.total_rate, delivery IN new | total + delivery.rate)" in statement
    assert "reduce(total = l.total_transit_s, delivery IN new | total + delivery.transit_s)" in statement
    assert (
        "SET s.count = s.count + size([delivery IN new WHERE delivery.carrier_id = carrier_id])" in statement
    )
    # Each lane is read once per statement; nothing reads a property written earlier in it.
    assert statement.count("MERGE (o)-[l:LANE]->(d)") == 1


@pytest.mark.parametrize("batch_size, sizes", [(1, [1, 1, 1, 1, 1]), (2, [2, 2, 1]), (5, [5]), (100, [5])])
def test_writes_send_at_most_the_batch_size_per_statement(settings, batch_size, sizes):
    settings.NEO4J_BATCH_SIZE = batch_size
    driver = FakeDriver()
    graph = Neo4jGraph(driver)
    ids = [f"id-{n}" for n in range(5)]
    graph.add_facilities(ids)
    graph.add_carriers(ids)
    graph.attach_vehicles([(i, "carrier") for i in ids])
    graph.attach_drivers([(i, "carrier") for i in ids])
    graph.record_deliveries([Delivery(i, "chi", "ind" if i < "id-3" else "stl", None, 1.0, 1) for i in ids])

    by_query: dict[str, list[int]] = {}
    for query, params in driver.statements:
        rows = (
            params.get("ids")
            or params.get("pairs")
            or [d for lane in params["lanes"] for d in lane["deliveries"]]
        )
        by_query.setdefault(query, []).append(len(rows))
    assert by_query == {
        CYPHER_ADD_FACILITIES: sizes,
        CYPHER_ADD_CARRIERS: sizes,
        CYPHER_ATTACH_VEHICLES: sizes,
        CYPHER_ATTACH_DRIVERS: sizes,
        CYPHER_RECORD_DELIVERIES: sizes,
    }


def test_writes_merge_and_never_create():
    writes = [
        CYPHER_ADD_FACILITIES,
        CYPHER_ADD_CARRIERS,
        CYPHER_ATTACH_VEHICLES,
        CYPHER_ATTACH_DRIVERS,
        CYPHER_RECORD_DELIVERIES,
    ]
    for statement in writes:
        assert "MERGE" in statement
        assert not re.search(r"\bCREATE\b(?! SET)", statement), statement


def test_attaching_members_names_the_label_and_relationship():
    driver = FakeDriver()
    graph = Neo4jGraph(driver)
    graph.attach_vehicles([("truck-1", "carrier-1")])
    graph.attach_drivers([("driver-1", "carrier-1")])
    graph.attach_drivers([])

    assert driver.statements == [
        (CYPHER_ATTACH_VEHICLES, {"pairs": [{"member_id": "truck-1", "carrier_id": "carrier-1"}]}),
        (CYPHER_ATTACH_DRIVERS, {"pairs": [{"member_id": "driver-1", "carrier_id": "carrier-1"}]}),
    ]
    assert "MERGE (m:Vehicle {id: pair.member_id})" in CYPHER_ATTACH_VEHICLES
    assert "MERGE (c)-[:OPERATES]->(m)" in CYPHER_ATTACH_VEHICLES
    assert "MERGE (c)-[:EMPLOYS]->(m)" in CYPHER_ATTACH_DRIVERS


def test_an_assignment_event_sends_the_carrier_vehicle_and_driver():
    driver = FakeDriver()
    Neo4jGraph(driver).apply(
        {
            "id": "event-1",
            "type": "LOAD_ASSIGNED",
            "data": {"load_id": "load-1", "carrier_id": "c1", "vehicle_id": "v1", "driver_id": "d1"},
        }
    )

    assert driver.statements == [
        (CYPHER_ADD_CARRIERS, {"ids": ["c1"]}),
        (CYPHER_ATTACH_VEHICLES, {"pairs": [{"member_id": "v1", "carrier_id": "c1"}]}),
        (CYPHER_ATTACH_DRIVERS, {"pairs": [{"member_id": "d1", "carrier_id": "c1"}]}),
    ]


def test_queries_read_the_records():
    lane = {
        "origin_id": "chi",
        "destination_id": "ind",
        "load_count": 2,
        "total_rate": 3700.0,
        "average_rate": 1850.0,
        "total_transit_s": 14400,
        "average_transit_s": 7200.0,
    }
    driver = FakeDriver(
        results=[
            [lane],
            [{"carrier_id": "c1", "load_count": 2}],
            [{"facility_ids": ["chi", "stl", "ind"], "hops": 2, "total_average_transit_s": 9000.0}],
        ]
    )
    graph = Neo4jGraph(driver)

    assert graph.top_lanes(limit=3) == [lane]
    assert graph.carriers_for_lane("chi", "ind") == [{"carrier_id": "c1", "load_count": 2}]
    assert graph.relay_paths("chi", "ind", max_hops=4, limit=2) == [
        {"facility_ids": ["chi", "stl", "ind"], "hops": 2, "total_average_transit_s": 9000.0}
    ]
    (top, top_params), (carriers, carrier_params), (paths, path_params) = driver.statements
    assert (top, top_params) == (CYPHER_TOP_LANES, {"limit": 3})
    assert (carriers, carrier_params) == (
        CYPHER_CARRIERS_FOR_LANE,
        {"origin_id": "chi", "destination_id": "ind"},
    )
    assert "-[:LANE*1..4]->" in paths
    assert path_params == {"origin_id": "chi", "destination_id": "ind", "limit": 2}


@pytest.mark.parametrize("max_hops", [0, 6, "3) DETACH DELETE n //"])
def test_max_hops_is_checked_before_it_is_inlined(max_hops):
    driver = FakeDriver()
    with pytest.raises(ValueError, match="max_hops"):
        Neo4jGraph(driver).relay_paths("chi", "ind", max_hops=max_hops)
    assert driver.statements == []


def test_rebuild_sends_the_deliveries_the_in_process_graph_counts(monkeypatch, db):
    loads = [load_in("DELIVERED"), load_in("DELIVERED"), load_in("CANCELLED")]
    recorded: list[Delivery] = []
    monkeypatch.setattr(InProcessGraph, "record_deliveries", lambda self, rows: recorded.extend(rows))
    InProcessGraph().rebuild_from_database()
    driver = FakeDriver()

    counts = Neo4jGraph(driver).rebuild_from_database()

    queries = [query for query, _ in driver.statements]
    assert queries == [
        *CYPHER_CONSTRAINTS,
        CYPHER_CLEAR,
        CYPHER_ADD_FACILITIES,
        CYPHER_ADD_CARRIERS,
        CYPHER_ATTACH_VEHICLES,
        CYPHER_ATTACH_DRIVERS,
        CYPHER_RECORD_DELIVERIES,
    ]
    sent = [
        (lane["origin_id"], lane["destination_id"], d)
        for lane in lanes_sent(driver)[0]
        for d in lane["deliveries"]
    ]
    assert sorted(d["load_id"] for _, _, d in sent) == sorted(str(load.id) for load in loads[:2])
    assert sorted(sent, key=lambda row: row[2]["load_id"]) == sorted(
        (
            (
                d.origin_id,
                d.destination_id,
                {"load_id": d.load_id, "carrier_id": d.carrier_id, "rate": d.rate, "transit_s": d.transit_s},
            )
            for d in recorded
        ),
        key=lambda row: row[2]["load_id"],
    )
    assert (
        len(driver.statements[len(CYPHER_CONSTRAINTS) + 1][1]["ids"]) == 6
    )  # three loads, two facilities each
    assert counts == {
        "facilities": 6,
        "carriers": 2,  # the cancelled load was never assigned
        "vehicles": 2,
        "drivers": 2,
        "delivered_loads": 2,
        "lanes": 2,
    }


def test_a_rebuild_sends_each_lane_once_per_statement_and_at_most_the_batch(settings, db):
    """Before, every delivery of the database went in one statement (unbounded message and
    transaction), one row per load, so a lane's loads undercounted each other."""
    settings.NEO4J_BATCH_SIZE = 2
    chicago, indianapolis, st_louis = FacilityFactory(), FacilityFactory(), FacilityFactory()
    to_indianapolis = [load_in("DELIVERED", shipper=chicago, consignee=indianapolis) for _ in range(3)]
    to_st_louis = load_in("DELIVERED", shipper=chicago, consignee=st_louis)
    load_in("CANCELLED", shipper=chicago, consignee=st_louis)
    driver = FakeDriver()

    counts = Neo4jGraph(driver).rebuild_from_database()

    statements = lanes_sent(driver)
    assert [sum(len(lane["deliveries"]) for lane in statement) for statement in statements] == [2, 2]
    loads_per_lane: dict[tuple[str, str], list[str]] = {}
    for statement in statements:
        lanes = [(lane["origin_id"], lane["destination_id"]) for lane in statement]
        assert len(lanes) == len(set(lanes)), "a lane twice in one statement"
        for lane in statement:
            loads_per_lane.setdefault((lane["origin_id"], lane["destination_id"]), []).extend(
                d["load_id"] for d in lane["deliveries"]
            )
    assert {lane: sorted(ids) for lane, ids in loads_per_lane.items()} == {
        (str(chicago.id), str(indianapolis.id)): sorted(str(load.id) for load in to_indianapolis),
        (str(chicago.id), str(st_louis.id)): [str(to_st_louis.id)],
    }
    assert all(
        len(params.get("ids") or params.get("pairs") or [None]) <= 2 for _, params in driver.statements
    )
    assert (counts["delivered_loads"], counts["lanes"], counts["facilities"]) == (4, 2, 3)


def test_the_neo4j_backend_is_chosen_when_neo4j_uri_is_set(settings, monkeypatch):
    import neo4j

    opened = []
    monkeypatch.setattr(
        neo4j.GraphDatabase, "driver", lambda uri, auth: opened.append((uri, auth)) or FakeDriver()
    )
    monkeypatch.setattr(graph_module, "_shared", None)
    settings.NEO4J_URI = "bolt://graph.internal:7687"
    settings.NEO4J_USER = "tms"
    settings.NEO4J_PASSWORD = "secret"

    assert isinstance(graph_module.get_graph(), Neo4jGraph)
    assert opened == [("bolt://graph.internal:7687", ("tms", "secret"))]


def test_the_in_process_backend_is_the_default_and_starts_from_the_database(settings, monkeypatch, db):
    delivered = load_in("DELIVERED")
    monkeypatch.setattr(graph_module, "_shared", None)
    settings.NEO4J_URI = None

    graph = graph_module.get_graph()

    assert isinstance(graph, InProcessGraph)
    assert graph_module.get_graph() is graph
    assert [(lane["origin_id"], lane["load_count"]) for lane in graph.top_lanes()] == [
        (str(delivered.shipper_id), 1)
    ]
