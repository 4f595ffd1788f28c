"""A load's state rebuilt from its events alone (event sourcing), to check the table against.

The stops are rebuilt from LOAD_CREATED's `stops` and the stop events, and the load's seed fields
(shipper, consignee, pickup and delivery times) are derived from them by the same rule as the
services' (first pickup, last delivery), so a replay also checks that derivation."""

from collections.abc import Iterable
from typing import Any

# The fields a load's events carry, compared by `replay_events`.
PROJECTED_FIELDS = [
    "load_number",
    "status",
    "carrier_id",
    "vehicle_id",
    "driver_id",
    "shipper_id",
    "consignee_id",
    "pickup_datetime",
    "delivery_datetime",
    "weight",
    "volume",
    "rate",
    "picked_up_at",
    "delivered_at",
    "cancellation_reason",
    "delay_reason",
    "expected_delivery_at",
]
# What LOAD_CREATED carries of the booking beyond the seed's fields (column names), compared by
# `replay_events` only when the load's events carry them: events stored before these keys were
# added have none.
BOOKING_FIELDS = [
    "customer_id",
    "po_number",
    "bol_number",
    "customer_reference",
    "required_equipment",
    "temperature_min_c",
    "temperature_max_c",
]
# The fields of each stop the events carry, compared by `replay_events`.
PROJECTED_STOP_FIELDS = [
    "stop_id",
    "sequence",
    "kind",
    "facility_id",
    "address",
    "earliest_at",
    "latest_at",
    "service_minutes",
    "pieces",
    "weight",
    "instructions",
    "arrived_at",
    "departed_at",
]
_TIMESTAMP_OF = {"LOAD_PICKED_UP": "picked_up_at", "LOAD_DELIVERED": "delivered_at"}
_STOP_EVENTS = {
    "LOAD_STOP_ADDED",
    "LOAD_STOP_UPDATED",
    "LOAD_STOP_REMOVED",
    "LOAD_STOPS_REORDERED",
    "STOP_ARRIVED",
    "STOP_DEPARTED",
}


def _planned(stop: dict[str, Any], **actual: Any) -> dict[str, Any]:
    fields = {key: value for key, value in stop.items() if key not in ("longitude", "latitude")}
    return {"arrived_at": None, "departed_at": None, **fields, **actual}


def _seed_stops(data: dict[str, Any]) -> list[dict[str, Any]]:
    """A LOAD_CREATED stored before stops existed: a pickup at the shipper, a delivery at the consignee."""
    ends = [
        ("PICKUP", data["shipper_id"], data["pickup_datetime"]),
        ("DELIVERY", data["consignee_id"], data["delivery_datetime"]),
    ]
    return [
        {
            "stop_id": None,
            "sequence": sequence,
            "kind": kind,
            "facility_id": facility_id,
            "earliest_at": at,
            "latest_at": at,
            "weight": data["weight"],
            "arrived_at": None,
            "departed_at": None,
        }
        for sequence, (kind, facility_id, at) in enumerate(ends, start=1)
    ]


def _find(stops: list[dict[str, Any]], stop_id: str, sequence: int) -> dict[str, Any]:
    """The stop with this id; for a load booked before stops were evented (stops without ids),
    the one at this place, which then learns its id."""
    found = next((stop for stop in stops if stop["stop_id"] == stop_id), None)
    if found is None:
        found = stops[sequence - 1]
        found["stop_id"] = stop_id
    return found


def _apply_stop_event(stops: list[dict[str, Any]], kind: str, data: dict[str, Any]) -> list[dict[str, Any]]:
    if kind == "LOAD_STOP_ADDED":
        position = data["stop"]["sequence"] - 1
        stops = [*stops[:position], _planned(data["stop"]), *stops[position:]]
    elif kind == "LOAD_STOP_UPDATED":
        old = _find(stops, data["stop"]["stop_id"], data["stop"]["sequence"])
        new = _planned(data["stop"], arrived_at=old["arrived_at"], departed_at=old["departed_at"])
        stops = [new if stop is old else stop for stop in stops]
    elif kind == "LOAD_STOP_REMOVED":
        old = _find(stops, data["stop"]["stop_id"], data["stop"]["sequence"])
        stops = [stop for stop in stops if stop is not old]
    elif kind == "LOAD_STOPS_REORDERED":
        by_id = {stop["stop_id"]: stop for stop in stops}
        stops = [by_id[stop_id] for stop_id in data["stop_ids"]]
    elif kind == "STOP_ARRIVED":
        _find(stops, data["stop_id"], data["sequence"])["arrived_at"] = data["arrived_at"]
    elif kind == "STOP_DEPARTED":
        stop = _find(stops, data["stop_id"], data["sequence"])
        stop.update(arrived_at=data["arrived_at"], departed_at=data["departed_at"])
    for sequence, stop in enumerate(stops, start=1):
        stop["sequence"] = sequence
    return stops


def _derive(state: dict[str, Any]) -> None:
    stops = state["stops"]
    pickup = next(stop for stop in stops if stop["kind"] == "PICKUP")
    delivery = next(stop for stop in reversed(stops) if stop["kind"] == "DELIVERY")
    state["shipper_id"], state["pickup_datetime"] = pickup["facility_id"], pickup["earliest_at"]
    state["consignee_id"], state["delivery_datetime"] = delivery["facility_id"], delivery["latest_at"]


def fold_load(envelopes: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Applies a load's events, oldest first, to an empty state."""
    state: dict[str, Any] = {}
    for envelope in envelopes:
        data = envelope["data"]
        kind = envelope["type"]
        for key in ("load_number", "status", "carrier_id", "vehicle_id", "driver_id"):
            state[key] = data[key]
        if kind == "LOAD_CREATED":
            for key in (
                "shipper_id",
                "consignee_id",
                "pickup_datetime",
                "delivery_datetime",
                "weight",
                "volume",
                "rate",
            ):
                state[key] = data[key]
            state.update({key: data[key] for key in BOOKING_FIELDS if key in data})
            stops = data.get("stops") or []
            state["stops"] = [_planned(stop) for stop in stops] or _seed_stops(data)
            _derive(state)
        elif kind == "LOAD_UPDATED":
            # Keys are column names (carrier_id, ...), as in the audit row.
            for column, (_, new) in data["changes"].items():
                if column in PROJECTED_FIELDS or column in BOOKING_FIELDS:
                    state[column] = new
        elif kind in _STOP_EVENTS:
            state["stops"] = _apply_stop_event(state.get("stops", []), kind, data)
            _derive(state)
        elif kind in _TIMESTAMP_OF:
            state[_TIMESTAMP_OF[kind]] = data[_TIMESTAMP_OF[kind]]
        elif kind == "LOAD_CANCELLED":
            state["cancellation_reason"] = data["reason"]
        elif kind == "LOAD_DELAYED":
            state["delay_reason"] = data["reason"]
            state["expected_delivery_at"] = data["expected_delivery_at"]
    return state
