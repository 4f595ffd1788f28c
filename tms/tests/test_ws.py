"""The live stream `/ws`, through Channels' WebsocketCommunicator and the real Redis channel layer.

Other test runs publish on the same Redis: every assertion looks for this test's own ids and
skips anything else.
"""

import asyncio
import json
import uuid

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import Group
from django.db import transaction
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from drivers.models import Driver
from drivers.tests.factories import DriverFactory
from events.handlers import broadcast, entity_group
from fleet.tests.factories import VehicleFactory
from loads import services
from loads.tests.factories import load_in
from tms.api_defaults import ADMIN, DISPATCHER, DRIVER, ROLES, VIEWER
from tms.asgi import application
from tms.tests.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

C1 = str(uuid.uuid4())  # a carrier id for locations that do not care


@pytest.fixture(autouse=True)
def _roles(transactional_db):
    """Transactional tests empty the tables the role migration filled."""
    for role in ROLES:
        Group.objects.get_or_create(name=role)


def token_for(*roles: str, **fields) -> str:
    user = UserFactory(username=f"ws-{uuid.uuid4().hex[:10]}", roles=list(roles), **fields)
    return Token.objects.create(user=user).key


async def ticket_for(token: str) -> str:
    """A /ws ticket, as a client gets it: POST /api/ws/ticket with the API token."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    response = await sync_to_async(client.post)("/api/ws/ticket")
    assert response.status_code == 200, response.content
    assert response.json()["expires_in_s"] == 30
    return response.json()["ticket"]


def run(scenario):
    """Runs an async test body (pytest-asyncio is not installed)."""
    return async_to_sync(scenario)()


def event(event_type: str, subject: str, **data) -> dict:
    return {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "type": event_type,
        "source": "/tms",
        "subject": subject,
        "time": "2026-01-01T00:00:00+00:00",
        "data": data,
    }


def location(vehicle_id: str, longitude: float = -87.6, latitude: float = 41.9, **data) -> dict:
    return event(
        "VEHICLE_LOCATION_UPDATED",
        vehicle_id,
        vehicle_id=vehicle_id,
        carrier_id=data.pop("carrier_id", C1),
        longitude=longitude,
        latitude=latitude,
        **data,
    )


async def publish(*envelopes: dict) -> None:
    """Through the relay's own WebSocket hook: topic group and entity group."""
    for envelope in envelopes:
        await sync_to_async(broadcast)(envelope)


async def connect(path: str = "/ws", headers=None) -> WebsocketCommunicator:
    communicator = WebsocketCommunicator(application, path, headers=headers)
    connected, _ = await communicator.connect(timeout=3)
    assert connected
    return communicator


def auth(token: str) -> list[tuple[bytes, bytes]]:
    return [(b"authorization", f"Token {token}".encode())]


async def open_stream(token: str) -> WebsocketCommunicator:
    return await connect("/ws", headers=auth(token))


async def request(communicator, message: dict) -> dict:
    """Sends `message` and returns the reply. Events are skipped: the channel layer is the real
    Redis, shared by the test workers, so another test's event on a subscribed topic may arrive
    before the reply (the protocol does not order them)."""
    await communicator.send_json_to(message)
    while True:
        reply = await communicator.receive_json_from(timeout=3)
        if reply["type"] != "event":
            return reply


async def subscribe(communicator, topics: list[str], filters: dict | None = None) -> dict:
    message = {"action": "subscribe", "topics": topics}
    if filters is not None:
        message["filters"] = filters
    return await request(communicator, message)


async def events_with_ids(communicator, ids: set[str], timeout: float = 3) -> list[dict]:
    """The events among `ids` that arrive, in order, until all have (or `timeout`)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    found: list[dict] = []
    while len(found) < len(ids) and loop.time() < deadline:
        if await communicator.receive_nothing(timeout=0.02, interval=0.01):
            continue
        message = await communicator.receive_json_from(timeout=1)
        if message["type"] == "event" and message["event"]["id"] in ids:
            found.append(message["event"])
    return found


async def nothing_of(communicator, ids: set[str], wait: float = 0.5) -> bool:
    return not await events_with_ids(communicator, ids, timeout=wait)


async def messages_within(communicator, seconds: float, clock=None) -> list[dict]:
    """Everything that arrives within `seconds`; with `clock`, each stamped "at" its arrival."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    messages = []
    while loop.time() < deadline:
        if not await communicator.receive_nothing(timeout=0.01, interval=0.005):
            message = await communicator.receive_json_from(timeout=1)
            messages.append({**message, "at": clock()} if clock else message)
    return messages


