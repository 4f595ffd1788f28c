"""The live stream: `/ws`, a WebSocket that pushes domain events to screens as the relay publishes them.

A wiring module of the project package: the transport (protocol, groups, coalescing, the bounded
send queue) is here; who may see what is decided by the owning apps (a driver's work:
`loads.selectors.read_driver_scope` and `driver_may_see`).

Connecting
----------
    ws://HOST/ws   with  Authorization: Token TOKEN    (programs)
    ws://HOST/ws?ticket=TICKET                         (browsers: they cannot set headers)

TOKEN is the API token (`POST /api/auth/token/`). A TICKET comes from `POST /api/ws/ticket` (with
the token, or the admin's session and CSRF token): it opens one connection, within
TMS_WS_TICKET_TTL_S (30 s), and is worthless afterwards, so the URL that carries it (and lands in
access logs) gives nothing away. The API token itself is never accepted in the URL. The server
accepts the handshake, then closes at once with code 4400 when the URL carries a `token`, 4401 when
the token or ticket is missing, unknown, used or expired or its user inactive, and 4403 when the
user has no role.

Messages are JSON text frames, one object each. Client to server:

    {"action": "subscribe", "topics": ["tms.loads", ...], "filters": {...}}
    {"action": "unsubscribe", "topics": ["tms.loads", ...]}
    {"action": "ping"}

`topics` are the event topics (tms.loads, tms.vehicles, tms.vehicles.tracking, tms.drivers,
tms.routes, tms.carriers, tms.system.alerts, tms.ai.predictions, tms.anomalies). `filters` is
optional and applies to every topic of that message; subscribing again to a topic replaces its
filters, so send one message per set of filters. All keys are optional and must all match:

    "vehicle_id", "load_id", "carrier_id", "driver_id":  a UUID or a list of up to 100 UUIDs;
                  the event's data must hold that field with one of these values.
    "bbox": [min_lon, min_lat, max_lon, max_lat]  (WGS84 degrees; min_lon > max_lon crosses the
                  antimeridian); the event's data must hold longitude and latitude inside it.
                  Only location events and route deviations carry coordinates.

A subscription request is all or nothing: if any topic or filter is refused, nothing changes.
Unsubscribing from a topic that is not subscribed is not an error.

Server to client:

    {"type": "event", "event": {CloudEvent: id, type, source, subject, time, data, ...}}
    {"type": "subscribed", "topics": [...]}    after each subscribe/unsubscribe: every topic
                                              now subscribed; events flow from this point on
    {"type": "pong"}
    {"type": "heartbeat", "dropped": N}        every TMS_WS_HEARTBEAT_S seconds while nothing
                                              else is waiting; N counts messages dropped so far
    {"type": "error", "code": CODE, "message": "..."}   the connection stays open

Error codes: invalid_json, invalid_message (not an object, binary frame, missing or mistyped
field), too_large (over TMS_WS_MAX_MESSAGE_BYTES), unknown_action, unknown_topic,
forbidden_topic (the role may not read it), invalid_filter.

Close codes: 4400 API token in the URL (refused), 4401 unauthenticated, 4403 no role, 4408 idle
(no client message for TMS_WS_IDLE_TIMEOUT_S: send a ping more often than that), 4429 too slow
(the client let TMS_WS_SEND_QUEUE_SIZE messages pile up that cannot be dropped: reconnect and
reload over REST).

Delivery
--------
- Events arrive in relay order per aggregate. Duplicates (the relay is at-least-once; a
  connection may hear an event through two groups) are suppressed by event id among the last
  512 events of the connection.
- VEHICLE_LOCATION_UPDATED is coalesced per vehicle: time is cut into fixed windows of
  1/TMS_WS_LOCATION_MAX_PER_S seconds (1 s by default) and each vehicle gets at most one position
  per window. The first position of a window goes at once; later ones are held, each replacing
  the previous, and the latest goes as the next window opens, so the last position always
  arrives, at most one window late. A tracker reporting at the limit waits only when jitter
  puts two of its positions in one window, and then only until that window ends (two positions
  can be closer than a window across a window edge). Every position is still stored and
  available over REST; only this socket is thinned.
- Each connection has a bounded send queue. A client that cannot keep up loses its oldest
  location messages first (VEHICLE_LOCATION_UPDATED, DRIVER_LOCATION_UPDATED; counted in
  `dropped`); if the queue fills with messages that must not be lost, it is closed with 4429.
  One slow client never delays another.

Who sees what
-------------
ADMIN, DISPATCHER and VIEWER see every topic and every event. A DRIVER-only user sees
tms.loads, tms.vehicles, tms.vehicles.tracking, tms.drivers and tms.routes, and within them only:

- load events whose data names them as `driver_id` or `previous_driver_id` (their loads, including
  the event that takes a load away from them);
- driver events whose `driver_id` is their own driver record;
- vehicle and vehicle-tracking events whose `vehicle_id` is the vehicle of one of their active
  loads (ASSIGNED, PICKED_UP, IN_TRANSIT, DELAYED);
- route events whose `load_id` is one of their active loads or whose `driver_id` is theirs.

(That rule is `loads.selectors.driver_may_see`, their work `loads.selectors.read_driver_scope`.)
Subscribing to tms.carriers, tms.system.alerts, tms.ai.predictions or tms.anomalies is refused
(forbidden_topic): carrier commercials, operations alerts, predictions about other drivers' work
and the audit anomaly stream are not theirs. Their active loads are read at connect, again
whenever a load event about them (assigned, delivered, cancelled) arrives, and every
TMS_WS_DRIVER_SCOPE_REFRESH_S seconds; the connection always listens to its active loads' entity
groups, so losing a load stops that vehicle's positions at once, while a newly assigned vehicle
shows up with the assignment event (if subscribed to tms.loads) or the next refresh. If a re-read
fails, the driver keeps only their own driver record until one succeeds. A DRIVER user with no
driver record sees nothing. Roles are read at connect: a role change applies on reconnect.

Groups
------
The relay's `websocket-broadcast` consumer publishes each event to its topic group ("tms.loads")
and its aggregate's entity group ("entity.<subject>"). A subscription whose filter names at most
20 ids of the topic's own aggregate (vehicle_id on tms.vehicles[.tracking], load_id on tms.loads,
driver_id on tms.drivers, carrier_id on tms.carriers) joins those entity groups instead of the
topic group. Why: with the Redis Pub/Sub layer a group is a Redis channel that each server process
subscribes to once and then copies to every member connection, which decodes and filters it.
A screen following one truck in the topic group would decode the whole fleet's positions to keep
one in a thousand; in the truck's entity group it receives only that truck. Topic groups then hold
only the screens that want the whole stream (channels-redis is slow with large groups). A
driver's vehicle and driver topics always map to the entity groups of their own vehicle and
driver record; their tms.loads and tms.routes use the topic groups (a new load's events are not
in any group of theirs yet) and are filtered per event.
"""

