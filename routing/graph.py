"""The freight network graph: facilities joined by the lanes delivered loads ran, and the carriers
that served them, with their vehicles and drivers.

A projection of the event stream (routing.handlers) that `manage.py rebuild_graph` can rebuild from
the database at any time. Two backends behind one interface: `InProcessGraph` (networkx, this
process only: the embedded default) and `Neo4jGraph` (when settings.NEO4J_URI is set).

Nodes: Facility, Carrier, Vehicle, Driver, each keyed by the row's id (a string). Relationships:
LANE (origin facility -> destination facility) with load_count, total_rate, average_rate,
total_transit_s, average_transit_s and the ids of the loads counted; SERVED (carrier -> origin
facility, keyed by destination_id: a relationship cannot point at another relationship, so the
lane is named by its two ends) with count; OPERATES (carrier -> vehicle); EMPLOYS (carrier ->
driver). A lane counts a load once, by its id, so a redelivered or replayed event changes nothing.
"""

import itertools
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import networkx as nx
from django.conf import settings
from django.utils.dateparse import parse_datetime

from drivers.models import Driver
from events.taxonomy import EventType
from fleet.models import Carrier, Vehicle
from loads.models import Facility, Load, LoadStatus

MAX_HOPS = 5

T = TypeVar("T")

LOAD_EVENTS = {t.value for t in EventType if t.name.startswith("LOAD_")}


@dataclass(frozen=True)
class Delivery:
    """One delivered load, as a lane counts it."""

    load_id: str
    origin_id: str
    destination_id: str
    carrier_id: str | None
    rate: float
    transit_s: int


def delivery_of(load: Load, delivered_at: datetime | None = None) -> Delivery:
    """Transit runs from the actual pickup (the scheduled one when the pickup was never recorded)
    to the delivery."""
    delivered_at = delivered_at or load.delivered_at
    started_at = load.picked_up_at or load.pickup_datetime
    return Delivery(
        load_id=str(load.id),
        origin_id=str(load.shipper_id),
        destination_id=str(load.consignee_id),
        carrier_id=str(load.carrier_id) if load.carrier_id else None,
        rate=float(load.rate),
        transit_s=max(0, int((delivered_at - started_at).total_seconds())),
    )


def _id(value: Any) -> str | None:
    return str(value) if value else None


