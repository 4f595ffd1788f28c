"""Every mutating API endpoint writes its audit row, tagged with the request's correlation id.

The endpoints are discovered from the routers, so a new endpoint without a case here fails."""

import datetime
import uuid
from collections.abc import Callable

import pytest
from django.utils import timezone

from drivers.api.urls import router as drivers_router
from drivers.tests.factories import DriverFactory
from events.models import AuditLog
from fleet.api.urls import router as fleet_router
from fleet.tests.factories import CarrierFactory, VehicleFactory
from loads.api.urls import router as loads_router
from loads.tests.factories import FacilityFactory, LoadFactory, load_in
from routing.api.urls import router as routing_router
from routing.tests.factories import proposed_plan

pytestmark = pytest.mark.django_db

MUTATING = {"post", "put", "patch", "delete"}
STANDARD = {"create": "post", "update": "put", "partial_update": "patch", "destroy": "delete"}


def mutating_endpoints() -> set[tuple[str, str]]:
    found = set()
    for router in (fleet_router, drivers_router, loads_router, routing_router):
        for _, viewset, basename in router.registry:
            allowed = set(viewset.http_method_names)
            for action, method in STANDARD.items():
                if hasattr(viewset, action) and method in allowed:
                    found.add((basename, action))
            for extra in viewset.get_extra_actions():
                if set(extra.mapping) & MUTATING:
                    found.add((basename, extra.__name__))
    return found


def facility_body() -> dict:
    return {
        "name": "Dock 9",
        "address": "9 Port Rd",
        "city": "Savannah",
        "state": "GA",
        "postal_code": "31401",
        "location": {"type": "Point", "coordinates": [-81.0998, 32.0809]},
        "timezone": "America/New_York",
    }


def soon(hours: int) -> str:
    return (timezone.now() + datetime.timedelta(hours=hours)).isoformat()


Case = Callable[[object], tuple[object, str, str | None]]


def _assign(client):
    load = LoadFactory()
    vehicle = VehicleFactory()
    driver = DriverFactory(carrier=vehicle.carrier)
    body = {"vehicle": str(vehicle.pk), "driver": str(driver.pk)}
    return client.post(f"/api/loads/{load.pk}/assign/", body, format="json"), "loads", str(load.pk)


def _transition(status: str, action: str, body: dict | None = None) -> Case:
    def run(client):
        load = load_in(status)
        return (
            client.post(f"/api/loads/{load.pk}/{action}/", body or {}, format="json"),
            "loads",
            str(load.pk),
        )

    return run


def _on(factory, method: str, suffix: str, body: dict | None, table: str) -> Case:
    def run(client):
        obj = factory()
        return (
            getattr(client, method)(suffix.format(pk=obj.pk), body or {}, format="json"),
            table,
            str(obj.pk),
        )

    return run


def _put(factory, path: str, body: Callable[[object], dict], table: str) -> Case:
    def run(client):
        obj = factory()
        return client.put(path.format(pk=obj.pk), body(obj), format="json"), table, str(obj.pk)

    return run


def _create(path: str, body: Callable[[], dict], table: str) -> Case:
    def run(client):
        return client.post(path, body(), format="json"), table, None

    return run


