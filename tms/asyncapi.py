"""The AsyncAPI 3.1 document of the TMS's messages, served at /api/asyncapi.json beside the OpenAPI
schema: the Kafka topics (events.taxonomy), each event type's CloudEvents envelope and data
(events.schemas, the same Pydantic models `emit` validates against), and the /ws protocol
(tms.ws). Generated from those modules on each request, never written by hand, so it cannot
drift from the code; the suite validates it with the AsyncAPI parser (npm @asyncapi/parser).

A wiring module: it reads the event taxonomy and the WebSocket protocol.
"""

from functools import cache
from typing import Any, Literal
from uuid import UUID

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from pydantic import BaseModel, ConfigDict, Field, create_model
from pydantic.json_schema import models_json_schema

from events.schemas import SCHEMAS, CloudEvent
from events.taxonomy import DEAD_LETTER_TOPIC, TOPICS, EventType
from tms import ws

REF = "#/components/schemas/{model}"

# --- The /ws protocol, as tms.ws speaks it ----------------------------------------------------------

WS_ERROR_CODES = (
    "invalid_json",
    "invalid_message",
    "too_large",
    "unknown_action",
    "unknown_topic",
    "forbidden_topic",
    "invalid_filter",
)
Topic = Literal[tuple(sorted(set(TOPICS.values())))]  # type: ignore[valid-type]


class WsMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SubscriptionFilters(WsMessage):
    """Every key optional; all given must match. An id filter holds one UUID or a list of them."""

    vehicle_id: UUID | list[UUID] | None = Field(default=None, max_length=ws.MAX_IDS_PER_FILTER)
    load_id: UUID | list[UUID] | None = Field(default=None, max_length=ws.MAX_IDS_PER_FILTER)
    carrier_id: UUID | list[UUID] | None = Field(default=None, max_length=ws.MAX_IDS_PER_FILTER)
    driver_id: UUID | list[UUID] | None = Field(default=None, max_length=ws.MAX_IDS_PER_FILTER)
    bbox: list[float] | None = Field(
        default=None,
        min_length=4,
        max_length=4,
        description="[min_lon, min_lat, max_lon, max_lat], WGS84; min_lon > max_lon crosses the "
        "antimeridian. Only events whose data holds longitude and latitude inside it.",
    )


class Subscribe(WsMessage):
    """Subscribe to topics (again: replaces their filters). All or nothing."""

    action: Literal["subscribe"]
    topics: list[Topic] = Field(min_length=1)
    filters: SubscriptionFilters | None = None


class Unsubscribe(WsMessage):
    action: Literal["unsubscribe"]
    topics: list[Topic] = Field(min_length=1)


class Ping(WsMessage):
    """Keeps the connection open: send one more often than TMS_WS_IDLE_TIMEOUT_S."""

    action: Literal["ping"]


class EventMessage(WsMessage):
    type: Literal["event"]
    event: CloudEvent


class Subscribed(WsMessage):
    """After each subscribe or unsubscribe: every topic now subscribed."""

    type: Literal["subscribed"]
    topics: list[Topic]


class Pong(WsMessage):
    type: Literal["pong"]


class Heartbeat(WsMessage):
    """Every TMS_WS_HEARTBEAT_S seconds while nothing else is waiting."""

    type: Literal["heartbeat"]
    dropped: int = Field(ge=0, description="Location messages dropped so far for this slow client.")


class WsError(WsMessage):
    """A refused client message; the connection stays open."""

    type: Literal["error"]
    code: Literal[WS_ERROR_CODES]  # type: ignore[valid-type]
    message: str


WS_FROM_CLIENT = (Subscribe, Unsubscribe, Ping)
WS_TO_CLIENT = (EventMessage, Subscribed, Pong, Heartbeat, WsError)


# --- Event messages -----------------------------------------------------------------------------------


def _event_model(event_type: EventType) -> type[BaseModel]:
    """The envelope of one event type: CloudEvent with its `type` and `data` pinned."""
    return create_model(
        f"{SCHEMAS[event_type].__name__}Event",
        __base__=CloudEvent,
        __doc__=f"{event_type.value} on {TOPICS[event_type]}.",
        type=(Literal[event_type.value], ...),
        data=(SCHEMAS[event_type], ...),
    )


def _message_name(event_type: EventType) -> str:
    return "".join(word.capitalize() for word in event_type.value.split("_"))


def _message_ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/messages/{name}"}


def _channel_name(topic: str) -> str:
    return "".join(word.capitalize() for word in topic.replace("-", ".").split("."))


