"""A load's state rebuilt from its events alone (event sourcing), to check the table against."""

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
_TIMESTAMP_OF = {"LOAD_PICKED_UP": "picked_up_at", "LOAD_DELIVERED": "delivered_at"}


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
        elif kind == "LOAD_UPDATED":
            # Keys are column names (carrier_id, ...), as in the audit row.
            for column, (_, new) in data["changes"].items():
                if column in PROJECTED_FIELDS:
                    state[column] = new
        elif kind in _TIMESTAMP_OF:
            state[_TIMESTAMP_OF[kind]] = data[_TIMESTAMP_OF[kind]]
        elif kind == "LOAD_CANCELLED":
            state["cancellation_reason"] = data["reason"]
        elif kind == "LOAD_DELAYED":
            state["delay_reason"] = data["reason"]
            state["expected_delivery_at"] = data["expected_delivery_at"]
    return state
