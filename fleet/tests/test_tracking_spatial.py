"""Spatial reads of the fleet: nearest first through the GiST index (KNN), and vehicles in an area."""

import json

import pytest
from django.contrib.gis.geos import Point
from django.db import connection, transaction

from fleet.api.filters import VehicleFilter
from fleet.models import Vehicle
from fleet.tests.factories import VehicleFactory

pytestmark = pytest.mark.django_db


def explain(queryset) -> str:
    """The plan with sequential scans priced out, as on a fleet too big to scan: shows which index
    the query can use (a handful of test rows would be scanned anyway)."""
    sql, params = queryset.query.sql_with_params()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        return "\n".join(row[0] for row in cursor.fetchall())


def filtered(**params):
    vehicle_filter = VehicleFilter(params, queryset=Vehicle.objects.all())
    assert vehicle_filter.is_valid(), vehicle_filter.errors
    return vehicle_filter.qs


def ids(client, query: str) -> list[str]:
    return [row["id"] for row in client.get(f"/api/vehicles/?{query}").json()["results"]]


class TestNearest:
    def test_nearest_first_walks_the_gist_index(self):
        plan = explain(filtered(near="-87.63,41.88")[:10])
        assert "Index Scan using vehicles_current_location" in plan
        assert "Order By: (current_location <-> " in plan

    def test_with_a_radius_too(self):
        plan = explain(filtered(near="-87.63,41.88", radius_km="50")[:10])
        assert "vehicles_current_location" in plan
        assert "<->" in plan

    def test_the_order_and_distances(self, viewer):
        points = [(-87.60, 41.88), (-87.63, 41.90), (-88.5, 41.0), (-87.63, 41.881)]
        vehicles = [VehicleFactory(current_location=Point(*p, srid=4326)) for p in points]
        VehicleFactory(current_location=None)
        body = viewer.get("/api/vehicles/?near=-87.63,41.88").json()["results"]
        assert [row["id"] for row in body] == [str(vehicles[i].pk) for i in (3, 1, 0, 2)]
        assert [row["distance_m"] for row in body] == sorted(row["distance_m"] for row in body)
        assert 110 < body[0]["distance_m"] < 112  # 0.001 degree of latitude


class TestWithin:
    @pytest.fixture
    def fleet(self):
        return {
            "chicago": VehicleFactory(current_location=Point(-87.63, 41.88, srid=4326)),
            "milwaukee": VehicleFactory(current_location=Point(-87.91, 43.04, srid=4326)),
            "dallas": VehicleFactory(current_location=Point(-96.80, 32.78, srid=4326)),
            "nowhere": VehicleFactory(current_location=None),
        }

    def test_a_bbox(self, viewer, fleet):
        assert set(ids(viewer, "within=-88.5,41.5,-87.5,43.5")) == {
            str(fleet["chicago"].pk),
            str(fleet["milwaukee"].pk),
        }

    def test_a_geojson_polygon(self, viewer, fleet):
        # A triangle around Chicago and Dallas that leaves Milwaukee out.
        polygon = {"type": "Polygon", "coordinates": [[[-98, 32], [-87, 42.5], [-87, 32], [-98, 32]]]}
        assert set(ids(viewer, f"within={json.dumps(polygon)}")) == {
            str(fleet["chicago"].pk),
            str(fleet["dallas"].pk),
        }

    def test_edges_are_straight_in_longitude_and_latitude(self, viewer):
        # On a great circle from (-120, 49.9) to (-60, 49.9) this point would be outside the box.
        inside = VehicleFactory(current_location=Point(-90, 49.95, srid=4326))
        assert ids(viewer, "within=-120,40,-60,50") == [str(inside.pk)]

    def test_combines_with_near_and_other_filters(self, viewer, fleet):
        box = "within=-98,30,-86,42"
        assert ids(viewer, f"{box}&near=-96.8,32.7") == [str(fleet["dallas"].pk), str(fleet["chicago"].pk)]
        assert ids(viewer, f"{box}&carrier_id={fleet['chicago'].carrier_id}") == [str(fleet["chicago"].pk)]

    def test_the_area_query_uses_the_geometry_index(self):
        # Unordered: walking the unit-number index for the default ordering may look cheaper on a
        # handful of rows, which hid the geometry index from the plan one run in a few.
        plan = explain(filtered(within="-88.5,41.5,-87.5,43.5").order_by())
        assert "vehicles_location_geom_gist" in plan

    @pytest.mark.parametrize(
        "value",
        [
            "-88,41,-87",
            "-87,41,-88,42",
            "-88,41,-87,north",
            "-200,41,-87,42",
            '{"type": "Point", "coordinates": [1, 2]}',
            '{"type": "Polygon", "coordinates": [[[0, 0], [1, 1]]]}',
            '{"type": "Polygon", "coordinates": [[[0, 0], [2, 2], [2, 0], [0, 2], [0, 0]]]}',
            '{"type": "Polygon", "coordinates": [[[0, 0], [0, 100], [1, 0], [0, 0]]]}',
            '{"type": "Polygon"',
        ],
    )
    def test_bad_areas_are_400(self, viewer, value):
        response = viewer.get("/api/vehicles/", {"within": value})
        assert response.status_code == 400
        assert "within" in response.json()["error"]["details"]
