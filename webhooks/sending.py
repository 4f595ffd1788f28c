"""The HTTP side of a delivery: where a webhook may go, how it is signed, and the POST itself.

Signatures follow Standard Webhooks (https://www.standardwebhooks.com): the headers `webhook-id`
(the delivery's id, the same for each of its attempts), `webhook-timestamp` (Unix seconds of the
attempt) and `webhook-signature` (`v1,` + base64 of HMAC-SHA256 over `id.timestamp.body`, keyed
with the secret's bytes), so a receiver can verify with any Standard Webhooks library.

Targets: http(s) only, and never a loopback, private, link-local, shared, multicast or reserved
address unless settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS. Checked when subscribing
(`check_target_url`) and again by every connection, on the address it resolved and connects to
(`_CheckedConnection`), so a name that resolves elsewhere later (DNS rebinding) reaches nothing.
No proxy from the environment, no redirect followed, a timeout on the connection and on each read,
and only the first WEBHOOKS_RESPONSE_EXCERPT_BYTES of the answer read.
"""

import base64
import ipaddress
import json
import secrets
import socket
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import urllib3
from django.conf import settings
from django.core.exceptions import ValidationError
from standardwebhooks import Webhook
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError

SECRET_PREFIX = "whsec_"
USER_AGENT = "tms-webhooks/1"


class RefusedTarget(Exception):
    """The target resolves to an address webhooks may not reach."""


# --- secrets and signatures ------------------------------------------------------------------------


def new_secret() -> str:
    """A signing secret as Standard Webhooks writes them: whsec_ + base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def check_secret(secret: str) -> None:
    """A secret given by an admin: whsec_ + base64 of 24 to 64 bytes (ValidationError if not)."""
    message = "Expected whsec_ followed by the base64 of 24 to 64 random bytes."
    if not secret.startswith(SECRET_PREFIX):
        raise ValidationError({"secret": [message]})
    try:
        key = base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
    except ValueError as error:
        raise ValidationError({"secret": [message]}) from error
    if not 24 <= len(key) <= 64:
        raise ValidationError({"secret": [message]})


def body_of(payload: dict[str, Any]) -> bytes:
    """The request body: the CloudEvent as compact JSON, the same bytes for every attempt."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


def signed_headers(*, secret: str, message_id: str, body: bytes, at: datetime) -> dict[str, str]:
    """The Standard Webhooks headers of one attempt sent at `at`."""
    at = at.astimezone(UTC)
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": Webhook(secret).sign(message_id, at, body.decode()),
    }


# --- where a webhook may go ------------------------------------------------------------------------


def address_refused(address: str) -> bool:
    """True for an address webhooks may not reach: anything not globally routable (loopback,
    private, link-local, shared, reserved, unspecified), and multicast."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # an IPv6 zone id is not part of it
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not ip.is_global or ip.is_multicast


def _resolve(host: str, port: int) -> list[tuple]:
    """getaddrinfo's answers for a TCP connection to host:port."""
    return socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)


def check_addresses(host: str, port: int) -> list[tuple]:
    """The addresses `host` resolves to, all of them allowed (RefusedTarget if one is not: a name
    with a private address among its answers is refused, whichever answer a connection would
    take); gaierror when it does not resolve."""
    answers = _resolve(host, port)
    if not settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS:
        refused = sorted({answer[4][0] for answer in answers if address_refused(answer[4][0])})
        if refused:
            raise RefusedTarget(
                f"{host} resolves to {', '.join(refused)}: loopback, private, link-local and "
                "reserved addresses are refused (WEBHOOKS_ALLOW_PRIVATE_TARGETS)"
            )
    return answers


def check_target_url(url: str) -> None:
    """A subscription's URL: http(s), with a host, no credentials, and resolving only to allowed
    addresses (ValidationError on `url` otherwise)."""
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as error:
        raise ValidationError({"url": [f"Not a valid URL: {error}."]}) from error
    if parts.scheme not in {"http", "https"}:
        raise ValidationError({"url": ["Only http and https URLs are accepted."]})
    if not parts.hostname:
        raise ValidationError({"url": ["The URL has no host."]})
    if parts.username is not None or parts.password is not None:
        raise ValidationError({"url": ["Credentials in the URL are not accepted: verify the signature."]})
    try:
        check_addresses(parts.hostname, port)
    except RefusedTarget as error:
        raise ValidationError({"url": [f"{error}."]}) from error
    except (OSError, UnicodeError) as error:
        raise ValidationError({"url": [f"{parts.hostname} does not resolve ({error})."]}) from error