async def closed_with(communicator) -> int:
    while True:
        output = await communicator.receive_output(timeout=3)
        if output["type"] == "websocket.close":
            await communicator.disconnect()
            return output["code"]


# --- Authentication ------------------------------------------------------------------------------


@pytest.mark.parametrize("query", ["token={token}", "token=", "ticket=x&token={token}"])
def test_an_api_token_in_the_url_is_refused_with_4400_even_a_valid_one(query):
    """It would land in access logs: browsers use a ticket, programs the header."""
    token = token_for(VIEWER)

    async def scenario():
        stream = await connect("/ws?" + query.format(token=token))
        return await closed_with(stream)

    assert run(scenario) == 4400


def test_a_ticket_opens_one_stream_once():
    token = token_for(VIEWER)
    ticket = async_to_sync(ticket_for)(token)

    async def scenario():
        stream = await connect(f"/ws?ticket={ticket}")
        pong = await request(stream, {"action": "ping"})
        await stream.disconnect()
        again = await connect(f"/ws?ticket={ticket}")
        return pong, await closed_with(again)

    assert run(scenario) == ({"type": "pong"}, 4401)


def test_a_ticket_lives_in_redis_for_at_most_the_ttl(settings):
    from django.core.cache import cache

    ticket = async_to_sync(ticket_for)(token_for(VIEWER))
    key = cache.make_and_validate_key(f"ws-ticket:{ticket}")
    assert 0 < cache._cache.get_client(key).ttl(key) <= settings.TMS_WS_TICKET_TTL_S == 30


def test_tickets_are_issued_to_signed_in_users_only(anon_client):
    assert anon_client.post("/api/ws/ticket").status_code == 401


def test_the_authorization_header_opens_the_stream():
    token = token_for(VIEWER)

    async def scenario():
        stream = await connect("/ws", headers=[(b"authorization", f"Token {token}".encode())])
        assert await request(stream, {"action": "ping"}) == {"type": "pong"}
        await stream.disconnect()

    run(scenario)


@pytest.mark.parametrize(
    "path, headers",
    [
        ("/ws", None),
        ("/ws?ticket=", None),
        ("/ws?ticket=not-a-ticket", None),
        ("/ws?ticket=" + "A" * 43, None),
        ("/ws", [(b"authorization", b"Token not-a-token")]),
        ("/ws", [(b"authorization", b"Bearer whatever")]),
    ],
)
def test_a_missing_or_wrong_token_is_accepted_then_closed_with_4401(path, headers):
    async def scenario():
        stream = await connect(path, headers)
        return await closed_with(stream)

    assert run(scenario) == 4401


def test_an_inactive_users_token_is_closed_with_4401():
    token = token_for(ADMIN, is_active=False)

    async def scenario():
        return await closed_with(await open_stream(token))

    assert run(scenario) == 4401


def test_a_user_without_a_role_is_closed_with_4403():
    token = token_for()

    async def scenario():
        return await closed_with(await open_stream(token))

    assert run(scenario) == 4403


# --- Subscribe, unsubscribe, bad messages --------------------------------------------------------


def test_subscribed_topics_deliver_events_until_unsubscribed():
    token = token_for(VIEWER)
    subject = str(uuid.uuid4())
    before, after = event("LOAD_DELAYED", subject), event("LOAD_DELAYED", subject)

    async def scenario():
        stream = await open_stream(token)
        assert await subscribe(stream, ["tms.loads", "tms.vehicles"]) == {
            "type": "subscribed",
            "topics": ["tms.loads", "tms.vehicles"],
        }
        await publish(before)
        received = await events_with_ids(stream, {before["id"]})
        reply = await request(stream, {"action": "unsubscribe", "topics": ["tms.loads"]})
        await publish(after)
        gone = await nothing_of(stream, {after["id"]})
        await stream.disconnect()
        return received, reply, gone

    received, reply, gone = run(scenario)
    assert received == [before]
    assert reply == {"type": "subscribed", "topics": ["tms.vehicles"]}
    assert gone


