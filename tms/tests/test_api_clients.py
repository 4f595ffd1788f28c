"""Clients generated from our machine-readable contracts.

- TypeScript: openapi-typescript (npm, pinned in package.json) turns /api/schema/ into types, and
  tsc --strict type-checks tests/ts/usage.ts against them, together with real answers of the API
  written as typed constants: a field the API sends but the schema does not describe, a null the
  schema calls non-null, or an enum value it does not list fails the compile.
- AsyncAPI: /api/asyncapi.json must pass the AsyncAPI parser (npm @asyncapi/parser) run by node.

The npm tools come from `npm ci` (scripts/bootstrap, so `make test`); nothing here is skipped.
"""

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from django.conf import settings
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer
from jsonschema import Draft202012Validator, ValidationError

from drivers.tests.factories import DriverFactory
from events.models import OutboxEvent
from events.taxonomy import DEAD_LETTER_TOPIC, TOPICS, EventType
from fleet.tests.factories import VehicleFactory
from loads.tests.factories import LoadFactory, load_in
from routing import services as routing_services
from routing.tests.factories import proposed_plan, straight_route
from routing.tests.test_fleet import load, truck
from tms import ws
from tms.asyncapi import WS_ERROR_CODES

NODE_MODULES = Path(settings.BASE_DIR) / "node_modules"
USAGE = Path(__file__).parent / "ts" / "usage.ts"
TSC_OPTIONS = (
    "--noEmit",
    "--skipLibCheck",  # api.d.ts itself is generated; what uses it is checked
    "--strict",
    "--exactOptionalPropertyTypes",
    "--target",
    "es2022",
    "--module",
    "es2022",
    "--moduleResolution",
    "bundler",
)


def _node() -> str:
    node = shutil.which("node")
    assert node, "node is missing: scripts/bootstrap (make test) installs it"
    return node


def _run(*args: str, cwd: Path) -> None:
    result = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"{' '.join(args[1:3])} failed:\n{result.stdout}\n{result.stderr}"


def _tool(*parts: str) -> str:
    path = NODE_MODULES.joinpath(*parts)
    assert path.exists(), f"{path} is missing: run `npm ci` (scripts/bootstrap does)"
    return str(path)


def _template_of(path: str, templates) -> str:
    """The schema's path template that a concrete path matches, with or without a trailing slash."""
    for template in templates:
        pattern = re.sub(r"\\{[^}/]+\\}", "[^/]+", re.escape(template.rstrip("/")))
        if re.fullmatch(pattern, path.rstrip("/")):
            return template
    raise AssertionError(f"{path} matches no path of the schema")


def _typed_answers(api, schema: dict) -> str:
    """Real answers of the API as TypeScript constants of the types their operations declare."""
    vehicle = VehicleFactory()
    unseen = VehicleFactory(current_location=None)
    driver = DriverFactory(carrier=vehicle.carrier)
    assigned = load_in("ASSIGNED")
    route = straight_route(assigned, vehicle=assigned.vehicle, driver=assigned.driver)
    LoadFactory()
    # Refrigerated freight and a reefer: the equipment fields with their numbers, not only nulls.
    LoadFactory(required_equipment="REEFER", temperature_min_c=-20, temperature_max_c=-18)
    reefer = VehicleFactory(vehicle_type="REEFER")
    # A scored route (the great-circle fallback: no Maps key here) and an accepted fleet plan with
    # a route of two loads, an unserved load and idle trucks: the JSON the schema types.
    scored = load_in("ASSIGNED")
    scored_route = routing_services.optimize_load_route(
        scored, vehicle=scored.vehicle, driver=scored.driver, by=None
    )
    truck(-95.0)
    planned = [
        load(-95.0, -94.0, pickup_in=1),
        load(-94.0, -93.0, pickup_in=5),
        load(-95.0, -94.0, weight=10**6),
    ]
    plan = routing_services.accept_fleet_plan(proposed_plan(load_ids=[item.pk for item in planned]), by=None)
    assert all(plan.result[key] for key in ("routes", "unserved", "idle_vehicles")), plan.result
    urls = [
        ("/api/loads/", 200),
        (f"/api/loads/{assigned.pk}/", 200),
        (f"/api/vehicles/{vehicle.pk}/", 200),
        (f"/api/vehicles/{unseen.pk}/", 200),
        (f"/api/vehicles/{reefer.pk}/", 200),
        ("/api/vehicles/", 200),
        (f"/api/drivers/{driver.pk}/", 200),
        (f"/api/carriers/{vehicle.carrier_id}/", 200),
        (f"/api/facilities/{assigned.shipper_id}/", 200),
        (f"/api/routes/{route.pk}/", 200),
        (f"/api/routes/{scored_route.pk}/", 200),
        (f"/api/fleet-plans/{plan.pk}/", 200),
        (f"/api/drivers/{driver.pk}/hos/", 200),
        (f"/api/loads/{vehicle.pk}/", 404),
    ]
    lines = ['import type { paths } from "./api";']
    for index, (url, status) in enumerate(urls):
        template = _template_of(url, schema["paths"])
        url = url.rstrip("/") + ("/" if template.endswith("/") else "")  # the schema's URL style
        response = api.get(url)
        assert response.status_code == status, (url, response.content)
        body_type = f'paths["{template}"]["get"]["responses"][{status}]["content"]["application/json"]'
        lines.append(f"// GET {url}\nexport const answer{index}: {body_type} = {response.content.decode()};")
    return "\n".join(lines) + "\n"


