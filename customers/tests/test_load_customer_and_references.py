"""A load's bill-to customer and its reference numbers (PO, BOL, customer reference): set through
the load API, found by `?search=`, `?reference=` (exact, indexed) and the admin's search."""

import pytest
from django.db import connection

from customers.services import create_customer, update_customer
from events.models import OutboxEvent
from loads.api.filters import LoadFilter
from loads.models import Load
from loads.tests.factories import FacilityFactory, LoadFactory


@pytest.fixture
def acme(db):
    return create_customer(by=None, name="Acme Retail", code="ACME")


def test_a_load_is_booked_for_a_customer_with_its_references(dispatcher, acme):
    shipper, consignee = FacilityFactory(customer=acme), FacilityFactory(city="Gary")
    body = {
        "shipper_id": str(shipper.pk),
        "consignee_id": str(consignee.pk),
        "pickup_datetime": "2026-12-20T14:00:00Z",
        "delivery_datetime": "2026-12-21T14:00:00Z",
        "weight": 10000,
        "volume": 50,
        "rate": 1500,
        "customer_id": str(acme.pk),
        "po_number": "PO-778812",
        "bol_number": "BOL-55120",
        "customer_reference": "ACME-SHIP-9",
    }
    response = dispatcher.post("/api/loads/", body, format="json")
    assert response.status_code == 201, response.json()
    created = response.json()
    assert (created["customer_id"], created["po_number"], created["bol_number"]) == (
        str(acme.pk),
        "PO-778812",
        "BOL-55120",
    )
    assert created["customer_reference"] == "ACME-SHIP-9"
    # The seed's shipper and consignee stay as they were.
    assert (created["shipper_id"], created["consignee_id"]) == (str(shipper.pk), str(consignee.pk))


def test_an_inactive_customer_gets_no_new_loads(dispatcher, acme):
    update_customer(acme, by=None, is_active=False)
    load = LoadFactory()
    before = OutboxEvent.objects.count()
    response = dispatcher.patch(f"/api/loads/{load.pk}/", {"customer_id": str(acme.pk)}, format="json")
    assert response.status_code == 422
    assert "inactive" in response.json()["error"]["message"]
    assert Load.objects.get(pk=load.pk).customer_id is None
    assert OutboxEvent.objects.count() == before


@pytest.fixture
def loads(acme):
    return {
        "po": LoadFactory(po_number="PO-778812", customer=acme),
        "bol": LoadFactory(bol_number="BOL-55120"),
        "ref": LoadFactory(customer_reference="acme-ship-9"),
        "none": LoadFactory(),
    }


@pytest.mark.parametrize(
    ("term", "expected"),
    [("PO-778812", "po"), ("778812", "po"), ("bol-55120", "bol"), ("ACME-SHIP-9", "ref")],
)
def test_search_finds_a_load_by_any_of_its_references(viewer, loads, term, expected):
    rows = viewer.get("/api/loads/", {"search": term}).json()["results"]
    assert [row["id"] for row in rows] == [str(loads[expected].pk)]


@pytest.mark.parametrize(
    ("term", "expected"), [("po-778812", "po"), ("BOL-55120", "bol"), ("Acme-Ship-9", "ref")]
)
def test_the_reference_filter_matches_exactly_in_any_case(viewer, loads, term, expected):
    rows = viewer.get("/api/loads/", {"reference": term}).json()["results"]
    assert [row["id"] for row in rows] == [str(loads[expected].pk)]
    assert viewer.get("/api/loads/", {"reference": "778812"}).json()["count"] == 0  # exact: no parts


def test_loads_are_filtered_by_customer(viewer, loads, acme):
    rows = viewer.get("/api/loads/", {"customer_id": str(acme.pk)}).json()["results"]
    assert [row["id"] for row in rows] == [str(loads["po"].pk)]


def test_the_reference_lookup_uses_the_indexes(loads):
    """With sequential scans priced out, PostgreSQL answers each arm from its expression index (so
    the index matches the query the filter builds)."""
    # Unordered: the lookup is what is judged, not the list's order (an index on pickup time could
    # then answer the order and filter the rows instead, as it should for a long list).
    queryset = LoadFilter({"reference": "PO-778812"}, queryset=Load.objects.all()).qs.order_by()
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        sql, params = queryset.query.sql_with_params()
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    for index in ("loads_po_number_upper", "loads_bol_number_upper", "loads_customer_reference_upper"):
        assert index in plan


def test_the_admin_finds_a_load_by_reference(client, superuser, loads):
    client.force_login(superuser)
    response = client.get("/admin/loads/load/", {"q": "BOL-55120"})
    assert response.status_code == 200
    assert list(response.context["cl"].result_list) == [loads["bol"]]