@pytest.mark.parametrize(
    "frame, code",
    [
        ("not json", "invalid_json"),
        ("[1, 2]", "invalid_message"),
        ('{"topics": ["tms.loads"]}', "unknown_action"),
        ('{"action": "dance"}', "unknown_action"),
        ('{"action": "subscribe"}', "invalid_message"),
        ('{"action": "subscribe", "topics": "tms.loads"}', "invalid_message"),
        ('{"action": "subscribe", "topics": []}', "invalid_message"),
        ('{"action": "subscribe", "topics": ["tms.nope"]}', "unknown_topic"),
        ('{"action": "subscribe", "topics": ["tms.dlq"]}', "unknown_topic"),
        ('{"action": "unsubscribe", "topics": ["tms.nope"]}', "unknown_topic"),
        ('{"action": "subscribe", "topics": ["tms.loads"], "filters": []}', "invalid_filter"),
        ('{"action": "subscribe", "topics": ["tms.loads"], "filters": {"load_id": "x"}}', "invalid_filter"),
        ('{"action": "subscribe", "topics": ["tms.loads"], "filters": {"load_id": []}}', "invalid_filter"),
        ('{"action": "subscribe", "topics": ["tms.loads"], "filters": {"loadId": "x"}}', "invalid_filter"),
        (
            '{"action": "subscribe", "topics": ["tms.loads"], "filters": {"bbox": [1, 2, 3]}}',
            "invalid_filter",
        ),
        (
            '{"action": "subscribe", "topics": ["tms.loads"], "filters": {"bbox": [0, 50, 10, 40]}}',
            "invalid_filter",
        ),
        (
            '{"action": "subscribe", "topics": ["tms.loads"], "filters": {"bbox": [0, 0, 200, 10]}}',
            "invalid_filter",
        ),
        (
            '{"action": "subscribe", "topics": ["tms.loads"], "filters": {"bbox": [0, 0, true, 10]}}',
            "invalid_filter",
        ),
        (json.dumps({"action": "ping", "pad": "x" * 20000}), "too_large"),
    ],
)
def test_a_bad_message_gets_an_error_and_the_connection_stays_open(frame, code):
    token = token_for(ADMIN)

    async def scenario():
        stream = await open_stream(token)
        await stream.send_to(text_data=frame)
        error = await stream.receive_json_from(timeout=3)
        pong = await request(stream, {"action": "ping"})
        await stream.disconnect()
        return error, pong

    error, pong = run(scenario)
    assert error["type"] == "error"
    assert error["code"] == code
    assert error["message"]
    assert pong == {"type": "pong"}


def test_a_binary_frame_gets_an_error():
    token = token_for(ADMIN)

    async def scenario():
        stream = await open_stream(token)
        await stream.send_to(bytes_data=b'{"action": "ping"}')
        error = await stream.receive_json_from(timeout=3)
        await stream.disconnect()
        return error

    assert run(scenario)["code"] == "invalid_message"


def test_a_refused_subscription_changes_nothing():
    token = token_for(DRIVER)

    async def scenario():
        stream = await open_stream(token)
        error = await subscribe(stream, ["tms.loads", "tms.anomalies"])
        state = await request(stream, {"action": "unsubscribe", "topics": ["tms.routes"]})
        await stream.disconnect()
        return error, state

    error, state = run(scenario)
    assert error["code"] == "forbidden_topic"
    assert state == {"type": "subscribed", "topics": []}


# --- Filters and groups --------------------------------------------------------------------------


def test_a_vehicle_filter_delivers_that_vehicle_only():
    token = token_for(VIEWER)
    mine, other = str(uuid.uuid4()), str(uuid.uuid4())
    wanted, unwanted = location(mine), location(other)

    async def scenario():
        stream = await open_stream(token)
        await subscribe(stream, ["tms.vehicles.tracking"], {"vehicle_id": mine})
        await publish(unwanted, wanted)
        received = await events_with_ids(stream, {wanted["id"], unwanted["id"]}, timeout=1)
        await stream.disconnect()
        return received

    assert run(scenario) == [wanted]