class _CheckedConnection:
    """urllib3's connection, connecting only to an address `check_addresses` allows: the check is
    made on the answers of the very resolution the connection then uses."""

    def _new_conn(self) -> socket.socket:
        try:
            answers = check_addresses(self._dns_host, self.port)
        except socket.gaierror as error:
            raise NameResolutionError(self.host, self, error) from error
        last_error: OSError | None = None
        for family, kind, proto, _, address in answers:
            sock = socket.socket(family, kind, proto)
            try:
                sock.settimeout(self.timeout)
                for option in self.socket_options or ():
                    sock.setsockopt(*option)
                sock.connect(address)
                return sock
            except TimeoutError as error:
                sock.close()
                raise ConnectTimeoutError(self, f"Connection to {self.host} timed out.") from error
            except OSError as error:
                sock.close()
                last_error = error
        raise NewConnectionError(self, f"Failed to establish a new connection: {last_error}")


class CheckedHTTPConnection(_CheckedConnection, HTTPConnection):
    pass


class CheckedHTTPSConnection(_CheckedConnection, HTTPSConnection):
    pass


class CheckedHTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = CheckedHTTPConnection


class CheckedHTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = CheckedHTTPSConnection


_pool_manager: urllib3.PoolManager | None = None


def pool_manager() -> urllib3.PoolManager:
    """One per process, shared by the sender's threads (urllib3's pools are thread-safe); never a
    proxy from the environment, which would connect where it likes."""
    global _pool_manager
    if _pool_manager is None:
        manager = urllib3.PoolManager(num_pools=100, maxsize=max(settings.WEBHOOKS_SENDER_THREADS, 1))
        manager.pool_classes_by_scheme = {
            "http": CheckedHTTPConnectionPool,
            "https": CheckedHTTPSConnectionPool,
        }
        _pool_manager = manager
    return _pool_manager


# --- one attempt -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class AttemptResult:
    succeeded: bool
    status_code: int | None
    body_excerpt: str
    duration_ms: int
    error: str


def post(*, url: str, secret: str, message_id: str, payload: dict[str, Any], at: datetime) -> AttemptResult:
    """POSTs the event, signed for `at`; a 2xx answer is a success, anything else (a redirect, an
    error, a timeout, a refused address) a failure with its reason. Never raises for the receiver's
    sake: everything the receiver does is in the result."""
    body = body_of(payload)
    headers = {
        "Content-Type": "application/cloudevents+json; charset=utf-8",
        "User-Agent": USER_AGENT,
        "Accept-Encoding": "identity",
        **signed_headers(secret=secret, message_id=message_id, body=body, at=at),
    }
    started = time.monotonic()
    timeout = settings.WEBHOOKS_TIMEOUT_S
    try:
        response = pool_manager().request(
            "POST",
            url,
            body=body,
            headers=headers,
            timeout=urllib3.Timeout(connect=timeout, read=timeout),
            retries=False,  # no retry here (the delivery's schedule retries), no redirect followed
            redirect=False,
            preload_content=False,
        )
    except RefusedTarget as error:
        return AttemptResult(False, None, "", _ms_since(started), f"refused: {error}")
    except (urllib3.exceptions.HTTPError, OSError) as error:
        return AttemptResult(False, None, "", _ms_since(started), f"{type(error).__name__}: {error}")
    try:
        excerpt = response.read(settings.WEBHOOKS_RESPONSE_EXCERPT_BYTES, decode_content=False)
        error = ""
    except (urllib3.exceptions.HTTPError, OSError) as read_error:
        excerpt, error = b"", f"reading the answer: {type(read_error).__name__}: {read_error}"
    finally:
        if response.length_remaining == 0:
            response.release_conn()  # read to its end: the connection can serve the next one
        else:
            response.close()  # the rest of the answer is not read
    succeeded = 200 <= response.status < 300
    if succeeded:
        error = ""
    elif not error:
        error = f"HTTP {response.status}"
    return AttemptResult(
        succeeded,
        response.status,
        excerpt.decode("utf-8", errors="replace"),
        _ms_since(started),
        error,
    )


def _ms_since(started: float) -> int:
    return round((time.monotonic() - started) * 1000)
