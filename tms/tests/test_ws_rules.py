"""The live stream's rules as pure functions: filters and group choice (what a driver may see is
loads.selectors': loads/tests/test_driver_scope.py)."""

import uuid

import pytest

from loads.selectors import DriverScope
from tms.ws import Filters, groups_for

V1, V2, C1, L1, D1 = (str(uuid.uuid4()) for _ in range(5))


@pytest.mark.parametrize(
    "filters, data, passes",
    [
        ({}, {}, True),
        ({"vehicle_id": V1}, {"vehicle_id": V1}, True),
        ({"vehicle_id": [V1, V2]}, {"vehicle_id": V2}, True),
        ({"vehicle_id": V1}, {"vehicle_id": V2}, False),
        ({"vehicle_id": V1}, {}, False),
        ({"vehicle_id": V1.upper()}, {"vehicle_id": V1}, True),
        ({"load_id": L1, "carrier_id": C1}, {"load_id": L1, "carrier_id": C1}, True),
        ({"load_id": L1, "carrier_id": C1}, {"load_id": L1, "carrier_id": None}, False),
        ({"bbox": [-90, 40, -85, 43]}, {"longitude": -87.6, "latitude": 41.9}, True),
        ({"bbox": [-90, 40, -85, 43]}, {"longitude": -90, "latitude": 43}, True),
        ({"bbox": [-90, 40, -85, 43]}, {"longitude": -84.9, "latitude": 41.9}, False),
        ({"bbox": [-90, 40, -85, 43]}, {"longitude": -87.6, "latitude": 39.9}, False),
        ({"bbox": [-90, 40, -85, 43]}, {}, False),
        ({"bbox": [-90, 40, -85, 43]}, {"longitude": "-87.6", "latitude": 41.9}, False),
        ({"bbox": [170, -20, -170, 0]}, {"longitude": 179.5, "latitude": -10}, True),
        ({"bbox": [170, -20, -170, 0]}, {"longitude": -175, "latitude": -10}, True),
        ({"bbox": [170, -20, -170, 0]}, {"longitude": 0, "latitude": -10}, False),
    ],
)
def test_filters_match_on_the_events_data(filters, data, passes):
    assert Filters.parse(filters).matches(data) is passes


SCOPE = DriverScope(driver_id=D1, load_ids=frozenset({L1}), vehicle_ids=frozenset({V1}))


@pytest.mark.parametrize(
    "topic, filters, scope, groups",
    [
        ("tms.loads", {}, None, {"tms.loads"}),
        ("tms.loads", {"load_id": L1}, None, {f"entity.{L1}"}),
        ("tms.loads", {"vehicle_id": V1}, None, {"tms.loads"}),
        ("tms.vehicles.tracking", {"vehicle_id": [V1, V2]}, None, {f"entity.{V1}", f"entity.{V2}"}),
        (
            "tms.vehicles.tracking",
            {"vehicle_id": [str(uuid.uuid4()) for _ in range(21)]},
            None,
            {"tms.vehicles.tracking"},
        ),
        ("tms.routes", {"load_id": L1}, None, {"tms.routes"}),
        ("tms.vehicles.tracking", {}, SCOPE, {f"entity.{V1}"}),
        ("tms.vehicles", {"vehicle_id": V2}, SCOPE, set()),
        ("tms.drivers", {}, SCOPE, {f"entity.{D1}"}),
        ("tms.loads", {}, SCOPE, {"tms.loads"}),
    ],
)
def test_subscriptions_join_the_smallest_groups_that_carry_them(topic, filters, scope, groups):
    assert groups_for(topic, Filters.parse(filters), scope) == groups