@cache
def asyncapi_document() -> dict[str, Any]:
    events = {event_type: _event_model(event_type) for event_type in EventType}
    models = [*events.values(), CloudEvent, *WS_FROM_CLIENT, *WS_TO_CLIENT]
    # Validation mode: the types emit checks. (The serialization schema of event data is untyped:
    # its wildcard serializer writes times as RFC 3339 with Z, and declares no return type.)
    refs, definitions = models_json_schema([(model, "validation") for model in models], ref_template=REF)
    schemas = definitions["$defs"]
    ref = {model: refs[(model, "validation")] for model in models}

    messages: dict[str, Any] = {}
    for event_type, model in events.items():
        messages[_message_name(event_type)] = {
            "name": event_type.value,
            "title": event_type.value,
            "summary": (SCHEMAS[event_type].__doc__ or event_type.value).strip().split("\n")[0],
            "contentType": "application/json",
            "payload": ref[model],
            "bindings": {
                "kafka": {
                    "key": {"type": "string", "description": "The event's subject (aggregate id)."},
                    "bindingVersion": "0.5.0",
                }
            },
        }
    messages["DeadLetter"] = {
        "name": "DEAD_LETTER",
        "summary": "An event a consumer could not process, with the error.",
        "contentType": "application/json",
        "payload": {"type": "object", "description": "The failed event and the consumer's error."},
    }
    for model in (*WS_FROM_CLIENT, *WS_TO_CLIENT):
        messages[f"Ws{model.__name__}"] = {
            "name": model.__name__,
            "summary": (model.__doc__ or model.__name__).strip().split("\n")[0],
            "contentType": "application/json",
            "payload": ref[model],
        }

    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    for topic in sorted(set(TOPICS.values())):
        name = _channel_name(topic)
        types = [event_type for event_type in EventType if TOPICS[event_type] == topic]
        channels[name] = {
            "address": topic,
            "title": topic,
            "description": f"Kafka topic {topic}: " + ", ".join(t.value for t in types) + ".",
            "servers": [{"$ref": "#/servers/kafka"}],
            "messages": {
                _message_name(t): {"$ref": f"#/components/messages/{_message_name(t)}"} for t in types
            },
        }
        operations[f"publish{name}"] = {
            "action": "send",
            "summary": f"The relay publishes {topic} from the outbox, in commit order per aggregate.",
            "channel": {"$ref": f"#/channels/{name}"},
            "messages": [{"$ref": f"#/channels/{name}/messages/{_message_name(t)}"} for t in types],
        }
    dlq = _channel_name(DEAD_LETTER_TOPIC)
    channels[dlq] = {
        "address": DEAD_LETTER_TOPIC,
        "description": "Events a consumer gave up on (also the dead_letters table).",
        "servers": [{"$ref": "#/servers/kafka"}],
        "messages": {"DeadLetter": {"$ref": "#/components/messages/DeadLetter"}},
    }
    operations[f"publish{dlq}"] = {
        "action": "send",
        "channel": {"$ref": f"#/channels/{dlq}"},
        "messages": [{"$ref": f"#/channels/{dlq}/messages/DeadLetter"}],
    }
    ws_messages = {
        f"Ws{m.__name__}": {"$ref": f"#/components/messages/Ws{m.__name__}"}
        for m in (*WS_FROM_CLIENT, *WS_TO_CLIENT)
    }
    channels["liveStream"] = {
        "address": "/ws",
        "title": "/ws live stream",
        "description": (ws.__doc__ or "").split("Groups\n------")[0].strip(),
        "servers": [{"$ref": "#/servers/web"}],
        "messages": ws_messages,
    }
    operations["receiveWsCommand"] = {
        "action": "receive",
        "summary": "Subscribe, unsubscribe, ping: JSON text frames from the client.",
        "channel": {"$ref": "#/channels/liveStream"},
        "messages": [{"$ref": f"#/channels/liveStream/messages/Ws{m.__name__}"} for m in WS_FROM_CLIENT],
    }
    operations["sendWsMessage"] = {
        "action": "send",
        "summary": "Events of the subscribed topics (filtered, coalesced), replies, heartbeats, errors.",
        "channel": {"$ref": "#/channels/liveStream"},
        "messages": [{"$ref": f"#/channels/liveStream/messages/Ws{m.__name__}"} for m in WS_TO_CLIENT],
    }
    return {
        "asyncapi": "3.1.0",
        "info": {
            "title": "TMS events and live stream",
            "version": settings.SPECTACULAR_SETTINGS["VERSION"],
            "description": "Domain events on Kafka (CloudEvents 1.0, structured JSON; each type's "
            "`data` validated against its versioned schema when emitted) and the /ws WebSocket "
            "that pushes them to screens. The REST API is described by /api/schema/.",
        },
        "defaultContentType": "application/json",
        "servers": {
            "kafka": {
                "host": "127.0.0.1:29092",
                "protocol": "kafka",
                "description": "KAFKA_BOOTSTRAP_SERVERS (the local broker of `make run` here).",
            },
            "web": {
                "host": "127.0.0.1:8000",
                "protocol": "ws",
                "description": "The web process (uvicorn); wss behind TLS. Authenticate as tms/ws.py says.",
            },
        },
        "channels": channels,
        "operations": operations,
        "components": {"schemas": schemas, "messages": messages},
    }


def asyncapi_view(request: HttpRequest) -> JsonResponse:
    """GET /api/asyncapi.json: public, as /api/schema/ is."""
    return JsonResponse(asyncapi_document())
