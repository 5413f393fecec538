"""The steward's /ops/ page in real Chromium, against the app on a real uvicorn server.

One app, one server and one browser for the module (embedded tier: the operator API behind
the page is covered in both tiers by tests/ops). The tests run in file order and share one
signed-in dashboard, as a steward's afternoon would: sign in, pause the room, restart a
worker, tend the archive. Screenshots go to /tmp/ops-*.png for a person to look at.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from fastapi import FastAPI
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from websockets.asyncio.client import connect

from tests.audio import wav16
from tests.browser import PAGE_TIMEOUT_MS, Server, chromium_available, launch_chromium, serve_app
from tests.conftest import make_settings, unavailable

if TYPE_CHECKING:
    from playwright.async_api import Browser, Page

ROOT = Path(__file__).resolve().parents[2]
AXE = ROOT / "tests" / "js" / "vendor" / "axe-core" / "axe.min.js"
SECRET = "ops-test-secret"  # tests/conftest.py's OPS_SHARED_SECRET
MAX_ATTEMPTS = 3
LOCKOUT_S = 900
SURFACE_WITHIN_S = 2.0
PUSH_S = 1.0  # node status pushes: often, so the page is seen to follow them
# The policy rooms' pages are meant to live under: no inline script or style anywhere.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "media-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
       "form-action 'self'")

pytestmark = pytest.mark.timeout(180)


class StrictCsp:
    """Pages answered without a Content-Security-Policy get `CSP` (the server's own policy,
    once it sends one, is the one tested), so an inline script or style fails the module."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def with_csp(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                if ("text/html" in headers.get("content-type", "")
                        and "content-security-policy" not in headers):
                    headers["Content-Security-Policy"] = CSP
            await send(message)

        await self.app(scope, receive, with_csp if scope["type"] == "http" else send)


# --- the app, its server, the browser -----------------------------------------------------
@pytest.fixture(scope="module")
async def ops_app(tmp_path_factory: pytest.TempPathFactory,
                  sqlite_template: Path) -> AsyncIterator[FastAPI]:
    tmp = tmp_path_factory.mktemp("ops-page")
    db = tmp / "rooms.db"
    shutil.copyfile(sqlite_template, db)
    settings = make_settings(
        tmp, database_url=f"sqlite+aiosqlite:///{db}", ops_login_max_attempts=MAX_ATTEMPTS,
        ops_login_lockout_seconds=LOCKOUT_S, ops_status_push_s=PUSH_S,
        # the test machine's disk is not the subject
        ops_storage_path=str(tmp), ops_disk_warning_free_gb=0.0,
        ops_disk_warning_free_percent=0.0, ops_disk_critical_free_gb=0.0,
        ops_disk_critical_free_percent=0.0)
    app = create_app(settings)
    app.add_middleware(StrictCsp)
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture(scope="module")
async def server(ops_app: FastAPI) -> AsyncIterator[Server]:
    held = Server(ops_app)
    await held.start()
    try:
        yield held
    finally:
        await held.stop()


@pytest.fixture(scope="module")
def base_url(server: Server) -> str:
    return server.url


@pytest.fixture(scope="module")
async def http(base_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """A visitor's client over real HTTP (uploads, the pool, the live token)."""
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    ok, reason = chromium_available()
    if not ok:
        unavailable(reason, "browser tests")
    async with launch_chromium() as chromium:
        yield chromium


@pytest.fixture(scope="module")
async def dashboard(browser: Browser, base_url: str) -> AsyncIterator[Page]:
    """The steward's signed-in dashboard, live; page errors fail the module."""
    from playwright.async_api import expect

    context = await browser.new_context(viewport={"width": 1280, "height": 900},
                                        user_agent="Mozilla/5.0 (steward's laptop)")
    context.set_default_timeout(PAGE_TIMEOUT_MS)
    errors: list[str] = []
    page = await context.new_page()
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text)
            if "Content Security Policy" in msg.text else None)
    try:
        response = await page.goto(f"{base_url}/ops/")
        assert response is not None and "content-security-policy" in response.headers
        await expect(page).to_have_title("Steward sign-in · rooms")
        await page.fill("#secret", SECRET)
        await page.get_by_role("button", name="Sign in").click()
        await expect(page).to_have_title("Steward's dashboard · rooms")
        await expect(page.locator("#conn")).to_have_text("Live")
        yield page
    finally:
        await context.close()
    assert not errors, errors