class FreightGraph(ABC):
    """The graph's interface. Backends implement the writes and queries; the projection of events
    (`apply`) and the rebuild are shared, so both backends hold the same graph."""

    # --- Writes ---

    @abstractmethod
    def clear(self) -> None: ...

    @abstractmethod
    def add_facilities(self, facility_ids: Iterable[str]) -> None: ...

    @abstractmethod
    def add_carriers(self, carrier_ids: Iterable[str]) -> None: ...

    @abstractmethod
    def attach_vehicles(self, pairs: Iterable[tuple[str, str]]) -> None:
        """(vehicle_id, carrier_id): a vehicle is operated by one carrier, its latest."""

    @abstractmethod
    def attach_drivers(self, pairs: Iterable[tuple[str, str]]) -> None:
        """(driver_id, carrier_id): a driver is employed by one carrier, the latest."""

    @abstractmethod
    def record_deliveries(self, deliveries: Iterable[Delivery]) -> None:
        """Adds each delivery to its lane and its carrier's SERVED count, once per load id."""

    # --- Queries ---

    @abstractmethod
    def top_lanes(self, limit: int = 10) -> list[dict[str, Any]]:
        """Lanes by load count, then total rate, busiest first."""

    @abstractmethod
    def carriers_for_lane(self, origin_id: str, destination_id: str) -> list[dict[str, Any]]:
        """The carriers that delivered loads on the lane, most loads first."""

    @abstractmethod
    def relay_paths(
        self, origin_id: str, destination_id: str, max_hops: int = 3, limit: int = 5
    ) -> list[dict[str, Any]]:
        """Simple paths of up to `max_hops` lanes from origin to destination, fastest total average
        transit first (then fewer hops)."""

    # --- Projection ---

    def apply(self, envelope: dict[str, Any]) -> None:
        """Updates the graph with one event. Safe to repeat: nodes and relationships are merged
        and a lane counts each load once."""
        event_type, data = envelope["type"], envelope["data"]
        if event_type == EventType.LOAD_CREATED:
            self.add_facilities([str(data["shipper_id"]), str(data["consignee_id"])])
        if event_type in LOAD_EVENTS or event_type in (
            EventType.VEHICLE_STATUS_CHANGED,
            EventType.DRIVER_STATUS_CHANGED,
        ):
            carrier_id = _id(data.get("carrier_id"))
            if carrier_id:
                self.add_carriers([carrier_id])
                if vehicle_id := _id(data.get("vehicle_id")):
                    self.attach_vehicles([(vehicle_id, carrier_id)])
                if driver_id := _id(data.get("driver_id")):
                    self.attach_drivers([(driver_id, carrier_id)])
        if event_type == EventType.LOAD_DELIVERED:
            # The event names neither the facilities nor the rate: the load row has them.
            load = Load.objects.filter(id=data["load_id"]).first()
            if load is not None:
                delivered_at = data.get("delivered_at")
                if isinstance(delivered_at, str):
                    delivered_at = parse_datetime(delivered_at)
                self.add_facilities([str(load.shipper_id), str(load.consignee_id)])
                self.record_deliveries([delivery_of(load, delivered_at)])

    def rebuild_from_database(self) -> dict[str, int]:
        """Clears the graph and projects the database: every facility, carrier, vehicle and driver,
        and the lanes of the delivered loads. Returns the counts."""
        self.clear()
        facilities = [str(i) for i in Facility.objects.values_list("id", flat=True)]
        carriers = [str(i) for i in Carrier.objects.values_list("id", flat=True)]
        vehicles = [(str(v), str(c)) for v, c in Vehicle.objects.values_list("id", "carrier_id")]
        drivers = [(str(d), str(c)) for d, c in Driver.objects.values_list("id", "carrier_id")]
        self.add_facilities(facilities)
        self.add_carriers(carriers)
        self.attach_vehicles(vehicles)
        self.attach_drivers(drivers)
        loads = Load.objects.filter(status=LoadStatus.DELIVERED, delivered_at__isnull=False).only(
            "id",
            "shipper_id",
            "consignee_id",
            "carrier_id",
            "rate",
            "pickup_datetime",
            "picked_up_at",
            "delivered_at",
        )
        # Lane by lane, so that a lane's loads share as few statements as possible; batches keep each
        # write (and the rows in memory) bounded however many loads were delivered.
        delivered, lanes = 0, set()
        ordered = loads.order_by("shipper_id", "consignee_id", "delivered_at", "id")
        for batch in batches(
            ordered.iterator(chunk_size=settings.NEO4J_BATCH_SIZE), settings.NEO4J_BATCH_SIZE
        ):
            deliveries = [delivery_of(load) for load in batch]
            self.record_deliveries(deliveries)
            delivered += len(deliveries)
            lanes.update((d.origin_id, d.destination_id) for d in deliveries)
        return {
            "facilities": len(facilities),
            "carriers": len(carriers),
            "vehicles": len(vehicles),
            "drivers": len(drivers),
            "delivered_loads": delivered,
            "lanes": len(lanes),
        }


def batches(rows: Iterable[T], size: int) -> Iterator[list[T]]:
    """Consecutive lists of at most `size` rows."""
    rows = iter(rows)
    while batch := list(itertools.islice(rows, size)):
        yield batch


def _lane_row(origin_id: str, destination_id: str, lane: dict[str, Any]) -> dict[str, Any]:
    return {
        "origin_id": origin_id,
        "destination_id": destination_id,
        "load_count": lane["load_count"],
        "total_rate": lane["total_rate"],
        "average_rate": lane["average_rate"],
        "total_transit_s": lane["total_transit_s"],
        "average_transit_s": lane["average_transit_s"],
    }


