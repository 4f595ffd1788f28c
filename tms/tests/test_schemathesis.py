"""Schema fuzzing: schemathesis sends every operation of /api/schema/ generated requests, valid and
invalid, as a dispatcher, a viewer and a driver, through the WSGI application against the real
database and Redis, and checks each answer: no server error, a status the operation documents, a
body and headers its schema describes.

Bounded for CI: `TMS_FUZZ_EXAMPLES` generated requests per operation (default 8, derandomized so a
run is reproducible; raise it and set `TMS_FUZZ_RANDOM=1` to explore locally). Path ids are
mostly those of real rows (made below), so details, updates and transitions reach the services
instead of a 404.
"""

import json
import os
import uuid

import pytest
import schemathesis
from django.contrib.auth.models import Group, User
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer
from hypothesis import HealthCheck, settings
from rest_framework.authtoken.models import Token
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from drivers.tests.factories import DriverFactory
from fleet.tests.factories import VehicleFactory
from loads.tests.factories import FacilityFactory, LoadFactory, load_in
from routing import services as routing_services
from routing.tests.factories import fleet_request, straight_route
from tms.api_defaults import DISPATCHER, DRIVER, VIEWER

EXAMPLES = int(os.environ.get("TMS_FUZZ_EXAMPLES", "8"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    response_schema_conformance,
    content_type_conformance,
    response_headers_conformance,
]

# As /api/schema/ serves it (its JSON renderer turns Decimal bounds into numbers).
schema = schemathesis.openapi.from_dict(
    json.loads(OpenApiJsonRenderer().render(SchemaGenerator().get_schema(request=None, public=True))),
    config=SchemathesisConfig.from_dict(
        {"phases": {"coverage": {"enabled": os.environ.get("TMS_FUZZ_COVERAGE") == "1"}}}
    ),
)
schema.app = WSGIHandler()

# Real rows each test makes, by the resource segment of the path that names them.
_rows: dict[str, list[str]] = {}


@pytest.fixture
def tokens(db, settings, eager_celery):
    """Users of each role, and a few rows of every resource for the paths to name.

    Celery runs eagerly, as in every test that queues a job: a fuzzed optimize-fleet must not
    leave a job in the shared Redis queue (nor read Celery's configuration before the tests that
    need it eager). No truck has a position, so such a plan has nothing to solve."""
    # The fuzzer sends far more requests per minute than the default rates allow.
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
            "user": "100000/minute",
            "anon": "100000/minute",
        },
    }
    # Users without a password: hashing one is most of a test's setup time otherwise.
    users = {
        role: User.objects.create(username=f"fuzz-{role}", password="!")
        for role in ("dispatcher", "viewer", "driver")
    }
    for role, group in (("dispatcher", DISPATCHER), ("viewer", VIEWER), ("driver", DRIVER)):
        users[role].groups.add(Group.objects.get(name=group))
    driver_user = users["driver"]
    vehicle = VehicleFactory(current_location=None)
    driver = DriverFactory(carrier=vehicle.carrier, user=driver_user)
    load = LoadFactory()
    assigned = load_in("ASSIGNED")
    route = straight_route(assigned, vehicle=assigned.vehicle, driver=assigned.driver)
    plan = routing_services.request_fleet_plan(fleet_request(), by=None)  # QUEUED: no solver run
    facility = FacilityFactory()
    _rows.clear()
    _rows.update(
        {
            "carriers": [str(vehicle.carrier_id), str(assigned.carrier_id)],
            "vehicles": [str(vehicle.pk), str(assigned.vehicle_id)],
            "drivers": [str(driver.pk), str(assigned.driver_id)],
            "facilities": [str(facility.pk), str(load.shipper_id), str(load.consignee_id)],
            "loads": [str(load.pk), str(assigned.pk)],
            "routes": [str(route.pk)],
            "fleet-plans": [str(plan.pk)],
            "network": [str(load.shipper_id), str(load.consignee_id)],
        }
    )
    return {role: Token.objects.create(user=user).key for role, user in users.items()}


@pytest.fixture
def wsgi_in_test_transaction():
    """As Django's test client does: the handler must not close the test's connection (it holds
    the transaction every test rolls back)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


def _with_real_ids(case) -> None:
    """Most generated ids become a real row's (chosen by the generated value, so shrinking still
    works); one in four stays random, for the 404s."""
    resource = case.operation.path.strip("/").split("/")[1]
    ids = _rows.get(resource)
    if not ids or not case.path_parameters:
        return
    for name, value in case.path_parameters.items():
        try:
            pick = uuid.UUID(str(value)).int
        except ValueError:
            continue
        if pick % 4:
            case.path_parameters[name] = ids[pick % len(ids)]


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=not os.environ.get("TMS_FUZZ_RANDOM"),
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_every_operation_answers_as_its_schema_says(case, tokens, wsgi_in_test_transaction):
    _with_real_ids(case)
    for token in tokens.values():
        case.call_and_validate(headers={"Authorization": f"Token {token}"}, checks=CHECKS)
