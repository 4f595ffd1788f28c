"""The back office's customer pages and the load page's documents: every page loads for the roles
that may see it, writes go through the services (audit row, event), and a load's documents are
listed with links that download them. Shared helpers and fixtures: tms/tests/admin_cases.py."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from customers.models import Customer
from customers.services import create_customer
from documents import services as document_services
from documents.tests.conftest import PDF
from events.models import AuditLog, OutboxEvent
from loads.tests.factories import LoadFactory
from tms.tests.admin_cases import AdminPageCases, admin_url, counts, messages_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(world):
    world.customer = create_customer(by=None, name="Acme Retail", code="ACME")
    return world


class TestPages(AdminPageCases):
    pages = [("customers.customer", "customer", True)]
    changelists = [
        (
            "/admin/customers/customer/",
            lambda: LoadFactory(customer=Customer.objects.order_by("created_at").first()),
        )
    ]


CUSTOMER_FORM = {
    "name": "Borealis Foods",
    "code": "BORE",
    "is_active": "on",
    "is_bill_to": "on",
    "billing_country": "US",
}


def test_adding_changing_and_deleting_a_customer_go_through_the_services(client, desk):
    client.force_login(desk)
    assert client.post(admin_url("customers.customer", "add"), CUSTOMER_FORM).status_code == 302
    customer = Customer.objects.get(code="BORE")
    assert AuditLog.objects.get(table_name="customers", action="CREATE").user == desk
    response = client.post(
        admin_url("customers.customer", "change", customer.pk), {**CUSTOMER_FORM, "notes": "net 30"}
    )
    assert response.status_code == 302
    assert OutboxEvent.objects.get(type="CUSTOMER_UPDATED").envelope["data"]["changes"] == {
        "notes": ["", "net 30"]
    }
    response = client.post(admin_url("customers.customer", "delete", customer.pk), {"post": "yes"})
    assert response.status_code == 302
    assert OutboxEvent.objects.filter(type="CUSTOMER_DELETED").count() == 1


def test_a_customer_with_loads_is_not_deleted_from_the_admin(client, desk):
    client.force_login(desk)
    customer = create_customer(by=None, name="Acme Retail", code="ACME")
    LoadFactory(customer=customer)
    before = counts()
    response = client.post(
        admin_url("customers.customer", "delete", customer.pk), {"post": "yes"}, follow=True
    )
    assert response.status_code == 200
    assert Customer.objects.filter(pk=customer.pk).exists()
    assert counts() == before
    assert messages_of(response) or "Cannot delete" in response.content.decode()


@pytest.mark.parametrize("user_fixture", ["desk", "reader"])
def test_the_load_page_lists_its_documents_with_download_links(request, client, user_fixture):
    client.force_login(request.getfixturevalue(user_fixture))
    load = LoadFactory()
    document = document_services.upload_document(
        load=load, by=None, kind="BOL", file=SimpleUploadedFile("bol-7781.pdf", PDF)
    )
    page = client.get(admin_url("loads.load", "change", load.pk)).content.decode()
    link = f"/api/loads/{load.pk}/documents/{document.pk}/download"
    assert f'href="{link}"' in page and "bol-7781.pdf" in page
    download = client.get(link)  # the admin's session is enough
    assert download.status_code == 200
    assert b"".join(download.streaming_content) == PDF
