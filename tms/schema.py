"""How the OpenAPI schema (/api/schema/) describes every operation, once for all views.

drf-spectacular builds each operation from its view; `AutoSchema` adds what would otherwise be
repeated on each view, so a new endpoint is documented like the others without a decorator:

- a tag per resource: the first segment of the path after /api/ (`loads`, `fleet-plans`, ...);
- a summary: "List loads", "Create a load", ... for the standard actions, else the first clause of
  the action's docstring;
- the error responses the operation can give, each the one `Error` envelope of
  tms.api.exception_handler: which ones follows from what the operation takes and who may call it
  (`error_statuses`);
- GeoJSON Points (`tms.api.PointField`) as one `Point` component, [longitude, latitude].

A module of the project's base: it imports no app.
"""

import copy
import re
from typing import Any

from django.db import models
from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from drf_spectacular.plumbing import ResolvedComponent, get_lib_doc_excludes
from rest_framework import serializers
from rest_framework.permissions import AllowAny

from tms.api import (
    ModelSerializer,
    QuerySerializer,
    RejectUnknownFields,
    Serializer,
    TmsModelViewSet,
    TmsReadOnlyViewSet,
)

# --- The error envelope ---------------------------------------------------------------------------


class ErrorDetailSerializer(Serializer):
    code = serializers.CharField(
        help_text="Machine-readable: validation_error, not_authenticated, permission_denied, not_found, "
        "invalid_transition, conflict, capacity_exceeded, throttled, dependency_unavailable, ..."
    )
    message = serializers.CharField(help_text="A sentence for people; the first problem found.")
    details = serializers.DictField(
        child=serializers.JSONField(),
        help_text="What the code needs: for validation_error, each field's messages "
        '({"field": ["message", ...]}, nested for nested fields); for throttled, retry_after_s; '
        "empty when there is nothing more to say.",
    )
    correlation_id = serializers.CharField(
        help_text="The request's X-Request-ID: quote it when reporting a problem."
    )


class ErrorSerializer(Serializer):
    """Every error the API answers: one envelope, whatever the status."""

    error = ErrorDetailSerializer()


#: What each documented error status means in this API (tms.api._translate maps the exceptions).
ERROR_DESCRIPTIONS: dict[int, str] = {
    400: "Invalid request: a malformed body, an unknown or invalid field or query parameter.",
    401: "No valid credentials: send `Authorization: Token <token>` (POST /api/auth/token/).",
    403: "Authenticated, but the role may not do this.",
    404: "No such object, or not one the caller may see.",
    405: "The method is not allowed on this path.",
    409: "Conflicts with the current state: an invalid status transition, a busy truck or driver, "
    "an object still referenced.",
    413: "The request body is larger than the server accepts.",
    415: "The body is not JSON (send `Content-Type: application/json`).",
    422: "Breaks a business rule: capacity, licence, hours of service, carrier.",
    429: "Too many requests: wait `Retry-After` seconds.",
    503: "A dependency this call needs (database, Redis, broker) is down; retry later.",
}

WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


def lib_doc_excludes() -> list[type]:
    """Base classes whose docstrings describe our plumbing, not an endpoint or a payload: a view
    or serializer without a docstring of its own gets no description instead of theirs."""
    return [
        *get_lib_doc_excludes(),
        RejectUnknownFields,
        Serializer,
        QuerySerializer,
        ModelSerializer,
        TmsReadOnlyViewSet,
        TmsModelViewSet,
    ]