def test_one_vehicle_is_followed_through_its_entity_group_not_the_topic_group():
    token = token_for(VIEWER)
    vehicle = str(uuid.uuid4())
    via_topic, via_entity = location(vehicle), location(vehicle)
    message = {"type": "tms.event"}

    async def scenario():
        stream = await open_stream(token)
        await subscribe(stream, ["tms.vehicles.tracking"], {"vehicle_id": vehicle})
        layer = get_channel_layer()
        await layer.group_send("tms.vehicles.tracking", {**message, "event": via_topic})
        await layer.group_send(entity_group(vehicle), {**message, "event": via_entity})
        received = await events_with_ids(stream, {via_topic["id"], via_entity["id"]}, timeout=1)
        await stream.disconnect()
        return received

    assert run(scenario) == [via_entity]


def test_a_carrier_filter_and_a_bbox_must_both_match():
    token = token_for(ADMIN)
    carrier, other_carrier = str(uuid.uuid4()), str(uuid.uuid4())
    inside = location(str(uuid.uuid4()), -87.6, 41.9, carrier_id=carrier)
    outside = location(str(uuid.uuid4()), -74.0, 40.7, carrier_id=carrier)
    wrong_carrier = location(str(uuid.uuid4()), -87.6, 41.9, carrier_id=other_carrier)
    no_coordinates = event(
        "VEHICLE_STATUS_CHANGED", str(uuid.uuid4()), carrier_id=carrier, status="MAINTENANCE"
    )

    async def scenario():
        stream = await open_stream(token)
        await subscribe(
            stream,
            ["tms.vehicles.tracking", "tms.vehicles"],
            {"carrier_id": [carrier], "bbox": [-90, 40, -85, 43]},
        )
        sent = [outside, wrong_carrier, no_coordinates, inside]
        await publish(*sent)
        received = await events_with_ids(stream, {e["id"] for e in sent}, timeout=1)
        await stream.disconnect()
        return received

    assert run(scenario) == [inside]


# --- Drivers -------------------------------------------------------------------------------------


def driver_on_active_load():
    """A DRIVER-only user, their driver record, and that driver's ASSIGNED load."""
    token = token_for(DRIVER)
    load = load_in("ASSIGNED")
    Driver.objects.filter(pk=load.driver_id).update(user=Token.objects.get(key=token).user)
    return token, load


@pytest.mark.parametrize(
    "topic", ["tms.anomalies", "tms.system.alerts", "tms.carriers", "tms.ai.predictions"]
)
def test_a_driver_may_not_subscribe_to_fleet_wide_topics(topic):
    token = token_for(DRIVER)

    async def scenario():
        stream = await open_stream(token)
        reply = await subscribe(stream, [topic])
        await stream.disconnect()
        return reply

    assert run(scenario)["code"] == "forbidden_topic"


def test_a_driver_receives_their_own_vehicle_and_loads_and_nothing_else():
    token, load = driver_on_active_load()
    vehicle, driver = str(load.vehicle_id), str(load.driver_id)
    own_position, other_position = location(vehicle), location(str(uuid.uuid4()))
    own_load = event("LOAD_DELAYED", str(load.pk), load_id=str(load.pk), driver_id=driver, vehicle_id=vehicle)
    other_load = event(
        "LOAD_DELAYED", str(uuid.uuid4()), load_id=str(uuid.uuid4()), driver_id=str(uuid.uuid4())
    )
    own_status = event("DRIVER_STATUS_CHANGED", driver, driver_id=driver)
    other_status = event("DRIVER_STATUS_CHANGED", str(uuid.uuid4()), driver_id=str(uuid.uuid4()))
    sent = [other_position, own_position, other_load, own_load, other_status, own_status]

    async def scenario():
        stream = await open_stream(token)
        await subscribe(stream, ["tms.vehicles.tracking", "tms.loads", "tms.drivers"])
        await publish(*sent)
        received = await events_with_ids(stream, {e["id"] for e in sent}, timeout=1.5)
        await stream.disconnect()
        return received

    assert run(scenario) == [own_position, own_load, own_status]


def test_a_cancelled_load_takes_its_vehicle_out_of_the_drivers_stream():
    token, load = driver_on_active_load()
    vehicle = str(load.vehicle_id)
    before, after = location(vehicle), location(vehicle)

    def cancel():
        with transaction.atomic():
            services.cancel_load(load, by=None, reason="shipper cancelled")

    async def scenario():
        stream = await open_stream(token)
        await subscribe(stream, ["tms.vehicles.tracking"])  # not tms.loads: the scope still follows
        await publish(before)
        first = await events_with_ids(stream, {before["id"]})
        await sync_to_async(cancel)()  # commit -> relay -> LOAD_CANCELLED on entity.<load>
        await asyncio.sleep(0.5)
        await publish(after)
        gone = await nothing_of(stream, {after["id"]})
        await stream.disconnect()
        return first, gone

    first, gone = run(scenario)
    assert first == [before]
    assert gone


