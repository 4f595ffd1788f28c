"""Customers through the API: ADMIN and DISPATCHER write, VIEWER reads, DRIVER nothing; every write
audited and evented, bad input refused with nothing written."""

import pytest

from customers.models import Customer
from customers.services import create_customer
from events.models import AuditLog, OutboxEvent
from loads.tests.factories import FacilityFactory, LoadFactory

ACME = {
    "name": "Acme Retail Distribution",
    "code": "ACME",
    "is_shipper": True,
    "is_bill_to": True,
    "contact_name": "Pat Lee",
    "contact_email": "pat@acme.example",
    "billing_email": "ap@acme.example",
    "billing_address": "1 Acme Way",
    "billing_city": "Chicago",
    "billing_state": "IL",
    "billing_postal_code": "60601",
    "reference": "VENDOR-0042",
}


def counts():
    return Customer.objects.count(), AuditLog.objects.count(), OutboxEvent.objects.count()


@pytest.mark.parametrize("client_name", ["admin_api", "dispatcher"])
def test_operators_add_a_customer_audited_and_evented(request, client_name):
    client = request.getfixturevalue(client_name)
    response = client.post("/api/customers/", ACME, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert {key: body[key] for key in ACME} == ACME
    assert (body["is_active"], body["is_consignee"], body["billing_country"]) == (True, False, "US")
    audit = AuditLog.objects.get(table_name="customers")
    assert (audit.action, audit.record_id, audit.user) == ("CREATE", body["id"], client.user)
    event = OutboxEvent.objects.get(type="CUSTOMER_CREATED")
    assert event.topic == "tms.customers"
    assert event.envelope["data"]["customer_id"] == body["id"]
    assert event.envelope["data"]["code"] == "ACME"


@pytest.mark.parametrize(("client_name", "expected"), [("viewer", 403), ("driver_client", 403)])
def test_viewers_and_drivers_cannot_add_customers(request, client_name, expected):
    client = request.getfixturevalue(client_name)
    before = counts()
    assert client.post("/api/customers/", ACME, format="json").status_code == expected
    assert counts() == before


def test_a_viewer_reads_customers_and_a_driver_does_not(viewer, driver_client):
    customer = create_customer(by=None, **ACME)
    assert viewer.get("/api/customers/").json()["results"][0]["id"] == str(customer.pk)
    assert viewer.get(f"/api/customers/{customer.pk}/").status_code == 200
    assert driver_client.get("/api/customers/").status_code == 403
    assert driver_client.get(f"/api/customers/{customer.pk}/").status_code == 403


def test_a_customer_is_edited_with_its_changes_in_the_event(dispatcher):
    customer = create_customer(by=None, **ACME)
    response = dispatcher.patch(
        f"/api/customers/{customer.pk}/", {"is_active": False, "notes": "on hold"}, format="json"
    )
    assert response.status_code == 200, response.json()
    assert response.json()["is_active"] is False
    data = OutboxEvent.objects.get(type="CUSTOMER_UPDATED").envelope["data"]
    assert data["changes"] == {"is_active": [True, False], "notes": ["", "on hold"]}
    # An edit that changes nothing writes nothing.
    before = counts()
    assert dispatcher.patch(f"/api/customers/{customer.pk}/", {"notes": "on hold"}).status_code == 200
    assert counts() == before


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**ACME, "code": ""}, "code"),
        ({**ACME, "name": ""}, "name"),
        ({**ACME, "contact_email": "not an address"}, "contact_email"),
        ({**ACME, "billing_state": "Illinois"}, "billing_state"),
        ({**ACME, "credit_limit": 5000}, "credit_limit"),  # unknown fields are refused, not dropped
        ({**ACME, "id": "00000000-0000-0000-0000-000000000000"}, "id"),
        ({k: v for k, v in ACME.items() if k != "name"}, "name"),
    ],
)
def test_bad_customers_are_refused_with_nothing_written(dispatcher, body, field):
    before = counts()
    response = dispatcher.post("/api/customers/", body, format="json")
    assert response.status_code == 400
    assert field in response.json()["error"]["details"]
    assert counts() == before


def test_a_code_is_unique_whatever_its_letter_case(dispatcher):
    create_customer(by=None, **ACME)
    before = counts()
    response = dispatcher.post("/api/customers/", {**ACME, "code": "acme"}, format="json")
    assert response.status_code == 400
    assert "already exists" in response.json()["error"]["message"]
    assert counts() == before


def test_a_customer_with_loads_or_sites_is_not_deleted(dispatcher):
    billed = create_customer(by=None, **ACME)
    LoadFactory(customer=billed)
    owner = create_customer(by=None, **{**ACME, "code": "SITE"})
    FacilityFactory(customer=owner)
    before = counts()
    for customer in (billed, owner):
        response = dispatcher.delete(f"/api/customers/{customer.pk}/")
        assert response.status_code == 409
        assert response.json()["error"]["code"] == "conflict"
    assert counts() == before


def test_an_unused_customer_is_deleted_audited_and_evented(dispatcher, viewer):
    customer = create_customer(by=None, **ACME)
    assert viewer.delete(f"/api/customers/{customer.pk}/").status_code == 403
    assert dispatcher.delete(f"/api/customers/{customer.pk}/").status_code == 204
    assert not Customer.objects.exists()
    assert AuditLog.objects.filter(table_name="customers", action="DELETE").count() == 1
    assert OutboxEvent.objects.get(type="CUSTOMER_DELETED").envelope["data"]["code"] == "ACME"


def test_customers_are_filtered_and_searched(viewer):
    create_customer(by=None, **ACME)
    create_customer(by=None, **{**ACME, "name": "Borealis Foods", "code": "BORE", "is_shipper": False})
    assert [c["code"] for c in viewer.get("/api/customers/", {"is_shipper": "true"}).json()["results"]] == [
        "ACME"
    ]
    assert [c["code"] for c in viewer.get("/api/customers/", {"search": "borea"}).json()["results"]] == [
        "BORE"
    ]
    assert [c["code"] for c in viewer.get("/api/customers/", {"code": "bore"}).json()["results"]] == ["BORE"]