class InProcessGraph(FreightGraph):
    """A networkx MultiDiGraph in this process's memory; node keys are (label, id), edge keys the
    relationship type (SERVED: ("SERVED", destination_id))."""

    def __init__(self) -> None:
        self._graph = nx.MultiDiGraph()
        self._lock = threading.RLock()

    def clear(self) -> None:
        with self._lock:
            self._graph.clear()

    def _node(self, label: str, node_id: str) -> tuple[str, str]:
        node = (label, node_id)
        if node not in self._graph:
            self._graph.add_node(node, label=label, id=node_id)
        return node

    def add_facilities(self, facility_ids: Iterable[str]) -> None:
        with self._lock:
            for facility_id in facility_ids:
                self._node("Facility", facility_id)

    def add_carriers(self, carrier_ids: Iterable[str]) -> None:
        with self._lock:
            for carrier_id in carrier_ids:
                self._node("Carrier", carrier_id)

    def _attach(self, label: str, relationship: str, pairs: Iterable[tuple[str, str]]) -> None:
        with self._lock:
            for member_id, carrier_id in pairs:
                member = self._node(label, member_id)
                carrier = self._node("Carrier", carrier_id)
                for previous, _, key in list(self._graph.in_edges(member, keys=True)):
                    if key == relationship and previous != carrier:
                        self._graph.remove_edge(previous, member, key=key)
                if not self._graph.has_edge(carrier, member, key=relationship):
                    self._graph.add_edge(carrier, member, key=relationship, type=relationship)

    def attach_vehicles(self, pairs: Iterable[tuple[str, str]]) -> None:
        self._attach("Vehicle", "OPERATES", pairs)

    def attach_drivers(self, pairs: Iterable[tuple[str, str]]) -> None:
        self._attach("Driver", "EMPLOYS", pairs)

    def record_deliveries(self, deliveries: Iterable[Delivery]) -> None:
        with self._lock:
            for delivery in deliveries:
                origin = self._node("Facility", delivery.origin_id)
                destination = self._node("Facility", delivery.destination_id)
                if not self._graph.has_edge(origin, destination, key="LANE"):
                    self._graph.add_edge(
                        origin,
                        destination,
                        key="LANE",
                        type="LANE",
                        load_ids=set(),
                        load_count=0,
                        total_rate=0.0,
                        average_rate=0.0,
                        total_transit_s=0,
                        average_transit_s=0.0,
                    )
                lane = self._graph.edges[origin, destination, "LANE"]
                if delivery.load_id in lane["load_ids"]:
                    continue
                lane["load_ids"].add(delivery.load_id)
                lane["load_count"] += 1
                lane["total_rate"] = round(lane["total_rate"] + delivery.rate, 2)
                lane["average_rate"] = round(lane["total_rate"] / lane["load_count"], 2)
                lane["total_transit_s"] += delivery.transit_s
                lane["average_transit_s"] = lane["total_transit_s"] / lane["load_count"]
                if delivery.carrier_id:
                    carrier = self._node("Carrier", delivery.carrier_id)
                    key = ("SERVED", delivery.destination_id)
                    if not self._graph.has_edge(carrier, origin, key=key):
                        self._graph.add_edge(
                            carrier,
                            origin,
                            key=key,
                            type="SERVED",
                            destination_id=delivery.destination_id,
                            count=0,
                        )
                    self._graph.edges[carrier, origin, key]["count"] += 1

    def _lanes(self) -> list[tuple[str, str, dict[str, Any]]]:
        return [
            (u[1], v[1], attrs)
            for u, v, key, attrs in self._graph.edges(keys=True, data=True)
            if key == "LANE"
        ]

    def top_lanes(self, limit: int = 10) -> list[dict[str, Any]]:
        with self._lock:
            rows = [_lane_row(origin, destination, lane) for origin, destination, lane in self._lanes()]
        rows.sort(key=lambda r: (-r["load_count"], -r["total_rate"], r["origin_id"], r["destination_id"]))
        return rows[:limit]

    def carriers_for_lane(self, origin_id: str, destination_id: str) -> list[dict[str, Any]]:
        origin = ("Facility", origin_id)
        with self._lock:
            if origin not in self._graph:
                return []
            rows = [
                {"carrier_id": carrier[1], "load_count": attrs["count"]}
                for carrier, _, key, attrs in self._graph.in_edges(origin, keys=True, data=True)
                if key == ("SERVED", destination_id)
            ]
        rows.sort(key=lambda r: (-r["load_count"], r["carrier_id"]))
        return rows

    def relay_paths(
        self, origin_id: str, destination_id: str, max_hops: int = 3, limit: int = 5
    ) -> list[dict[str, Any]]:
        _check_hops(max_hops)
        with self._lock:
            lanes = nx.DiGraph()
            lanes.add_edges_from(
                (origin, destination, {"transit": lane["average_transit_s"]})
                for origin, destination, lane in self._lanes()
            )
        if origin_id not in lanes or destination_id not in lanes or origin_id == destination_id:
            return []
        rows = []
        for path in nx.all_simple_paths(lanes, origin_id, destination_id, cutoff=max_hops):
            total = sum(lanes.edges[a, b]["transit"] for a, b in itertools.pairwise(path))
            rows.append({"facility_ids": list(path), "hops": len(path) - 1, "total_average_transit_s": total})
        rows.sort(key=lambda r: (r["total_average_transit_s"], r["hops"], r["facility_ids"]))
        return rows[:limit]