# --- helpers ------------------------------------------------------------------------------
def create_app(settings: Any) -> FastAPI:
    from rooms.app import create_app as make

    return make(settings)


def has_route(app: FastAPI, path: str, method: str = "get") -> bool:
    """Whether the app's OpenAPI lists `method` on `path` (`{}` matches any path parameter)."""
    pattern = re.compile("^" + re.escape(path).replace(r"\{\}", r"\{[^}]+\}") + "$")
    return any(pattern.match(p) and method in ops for p, ops in app.openapi()["paths"].items())


async def axe(page: Page, where: str) -> None:
    """No serious or critical axe-core violation on the page as it is now."""
    if not await page.evaluate("typeof axe !== 'undefined'"):
        # Evaluated through the DevTools protocol, which the page's CSP does not govern
        # (a <script> tag would be inline, and refused).
        await page.evaluate(f"() => {{ {AXE.read_text()}\n; window.axe = axe; }}")
    found: list[dict[str, Any]] = await page.evaluate(
        """async () => (await axe.run(document, {resultTypes: ["violations"]})).violations
             .map(v => ({id: v.id, impact: v.impact, help: v.help,
                         nodes: v.nodes.map(n => n.target.join(" "))}))""")
    bad = [v for v in found if v["impact"] in ("serious", "critical")]
    assert not bad, f"axe on {where}: {bad}"


async def upload(http: httpx.AsyncClient, **fields: str) -> int:
    files = {"file": ("take.wav", wav16(1.0), "audio/wav")}
    resp = await http.post("/api/v1/artifacts/audio", files=files,
                           data={"consent_mode": "ROOM", **fields},
                           headers={"X-Rooms-Client-Id": "ops-page-test-kiosk"})
    assert resp.status_code == 201, resp.text
    return int(resp.json()["artifact"]["id"])


async def operator_get(http: httpx.AsyncClient, path: str) -> dict[str, Any]:
    resp = await http.get(path, headers={"Authorization": f"Bearer {SECRET}"})
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    return body


# --- signing in ---------------------------------------------------------------------------
async def test_wrong_secrets_lock_the_browser_out_and_say_for_how_long(
        browser: Browser, base_url: str) -> None:
    from playwright.async_api import expect

    context = await browser.new_context(user_agent="Mozilla/5.0 (a guesser's laptop)")
    context.set_default_timeout(PAGE_TIMEOUT_MS)
    page = await context.new_page()
    try:
        await page.goto(f"{base_url}/ops/")
        result = page.locator("#login-result")
        for _ in range(MAX_ATTEMPTS):
            await page.fill("#secret", "not-the-secret")
            async with page.expect_response("**/ops/login") as answer:
                await page.get_by_role("button", name="Sign in").click()
            assert (await answer.value).status == 403
            await expect(result).to_have_text("That is not the steward secret.")
        # locked now: even the right secret is refused, and the page says how long is left
        await page.fill("#secret", SECRET)
        async with page.expect_response("**/ops/login") as answer:
            await page.get_by_role("button", name="Sign in").click()
        assert (await answer.value).status == 429
        await expect(result).to_have_text(
            "Too many failed sign-ins from this browser. Try again in 15 min.")
        await expect(page.get_by_role("button", name="Sign in")).to_be_disabled()
        await page.screenshot(path="/tmp/ops-login-locked.png", full_page=True)
        # a reload knows too: the time left is counted down from what the server says
        await page.reload()
        await expect(result).to_have_text("Too many failed sign-ins from this browser. "
                                          "Try again in 15 min.")
        await expect(page.get_by_role("button", name="Sign in")).to_be_disabled()
        await axe(page, "the sign-in page, locked out")
    finally:
        await context.close()


