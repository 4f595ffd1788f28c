"""The client's address, computed in one place for throttles, audit rows, the /metrics allow-list
and the OsmAnd protocol.

X-Forwarded-For is a header any client can send, so it is believed only from the reverse proxies
listed in TMS_TRUSTED_PROXIES (CIDRs; empty by default: the socket peer is the client). Behind
trusted proxies the client is the right-most address of X-Forwarded-For that is not itself a
trusted proxy: each proxy appends the address it received the request from, so everything to the
left of that address was written by the client and proves nothing.
"""

import ipaddress

from django.conf import settings
from django.http import HttpRequest

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def _address(text: str) -> Address | None:
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        return None


def _trusted(address: Address) -> bool:
    return any(address in network for network in settings.TRUSTED_PROXIES)


def client_address(peer: str, forwarded_for: str | None) -> str:
    """The client's address, given the socket peer and the X-Forwarded-For header (if any)."""
    current = _address(peer or "")
    if current is None:
        return peer or ""
    if not forwarded_for or not _trusted(current):
        return str(current)
    for hop in reversed(forwarded_for.split(",")):
        address = _address(hop)
        if address is None:
            break  # garbage from beyond the last trusted proxy: that proxy's peer is all we know
        current = address
        if not _trusted(current):
            break
    return str(current)


def client_ip(request: HttpRequest) -> str:
    """The request's client address (REMOTE_ADDR is the socket peer under uvicorn, which runs
    with --no-proxy-headers so that this is the only place that reads X-Forwarded-For)."""
    meta = request.META
    return client_address(meta.get("REMOTE_ADDR", ""), meta.get("HTTP_X_FORWARDED_FOR"))