# --- Neo4j ----------------------------------------------------------------------------------------

CYPHER_CONSTRAINTS = [
    f"CREATE CONSTRAINT {label.lower()}_id IF NOT EXISTS FOR (n:{label}) REQUIRE n.id IS UNIQUE"
    for label in ("Facility", "Carrier", "Vehicle", "Driver")
]
CYPHER_CLEAR = "MATCH (n) WHERE n:Facility OR n:Carrier OR n:Vehicle OR n:Driver DETACH DELETE n"
CYPHER_ADD_FACILITIES = "UNWIND $ids AS id MERGE (:Facility {id: id})"
CYPHER_ADD_CARRIERS = "UNWIND $ids AS id MERGE (:Carrier {id: id})"
# A member moves to its latest carrier: the old relationship goes.
CYPHER_ATTACH = """
UNWIND $pairs AS pair
MERGE (m:{label} {{id: pair.member_id}})
MERGE (c:Carrier {{id: pair.carrier_id}})
WITH m, c
OPTIONAL MATCH (other:Carrier)-[old:{relationship}]->(m) WHERE other <> c
DELETE old
WITH DISTINCT m, c
MERGE (c)-[:{relationship}]->(m)
"""
CYPHER_ATTACH_VEHICLES = CYPHER_ATTACH.format(label="Vehicle", relationship="OPERATES")
CYPHER_ATTACH_DRIVERS = CYPHER_ATTACH.format(label="Driver", relationship="EMPLOYS")
# One row per lane (`lane_rows`): the rows of one statement all read the graph as it was before
# the statement, so two rows of one lane would each add their load to the same old totals and the
# second SET would overwrite the first (two loads counted as one). Each lane's loads come together;
# those already in the lane's load_ids are dropped before anything is computed, so a replayed
# delivery changes nothing, and every total and SERVED count is computed once from the rest.
CYPHER_RECORD_DELIVERIES = """
UNWIND $lanes AS lane
MERGE (o:Facility {id: lane.origin_id})
MERGE (d:Facility {id: lane.destination_id})
MERGE (o)-[l:LANE]->(d)
  ON CREATE SET l.load_ids = [], l.load_count = 0, l.total_rate = 0.0, l.average_rate = 0.0,
                l.total_transit_s = 0, l.average_transit_s = 0.0
WITH lane, o, l, [delivery IN lane.deliveries WHERE NOT delivery.load_id IN l.load_ids] AS new
WHERE size(new) > 0
WITH lane, o, l, new,
     l.load_count + size(new) AS load_count,
     round(reduce(total = l.total_rate, delivery IN new | total + delivery.rate), 2) AS total_rate,
     reduce(total = l.total_transit_s, delivery IN new | total + delivery.transit_s) AS total_transit_s
SET l.load_ids = l.load_ids + [delivery IN new | delivery.load_id],
    l.load_count = load_count,
    l.total_rate = total_rate,
    l.average_rate = round(total_rate / load_count, 2),
    l.total_transit_s = total_transit_s,
    l.average_transit_s = toFloat(total_transit_s) / load_count
WITH lane, o, new
UNWIND [carrier_id IN lane.carrier_ids WHERE any(delivery IN new WHERE delivery.carrier_id = carrier_id)]
  AS carrier_id
MERGE (c:Carrier {id: carrier_id})
MERGE (c)-[s:SERVED {destination_id: lane.destination_id}]->(o)
  ON CREATE SET s.count = 0
SET s.count = s.count + size([delivery IN new WHERE delivery.carrier_id = carrier_id])
"""


