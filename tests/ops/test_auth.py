"""Operator sign-in, sessions and guards, as a steward's browser and a script see them."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr
from structlog.testing import capture_logs

from rooms.access.operator import COOKIE
from tests.helpers import resources
from tests.ops.conftest import BROWSER, JSON, SECRET, error_code, login, status
from tests.respell import respellings


@asynccontextmanager
async def client_from(app: FastAPI, ip: str,
                      base_url: str = "http://testserver") -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=(ip, 40000))
    async with httpx.AsyncClient(transport=transport, base_url=base_url) as c:
        yield c


def session_cookie(response: httpx.Response) -> str:
    return response.cookies[COOKIE]


async def status_with(client: httpx.AsyncClient, cookie: str, user_agent: str = BROWSER[
        "User-Agent"]) -> httpx.Response:
    client.cookies.clear()
    return await client.get("/api/v1/node/status",
                            headers={"Cookie": f"{COOKIE}={cookie}", "User-Agent": user_agent})


async def test_sign_in_sets_a_strict_httponly_cookie_that_opens_node_status(
        client: httpx.AsyncClient) -> None:
    refused = await status(client)
    assert refused.status_code == 401
    assert refused.json()["error"] == {"code": "ops_auth_required",
                                       "message": "operator sign-in required"}
    response = await login(client)
    assert response.status_code == 303
    assert response.headers["location"] == "/ops/"
    assert response.headers["cache-control"] == "no-store"
    cookie = response.headers["set-cookie"]
    attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")}
    assert {"httponly", "path", "max-age", "samesite"} <= attributes
    assert "samesite=strict" in cookie.lower() and "path=/" in cookie.lower()
    assert "max-age=43200" in cookie.lower()
    assert "secure" not in attributes  # plain http here; see the https test
    assert SECRET not in cookie
    opened = await status(client)  # the client's cookie jar sends it back
    assert opened.status_code == 200, opened.text
    assert opened.headers["cache-control"] == "no-store"


async def test_a_json_client_gets_ok_instead_of_a_redirect(client: httpx.AsyncClient) -> None:
    response = await login(client, headers=JSON)
    assert response.status_code == 200
    assert response.json() == {"ok": True}
    assert COOKIE in response.cookies


async def test_over_https_the_cookie_is_secure(app: FastAPI) -> None:
    async with client_from(app, "127.0.0.1", base_url="https://testserver") as c:
        response = await login(c)
    assert response.status_code == 303
    assert "secure" in {p.strip().lower() for p in response.headers["set-cookie"].split(";")}


async def test_a_wrong_secret_is_refused_and_logged_without_the_secret(
        client: httpx.AsyncClient) -> None:
    with capture_logs() as logs:
        response = await login(client, "not-the-secret")
    assert response.status_code == 403
    assert error_code(response) == "ops_bad_secret"
    assert COOKIE not in response.cookies
    failed = [e for e in logs if e["event"] == "ops.login.failed"]
    assert len(failed) == 1 and failed[0]["failures"] == 1
    assert "not-the-secret" not in repr(logs) and SECRET not in repr(logs)
    assert (await status(client)).status_code == 401


@pytest.mark.ops_settings(ops_login_max_attempts=6, ops_login_lockout_seconds=900)
async def test_six_failures_lock_the_client_out_even_with_the_right_secret(
        client: httpx.AsyncClient, app: FastAPI) -> None:
    for _ in range(6):
        assert (await login(client, "guess")).status_code == 403
    locked = await login(client)
    assert locked.status_code == 429
    assert error_code(locked) == "ops_login_locked"
    assert locked.headers["retry-after"] == "900"
    assert COOKIE not in locked.cookies
    # The scope is ip + user agent (the default): another browser on that IP is not locked.
    assert (await login(client, headers={"User-Agent": "another browser"})).status_code == 303
    # The lock lasts OPS_LOGIN_LOCKOUT_SECONDS, then the right secret works again.
    lockout = resources(app).ops_lockout
    lockout.clock = lambda: time.time() + 899
    assert (await login(client)).status_code == 429
    lockout.clock = lambda: time.time() + 901
    assert (await login(client)).status_code == 303


@pytest.mark.ops_settings(ops_login_max_attempts=2, ops_login_lockout_scope="ip")
async def test_ip_scope_locks_every_browser_on_that_address(client: httpx.AsyncClient,
                                                           app: FastAPI) -> None:
    for agent in ("browser one", "browser two"):
        assert (await login(client, "guess", headers={"User-Agent": agent})).status_code == 403
    response = await login(client, headers={"User-Agent": "browser three"})
    assert response.status_code == 429
    async with client_from(app, "10.9.8.7") as elsewhere:
        assert (await login(elsewhere)).status_code == 303


@pytest.mark.ops_settings(ops_login_max_attempts=3)
async def test_a_successful_sign_in_forgets_earlier_failures(client: httpx.AsyncClient) -> None:
    for _ in range(2):
        assert (await login(client, "typo")).status_code == 403
    assert (await login(client)).status_code == 303
    for _ in range(2):
        assert (await login(client, "typo")).status_code == 403
    assert (await login(client)).status_code == 303  # two fresh failures, not four


async def test_sign_out_ends_the_session_everywhere(client: httpx.AsyncClient) -> None:
    cookie = session_cookie(await login(client))
    response = await client.post("/ops/logout", headers=BROWSER)
    assert response.status_code == 303
    assert response.headers["location"] == "/ops/"
    assert f'{COOKIE}=""' in response.headers["set-cookie"]
    assert "max-age=0" in response.headers["set-cookie"].lower()
    assert (await status(client)).status_code == 401
    # A copy of the cookie taken before signing out is dead too.
    replayed = await status_with(client, cookie)
    assert replayed.status_code == 401
    assert error_code(replayed) == "ops_auth_required"


async def test_a_signed_out_cookie_has_no_other_spelling(client: httpx.AsyncClient) -> None:
    cookie = session_cookie(await login(client))
    assert (await status_with(client, cookie)).status_code == 200
    for other in respellings(cookie):  # only the issued spelling is a session at all
        assert (await status_with(client, other)).status_code == 401, other
    client.cookies.set(COOKIE, cookie)
    assert (await client.post("/ops/logout", headers=BROWSER)).status_code == 303
    for other in [cookie, f"{cookie}~~~~", *respellings(cookie)]:
        refused = await status_with(client, other)
        assert refused.status_code == 401 and error_code(refused) == "ops_auth_required", other


async def test_tampered_and_expired_cookies_are_refused(client: httpx.AsyncClient,
                                                        app: FastAPI) -> None:
    cookie = session_cookie(await login(client))
    assert (await status_with(client, cookie)).status_code == 200
    body, mac = cookie.split(".")
    for forged in (("A" if body[0] != "A" else "B") + body[1:] + "." + mac, body, "x.y", ""):
        assert (await status_with(client, forged)).status_code == 401
    sessions = resources(app).ops_sessions
    ttl = resources(app).settings.ops_session_ttl_seconds
    sessions.clock = lambda: time.time() + ttl - 60
    assert (await status_with(client, cookie)).status_code == 200
    sessions.clock = lambda: time.time() + ttl + 2
    assert (await status_with(client, cookie)).status_code == 401


async def test_a_new_operator_secret_signs_everyone_out(client: httpx.AsyncClient,
                                                       app: FastAPI) -> None:
    cookie = session_cookie(await login(client))
    resources(app).settings.ops_shared_secret = SecretStr("rotated-secret")
    assert (await status_with(client, cookie)).status_code == 401


async def test_user_agent_binding_refuses_the_cookie_in_another_browser(
        client: httpx.AsyncClient, app: FastAPI) -> None:
    cookie = session_cookie(await login(client))
    assert (await status_with(client, cookie, "a stolen copy")).status_code == 401
    async with client_from(app, "192.0.2.44") as other_ip:  # same browser, new address: fine
        assert (await status_with(other_ip, cookie)).status_code == 200


@pytest.mark.ops_settings(ops_session_binding_mode="strict")
async def test_strict_binding_also_refuses_another_address(client: httpx.AsyncClient,
                                                          app: FastAPI) -> None:
    cookie = session_cookie(await login(client))
    assert (await status_with(client, cookie)).status_code == 200
    async with client_from(app, "192.0.2.44") as other_ip:
        assert (await status_with(other_ip, cookie)).status_code == 401


@pytest.mark.ops_settings(ops_session_binding_mode="none")
async def test_no_binding_accepts_the_cookie_from_any_browser(client: httpx.AsyncClient) -> None:
    cookie = session_cookie(await login(client))
    assert (await status_with(client, cookie, "a different browser")).status_code == 200


async def test_the_bearer_secret_works_without_a_session(client: httpx.AsyncClient) -> None:
    ok = await status(client, headers={"Authorization": f"Bearer {SECRET}"})
    assert ok.status_code == 200, ok.text
    wrong = await status(client, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401 and error_code(wrong) == "ops_auth_required"
    basic = await status(client, headers={"Authorization": f"Basic {SECRET}"})
    assert basic.status_code == 401


@pytest.mark.ops_settings(ops_allowed_networks="10.0.0.0/8, 192.0.2.7")
async def test_outside_the_allowed_networks_even_the_secret_is_refused(
        client: httpx.AsyncClient, app: FastAPI) -> None:
    bearer = {"Authorization": f"Bearer {SECRET}"}
    refused = await status(client, headers=bearer)  # from 127.0.0.1
    assert refused.status_code == 403 and error_code(refused) == "ops_network_forbidden"
    login_refused = await login(client)
    assert login_refused.status_code == 403
    assert error_code(login_refused) == "ops_network_forbidden"
    for ip in ("10.20.30.40", "192.0.2.7"):
        async with client_from(app, ip) as inside:
            assert (await login(inside)).status_code == 303
            assert (await status(inside)).status_code == 200
            assert (await status(inside, headers=bearer)).status_code == 200


async def test_without_an_operator_secret_sign_in_is_unavailable(client: httpx.AsyncClient,
                                                                 app: FastAPI) -> None:
    resources(app).settings.ops_shared_secret = SecretStr("")
    for response in (await login(client, ""), await status(client),
                     await status(client, headers={"Authorization": "Bearer "})):
        assert response.status_code == 503
        assert error_code(response) == "ops_not_configured"


async def test_a_sign_in_posted_from_another_site_is_refused(client: httpx.AsyncClient) -> None:
    response = await login(client, headers={"Origin": "https://evil.example"})
    assert response.status_code == 403
    assert error_code(response) == "ops_origin_forbidden"
    same_site = await login(client, headers={"Origin": "http://testserver"})
    assert same_site.status_code == 303


async def test_the_session_cookie_mints_an_ops_live_token(client: httpx.AsyncClient) -> None:
    refused = await client.post("/api/v1/live/token", json={"purpose": "ops"}, headers=BROWSER)
    assert refused.status_code == 401
    await login(client)
    minted = await client.post("/api/v1/live/token", json={"purpose": "ops"}, headers=BROWSER)
    assert minted.status_code == 200, minted.text
    assert "/ws/ops?token=" in minted.json()["ws_url"]
