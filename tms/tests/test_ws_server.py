"""The live stream through a real ASGI server (uvicorn, in a subprocess) and a real WebSocket
client library (websockets)."""

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from urllib.parse import quote

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from django.conf import settings
from django.contrib.auth.models import Group
from django.db import connection, transaction
from rest_framework.authtoken.models import Token
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from loads import services
from loads.tests.factories import load_in
from tms.api_defaults import DISPATCHER, ROLES
from tms.tests.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def server(django_db_setup):
    """uvicorn serving tms.asgi on a free loopback port, on this run's test database."""
    db = connection.settings_dict
    credentials = quote(db["USER"]) + (f":{quote(db['PASSWORD'])}" if db.get("PASSWORD") else "")
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": f"postgis://{credentials}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "DJANGO_SETTINGS_MODULE": "tms.settings",
    }
    command = [sys.executable, "-m", "uvicorn", "tms.asgi:application", "--host", "127.0.0.1"]
    process = subprocess.Popen(
        [*command, "--port", str(port), "--log-level", "warning", "--no-access-log"],
        cwd=settings.BASE_DIR,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"uvicorn exited: {process.stderr.read().decode()[-2000:]}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        yield f"ws://127.0.0.1:{port}/ws"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


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