class AutoSchema(SpectacularAutoSchema):
    def get_tags(self) -> list[str]:
        tokens = [token for token in self._tokenize_path() if not token.startswith("{")]
        return tokens[:1] or ["api"]

    def get_summary(self) -> str | None:
        action = getattr(self.view, "action", None)
        model = getattr(getattr(self.view, "queryset", None), "model", None)
        if model is not None and action in _STANDARD_SUMMARIES:
            return _STANDARD_SUMMARIES[action].format(
                one=model._meta.verbose_name, many=model._meta.verbose_name_plural
            )
        doc = self.get_description()
        if doc:
            return _first_clause(doc)
        return self.get_operation_id().replace("_", " ").capitalize()

    def _map_basic_serializer(self, serializer, direction):
        schema = super()._map_basic_serializer(serializer, direction)
        if direction == "response" and isinstance(serializer, serializers.ModelSerializer):
            # A model serializer sends every field, null or not: each is required in an answer
            # (optional ones are optional in the request only), except those it names in
            # `omitted_for_some_callers` (a field only some roles may read).
            omitted = set(getattr(serializer, "omitted_for_some_callers", ()))
            schema["required"] = sorted(set(schema.get("properties", {})) - omitted)
        return schema

    def get_operation(self, path, path_regex, path_prefix, method, registry):
        operation = super().get_operation(path, path_regex, path_prefix, method, registry)
        if operation is None:
            return None
        responses = operation["responses"]
        for status in self.error_statuses(operation) | {int(code) for code in responses if code >= "400"}:
            # An error a view declares itself keeps its description, in the one envelope.
            declared = responses.get(str(status), {}).get("description")
            responses[str(status)] = self._error_response(status)
            if declared:
                responses[str(status)]["description"] = declared
        operation["responses"] = dict(sorted(operation["responses"].items()))
        return operation

    def error_statuses(self, operation: dict[str, Any]) -> set[int]:
        """The error statuses this operation can answer with, from what it takes and who may call it."""
        statuses = {503}
        parameters = operation.get("parameters", [])
        if "requestBody" in operation or any(p["in"] == "query" for p in parameters):
            statuses.add(400)
        if "requestBody" in operation:
            statuses |= {413, 415}
        if any(p["in"] == "path" for p in parameters) or (self._is_list_view() and self._get_paginator()):
            statuses.add(404)  # also a list's page past the last
        public = any(isinstance(permission, AllowAny) for permission in self.view.get_permissions())
        if not public:
            statuses |= {401, 403}
            if self.method in WRITE_METHODS:  # through a service: its rules and the database's
                statuses |= {409, 422}
        elif self.view.get_authenticate_header(self.view.request):
            statuses.add(401)  # a public view that still refuses credentials (the login)
        if self.view.get_throttles():
            statuses.add(429)
        return statuses

    def _error_response(self, status: int) -> dict[str, Any]:
        # In every media type the view renders: an error is rendered as its answer would have been.
        response = self._get_response_for_code(ErrorSerializer, str(status), direction="response")
        response["description"] = ERROR_DESCRIPTIONS.get(status, "Error.")
        if status == 429:
            response["headers"] = {
                "Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait."}
            }
        if status == 401:
            response["headers"] = {"WWW-Authenticate": {"schema": {"type": "string"}}}
        return response


_STANDARD_SUMMARIES = {
    "list": "List {many}",
    "create": "Create a {one}",
    "retrieve": "Get a {one}",
    "update": "Replace a {one}",
    "partial_update": "Update some fields of a {one}",
    "destroy": "Delete a {one}",
}


def _first_clause(doc: str) -> str:
    """The docstring's first sentence, cut at a colon or semicolon: a summary, not the rules."""
    text = " ".join(doc.split())
    clause = re.split(r"(?<=[a-z0-9)\]`])[.:;](?:\s|$)", text, maxsplit=1)[0].strip()
    if len(clause) > 80 and " (" in clause:
        clause = clause.split(" (", 1)[0]
    return clause[:1].upper() + clause[1:]


# --- GeoJSON --------------------------------------------------------------------------------------


