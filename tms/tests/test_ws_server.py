"""The live stream through a real ASGI server (uvicorn, in a subprocess) and a real WebSocket
client library (websockets)."""

import asyncio
import json
import urllib.request

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from django.contrib.auth.models import Group
from django.db import transaction
from rest_framework.authtoken.models import Token
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from loads import services
from loads.tests.factories import load_in
from tms.api_defaults import DISPATCHER, ROLES
from tms.tests.factories import UserFactory
from tms.tests.served import served

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(scope="module")
def server(django_db_setup):
    """uvicorn serving tms.asgi on a free loopback port, on this run's test database."""
    with served() as address:
        yield f"ws://{address}/ws"


@pytest.fixture(autouse=True)
def _roles(transactional_db):
    for role in ROLES:
        Group.objects.get_or_create(name=role)


def dispatcher_token() -> str:
    return Token.objects.create(user=UserFactory(roles=[DISPATCHER])).key


def test_a_service_event_reaches_a_websockets_client_through_uvicorn(server):
    token = dispatcher_token()
    load = load_in("ASSIGNED")

    def cancel():
        with transaction.atomic():
            services.cancel_load(load, by=None, reason="closed road")

    async def scenario():
        async with connect(server, additional_headers={"Authorization": f"Token {token}"}) as stream:
            subscribe = {"action": "subscribe", "topics": ["tms.loads"], "filters": {"load_id": str(load.pk)}}
            await stream.send(json.dumps(subscribe))
            subscribed = json.loads(await asyncio.wait_for(stream.recv(), 5))
            await sync_to_async(cancel)()  # commit -> in-process relay -> Redis -> uvicorn
            while True:
                message = json.loads(await asyncio.wait_for(stream.recv(), 5))
                if message["type"] == "event":
                    return subscribed, message["event"]

    subscribed, cancelled = async_to_sync(scenario)()
    assert subscribed == {"type": "subscribed", "topics": ["tms.loads"]}
    assert cancelled["type"] == "LOAD_CANCELLED"
    assert cancelled["subject"] == str(load.pk)
    assert cancelled["data"]["reason"] == "closed road"


def test_the_authorization_header_works_through_uvicorn(server):
    token = dispatcher_token()

    async def scenario():
        async with connect(server, additional_headers={"Authorization": f"Token {token}"}) as stream:
            await stream.send(json.dumps({"action": "ping"}))
            return json.loads(await asyncio.wait_for(stream.recv(), 5))

    assert async_to_sync(scenario)() == {"type": "pong"}


def test_a_ticket_opens_the_stream_through_uvicorn(server):
    # From the server itself: it keeps tickets in its Redis key space, not this test's.
    request = urllib.request.Request(
        server.replace("ws://", "http://").replace("/ws", "/api/ws/ticket"),
        method="POST",
        headers={"Authorization": f"Token {dispatcher_token()}"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        ticket = json.loads(response.read())["ticket"]

    async def scenario():
        async with connect(f"{server}?ticket={ticket}") as stream:
            await stream.send(json.dumps({"action": "ping"}))
            return json.loads(await asyncio.wait_for(stream.recv(), 5))

    assert async_to_sync(scenario)() == {"type": "pong"}


def test_a_wrong_token_is_closed_with_4401_through_uvicorn(server):
    async def scenario():
        async with connect(server, additional_headers={"Authorization": "Token wrong"}) as stream:
            with pytest.raises(ConnectionClosed) as closed:
                await asyncio.wait_for(stream.recv(), 5)
            return closed.value.rcvd.code

    assert async_to_sync(scenario)() == 4401
