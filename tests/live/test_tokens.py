"""Live tokens and connection guards, without a server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from redis.asyncio import Redis
from starlette.requests import HTTPConnection

from rooms.config import Settings
from rooms.kit.store import MemoryStore, Store, make_store
from rooms.live.guards import bearer_is_ops_secret, ops_network_allowed, origin_allowed
from rooms.live.tokens import LiveTokens, TokenRefused
from tests.conftest import make_settings
from tests.respell import respellings

SECRET = "s" * 40


@pytest.fixture
async def redis(settings: Settings) -> AsyncIterator[Redis | None]:
    """The tier's Redis (services) or none (embedded)."""
    if not settings.redis_url:
        yield None
        return
    client = Redis.from_url(settings.redis_url)
    try:
        yield client
    finally:
        await client.aclose()


def _store(redis: Redis | None, settings: Settings) -> Store:
    """One process's store: Redis (shared) in the services tier, memory otherwise."""
    return make_store(redis, settings.redis_url)


async def _reason(tokens: LiveTokens, token: str | None, purpose: str = "live") -> str:
    with pytest.raises(TokenRefused) as caught:
        await tokens.redeem(token, purpose)  # type: ignore[arg-type]
    return caught.value.reason


async def test_a_token_is_single_use_and_single_purpose(redis: Redis | None,
                                                       settings: Settings) -> None:
    tokens = LiveTokens(secret=SECRET, ttl_s=60, store=_store(redis, settings))
    token = tokens.mint("live")
    assert await _reason(tokens, token, "ops") == "invalid"
    await tokens.redeem(token, "live")
    assert await _reason(tokens, token) == "used"
    other_process = LiveTokens(secret=SECRET, ttl_s=60, store=_store(redis, settings))
    if redis is not None:  # the ledger is shared: refused on every process
        assert await _reason(other_process, token) == "used"
    assert await _reason(LiveTokens(secret="t" * 40, ttl_s=60),
                         tokens.mint("live")) == "invalid"


async def test_a_token_has_one_spelling(redis: Redis | None, settings: Settings) -> None:
    tokens = LiveTokens(secret=SECRET, ttl_s=60, store=_store(redis, settings))
    token = tokens.mint("live")
    await tokens.redeem(token, "live")
    for other in respellings(token):  # each would be a second connection on the same token
        assert await _reason(tokens, other) == "invalid", other
    unused = tokens.mint("live")
    for other in respellings(unused):
        assert await _reason(tokens, other) == "invalid", other
    await tokens.redeem(unused, "live")  # the issued spelling still works, once


async def test_expired_tampered_and_junk_tokens() -> None:
    now = [1_000_000.0]
    tokens = LiveTokens(secret=SECRET, ttl_s=60, clock=lambda: now[0])
    token = tokens.mint("live")
    now[0] += 61
    assert await _reason(tokens, token) == "expired"
    body, mac = tokens.mint("live").split(".")
    flipped = body[:-1] + ("A" if body[-1] != "A" else "B")
    for junk in (None, "", "x", "a.b.c", f"{flipped}.{mac}", f"{body}.{mac[:-2]}", "é.é"):
        assert await _reason(tokens, junk) == "invalid"


async def test_the_memory_ledger_forgets_expired_tokens() -> None:
    now = [1_000_000.0]
    store = MemoryStore(clock=lambda: now[0])
    tokens = LiveTokens(secret=SECRET, ttl_s=5, store=store, clock=lambda: now[0])
    for _ in range(3000):
        await tokens.redeem(tokens.mint("live"), "live")
        now[0] += 0.01
    assert len(store) < 2100  # pruned as it grew, not kept forever


def _conn(headers: dict[str, str], client: str = "127.0.0.1") -> HTTPConnection:
    raw = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    return HTTPConnection({"type": "websocket", "headers": raw, "client": (client, 5000),
                           "path": "/ws/live", "query_string": b""})


def test_origin_rules(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    host = {"host": "rooms.example:8443"}
    assert origin_allowed(_conn(host), settings)  # no Origin: not a browser
    assert origin_allowed(_conn({**host, "origin": "https://rooms.example"}), settings)
    assert origin_allowed(_conn({**host, "origin": "http://localhost:3000"}), settings)
    assert not origin_allowed(_conn({**host, "origin": "https://evil.example"}), settings)
    assert not origin_allowed(_conn({**host, "origin": "null"}), settings)
    assert not origin_allowed(_conn({"origin": "https://rooms.example.evil"}), settings)
    anyone = settings.model_copy(update={"allowed_hosts": "*"})
    assert origin_allowed(_conn({"origin": "https://evil.example"}), anyone)


def test_operator_secret_and_networks(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    assert bearer_is_ops_secret(_conn({"authorization": "Bearer ops-test-secret"}), settings)
    assert not bearer_is_ops_secret(_conn({"authorization": "Bearer ops-test-secre"}), settings)
    assert not bearer_is_ops_secret(_conn({"authorization": "Basic ops-test-secret"}), settings)
    assert not bearer_is_ops_secret(_conn({}), settings)
    assert ops_network_allowed(_conn({}, "203.0.113.9"), settings)  # empty: any
    lan = settings.model_copy(update={"ops_allowed_networks": "10.0.0.0/8"})
    assert ops_network_allowed(_conn({}, "10.1.2.3"), lan)
    assert not ops_network_allowed(_conn({}, "203.0.113.9"), lan)