async def test_the_page_tells_the_dashboard_only_public_choices(ops_app: FastAPI) -> None:
    from rooms.web.ops import script_json

    transport = httpx.ASGITransport(app=ops_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        signed_out = await c.get("/ops/")
        signed_in = await c.get("/ops/", headers={"Authorization": f"Bearer {SECRET}"})
    assert signed_out.status_code == 200 and "Steward sign-in" in signed_out.text
    assert signed_out.headers["cache-control"] == "no-store"
    assert signed_in.status_code == 200 and "Steward's dashboard" in signed_in.text
    raw = signed_in.text.split('id="ops-config">', 1)[1].split("</script>", 1)[0]
    config = json.loads(raw)
    assert config["lifecycle"]["memory"] == ["open", "resolved"]
    assert config["deployment"] == "memory" and config["statusPushS"] == PUSH_S
    assert SECRET not in signed_in.text
    assert "<" not in script_json({"x": "</script><script>alert(1)</script>"})


async def test_the_dashboard_shows_the_node_live(dashboard: Page,
                                                 http: httpx.AsyncClient) -> None:
    from playwright.async_api import expect

    page = dashboard
    await expect(page.locator("#level")).to_have_text(re.compile(r"^(Ready|Degraded)$"))
    await expect(page.locator("#deps")).to_contain_text("database")
    workers = page.locator("#workers")
    await expect(workers.locator("tr[data-worker='topic1_worker']")).to_contain_text("running")
    if "reason" in (await operator_get(http, "/api/v1/operator/workers"))["workers"][
            "analysis_phase"]:  # the supervisor says why a worker is stopped
        await expect(workers.locator("tr[data-worker='analysis_phase']")).to_contain_text(
            "stopped: too few listeners")
    await expect(page.locator("#chart-lanes svg")).to_have_attribute(
        "aria-label", "Lanes: fresh 0, mid 0, worn 0")
    await expect(page.locator("#listeners")).to_contain_text("Everyone connected")
    # A push redraws the page on its own: the "as of" time moves without a reload.
    as_of = page.locator("#as-of")
    await expect(as_of).to_contain_text("As of ")
    await expect(as_of).not_to_have_text(await as_of.text_content() or "")
    await page.screenshot(path="/tmp/ops-dashboard.png", full_page=True)
    await axe(page, "the dashboard")


async def test_optional_sections_show_only_when_their_route_answers(
        dashboard: Page, ops_app: FastAPI) -> None:
    from playwright.async_api import expect

    for section, path in (("#schedule", "/api/v1/operator/schedule"),
                          ("#moderation", "/api/v1/operator/moderation"),
                          ("#devices", "/api/v1/operator/devices")):
        if has_route(ops_app, path):
            await expect(dashboard.locator(section)).to_be_visible()
        else:
            await expect(dashboard.locator(section)).to_be_hidden()


async def test_the_dashboard_reconnects_by_itself_and_catches_up(
        dashboard: Page, server: Server, ops_app: FastAPI) -> None:
    from playwright.async_api import expect

    conn = dashboard.locator("#conn")
    await server.stop()
    await expect(conn).to_contain_text("Connection lost; trying again in")
    await expect(dashboard.get_by_role("button", name="Reconnect now")).to_be_visible()
    # a change while the dashboard was away (another steward, through the API)
    transport = httpx.ASGITransport(app=ops_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as api:
        changed = await api.post("/api/v1/operator/controls", json={"quieter_mode": True},
                                 headers={"Authorization": f"Bearer {SECRET}"})
        assert changed.status_code == 200, changed.text
    await dashboard.screenshot(path="/tmp/ops-reconnecting.png")
    await server.start()
    await expect(conn).to_have_text("Live")
    await expect(dashboard.get_by_role("switch", name="Quieter mode")).to_be_checked()
    await expect(dashboard.locator("#audit li[data-action='quieter_mode.enabled']")
                 ).to_have_count(1)
    await dashboard.get_by_role("switch", name="Quieter mode").uncheck()
    await expect(dashboard.locator("#audit li[data-action='quieter_mode.disabled']")
                 ).to_have_count(1)


# --- controls -----------------------------------------------------------------------------
async def test_pausing_playback_reaches_a_listener_at_once_and_is_audited(
        dashboard: Page, http: httpx.AsyncClient) -> None:
    from playwright.async_api import expect

    token = (await http.post("/api/v1/live/token", json={})).json()
    async with connect(token["ws_url"], compression=None, open_timeout=10) as ws:
        await ws.send(json.dumps({"op": "subscribe", "topics": ["surface"]}))
        while json.loads(await ws.recv()).get("op") != "subscribed":
            pass
        switch = dashboard.get_by_role("switch", name="Playback paused")
        await expect(switch).not_to_be_checked()
        clicked = time.monotonic()
        await switch.check()
        async with asyncio.timeout(SURFACE_WITHIN_S + 1):
            while True:
                event = json.loads(await ws.recv())
                if event.get("event") == "posture" and event.get("playback_paused"):
                    break
        took = time.monotonic() - clicked
    assert took < SURFACE_WITHIN_S, f"the room heard of the pause after {took:.2f} s"
    await expect(dashboard.locator("#controls-result")).to_have_text(
        "playback_paused set to True")
    await expect(dashboard.locator("#audit li[data-action='playback_paused.enabled']")
                 ).to_have_count(1)
    await expect(dashboard.locator("#warnings")).to_contain_text("the room is not playing")
    state = await operator_get(http, "/api/v1/operator/controls")
    assert state["operator_state"]["playback_paused"] is True
    await dashboard.screenshot(path="/tmp/ops-paused.png", full_page=True)
    await switch.uncheck()
    await expect(dashboard.locator("#audit li[data-action='playback_paused.disabled']")
                 ).to_have_count(1)


async def test_kiosk_settings_are_saved_and_bad_values_are_explained(
        dashboard: Page, http: httpx.AsyncClient) -> None:
    from playwright.async_api import expect

    await dashboard.fill("#session_theme_title", "  Rivers   we crossed ")
    await dashboard.select_option("#kiosk_language_code", "es_mx_ca")
    await dashboard.get_by_role("button", name="Save kiosk settings").click()
    await expect(dashboard.locator("#kiosk-result")).to_contain_text("session_theme_title")
    await expect(dashboard.locator("#session_theme_title")).to_have_value("Rivers we crossed")
    surface = (await http.get("/api/v1/surface/state")).json()
    assert surface["kiosk"]["theme_title"] == "Rivers we crossed"
    assert surface["kiosk"]["language"] == "es_mx_ca"
    # the server's own validation message is shown (the browser's is bypassed on purpose)
    await dashboard.evaluate("document.getElementById('kiosk-form').noValidate = true")
    await dashboard.fill("#kiosk_max_recording_seconds", "12.5")
    await dashboard.get_by_role("button", name="Save kiosk settings").click()
    await expect(dashboard.locator("#kiosk-result")).to_contain_text("kiosk_max_recording_seconds")
    await expect(dashboard.locator("#kiosk-result")).to_have_class("result bad")


async def test_opening_hours_are_edited_on_the_dashboard(
        dashboard: Page, http: httpx.AsyncClient, ops_app: FastAPI) -> None:
    from playwright.async_api import expect

    if not has_route(ops_app, "/api/v1/operator/schedule", "put"):
        pytest.skip("GET|PUT /api/v1/operator/schedule is not in this build yet")
    section = dashboard.locator("#schedule")
    await expect(section).to_contain_text("Open now")
    await dashboard.get_by_role("button", name="Add hours").click()
    await dashboard.select_option("#schedule-rows tr >> nth=0 >> select", "2")
    await dashboard.get_by_label("Opens, row 1").fill("09:30")
    await dashboard.get_by_label("Closes, row 1").fill("17:00")
    await dashboard.get_by_label("Streams, row 1").uncheck()
    await dashboard.get_by_role("button", name="Save opening hours").click()
    await expect(dashboard.locator("#schedule-result")).to_have_text("Opening hours saved.")
    stored = await operator_get(http, "/api/v1/operator/schedule")
    assert [(w["day"], w["open"], w["close"], w["streams"]) for w in stored["weekly"]] == [
        (2, "09:30", "17:00", False)]
    await expect(dashboard.locator("#audit li[data-action='schedule.updated']")).to_have_count(1)
    await axe(dashboard, "the opening hours")
    await dashboard.screenshot(path="/tmp/ops-hours.png", full_page=True)
    # back to always open, so the visitors of the next tests find the kiosk open
    await dashboard.get_by_role("button", name="Remove row 1").click()
    await dashboard.get_by_role("button", name="Save opening hours").click()
    await expect(dashboard.locator("#audit li[data-action='schedule.updated']")).to_have_count(2)
    assert (await operator_get(http, "/api/v1/operator/schedule"))["weekly"] == []
    await expect(section).to_contain_text("Open now")


async def test_room_volume_is_a_slider_when_the_node_has_it(
        dashboard: Page, http: httpx.AsyncClient) -> None:
    from playwright.async_api import expect

    state = (await operator_get(http, "/api/v1/operator/controls"))["operator_state"]
    slider = dashboard.get_by_role("slider", name=re.compile("^Room volume"))
    if "room_volume" not in state:
        await expect(slider).to_be_hidden()
        pytest.skip("this build's controls have no room_volume")
    await expect(slider).to_be_visible()
    before = float(state["room_volume"])
    await slider.focus()
    await dashboard.keyboard.press("ArrowLeft" if before > 0 else "ArrowRight")
    await expect(dashboard.locator("#controls-result")).to_contain_text("room_volume")
    after = (await operator_get(http, "/api/v1/operator/controls"))["operator_state"]
    assert abs(after["room_volume"] - before) == pytest.approx(0.05)
    await expect(dashboard.locator("#room_volume_out")).to_have_text(
        f"{round(after['room_volume'] * 100)}%")


# --- workers ------------------------------------------------------------------------------
async def test_restarting_a_worker(dashboard: Page) -> None:
    from playwright.async_api import expect

    await dashboard.get_by_role("button", name="Restart topic1_worker").click()
    await expect(dashboard.locator("#workers-result")).to_contain_text("topic1_worker restarted")
    await expect(dashboard.locator("#audit li[data-action='worker.restarted']")).to_have_count(1)
    await expect(dashboard.locator("tr[data-worker='topic1_worker']")).to_contain_text("running")


# --- the archive --------------------------------------------------------------------------
async def test_a_new_take_appears_and_its_metadata_is_edited(
        dashboard: Page, http: httpx.AsyncClient) -> None:
    from playwright.async_api import expect

    take = await upload(http)
    row = dashboard.locator(f"#takes tr[data-take='{take}']")
    await expect(row).to_contain_text("ROOM")  # pushed on `surface`, no reload
    await expect(row).to_contain_text("fresh")
    await dashboard.get_by_role("button", name=f"Edit take {take}").click()
    await dashboard.fill(f"#topic-{take}", "river")
    await dashboard.select_option(f"#lifecycle-{take}", "resolved")
    await axe(dashboard, "the archive with the metadata editor open")
    await dashboard.screenshot(path="/tmp/ops-archive-edit.png", full_page=True)
    await dashboard.get_by_role("button", name="Save", exact=True).click()
    await expect(dashboard.locator("#archive-result")).to_have_text(
        f"Take #{take} saved: lifecycle_status, topic_tag.")
    await expect(row.locator("td.topic")).to_have_text("river")
    await expect(row.locator("td.lifecycle")).to_have_text("resolved")
    await expect(dashboard.locator("#audit li[data-action='artifact.metadata.updated']")
                 ).to_have_count(1)
    items = (await operator_get(http, "/api/v1/operator/artifacts"))["items"]
    mine = next(i for i in items if i["id"] == take)
    assert (mine["topic_tag"], mine["lifecycle_status"]) == ("river", "resolved")


async def test_removing_a_take_takes_it_out_of_the_room(
        dashboard: Page, http: httpx.AsyncClient, ops_app: FastAPI) -> None:
    from playwright.async_api import expect

    if not has_route(ops_app, "/api/v1/operator/artifacts/{}/remove", "post"):
        pytest.skip("POST /api/v1/operator/artifacts/<id>/remove is not in this build yet")
    take = await upload(http)
    row = dashboard.locator(f"#takes tr[data-take='{take}']")
    await expect(row).to_be_visible()
    await dashboard.get_by_role("button", name=f"Remove take {take}").click()
    dialog = dashboard.get_by_role("dialog")
    await expect(dialog).to_contain_text(f"Take #{take}")
    await axe(dashboard, "the remove dialog")
    await dashboard.screenshot(path="/tmp/ops-remove-dialog.png")
    await dialog.get_by_role("button", name="Remove it").click()
    await expect(dashboard.locator("#archive-result")).to_have_text(
        f"Take #{take} removed from circulation.")
    await expect(row).to_have_count(0)
    offered = set()
    for _ in range(10):
        body = (await http.get("/api/v1/pool/next")).json()
        if body["artifact"] is not None:
            offered.add(body["artifact"]["id"])
    assert take not in offered


# --- the audit trail ----------------------------------------------------------------------
async def test_the_audit_trail_pages_back(dashboard: Page, http: httpx.AsyncClient) -> None:
    from playwright.async_api import expect

    bearer = {"Authorization": f"Bearer {SECRET}"}
    for i in range(22):  # more than a page of actions, from another steward
        changed = await http.post("/api/v1/operator/controls", headers=bearer,
                                  json={"quieter_mode": i % 2 == 0})
        assert changed.status_code == 200, changed.text
    total = len((await operator_get(http, "/api/v1/operator/actions?limit=200"))["items"])
    assert 22 < total < 200
    await dashboard.reload()
    entries = dashboard.locator("#audit li")
    await expect(entries).to_have_count(20)
    await dashboard.get_by_role("button", name="Older actions").click()
    await expect(entries).to_have_count(min(40, total))
    if total <= 40:
        await expect(dashboard.get_by_role("button", name="Older actions")).to_be_hidden()
    await expect(entries.first).to_have_attribute("data-action", "quieter_mode.disabled")


async def test_held_takes_wait_for_a_steward(
        browser: Browser, ops_app: FastAPI, tmp_path: Path, sqlite_template: Path) -> None:
    """MODERATION=hold on a node of its own: approve one take into the pool, reject one."""
    from playwright.async_api import expect

    if not has_route(ops_app, "/api/v1/operator/moderation"):
        pytest.skip("GET /api/v1/operator/moderation is not in this build yet")
    db = tmp_path / "held.db"
    shutil.copyfile(sqlite_template, db)
    app = create_app(make_settings(tmp_path, database_url=f"sqlite+aiosqlite:///{db}",
                                   moderation="hold", ops_storage_path=str(tmp_path),
                                   ops_disk_warning_free_gb=0.0, ops_disk_warning_free_percent=0.0,
                                   ops_disk_critical_free_gb=0.0,
                                   ops_disk_critical_free_percent=0.0))
    async with (app.router.lifespan_context(app), serve_app(app) as url,
                httpx.AsyncClient(base_url=url, timeout=30) as visitor):
        kept, dropped = await upload(visitor), await upload(visitor)
        assert (await visitor.get("/api/v1/pool/next")).json()["artifact"] is None
        context = await browser.new_context(viewport={"width": 1280, "height": 900})
        context.set_default_timeout(PAGE_TIMEOUT_MS)
        page = await context.new_page()
        try:
            await page.goto(f"{url}/ops/")
            await page.fill("#secret", SECRET)
            await page.get_by_role("button", name="Sign in").click()
            queue = page.locator("#moderation-items")
            await expect(queue.locator("li[data-take]")).to_have_count(2)
            await axe(page, "the review queue")
            await page.screenshot(path="/tmp/ops-review.png", full_page=True)
            await page.get_by_role("button", name=f"Approve take {kept}").click()
            await expect(page.locator("#moderation-result")).to_have_text(
                f"Take #{kept} approved: it joins the pool.")
            await page.get_by_role("button", name=f"Reject take {dropped}").click()
            await expect(page.locator("#moderation-result")).to_have_text(
                f"Take #{dropped} rejected and removed.")
            await expect(queue).to_have_text("Nothing is waiting.")
        finally:
            await context.close()
        offered = {(await visitor.get("/api/v1/pool/next")).json()["artifact"]["id"]
                   for _ in range(5)}
        assert offered == {kept}


async def test_signing_out_ends_the_session(dashboard: Page, base_url: str) -> None:
    from playwright.async_api import expect

    await dashboard.get_by_role("button", name="Sign out").click()
    await expect(dashboard).to_have_title("Steward sign-in · rooms")
    cookies = await dashboard.context.cookies(base_url)
    assert not [c for c in cookies if c["name"] == "rooms_ops"]
    await dashboard.goto(f"{base_url}/ops/")
    await expect(dashboard).to_have_title("Steward sign-in · rooms")
    await axe(dashboard, "the sign-in page")