def test_a_new_assignment_brings_its_vehicle_into_the_drivers_stream():
    token = token_for(DRIVER)
    user = Token.objects.get(key=token).user
    vehicle = VehicleFactory()
    driver = DriverFactory(carrier=vehicle.carrier, user=user)
    load = load_in("CREATED")
    before, after = location(str(vehicle.pk)), location(str(vehicle.pk))

    def assign():
        with transaction.atomic():
            services.assign_load(load, by=None, vehicle=vehicle, driver=driver)

    async def scenario():
        stream = await open_stream(token)
        await subscribe(stream, ["tms.loads", "tms.vehicles.tracking"])
        await publish(before)
        hidden = await nothing_of(stream, {before["id"]})
        await sync_to_async(assign)()  # LOAD_ASSIGNED names this driver: the scope is re-read
        assigned = await stream.receive_json_from(timeout=5)
        while assigned["type"] != "event" or assigned["event"]["type"] != "LOAD_ASSIGNED":
            assigned = await stream.receive_json_from(timeout=5)
        await publish(after)
        shown = await events_with_ids(stream, {after["id"]})
        await stream.disconnect()
        return hidden, assigned["event"], shown

    hidden, assigned, shown = run(scenario)
    assert hidden
    assert assigned["data"]["driver_id"] == str(driver.pk)
    assert shown == [after]


# --- Real events, coalescing, slow clients, timers -----------------------------------------------


def test_an_event_from_a_service_call_reaches_a_subscribed_client():
    token = token_for(DISPATCHER)
    load = load_in("ASSIGNED")

    def cancel():
        with transaction.atomic():
            services.cancel_load(load, by=None, reason="weather")

    async def scenario():
        stream = await open_stream(token)
        await subscribe(stream, ["tms.loads"], {"load_id": str(load.pk)})
        await sync_to_async(cancel)()  # on commit the in-process relay publishes it
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 5
        while loop.time() < deadline:
            message = await stream.receive_json_from(timeout=5)
            if message["type"] == "event" and message["event"]["type"] == "LOAD_CANCELLED":
                await stream.disconnect()
                return message["event"]
        raise AssertionError("LOAD_CANCELLED never arrived")

    cancelled = run(scenario)
    assert cancelled["subject"] == str(load.pk)
    assert cancelled["data"]["load_id"] == str(load.pk)
    assert cancelled["data"]["status"] == "CANCELLED"
    assert cancelled["data"]["reason"] == "weather"


def test_locations_are_coalesced_per_vehicle_keeping_the_latest(settings):
    settings.TMS_WS_LOCATION_MAX_PER_S = 1  # windows of 1 s
    token = token_for(VIEWER)
    busy, quiet = str(uuid.uuid4()), str(uuid.uuid4())
    burst = [location(busy, -87.0 - i / 100) for i in range(8)]
    other = location(quiet)

    async def scenario():
        stream = await open_stream(token)
        await subscribe(stream, ["tms.vehicles.tracking"], {"vehicle_id": [busy, quiet]})
        loop = asyncio.get_running_loop()  # the consumer's clock too
        await asyncio.sleep(1 - loop.time() % 1 + 0.02)  # a window has just opened
        await publish(*burst[:4], other, *burst[4:])
        published_in = loop.time() % 1
        arrivals = []
        ids = {e["id"] for e in [*burst, other]}
        for message in await messages_within(stream, 2, clock=lambda: loop.time() % 1):
            if message["type"] == "event" and message["event"]["id"] in ids:
                arrivals.append((message["event"], message["at"]))
        await stream.disconnect()
        return published_in, arrivals

    published_in, arrivals = run(scenario)
    assert published_in < 0.9, "the burst must fit in one window for this test to mean anything"
    assert [event for event, _ in arrivals] == [burst[0], other, burst[-1]]
    assert arrivals[-1][1] < 0.2  # the held position went as the next window opened