import asyncio
import json
import logging
import math
import uuid
from collections import OrderedDict, deque
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.contrib.auth import get_user_model
from django.urls import re_path
from rest_framework.authtoken.models import Token

from events.handlers import entity_group, topic_group
from events.taxonomy import TOPICS, EventType
from loads.selectors import DriverScope, driver_may_see, read_driver_scope
from tms import parsers
from tms.api_defaults import DRIVER, OPERATORS, VIEWER, is_well_formed_token, roles_of
from tms.services import redeem_ws_ticket

logger = logging.getLogger(__name__)

CLOSE_TOKEN_IN_URL = 4400
CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_IDLE = 4408
CLOSE_TOO_SLOW = 4429

KNOWN_TOPICS = frozenset(TOPICS.values())
DRIVER_TOPICS = frozenset({"tms.loads", "tms.vehicles", "tms.vehicles.tracking", "tms.drivers", "tms.routes"})
# The data field that holds each topic's aggregate id, i.e. the envelope's subject.
AGGREGATE_FIELD = {
    "tms.loads": "load_id",
    "tms.vehicles": "vehicle_id",
    "tms.vehicles.tracking": "vehicle_id",
    "tms.drivers": "driver_id",
    "tms.carriers": "carrier_id",
}
ID_FILTERS = ("vehicle_id", "load_id", "carrier_id", "driver_id")
MAX_IDS_PER_FILTER = 100
MAX_ENTITY_GROUPS_PER_TOPIC = 20
VEHICLE_LOCATION = EventType.VEHICLE_LOCATION_UPDATED.value
DROPPABLE_TYPES = frozenset({VEHICLE_LOCATION, EventType.DRIVER_LOCATION_UPDATED.value})
# Load events that can change which loads (and so which vehicle) a driver has.
DRIVER_SCOPE_CHANGES = frozenset(
    {EventType.LOAD_ASSIGNED.value, EventType.LOAD_DELIVERED.value, EventType.LOAD_CANCELLED.value}
)
RECENT_EVENT_IDS = 512

