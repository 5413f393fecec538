"""Who is asking: the client's IP (behind trusted proxies) and a kiosk's own id.

`ProxyHeadersMiddleware` believes `X-Forwarded-For` and `X-Forwarded-Proto` only from a
direct peer inside TRUSTED_PROXIES. It walks `X-Forwarded-For` from the right, skipping
hops that are themselves trusted proxies; the first other address is the client. That
address replaces the ASGI scope's `client` (and the forwarded scheme its `scheme`), so
`client_ip(conn)`, the session cookie's Secure flag and the websocket URL all see the
client, once, by one rule. From any other peer the headers are ignored: a visitor cannot
name their own address.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Callable, Sequence

from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Receive, Scope, Send

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

CLIENT_HEADER = "x-rooms-client-id"
CLIENT_COOKIE = "rooms_client_id"
_CLIENT_ID = re.compile(r"[A-Za-z0-9_.:-]{6,64}")
PEER = "rooms.peer"  # scope key: the direct peer, when a trusted proxy named the client


def client_ip(conn: HTTPConnection) -> str:
    """The client's address (after `ProxyHeadersMiddleware`), for budgets, lockout, networks."""
    return conn.client.host if conn.client else "unknown"


def client_id(conn: HTTPConnection) -> str:
    """The kiosk's own id (header, else cookie), else its IP."""
    for raw in (conn.headers.get(CLIENT_HEADER), conn.cookies.get(CLIENT_COOKIE)):
        if raw and _CLIENT_ID.fullmatch(raw):
            return f"c:{raw}"
    return f"ip:{client_ip(conn)}"


@functools.lru_cache(maxsize=64)  # read per request by the middleware and the ops guard
def parse_networks(name: str, text: str) -> tuple[Network, ...]:
    """`"10.0.0.0/8, 192.0.2.7"` -> networks; ValueError naming `name` on a bad entry."""
    nets: list[Network] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        try:
            nets.append(ipaddress.ip_network(part, strict=False))
        except ValueError as exc:
            raise ValueError(f"{name}: {part!r} is not an IP or CIDR") from exc
    return tuple(nets)


def _address(text: str) -> Address | None:
    """An IP from a forwarded hop (`1.2.3.4`, `1.2.3.4:5678`, `[::1]:80`, `::1`), or None."""
    text = text.strip().strip('"')
    if text.startswith("["):
        text = text[1:].split("]", 1)[0]
    elif text.count(":") == 1:
        text = text.split(":", 1)[0]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _trusted(address: Address, proxies: Sequence[Network]) -> bool:
    return any(address in net for net in proxies)


def forwarded_client(peer: str, forwarded_for: Sequence[str],
                     proxies: Sequence[Network]) -> str | None:
    """The client named by `X-Forwarded-For` values (in header order) when `peer` is a
    trusted proxy; None when the headers do not count (untrusted peer, nothing usable)."""
    current = _address(peer)
    if current is None or not _trusted(current, proxies):
        return None
    hops = [hop for value in forwarded_for for hop in value.split(",") if hop.strip()]
    found: Address | None = None
    for hop in reversed(hops):
        address = _address(hop)
        if address is None:  # a proxy we trust wrote junk: stop at the last sound hop
            break
        found = address
        if not _trusted(address, proxies):
            break
    return str(found) if found is not None else None


class ProxyHeadersMiddleware:
    """Rewrite the scope's client and scheme from a trusted proxy's forwarded headers.

    `proxies(scope)` gives TRUSTED_PROXIES at request time (settings are read in the
    lifespan, after the middleware stack is built).
    """

    def __init__(self, app: ASGIApp, proxies: Callable[[Scope], Sequence[Network]]) -> None:
        self.app = app
        self.proxies = proxies

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and scope.get("client"):
            self._rewrite(scope)
        await self.app(scope, receive, send)

    def _rewrite(self, scope: Scope) -> None:
        xff: list[str] = []
        proto: str | None = None
        for name, value in scope["headers"]:
            if name == b"x-forwarded-for":
                xff.append(value.decode("latin-1"))
            elif name == b"x-forwarded-proto":
                proto = value.decode("latin-1")
        if not xff and proto is None:
            return
        peer_host, peer_port = scope["client"]
        proxies = self.proxies(scope)
        if not proxies or not _trusted_peer(peer_host, proxies):
            return
        client = forwarded_client(peer_host, xff, proxies) if xff else None
        if client is not None:
            scope[PEER] = (peer_host, peer_port)
            scope["client"] = (client, 0)
        scheme = (proto or "").split(",")[-1].strip().lower()  # the nearest proxy's word
        if scheme in ("http", "https"):
            secure = scheme == "https"
            if scope["type"] == "websocket":
                scope["scheme"] = "wss" if secure else "ws"
            else:
                scope["scheme"] = scheme


def _trusted_peer(host: str, proxies: Sequence[Network]) -> bool:
    address = _address(host)
    return address is not None and _trusted(address, proxies)
