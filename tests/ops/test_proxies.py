"""Behind a proxy: X-Forwarded-For names the client only when a trusted proxy sent it.

One rule (TRUSTED_PROXIES, `rooms.kit.clients`) for upload budgets, the sign-in lockout and
OPS_ALLOWED_NETWORKS; a visitor who writes the header themselves changes nothing.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from fastapi import FastAPI

from tests.ops.conftest import SECRET, error_code, login, status
from tests.recordings.conftest import upload

PROXY = "127.0.0.1"  # in the default TRUSTED_PROXIES
VISITOR = "203.0.113.9"  # not a proxy of ours
_kiosk = itertools.count(1)


@asynccontextmanager
async def peer(app: FastAPI, ip: str,
               base_url: str = "http://testserver") -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=(ip, 40000))
    async with httpx.AsyncClient(transport=transport, base_url=base_url) as c:
        yield c


def xff(value: str) -> dict[str, str]:
    return {"X-Forwarded-For": value}


async def _upload_as(c: httpx.AsyncClient, forwarded: str) -> int:
    """One upload from a new kiosk id, so only the per-IP budget can refuse it."""
    headers = {**xff(forwarded), "X-Rooms-Client-Id": f"kiosk-proxy-{next(_kiosk):04d}"}
    return (await upload(c, headers=headers)).status_code


@pytest.mark.ops_settings(public_ingest_ip_rate="2/hour")
async def test_the_upload_budget_follows_the_forwarded_client(app: FastAPI) -> None:
    async with peer(app, VISITOR) as visitor:
        spoofed = [await _upload_as(visitor, f"198.51.100.{i}") for i in range(3)]
    assert spoofed == [201, 201, 429]  # a new header each time, one IP all the same
    async with peer(app, PROXY) as proxy:
        assert [await _upload_as(proxy, f"198.51.100.{i}") for i in range(3)] == [201] * 3
        assert [await _upload_as(proxy, "192.0.2.50") for _ in range(3)] == [201, 201, 429]
        # what the visitor put before the proxy's own entry does not count
        assert await _upload_as(proxy, "192.0.2.99, 192.0.2.50") == 429


@pytest.mark.ops_settings(ops_login_max_attempts=2, ops_login_lockout_scope="ip")
async def test_the_lockout_follows_the_forwarded_client(app: FastAPI) -> None:
    async with peer(app, VISITOR) as visitor:
        for i in range(2):
            assert (await login(visitor, "guess", headers=xff(f"198.51.100.{i}"))
                    ).status_code == 403
        locked = await login(visitor, headers=xff("198.51.100.77"))
        assert locked.status_code == 429 and error_code(locked) == "ops_login_locked"
    async with peer(app, PROXY) as proxy:
        for _ in range(2):
            assert (await login(proxy, "guess", headers=xff("192.0.2.50"))).status_code == 403
        assert (await login(proxy, headers=xff("192.0.2.50"))).status_code == 429
        assert (await login(proxy, headers=xff("192.0.2.51"))).status_code == 303
        # the proxy's own address is not locked by its clients' failures
        assert (await login(proxy)).status_code == 303


@pytest.mark.ops_settings(ops_allowed_networks="10.0.0.0/8",
                          trusted_proxies="127.0.0.1/32,172.16.0.0/12")
async def test_allowed_networks_see_the_forwarded_client(app: FastAPI) -> None:
    bearer = {"Authorization": f"Bearer {SECRET}"}
    async with peer(app, VISITOR) as visitor:
        refused = await status(visitor, headers={**bearer, **xff("10.1.2.3")})
        assert refused.status_code == 403 and error_code(refused) == "ops_network_forbidden"
    async with peer(app, PROXY) as proxy:
        assert (await status(proxy, headers={**bearer, **xff("10.1.2.3")})).status_code == 200
        assert (await status(proxy, headers=bearer)).status_code == 403  # the proxy itself
        outside = await status(proxy, headers={**bearer, **xff("10.1.2.3, 203.0.113.50")})
        assert outside.status_code == 403
        # a chain of our own proxies (Caddy in a container, 172.16/12) is walked through
        chain = await status(proxy, headers={**bearer, **xff("10.1.2.3, 172.18.0.2")})
        assert chain.status_code == 200


async def test_the_forwarded_scheme_counts_only_from_a_proxy(app: FastAPI) -> None:
    https = {"X-Forwarded-Proto": "https"}
    async with peer(app, PROXY) as proxy:
        cookie = (await login(proxy, headers=https)).headers["set-cookie"].lower()
        assert "secure" in {p.strip() for p in cookie.split(";")}
    async with peer(app, VISITOR) as visitor:
        cookie = (await login(visitor, headers=https)).headers["set-cookie"].lower()
        assert "secure" not in {p.strip() for p in cookie.split(";")}
