"""Who the client is behind proxies: X-Forwarded-For counts only from TRUSTED_PROXIES."""

from __future__ import annotations

from typing import Any

import pytest

from rooms.kit.clients import ProxyHeadersMiddleware, forwarded_client, parse_networks

LOOPBACK = parse_networks("TRUSTED_PROXIES", "127.0.0.1/32,::1/128")
DOCKER = parse_networks("TRUSTED_PROXIES", "127.0.0.1/32,172.16.0.0/12")


@pytest.mark.parametrize(("peer", "xff", "proxies", "client"), [
    ("127.0.0.1", ["198.51.100.7"], LOOPBACK, "198.51.100.7"),
    ("203.0.113.9", ["198.51.100.7"], LOOPBACK, None),  # not a proxy of ours: ignored
    # a visitor's own header comes first; the proxy appends the address it saw
    ("127.0.0.1", ["10.1.2.3, 198.51.100.7"], LOOPBACK, "198.51.100.7"),
    # trusted hops are skipped from the right; the first other address is the client
    ("172.18.0.5", ["10.1.2.3, 198.51.100.7, 172.18.0.2"], DOCKER, "198.51.100.7"),
    ("127.0.0.1", ["198.51.100.7", "172.18.0.2"], DOCKER, "198.51.100.7"),  # two header lines
    ("::1", ["2001:db8::5"], LOOPBACK, "2001:db8::5"),
    ("127.0.0.1", ["198.51.100.7:4711"], LOOPBACK, "198.51.100.7"),
    ("127.0.0.1", ["[2001:db8::5]:443"], LOOPBACK, "2001:db8::5"),
    ("127.0.0.1", ["not-an-ip"], LOOPBACK, None),
    ("127.0.0.1", ["198.51.100.7, junk"], LOOPBACK, None),  # the proxy's own word is junk
    ("127.0.0.1", ["junk, 198.51.100.7"], LOOPBACK, "198.51.100.7"),
    ("127.0.0.1", ["127.0.0.1"], LOOPBACK, "127.0.0.1"),
    ("127.0.0.1", [], LOOPBACK, None),
])
def test_forwarded_client(peer: str, xff: list[str], proxies: Any, client: str | None) -> None:
    assert forwarded_client(peer, xff, proxies) == client


async def _scope_after(peer: str, headers: dict[str, str], kind: str = "http",
                       proxies: Any = LOOPBACK) -> dict[str, Any]:
    seen: dict[str, Any] = {}

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.update(scope)

    scope = {"type": kind, "scheme": "ws" if kind == "websocket" else "http",
             "client": (peer, 5000),
             "headers": [(k.encode(), v.encode()) for k, v in headers.items()]}
    await ProxyHeadersMiddleware(app, lambda _: proxies)(scope, None, None)  # type: ignore[arg-type]
    return seen


async def test_the_middleware_rewrites_client_and_scheme_for_a_trusted_peer() -> None:
    headers = {"x-forwarded-for": "198.51.100.7", "x-forwarded-proto": "https"}
    trusted = await _scope_after("127.0.0.1", headers)
    assert (trusted["client"][0], trusted["scheme"]) == ("198.51.100.7", "https")
    socket = await _scope_after("127.0.0.1", headers, "websocket")
    assert (socket["client"][0], socket["scheme"]) == ("198.51.100.7", "wss")
    spoofed = await _scope_after("203.0.113.9", headers)
    assert (spoofed["client"][0], spoofed["scheme"]) == ("203.0.113.9", "http")
    nobody = await _scope_after("127.0.0.1", headers, proxies=())
    assert (nobody["client"][0], nobody["scheme"]) == ("127.0.0.1", "http")