# Process-wide counters, for logs and benchmarks.
STATS = {"connections": 0, "dropped": 0, "coalesced": 0, "closed_too_slow": 0}


class BadRequest(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


# --- Who is connected ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Principal:
    user_id: int
    roles: frozenset[str]
    driver_scope: DriverScope | None  # None: sees everything

    @property
    def topics(self) -> frozenset[str]:
        return KNOWN_TOPICS if self.driver_scope is None else DRIVER_TOPICS


def read_principal(token_key: str) -> Principal | None:
    """The token's user and what they may see; None for an unknown token or inactive user."""
    if not is_well_formed_token(token_key):
        return None
    token = Token.objects.select_related("user").filter(key=token_key).first()
    return None if token is None else _principal(token.user)


def read_principal_from_ticket(ticket: str) -> Principal | None:
    """The ticket's user (the ticket is used up) and what they may see; None for an unknown, used
    or expired ticket, or an inactive user."""
    user_id = redeem_ws_ticket(ticket)
    user = None if user_id is None else get_user_model().objects.filter(pk=user_id).first()
    return None if user is None else _principal(user)


def _principal(user) -> Principal | None:
    if not user.is_active:
        return None
    roles = roles_of(user)
    sees_everything = bool(roles & (OPERATORS | {VIEWER}))
    scope = None if sees_everything or DRIVER not in roles else read_driver_scope(user.pk)
    return Principal(user_id=user.pk, roles=roles, driver_scope=scope)


def credentials_from(scope: dict) -> tuple[str, str | None]:
    """("token", KEY) from the `Authorization: Token KEY` header, ("ticket", TICKET) from the
    `ticket` query parameter, ("token_in_url", None) for a `token` query parameter (refused),
    ("none", None) without any."""
    for name, value in scope.get("headers", ()):
        if name.lower() == b"authorization":
            kind, _, key = value.decode("latin-1").partition(" ")
            if kind.lower() == "token" and key.strip():
                return "token", key.strip()
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
    if "token" in query:
        return "token_in_url", None
    ticket = (query.get("ticket") or [None])[0]
    return ("ticket", ticket) if ticket else ("none", None)


# --- Filters -------------------------------------------------------------------------------------


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _parse_ids(key: str, value: Any) -> frozenset[str]:
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list) or not 1 <= len(values) <= MAX_IDS_PER_FILTER:
        raise BadRequest(
            "invalid_filter", f"{key} must be a UUID or a list of 1 to {MAX_IDS_PER_FILTER} UUIDs."
        )
    try:
        return frozenset(str(uuid.UUID(item)) for item in values)
    except (TypeError, ValueError, AttributeError) as error:
        raise BadRequest("invalid_filter", f"{key} must hold UUIDs.") from error


def _parse_bbox(value: Any) -> tuple[float, float, float, float]:
    if not isinstance(value, list) or len(value) != 4 or not all(_is_number(v) for v in value):
        raise BadRequest("invalid_filter", "bbox must be [min_lon, min_lat, max_lon, max_lat], four numbers.")
    min_lon, min_lat, max_lon, max_lat = (float(v) for v in value)
    if not (-180 <= min_lon <= 180 and -180 <= max_lon <= 180):
        raise BadRequest("invalid_filter", "bbox longitudes must be within -180..180.")
    if not (-90 <= min_lat <= 90 and -90 <= max_lat <= 90):
        raise BadRequest("invalid_filter", "bbox latitudes must be within -90..90.")
    if min_lat > max_lat:
        raise BadRequest("invalid_filter", "bbox min_lat must not exceed max_lat.")
    return min_lon, min_lat, max_lon, max_lat