@pytest.mark.django_db
def test_the_generated_typescript_client_type_checks_against_the_api(tmp_path, dispatcher):
    schema = json.loads(OpenApiJsonRenderer().render(SchemaGenerator().get_schema(request=None, public=True)))
    (tmp_path / "schema.json").write_text(json.dumps(schema))
    shutil.copy(USAGE, tmp_path / "usage.ts")
    (tmp_path / "answers.ts").write_text(_typed_answers(dispatcher, schema))

    _run(_node(), _tool("openapi-typescript", "bin", "cli.js"), "schema.json", "-o", "api.d.ts", cwd=tmp_path)
    tsc = _tool("typescript", "bin", "tsc")
    _run(_node(), tsc, *TSC_OPTIONS, "api.d.ts", "usage.ts", "answers.ts", cwd=tmp_path)


def test_a_schema_that_misdescribes_the_api_fails_the_type_check(tmp_path):
    """The check can fail: a Load schema without `status` no longer compiles usage.ts."""
    schema = json.loads(OpenApiJsonRenderer().render(SchemaGenerator().get_schema(request=None, public=True)))
    del schema["components"]["schemas"]["Load"]["properties"]["status"]
    (tmp_path / "schema.json").write_text(json.dumps(schema))
    shutil.copy(USAGE, tmp_path / "usage.ts")
    _run(_node(), _tool("openapi-typescript", "bin", "cli.js"), "schema.json", "-o", "api.d.ts", cwd=tmp_path)

    result = subprocess.run(
        [_node(), _tool("typescript", "bin", "tsc"), *TSC_OPTIONS, "api.d.ts", "usage.ts"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip

    assert result.returncode != 0
    assert "status" in result.stdout


# --- AsyncAPI ----------------------------------------------------------------------------------------


def test_the_asyncapi_document_is_served_and_valid_for_the_asyncapi_parser(tmp_path, client):
    response = client.get("/api/asyncapi.json")
    assert response.status_code == 200
    (tmp_path / "asyncapi.json").write_bytes(response.content)

    result = subprocess.run(
        [_node(), str(Path(__file__).parent / "ts" / "validate-asyncapi.mjs"), "asyncapi.json"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip

    assert result.returncode == 0, result.stdout + result.stderr
    document = response.json()
    assert document["asyncapi"].startswith("3.")
    topics = {channel["address"] for channel in document["channels"].values()}
    assert topics == {*TOPICS.values(), DEAD_LETTER_TOPIC, "/ws"}
    event_messages = {message["name"] for message in document["components"]["messages"].values()}
    assert {event_type.value for event_type in EventType} <= event_messages


def test_the_asyncapi_parser_refuses_a_broken_document(tmp_path, client):
    document = client.get("/api/asyncapi.json").json()
    channel = next(iter(document["channels"].values()))
    channel["messages"]["Missing"] = {"$ref": "#/components/messages/Missing"}
    (tmp_path / "asyncapi.json").write_text(json.dumps(document))

    result = subprocess.run(
        [_node(), str(Path(__file__).parent / "ts" / "validate-asyncapi.mjs"), "asyncapi.json"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip

    assert result.returncode == 1


@pytest.mark.django_db
def test_an_emitted_event_is_what_the_asyncapi_document_says(client):
    """The document comes from the schemas emit validates with: a real event's envelope matches its
    message's payload schema."""
    document = client.get("/api/asyncapi.json").json()
    load = LoadFactory()
    envelope = OutboxEvent.objects.get(subject=str(load.pk), type=EventType.LOAD_CREATED).envelope
    message = document["components"]["messages"]["LoadCreated"]
    schema = {**message["payload"], "components": document["components"]}

    Draft202012Validator(schema).validate(envelope)
    with pytest.raises(ValidationError):
        Draft202012Validator(schema).validate({**envelope, "data": {**envelope["data"], "load_id": 7}})


def test_every_ws_error_code_is_in_the_asyncapi_document():
    codes = set(re.findall(r'BadRequest\(\s*"(\w+)"', Path(ws.__file__).read_text()))

    assert codes == set(WS_ERROR_CODES)