def test_locations_pass_unthrottled_when_the_limit_is_zero(settings):
    settings.TMS_WS_LOCATION_MAX_PER_S = 0
    token = token_for(VIEWER)
    vehicle = str(uuid.uuid4())
    burst = [location(vehicle) for _ in range(5)]

    async def scenario():
        stream = await open_stream(token)
        await subscribe(stream, ["tms.vehicles.tracking"], {"vehicle_id": vehicle})
        await publish(*burst)
        received = await events_with_ids(stream, {e["id"] for e in burst})
        await stream.disconnect()
        return received

    assert run(scenario) == burst


def gated(app, gate: asyncio.Event):
    """The app, with every frame to the client held until `gate` opens: a client that reads
    nothing."""

    async def wrapped(scope, receive, send):
        async def slow_send(message):
            if message["type"] == "websocket.send":
                await gate.wait()
            await send(message)

        return await app(scope, receive, slow_send)

    return wrapped


def test_a_slow_client_loses_its_oldest_locations_and_does_not_hold_up_others(settings):
    settings.TMS_WS_SEND_QUEUE_SIZE = 4
    settings.TMS_WS_HEARTBEAT_S = 2.5  # none while the client stalls: the first comes after
    token = token_for(VIEWER)
    load = str(uuid.uuid4())
    vehicles = [str(uuid.uuid4()) for _ in range(6)]
    positions = [location(v) for v in vehicles]
    delayed = event("LOAD_DELAYED", load, load_id=load)
    sent = [*positions[:3], delayed, *positions[3:]]
    ids = {e["id"] for e in sent}

    async def scenario():
        gate = asyncio.Event()
        gate.set()
        slow = WebsocketCommunicator(gated(application, gate), "/ws", headers=auth(token))
        assert (await slow.connect(timeout=3))[0]
        fast = await open_stream(token)
        for stream in (slow, fast):
            await subscribe(stream, ["tms.vehicles.tracking"], {"vehicle_id": vehicles})
            await subscribe(stream, ["tms.loads"], {"load_id": load})
        gate.clear()
        await publish(*sent)
        fast_received = await events_with_ids(fast, ids, timeout=2)
        gate.set()
        slow_received = await messages_within(slow, 3.5)
        await slow.disconnect()
        await fast.disconnect()
        return fast_received, slow_received

    fast_received, slow_received = run(scenario)
    assert fast_received == sent
    # One frame was on its way when the client stalled and four waited in the queue: the oldest
    # locations made room for the newer ones; the load event was kept.
    assert [m["event"] for m in slow_received if m["type"] == "event" and m["event"]["id"] in ids] == [
        positions[0],
        delayed,
        *positions[3:],
    ]
    assert [m for m in slow_received if m["type"] == "heartbeat"][-1] == {"type": "heartbeat", "dropped": 2}


def test_a_slow_client_whose_queue_fills_with_essential_events_is_closed_with_4429(settings):
    settings.TMS_WS_SEND_QUEUE_SIZE = 3
    token = token_for(VIEWER)
    load = str(uuid.uuid4())
    sent = [event("LOAD_DELAYED", load, load_id=load) for _ in range(6)]

    async def scenario():
        gate = asyncio.Event()
        gate.set()
        slow = WebsocketCommunicator(gated(application, gate), "/ws", headers=auth(token))
        assert (await slow.connect(timeout=3))[0]
        await subscribe(slow, ["tms.loads"], {"load_id": load})
        gate.clear()
        await publish(*sent)
        return await closed_with(slow)

    assert run(scenario) == 4429


def test_the_server_sends_heartbeats_and_closes_an_idle_client_with_4408(settings):
    settings.TMS_WS_HEARTBEAT_S = 0.2
    settings.TMS_WS_IDLE_TIMEOUT_S = 0.6
    token = token_for(VIEWER)

    async def scenario():
        stream = await open_stream(token)
        heartbeat = await stream.receive_json_from(timeout=1)
        for _ in range(6):  # pinging keeps it open well past the idle timeout
            await asyncio.sleep(0.2)
            await stream.send_json_to({"action": "ping"})
        replies = []
        while True:
            output = await stream.receive_output(timeout=2)
            if output["type"] == "websocket.close":
                await stream.disconnect()
                return heartbeat, replies, output["code"]
            replies.append(json.loads(output["text"])["type"])

    heartbeat, replies, code = run(scenario)
    assert heartbeat == {"type": "heartbeat", "dropped": 0}
    assert replies.count("pong") == 6
    assert code == 4408
