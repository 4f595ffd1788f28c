"""The OpenAPI schema (/api/schema/) as a client generator reads it: every operation tagged by its
resource, summarised, its errors documented with the one Error envelope; no untyped value;
nullable where null is sent; GeoJSON examples longitude first."""

import inspect
import json

import pytest
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer

from tms.schema import lib_doc_excludes

# Free by design, each saying where its shape is documented: an event's data depends on its type
# (each type's schema is in /api/asyncapi.json); an error's details depend on its code.
FREE_FORM = {
    "CloudEvent.data",
    "PublishInputRequest.data",
    "ErrorDetail.details",
}
TYPED_KEYS = {"type", "$ref", "allOf", "oneOf", "anyOf", "enum", "properties"}


@pytest.fixture(scope="module")
def schema() -> dict:
    return json.loads(OpenApiJsonRenderer().render(SchemaGenerator().get_schema(request=None, public=True)))


def _path(schema, path: str) -> dict:
    """The schema's path item for `path`, whichever trailing-slash style the schema uses."""
    return next(item for template, item in schema["paths"].items() if template.rstrip("/") == path)


def _operations(schema):
    for path, methods in schema["paths"].items():
        for method, operation in methods.items():
            yield f"{method.upper()} {path}", operation


def test_every_operation_has_its_resource_tag_and_a_summary(schema):
    untagged = [name for name, op in _operations(schema) if op.get("tags") in (None, [], ["api"])]
    unsummarised = [name for name, op in _operations(schema) if not op.get("summary")]

    assert untagged == []
    assert unsummarised == []
    tags = {op["tags"][0] for _, op in _operations(schema)}
    assert {"loads", "vehicles", "drivers", "carriers", "facilities", "routes", "fleet-plans"} <= tags


def test_no_description_is_a_base_class_docstring(schema):
    """A serializer or view without a docstring of its own gets none, not its base class's."""
    bases = {inspect.cleandoc(cls.__doc__) for cls in lib_doc_excludes() if cls.__doc__}
    described = [
        *(c.get("description") for c in schema["components"]["schemas"].values()),
        *(op.get("description") for _, op in _operations(schema)),
    ]

    assert [text for text in described if text in bases] == []


def test_every_error_response_is_the_error_envelope(schema):
    wrong = []
    for name, operation in _operations(schema):
        for status, response in operation["responses"].items():
            if int(status) < 400:
                continue
            for media in response["content"].values():
                if media["schema"] != {"$ref": "#/components/schemas/Error"}:
                    wrong.append(f"{name} {status}")
    error = schema["components"]["schemas"]["ErrorDetail"]

    assert wrong == []
    assert set(error["required"]) == {"code", "message", "details", "correlation_id"}


def test_operations_document_the_errors_they_can_give(schema):
    create = _path(schema, "/api/loads")["post"]["responses"]
    detail = _path(schema, "/api/loads/{id}")["get"]["responses"]
    login = _path(schema, "/api/auth/token")["post"]["responses"]

    assert {"400", "401", "403", "409", "413", "415", "422", "429", "503"} <= set(create)
    assert {"401", "403", "404", "429", "503"} <= set(detail)
    assert "400" not in detail  # no body, no query parameter
    assert {"400", "401", "429"} <= set(login)
    assert "403" not in login  # anyone may log in
    assert "Retry-After" in create["429"]["headers"]


def _untyped(node, where, found):
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("properties",):
                for name, prop in value.items():
                    if isinstance(prop, dict) and not TYPED_KEYS & prop.keys():
                        found.append(f"{where}.{name}")
                    _untyped(prop, f"{where}.{name}", found)
            elif key in ("items", "additionalProperties", "schema") and isinstance(value, dict):
                if not TYPED_KEYS & value.keys():
                    found.append(where)
                _untyped(value, where, found)
            elif key != "example":
                _untyped(value, where, found)
    elif isinstance(node, list):
        for value in node:
            _untyped(value, where, found)


def test_no_value_is_left_untyped(schema):
    found: list[str] = []
    for name, component in schema["components"]["schemas"].items():
        _untyped(component, name, found)
    for name, operation in _operations(schema):
        _untyped(operation, name, found)

    assert sorted(set(found) - FREE_FORM) == []


def test_locations_that_can_be_null_are_nullable(schema):
    components = schema["components"]["schemas"]

    for model in ("Vehicle", "Driver"):
        location = components[model]["properties"]["current_location"]
        assert location["nullable"] is True
        assert location["allOf"] == [{"$ref": "#/components/schemas/Point"}]


def test_a_failed_route_job_error_is_an_object(schema):
    error = schema["components"]["schemas"]["RouteJob"]["properties"]["error"]
    problem = schema["components"]["schemas"]["Problem"]

    assert error["allOf"] == [{"$ref": "#/components/schemas/Problem"}]
    assert set(problem["properties"]) == {"code", "message"}


def _coordinate_pairs(node):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "example":
                yield from _pairs_in(value)
            else:
                yield from _coordinate_pairs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _coordinate_pairs(value)


def _pairs_in(value):
    if isinstance(value, dict):
        for key, inner in value.items():
            yield from (_pairs_in(inner) if key != "coordinates" else _numbers_in(inner))
    elif isinstance(value, list) and value and all(isinstance(v, list) for v in value):
        for inner in value:
            yield from _numbers_in(inner)


def _numbers_in(value):
    if isinstance(value, list) and len(value) == 2 and all(isinstance(v, int | float) for v in value):
        yield tuple(value)
    elif isinstance(value, list):
        for inner in value:
            yield from _numbers_in(inner)


def test_geojson_examples_put_longitude_first(schema):
    pairs = list(_coordinate_pairs(schema))

    assert pairs
    # North American examples: longitude west (negative), latitude 15-75 north; swapped, they are not.
    assert [pair for pair in pairs if not (-170 <= pair[0] <= -50 and 15 <= pair[1] <= 75)] == []