@dataclass(frozen=True)
class Filters:
    ids: dict[str, frozenset[str]]
    bbox: tuple[float, float, float, float] | None = None

    @classmethod
    def parse(cls, raw: Any) -> "Filters":
        if raw is None:
            return cls(ids={})
        if not isinstance(raw, dict):
            raise BadRequest("invalid_filter", "filters must be an object.")
        unknown = sorted(set(raw) - {*ID_FILTERS, "bbox"})
        if unknown:
            raise BadRequest(
                "invalid_filter", f"unknown filter {unknown[0]!r}; use {', '.join(ID_FILTERS)} or bbox."
            )
        ids = {key: _parse_ids(key, raw[key]) for key in ID_FILTERS if raw.get(key) is not None}
        bbox = _parse_bbox(raw["bbox"]) if raw.get("bbox") is not None else None
        return cls(ids=ids, bbox=bbox)

    def matches(self, data: dict) -> bool:
        for key, allowed in self.ids.items():
            if data.get(key) not in allowed:
                return False
        if self.bbox is None:
            return True
        longitude, latitude = data.get("longitude"), data.get("latitude")
        if not (_is_number(longitude) and _is_number(latitude)):
            return False
        min_lon, min_lat, max_lon, max_lat = self.bbox
        if not min_lat <= latitude <= max_lat:
            return False
        if min_lon <= max_lon:
            return min_lon <= longitude <= max_lon
        return longitude >= min_lon or longitude <= max_lon  # the box crosses the antimeridian


def groups_for(topic: str, filters: Filters, scope: DriverScope | None) -> set[str]:
    """The Channels groups that carry what this subscription may deliver (see "Groups" above)."""
    field = AGGREGATE_FIELD.get(topic)
    wanted = filters.ids.get(field) if field else None
    if scope is not None and field in ("vehicle_id", "driver_id"):
        own = scope.vehicle_ids if field == "vehicle_id" else {scope.driver_id} - {None}
        return {entity_group(entity) for entity in (own if wanted is None else own & wanted)}
    if wanted is not None and len(wanted) <= MAX_ENTITY_GROUPS_PER_TOPIC:
        return {entity_group(entity) for entity in wanted}
    return {topic_group(topic)}


# Every connection that receives an event sends the same text: encode it once per process.
_encoded_events: OrderedDict[str, str] = OrderedDict()


def event_text(envelope: dict) -> str:
    key = envelope.get("id")
    text = _encoded_events.get(key) if key else None
    if text is None:
        text = json.dumps({"type": "event", "event": envelope}, separators=(",", ":"))
        if key:
            _encoded_events[key] = text
            if len(_encoded_events) > 4096:
                _encoded_events.popitem(last=False)
    return text


def _text(message: dict) -> str:
    return json.dumps(message, separators=(",", ":"))


# --- The consumer --------------------------------------------------------------------------------