def lane_rows(deliveries: Iterable[Delivery]) -> list[dict[str, Any]]:
    """The deliveries grouped per lane, as CYPHER_RECORD_DELIVERIES takes them: each lane once,
    with its carriers (each once) and its deliveries."""
    lanes: dict[tuple[str, str], list[Delivery]] = {}
    for delivery in deliveries:
        lanes.setdefault((delivery.origin_id, delivery.destination_id), []).append(delivery)
    return [
        {
            "origin_id": origin_id,
            "destination_id": destination_id,
            "carrier_ids": list(dict.fromkeys(d.carrier_id for d in members if d.carrier_id)),
            "deliveries": [
                {"load_id": d.load_id, "carrier_id": d.carrier_id, "rate": d.rate, "transit_s": d.transit_s}
                for d in members
            ],
        }
        for (origin_id, destination_id), members in lanes.items()
    ]


CYPHER_TOP_LANES = """
MATCH (o:Facility)-[l:LANE]->(d:Facility)
RETURN o.id AS origin_id, d.id AS destination_id, l.load_count AS load_count,
       l.total_rate AS total_rate, l.average_rate AS average_rate,
       l.total_transit_s AS total_transit_s, l.average_transit_s AS average_transit_s
ORDER BY load_count DESC, total_rate DESC, origin_id, destination_id
LIMIT $limit
"""
CYPHER_CARRIERS_FOR_LANE = """
MATCH (c:Carrier)-[s:SERVED {destination_id: $destination_id}]->(:Facility {id: $origin_id})
RETURN c.id AS carrier_id, s.count AS load_count
ORDER BY load_count DESC, carrier_id
"""
# A variable-length bound cannot be a parameter: max_hops is checked to be a small int, then inlined.
CYPHER_RELAY_PATHS = """
MATCH p = (o:Facility {{id: $origin_id}})-[:LANE*1..{max_hops}]->(d:Facility {{id: $destination_id}})
WHERE all(n IN nodes(p) WHERE single(m IN nodes(p) WHERE m = n))
WITH [n IN nodes(p) | n.id] AS facility_ids, length(p) AS hops,
     reduce(total = 0.0, l IN relationships(p) | total + l.average_transit_s) AS total_average_transit_s
RETURN facility_ids, hops, total_average_transit_s
ORDER BY total_average_transit_s, hops, facility_ids
LIMIT $limit
"""


def _check_hops(max_hops: int) -> int:
    if not isinstance(max_hops, int) or isinstance(max_hops, bool) or not 1 <= max_hops <= MAX_HOPS:
        raise ValueError(f"max_hops must be an integer from 1 to {MAX_HOPS}")
    return max_hops