CASES: dict[tuple[str, str], Case] = {
    ("carrier", "create"): _create("/api/carriers/", lambda: {"name": "A", "dot_number": "42"}, "carriers"),
    ("carrier", "update"): _on(
        CarrierFactory, "put", "/api/carriers/{pk}/", {"name": "B", "dot_number": "43"}, "carriers"
    ),
    ("carrier", "partial_update"): _on(
        CarrierFactory, "patch", "/api/carriers/{pk}/", {"name": "C"}, "carriers"
    ),
    ("carrier", "destroy"): _on(CarrierFactory, "delete", "/api/carriers/{pk}/", None, "carriers"),
    ("vehicle", "create"): _create(
        "/api/vehicles/",
        lambda: {
            "carrier": str(CarrierFactory().pk),
            "unit_number": "U1",
            "vin": "1FUJGLDR0CLBP8834",
            "make": "Volvo",
            "model": "VNL",
            "year": 2021,
            "vehicle_type": "DRY_VAN",
            "capacity_weight_kg": "20000",
            "capacity_volume_m3": "90",
        },
        "vehicles",
    ),
    ("vehicle", "update"): _put(
        VehicleFactory,
        "/api/vehicles/{pk}/",
        lambda v: {
            "carrier": str(v.carrier_id),
            "unit_number": v.unit_number,
            "vin": v.vin,
            "make": "Mack",
            "model": "Anthem",
            "year": 2020,
            "vehicle_type": "FLATBED",
            "capacity_weight_kg": "21000",
            "capacity_volume_m3": "80",
        },
        "vehicles",
    ),
    ("vehicle", "partial_update"): _on(
        VehicleFactory, "patch", "/api/vehicles/{pk}/", {"make": "Mack"}, "vehicles"
    ),
    ("vehicle", "destroy"): _on(VehicleFactory, "delete", "/api/vehicles/{pk}/", None, "vehicles"),
    ("vehicle", "set_status"): _on(
        VehicleFactory, "post", "/api/vehicles/{pk}/status/", {"status": "MAINTENANCE"}, "vehicles"
    ),
    ("vehicle", "location"): _on(
        VehicleFactory, "put", "/api/vehicles/{pk}/location", {"longitude": -80, "latitude": 35}, "vehicles"
    ),
    ("driver", "create"): _create(
        "/api/drivers/",
        lambda: {
            "carrier": str(CarrierFactory().pk),
            "employee_number": "E1",
            "first_name": "Al",
            "last_name": "Bo",
            "license_number": "X1",
            "license_state": "OH",
            "license_expiry": "2031-01-01",
        },
        "drivers",
    ),
    ("driver", "update"): _put(
        DriverFactory,
        "/api/drivers/{pk}/",
        lambda d: {
            "carrier": str(d.carrier_id),
            "employee_number": d.employee_number,
            "first_name": "Zed",
            "last_name": d.last_name,
            "license_number": d.license_number,
            "license_state": d.license_state,
            "license_expiry": "2031-01-01",
        },
        "drivers",
    ),
    ("driver", "partial_update"): _on(
        DriverFactory, "patch", "/api/drivers/{pk}/", {"phone": "1"}, "drivers"
    ),
    ("driver", "destroy"): _on(DriverFactory, "delete", "/api/drivers/{pk}/", None, "drivers"),
    ("driver", "status"): _on(
        DriverFactory, "put", "/api/drivers/{pk}/status", {"duty_status": "ON_DUTY"}, "drivers"
    ),
    ("driver", "location"): _on(
        DriverFactory, "put", "/api/drivers/{pk}/location", {"longitude": -80, "latitude": 35}, "drivers"
    ),
    ("facility", "create"): _create("/api/facilities/", facility_body, "facilities"),
    ("facility", "update"): _put(
        FacilityFactory, "/api/facilities/{pk}/", lambda f: facility_body(), "facilities"
    ),
    ("facility", "partial_update"): _on(
        FacilityFactory, "patch", "/api/facilities/{pk}/", {"name": "Dock 10"}, "facilities"
    ),
    ("facility", "destroy"): _on(FacilityFactory, "delete", "/api/facilities/{pk}/", None, "facilities"),
    ("load", "create"): _create(
        "/api/loads/",
        lambda: {
            "shipper": str(FacilityFactory().pk),
            "consignee": str(FacilityFactory().pk),
            "pickup_at": soon(24),
            "delivery_at": soon(48),
            "weight_kg": "1000",
            "volume_m3": "5",
            "rate": "900",
        },
        "loads",
    ),
    ("load", "update"): _put(
        LoadFactory,
        "/api/loads/{pk}/",
        lambda load: {
            "shipper": str(load.shipper_id),
            "consignee": str(load.consignee_id),
            "pickup_at": soon(24),
            "delivery_at": soon(72),
            "weight_kg": "1000",
            "volume_m3": "5",
            "rate": "950",
        },
        "loads",
    ),
    ("load", "partial_update"): _on(LoadFactory, "patch", "/api/loads/{pk}/", {"rate": "1"}, "loads"),
    ("load", "assign"): _assign,
    ("load", "pick_up"): _transition("ASSIGNED", "pickup"),
    ("load", "in_transit"): _transition("PICKED_UP", "in-transit"),
    ("load", "deliver"): _transition("IN_TRANSIT", "deliver"),
    ("load", "cancel"): _transition("PENDING", "cancel", {"reason": "x"}),
    ("load", "delay"): _transition("ASSIGNED", "delay", {"reason": "x"}),
    ("fleet-plan", "accept"): _on(
        proposed_plan, "post", "/api/fleet-plans/{pk}/accept/", None, "fleet_plans"
    ),
    ("fleet-plan", "discard"): _on(
        proposed_plan, "post", "/api/fleet-plans/{pk}/discard/", None, "fleet_plans"
    ),
}


def test_every_mutating_endpoint_has_a_case():
    assert mutating_endpoints() == set(CASES)


@pytest.mark.parametrize("endpoint", sorted(CASES), ids=lambda e: f"{e[0]}.{e[1]}")
def test_each_mutation_writes_its_audit_row(dispatcher, endpoint):
    correlation_id = f"audit-{uuid.uuid4()}"
    dispatcher.credentials(
        HTTP_AUTHORIZATION=dispatcher._credentials["HTTP_AUTHORIZATION"], HTTP_X_REQUEST_ID=correlation_id
    )
    response, table, record_id = CASES[endpoint](dispatcher)
    assert response.status_code < 300, response.content
    rows = AuditLog.objects.filter(correlation_id=correlation_id, table_name=table)
    if record_id is None:
        record_id = response.json()["id"]
    assert rows.filter(record_id=record_id, user=dispatcher.user).exists(), list(rows.values())
