"""The admin's load search (LoadAdmin.get_search_results): the same loads as Django's own search
over the same fields (each word or quoted phrase in one field, any case), found without joining
the related tables into one OR."""

import pytest
from django.contrib.admin.sites import site
from django.db import connection
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext

from customers.models import Customer
from drivers.tests.factories import DriverFactory
from fleet.tests.factories import VehicleFactory
from loads.models import Load
from loads.tests.factories import FacilityFactory, LoadFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def loads():
    acme_dock = FacilityFactory(name="Acme Steel Dock")
    harbor = FacilityFactory(name="Harbor Cold Storage", city="Houston", state="TX")
    customer = Customer.objects.create(name="Globex Retail", code="GLOBEX")
    truck = VehicleFactory(vehicle_number="TRK-7781")
    driver = DriverFactory(name="Rosa Parkes", carrier=truck.carrier)
    made = [
        LoadFactory(shipper=acme_dock, commodity="Rolled steel coils", po_number="PO-55120"),
        LoadFactory(consignee=harbor, commodity="Frozen peas", bol_number="bol-99817"),
        LoadFactory(commodity="Paper towels", customer=customer, customer_reference="GX-2026-17"),
        LoadFactory(commodity="Lumber", pickup_address="12 Steel Mill Road, Gary IN"),
    ]
    on_truck = {"vehicle": truck, "driver": driver, "carrier": truck.carrier, "status": "ASSIGNED"}
    Load.objects.filter(pk=made[3].pk).update(**on_truck)
    return made


def _search(model_admin_search, term: str) -> set:
    request = RequestFactory().get("/admin/loads/load/", {"q": term})
    queryset, _ = model_admin_search(request, Load.objects.all(), term)
    return set(queryset.values_list("pk", flat=True))


TERMS = [
    "steel", "STEEL coils", "harbor", "houston", "bol-998", "po-551", "gx-2026", "globex", "trk-77", "rosa",
    "parkes steel", '"Steel Mill"', '"steel dock"', "peas towels", "nothing-like-this", "ro",
]  # fmt: skip


@pytest.mark.parametrize("term", TERMS)
def test_the_search_finds_what_djangos_own_search_finds(loads, term):
    load_admin = site._registry[Load]
    django_search = super(type(load_admin), load_admin).get_search_results
    assert _search(load_admin.get_search_results, term) == _search(django_search, term)


def test_the_search_finds_each_kind_of_field(loads):
    search = site._registry[Load].get_search_results
    assert _search(search, "steel") == {loads[0].pk, loads[3].pk}  # shipper's name, commodity, address
    assert _search(search, "BOL-99817") == {loads[1].pk}
    assert _search(search, "globex") == {loads[2].pk}
    assert _search(search, "trk-7781 rosa") == {loads[3].pk}  # truck and driver, both words
    assert _search(search, '"steel dock"') == {loads[0].pk}


def test_the_load_query_joins_no_related_table(loads):
    request = RequestFactory().get("/admin/loads/load/", {"q": "steel"})
    search = site._registry[Load].get_search_results
    queryset, may_have_duplicates = search(request, Load.objects.all(), "steel")
    assert may_have_duplicates is False
    with CaptureQueriesContext(connection) as queries:
        list(queryset)
    assert " JOIN " not in queries.captured_queries[-1]["sql"]


def test_the_changelist_shows_the_matches(client, loads, superuser):
    client.force_login(superuser)
    page = client.get("/admin/loads/load/", {"q": "globex"}).content.decode()
    assert loads[2].load_number in page
    assert loads[0].load_number not in page