POINT_SCHEMA = {
    "type": "object",
    "description": "GeoJSON Point in WGS84: coordinates are [longitude, latitude], longitude first.",
    "properties": {
        "type": {"type": "string", "enum": ["Point"]},
        "coordinates": {
            "type": "array",
            "items": {"type": "number", "format": "double", "minimum": -180, "maximum": 180},
            "minItems": 2,
            "maxItems": 2,
            "description": "[longitude (-180..180), latitude (-90..90)]",
        },
    },
    "required": ["type", "coordinates"],
    "example": {"type": "Point", "coordinates": [-87.6298, 41.8781]},
}


class PointFieldExtension(OpenApiSerializerFieldExtension):
    """tms.api.PointField as the `Point` component (rest_framework_gis' own schema shows
    [latitude, longitude] examples); nullable when null can be sent: the field allows it, or it is a
    read-only copy of a nullable model field (a vehicle that has not reported yet)."""

    target_class = "tms.api.PointField"
    priority = 2

    def map_serializer_field(self, auto_schema, direction):
        component = ResolvedComponent(
            name="Point", type=ResolvedComponent.SCHEMA, object="Point", schema=copy.deepcopy(POINT_SCHEMA)
        )
        auto_schema.registry.register_on_missing(component)
        field = self.target
        if field.allow_null or (field.read_only and _model_field_is_nullable(field)):
            return {"allOf": [component.ref], "nullable": True}
        return component.ref


class TypedJSONFieldExtension(OpenApiSerializerFieldExtension):
    """tms.api.TypedJSONField: the serializer (as its component) or JSON Schema it names."""

    target_class = "tms.api.TypedJSONField"

    def map_serializer_field(self, auto_schema, direction):
        schema = self.target.documented_schema
        if isinstance(schema, dict):
            return copy.deepcopy(schema)  # the generator's hooks edit what they are given
        if isinstance(schema, list):  # a list whose items are any of these serializers
            refs = [auto_schema.resolve_serializer(item, direction).ref for item in schema]
            return {"type": "array", "items": {"anyOf": refs}}
        if isinstance(schema, serializers.ListSerializer):
            return {"type": "array", "items": auto_schema.resolve_serializer(schema.child, direction).ref}
        ref = auto_schema.resolve_serializer(schema, direction).ref
        if self.target.allow_null or _model_field_is_nullable(self.target):
            return {"allOf": [ref], "nullable": True}
        return ref


LON_LAT_EXAMPLES = {
    "Point": [-87.6298, 41.8781],
    "LineString": [[-87.6298, 41.8781], [-86.1581, 39.7684]],
    "Polygon": [[[-87.7, 41.8], [-87.5, 41.8], [-87.5, 41.9], [-87.7, 41.9], [-87.7, 41.8]]],
}


class GeometryFieldExtension(OpenApiSerializerFieldExtension):
    """rest_framework_gis' geometry fields as drf-spectacular maps them, with [longitude, latitude]
    examples (its own put latitude first)."""

    target_class = "rest_framework_gis.fields.GeometryField"
    priority = 1

    def map_serializer_field(self, auto_schema, direction):
        from drf_spectacular.contrib.rest_framework_gis import GeometryFieldExtension as GisExtension

        schema = GisExtension(self.target).map_serializer_field(auto_schema, direction)
        for variant in schema.get("oneOf", [schema]):
            kind = variant.get("properties", {}).get("type", {}).get("enum", [None])[0]
            coordinates = variant.get("properties", {}).get("coordinates")
            if kind in LON_LAT_EXAMPLES and coordinates is not None:
                _drop_examples(coordinates)
                coordinates["example"] = copy.deepcopy(LON_LAT_EXAMPLES[kind])
        return schema


def _drop_examples(node: dict) -> None:
    node.pop("example", None)
    if isinstance(node.get("items"), dict):
        _drop_examples(node["items"])


def _model_field_is_nullable(field: serializers.Field) -> bool:
    model = getattr(getattr(field.parent, "Meta", None), "model", None)
    if model is None or not field.source or "." in field.source:
        return False
    try:
        model_field = model._meta.get_field(field.source)
    except models.FieldDoesNotExist:
        return False
    return bool(getattr(model_field, "null", False))