class Neo4jGraph(FreightGraph):
    """The graph in Neo4j over Bolt (the official driver). Every write is one auto-commit Cypher
    statement that MERGEs, so a retried statement does not duplicate anything."""

    def __init__(self, driver, database: str | None = None) -> None:
        self._driver = driver
        self._database = database

    @classmethod
    def from_settings(cls) -> "Neo4jGraph":
        import neo4j

        auth = (settings.NEO4J_USER, settings.NEO4J_PASSWORD)
        driver = neo4j.GraphDatabase.driver(settings.NEO4J_URI, auth=auth)
        return cls(driver, database=settings.NEO4J_DATABASE or None)

    def _run(self, query: str, **parameters: Any) -> list[Any]:
        with self._driver.session(database=self._database) as session:
            return list(session.run(query, parameters))

    def ensure_schema(self) -> None:
        for statement in CYPHER_CONSTRAINTS:
            self._run(statement)

    def clear(self) -> None:
        self._run(CYPHER_CLEAR)

    def _run_in_batches(self, query: str, name: str, rows: Iterable[Any]) -> None:
        """One statement per NEO4J_BATCH_SIZE rows: a message and a transaction of bounded size."""
        for batch in batches(rows, settings.NEO4J_BATCH_SIZE):
            self._run(query, **{name: batch})

    def add_facilities(self, facility_ids: Iterable[str]) -> None:
        self._run_in_batches(CYPHER_ADD_FACILITIES, "ids", facility_ids)

    def add_carriers(self, carrier_ids: Iterable[str]) -> None:
        self._run_in_batches(CYPHER_ADD_CARRIERS, "ids", carrier_ids)

    def attach_vehicles(self, pairs: Iterable[tuple[str, str]]) -> None:
        rows = ({"member_id": m, "carrier_id": c} for m, c in pairs)
        self._run_in_batches(CYPHER_ATTACH_VEHICLES, "pairs", rows)

    def attach_drivers(self, pairs: Iterable[tuple[str, str]]) -> None:
        rows = ({"member_id": m, "carrier_id": c} for m, c in pairs)
        self._run_in_batches(CYPHER_ATTACH_DRIVERS, "pairs", rows)

    def record_deliveries(self, deliveries: Iterable[Delivery]) -> None:
        """At most NEO4J_BATCH_SIZE deliveries per statement, each load once, grouped by lane so
        that a lane spreads over as few statements as its loads need."""
        seen: set[str] = set()
        unique = [d for d in deliveries if not (d.load_id in seen or seen.add(d.load_id))]
        unique.sort(key=lambda d: (d.origin_id, d.destination_id))
        for batch in batches(unique, settings.NEO4J_BATCH_SIZE):
            self._run(CYPHER_RECORD_DELIVERIES, lanes=lane_rows(batch))

    def rebuild_from_database(self) -> dict[str, int]:
        self.ensure_schema()
        return super().rebuild_from_database()

    def top_lanes(self, limit: int = 10) -> list[dict[str, Any]]:
        keys = ["origin_id", "destination_id", "load_count", "total_rate", "average_rate"]
        keys += ["total_transit_s", "average_transit_s"]
        return [{k: record[k] for k in keys} for record in self._run(CYPHER_TOP_LANES, limit=limit)]

    def carriers_for_lane(self, origin_id: str, destination_id: str) -> list[dict[str, Any]]:
        records = self._run(CYPHER_CARRIERS_FOR_LANE, origin_id=origin_id, destination_id=destination_id)
        return [{"carrier_id": r["carrier_id"], "load_count": r["load_count"]} for r in records]

    def relay_paths(
        self, origin_id: str, destination_id: str, max_hops: int = 3, limit: int = 5
    ) -> list[dict[str, Any]]:
        query = CYPHER_RELAY_PATHS.format(max_hops=_check_hops(max_hops))
        records = self._run(query, origin_id=origin_id, destination_id=destination_id, limit=limit)
        return [
            {
                "facility_ids": list(r["facility_ids"]),
                "hops": r["hops"],
                "total_average_transit_s": r["total_average_transit_s"],
            }
            for r in records
        ]


# --- The shared instance -------------------------------------------------------------------------

_shared: FreightGraph | None = None
_shared_lock = threading.Lock()


def get_graph() -> FreightGraph:
    """The process's graph: Neo4j when NEO4J_URI is set, else the in-process one, which starts
    from the database (a new process would otherwise know no lane until the next delivery) and
    follows the events from then on; a delivery counted by both is counted once."""
    global _shared
    with _shared_lock:
        if _shared is None:
            if settings.NEO4J_URI:
                _shared = Neo4jGraph.from_settings()
            else:
                graph = InProcessGraph()
                graph.rebuild_from_database()
                _shared = graph
        return _shared
