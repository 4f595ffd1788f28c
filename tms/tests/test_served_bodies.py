"""Request bodies through the served app (uvicorn): a chunked body (no Content-Length) is read
and size-limited like one with a declared length, and a declared length over the limit is refused
before the body is read."""

import http.client
import json
import socket

import pytest
from django.contrib.auth.models import Group
from rest_framework.authtoken.models import Token

from fleet.models import Carrier
from tms.api_defaults import DISPATCHER, ROLES
from tms.tests.factories import UserFactory
from tms.tests.served import served

pytestmark = pytest.mark.django_db(transaction=True)

LIMIT = 2000


@pytest.fixture(scope="module")
def server(django_db_setup, django_db_blocker):
    with served(TMS_MAX_REQUEST_BYTES=str(LIMIT), TMS_THROTTLE_USER="100000/minute") as address:
        yield address


@pytest.fixture
def token(transactional_db) -> str:
    for role in ROLES:
        Group.objects.get_or_create(name=role)
    return Token.objects.create(user=UserFactory(roles=[DISPATCHER])).key


def post_chunked(server: str, token: str, chunks: list[bytes]) -> tuple[int, dict]:
    host, port = server.split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        headers = {"Authorization": f"Token {token}", "Content-Type": "application/json"}
        conn.request("POST", "/api/carriers/", body=iter(chunks), headers=headers, encode_chunked=True)
        response = conn.getresponse()
        return response.status, json.loads(response.read() or b"{}")
    finally:
        conn.close()


def test_a_chunked_create_is_read(server, token):
    body = json.dumps({"name": "Chunked Freight", "dot_number": "7654321"}).encode()
    status, answer = post_chunked(server, token, [body[:10], body[10:25], body[25:]])
    assert status == 201, answer
    assert answer["name"] == "Chunked Freight"
    assert Carrier.objects.filter(dot_number="7654321").count() == 1


def test_a_chunked_body_over_the_limit_is_a_413_and_writes_nothing(server, token):
    body = json.dumps({"name": "Big Freight", "dot_number": "1111111", "mc_number": " " * LIMIT}).encode()
    status, answer = post_chunked(server, token, [body[i : i + 500] for i in range(0, len(body), 500)])
    assert status == 413
    assert answer["error"]["code"] == "request_too_large"
    assert not Carrier.objects.exists()


def test_a_declared_length_over_the_limit_is_refused_before_the_body_arrives(server, token):
    host, port = server.split(":")
    with socket.create_connection((host, int(port)), timeout=10) as client:
        client.sendall(
            b"POST /api/carriers/ HTTP/1.1\r\nHost: " + server.encode() + b"\r\n"
            b"Authorization: Token " + token.encode() + b"\r\nContent-Type: application/json\r\n"
            b"Content-Length: 1000000000\r\n\r\n{"
        )  # and never the rest: the answer must not wait for it
        head = client.recv(65536).split(b"\r\n", 1)[0]
    assert head == b"HTTP/1.1 413 Request Entity Too Large"
    assert not Carrier.objects.exists()