class LiveStreamConsumer(AsyncWebsocketConsumer):
    """One WebSocket connection. Channel-layer messages are only filtered and queued here; a
    separate writer task drains the bounded queue into the socket, so a slow client never holds
    up the layer's receive loop or anyone else."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.principal: Principal | None = None
        self.subscriptions: dict[str, Filters] = {}
        self.groups_joined: set[str] = set()
        self.dropped = 0
        self._queue: deque[tuple[bool, str]] = deque()  # (droppable, text)
        self._wake = asyncio.Event()
        self._closing = False
        self._counted = False
        self._tasks: set[asyncio.Task] = set()
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._recent_ids: set[str] = set()
        self._recent_order: deque[str] = deque()
        self._location_sent_in: dict[str, int] = {}  # vehicle -> window of its last position sent
        self._location_held: dict[str, str] = {}
        self._groups_lock = asyncio.Lock()

    # Channels' dispatch runs close_old_connections() in the sync thread before every handler:
    # one thread hop per relayed event per connection. Only connect and scope refreshes touch
    # the database, through database_sync_to_async, which does that cleanup itself.
    async def dispatch(self, message: dict) -> None:
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    # --- Lifecycle -------------------------------------------------------------------------------

    async def websocket_connect(self, message: dict) -> None:
        self._loop = asyncio.get_running_loop()
        self._queue_size = max(1, settings.TMS_WS_SEND_QUEUE_SIZE)
        self._heartbeat_s = settings.TMS_WS_HEARTBEAT_S
        self._idle_s = settings.TMS_WS_IDLE_TIMEOUT_S
        rate = settings.TMS_WS_LOCATION_MAX_PER_S
        self._location_interval = 1.0 / rate if rate > 0 else 0.0
        self._max_message_bytes = settings.TMS_WS_MAX_MESSAGE_BYTES
        kind, credential = credentials_from(self.scope)
        if kind == "token" and credential:
            self.principal = await database_sync_to_async(read_principal)(credential)
        elif kind == "ticket" and credential:
            self.principal = await database_sync_to_async(read_principal_from_ticket)(credential)
        await self.accept()
        if kind == "token_in_url":
            await self._close(CLOSE_TOKEN_IN_URL, "token in URL refused: use a ticket or the header")
            return
        if self.principal is None:
            await self._close(CLOSE_UNAUTHENTICATED, "unauthenticated")
            return
        if not self.principal.roles:
            await self._close(CLOSE_FORBIDDEN, "no role")
            return
        STATS["connections"] += 1
        self._counted = True
        self._last_client_at = self._loop.time()
        self._spawn(self._write())
        self._schedule("heartbeat", self._heartbeat_s, self._heartbeat)
        self._schedule("idle", self._idle_s, self._check_idle)
        if self.principal.driver_scope is not None:
            await self._sync_groups()  # the active loads' entity groups
            self._schedule("scope", settings.TMS_WS_DRIVER_SCOPE_REFRESH_S, self._periodic_scope_refresh)

    async def websocket_disconnect(self, message: dict) -> None:
        self._shut_down()
        async with self._groups_lock:
            for group in sorted(self.groups_joined):
                await self.channel_layer.group_discard(group, self.channel_name)
            self.groups_joined = set()
        if self.dropped:
            logger.info("websocket of user %s dropped %d messages", self.principal.user_id, self.dropped)
        raise StopConsumer()

    def _shut_down(self) -> None:
        """Stops the writer and the timers; idempotent (close, then the client's disconnect)."""
        if self._closing:
            return
        self._closing = True
        if self._counted:
            STATS["connections"] -= 1
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        for task in list(self._tasks):
            if task is not asyncio.current_task():
                task.cancel()

    async def _close(self, code: int, reason: str) -> None:
        self._shut_down()
        await self._send_close(code, reason)

    def _close_soon(self, code: int, reason: str) -> None:
        """Closes from a callback: stops everything now, sends the close frame next."""
        if not self._closing:
            self._shut_down()
            self._spawn(self._send_close(code, reason))

    async def _send_close(self, code: int, reason: str) -> None:
        try:
            await self.close(code=code, reason=reason)
        except Exception:  # noqa: BLE001 - the socket is already gone; nothing left to tell it
            logger.debug("close %s on a closed socket", code)

    def _spawn(self, coroutine) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _schedule(self, name: str, delay_s: float, callback) -> None:
        if not self._closing and delay_s > 0:
            self._timers[name] = self._loop.call_later(delay_s, callback)

    # --- Outgoing: the bounded queue and its writer ----------------------------------------------

    def _enqueue(self, text: str, *, droppable: bool) -> None:
        if self._closing:
            return
        if len(self._queue) >= self._queue_size:
            oldest_droppable = next((i for i, (d, _) in enumerate(self._queue) if d), None)
            if oldest_droppable is not None:
                del self._queue[oldest_droppable]
            elif droppable:
                self._count_drop()
                return
            else:
                STATS["closed_too_slow"] += 1
                self._close_soon(CLOSE_TOO_SLOW, "too slow")
                return
            self._count_drop()
        self._queue.append((droppable, text))
        self._wake.set()

    def _count_drop(self) -> None:
        self.dropped += 1
        STATS["dropped"] += 1

    def _reply(self, message: dict) -> None:
        self._enqueue(_text(message), droppable=False)

    async def _write(self) -> None:
        try:
            while True:
                while not self._queue:
                    self._wake.clear()
                    await self._wake.wait()
                _, text = self._queue.popleft()
                await self.send(text_data=text)  # waits while the client's TCP window is full
        except asyncio.CancelledError:
            raise
        except Exception as error:  # noqa: BLE001 - the client went away; disconnect cleans up
            logger.debug("websocket write failed: %s", error)

    def _heartbeat(self) -> None:
        if not self._queue:  # a client receiving messages needs no keepalive
            self._reply({"type": "heartbeat", "dropped": self.dropped})
        if self._location_interval:
            window = self._location_window()
            for vehicle_id, sent_in in list(self._location_sent_in.items()):
                if sent_in < window and vehicle_id not in self._location_held:
                    del self._location_sent_in[vehicle_id]
        self._schedule("heartbeat", self._heartbeat_s, self._heartbeat)

    def _check_idle(self) -> None:
        silent_for = self._loop.time() - self._last_client_at
        if silent_for >= self._idle_s:
            self._close_soon(CLOSE_IDLE, "idle")
        else:
            self._schedule("idle", self._idle_s - silent_for, self._check_idle)

    # --- Incoming from the channel layer ---------------------------------------------------------

    async def tms_event(self, message: dict) -> None:
        """A relayed event, from a topic or entity group this connection joined."""
        if self._closing or self.principal is None:
            return
        envelope = message.get("event") or {}
        event_id, event_type = envelope.get("id"), envelope.get("type")
        topic = TOPICS.get(event_type)
        if topic is None or self._seen(event_id):
            return
        data = envelope.get("data")
        data = data if isinstance(data, dict) else {}
        scope = self.principal.driver_scope
        if scope is not None:
            if (
                event_type in DRIVER_SCOPE_CHANGES
                and scope.driver_id is not None
                and (
                    data.get("load_id") in scope.load_ids
                    or scope.driver_id in (data.get("driver_id"), data.get("previous_driver_id"))
                )
            ):
                await self._refresh_driver_scope()
                scope = self.principal.driver_scope
            if not driver_may_see(scope, topic, data):
                return
        filters = self.subscriptions.get(topic)
        if filters is None or not filters.matches(data):
            return
        text = event_text(envelope)
        if event_type == VEHICLE_LOCATION and self._location_interval and data.get("vehicle_id"):
            self._offer_location(data["vehicle_id"], text)
        else:
            self._enqueue(text, droppable=event_type in DROPPABLE_TYPES)

    def _seen(self, event_id: str | None) -> bool:
        if event_id is None or event_id in self._recent_ids:
            return event_id is not None
        self._recent_ids.add(event_id)
        self._recent_order.append(event_id)
        if len(self._recent_order) > RECENT_EVENT_IDS:
            self._recent_ids.discard(self._recent_order.popleft())
        return False

    def _location_window(self) -> int:
        return math.floor(self._loop.time() / self._location_interval)

    def _offer_location(self, vehicle_id: str, text: str) -> None:
        """At most one position per vehicle in each fixed window of 1/TMS_WS_LOCATION_MAX_PER_S
        seconds: the first of a window goes at once; later ones are held, each replacing the last,
        and the latest goes when the next window opens.

        Fixed windows rather than a minimum gap since the last send: a tracker reporting exactly
        at the limit would otherwise have every delay carried into all its later positions."""
        if vehicle_id in self._location_held:
            self._location_held[vehicle_id] = text
            STATS["coalesced"] += 1
            return
        window = self._location_window()
        if self._location_sent_in.get(vehicle_id) != window:
            self._location_sent_in[vehicle_id] = window
            self._enqueue(text, droppable=True)
            return
        self._location_held[vehicle_id] = text
        opens_in = (window + 1) * self._location_interval - self._loop.time()
        self._loop.call_later(max(opens_in, 0.0), self._release_location, vehicle_id, window + 1)

    def _release_location(self, vehicle_id: str, window: int) -> None:
        text = self._location_held.pop(vehicle_id, None)
        if text is None or self._closing:
            return
        self._location_sent_in[vehicle_id] = max(window, self._location_window())
        self._enqueue(text, droppable=True)

    # --- Incoming from the client ----------------------------------------------------------------

    async def websocket_receive(self, message: dict) -> None:
        if self._closing or self.principal is None:
            return
        self._last_client_at = self._loop.time()
        try:
            request = self._decode(message)
            action = request.get("action")
            if action == "ping":
                self._reply({"type": "pong"})
            elif action == "subscribe":
                await self._subscribe(request)
            elif action == "unsubscribe":
                await self._unsubscribe(request)
            else:
                raise BadRequest("unknown_action", "action must be subscribe, unsubscribe or ping.")
        except BadRequest as error:
            self._reply({"type": "error", "code": error.code, "message": error.message})

    def _decode(self, message: dict) -> dict:
        text = message.get("text")
        if text is None:
            raise BadRequest("invalid_message", "send JSON text frames, not binary ones.")
        if len(text) > self._max_message_bytes or len(text.encode()) > self._max_message_bytes:
            raise BadRequest("too_large", f"messages are limited to {self._max_message_bytes} bytes.")
        try:
            request = parsers.loads(text)
        except ValueError as error:
            raise BadRequest("invalid_json", f"not JSON: {error}") from error
        if not isinstance(request, dict):
            raise BadRequest("invalid_message", "a message must be a JSON object.")
        return request

    def _topics(self, request: dict) -> list[str]:
        topics = request.get("topics")
        if not isinstance(topics, list) or not topics or not all(isinstance(t, str) for t in topics):
            raise BadRequest("invalid_message", "topics must be a non-empty list of topic names.")
        unknown = sorted(set(topics) - KNOWN_TOPICS)
        if unknown:
            raise BadRequest("unknown_topic", f"unknown topic {unknown[0]!r}.")
        return topics

    async def _subscribe(self, request: dict) -> None:
        topics = self._topics(request)
        forbidden = sorted(set(topics) - self.principal.topics)
        if forbidden:
            raise BadRequest("forbidden_topic", f"your role may not read {forbidden[0]!r}.")
        filters = Filters.parse(request.get("filters"))
        for topic in topics:
            self.subscriptions[topic] = filters
        await self._sync_groups()
        self._reply({"type": "subscribed", "topics": sorted(self.subscriptions)})

    async def _unsubscribe(self, request: dict) -> None:
        for topic in self._topics(request):
            self.subscriptions.pop(topic, None)
        await self._sync_groups()
        self._reply({"type": "subscribed", "topics": sorted(self.subscriptions)})

    # --- Groups and the driver's scope -----------------------------------------------------------

    def _wanted_groups(self) -> set[str]:
        scope = self.principal.driver_scope
        wanted: set[str] = set()
        for topic, filters in self.subscriptions.items():
            wanted |= groups_for(topic, filters, scope)
        if scope is not None:  # hears its loads end or change truck, whatever it subscribed to
            wanted |= {entity_group(load_id) for load_id in scope.load_ids}
        return wanted

    async def _sync_groups(self) -> None:
        async with self._groups_lock:
            wanted = self._wanted_groups()
            # Recorded before joining and after leaving: a disconnect in between still leaves all.
            for group in sorted(wanted - self.groups_joined):
                self.groups_joined.add(group)
                await self.channel_layer.group_add(group, self.channel_name)
            for group in sorted(self.groups_joined - wanted):
                await self.channel_layer.group_discard(group, self.channel_name)
                self.groups_joined.discard(group)

    async def _refresh_driver_scope(self) -> None:
        """Re-reads the driver's active loads. If that fails, the driver keeps only their own
        driver record until a refresh succeeds: a lost load must not leave its truck visible."""
        current = self.principal.driver_scope
        try:
            scope = await database_sync_to_async(read_driver_scope)(self.principal.user_id)
        except Exception:
            logger.exception("could not refresh a driver's stream scope; narrowing it")
            scope = DriverScope(current.driver_id, frozenset(), frozenset())
        if scope != current and not self._closing:
            self.principal = Principal(self.principal.user_id, self.principal.roles, scope)
            await self._sync_groups()

    def _periodic_scope_refresh(self) -> None:
        async def refresh() -> None:
            await self._refresh_driver_scope()
            self._schedule("scope", settings.TMS_WS_DRIVER_SCOPE_REFRESH_S, self._periodic_scope_refresh)

        self._spawn(refresh())


# Mounted by tms/asgi.py.
websocket_urlpatterns = [
    re_path(r"^ws/?$", LiveStreamConsumer.as_asgi()),
]
