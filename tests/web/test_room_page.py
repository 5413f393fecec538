"""The room page in real Chromium (autoplay allowed, so it plays without a gesture) against
the app on uvicorn: the wear chain rendered offline, the loop through a seeded archive of
1 s takes with a small anti-repeat window, the steward's pause, a revoke, and a server
restart. One app, one server and one browser for the module; embedded tier.

The page runs at `?pace=0.05` (gaps 20x shorter) and `?window=3`, so a loop of many takes
takes seconds. A screenshot goes to /tmp/room.png.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import numpy as np
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from rooms.app import create_app
from rooms.models import Artifact
from rooms.playback import composition
from tests.audio import wav16
from tests.browser import Server, chromium_available, launch_chromium
from tests.conftest import make_settings, unavailable
from tests.helpers import resources, run_jobs
from tests.ops.conftest import SECRET
from tests.recordings.conftest import upload
from tests.web.test_kiosk_page import _read_wav, voiced

if TYPE_CHECKING:
    from playwright.async_api import Browser, Page

ROOT = Path(__file__).resolve().parents[2]
AXE = ROOT / "tests" / "js" / "vendor" / "axe-core" / "axe.min.js"
FIXTURE = ROOT / "tests" / "js" / "room-composition.json"
SHOT = Path("/tmp/room.png")
WINDOW = 3
TAKES = 6
PAGE = f"/room/?window={WINDOW}&pace=0.05&name=test-room"
WAIT_MS = 20_000
# docs/room.md, "Wear": at wear 1.0 the worn voice's spectrogram (100-3400 Hz) correlates
# with the source's above this (0.97 measured); the fresh one is near 1.
WORN_MIN_CORRELATION = 0.9

pytestmark = pytest.mark.timeout(240)


# --- the app, its server, the browser -----------------------------------------------------
@pytest.fixture(scope="module")
async def room_app(tmp_path_factory: pytest.TempPathFactory,
                   sqlite_template: Path) -> AsyncIterator[FastAPI]:
    tmp = tmp_path_factory.mktemp("room")
    db = tmp / "rooms.db"
    shutil.copyfile(sqlite_template, db)
    settings = make_settings(tmp, database_url=f"sqlite+aiosqlite:///{db}", timezone="UTC",
                             room_fossil_visuals_enabled=True)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture(scope="module")
async def server(room_app: FastAPI) -> AsyncIterator[Server]:
    held = Server(room_app)
    await held.start()
    try:
        yield held
    finally:
        await held.stop()


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    ok, reason = chromium_available()
    if not ok:
        unavailable(reason, "browser tests")
    async with launch_chromium("--autoplay-policy=no-user-gesture-required") as chromium:
        yield chromium


@pytest.fixture(scope="module")
async def archive(server: Server, room_app: FastAPI) -> dict[int, str]:
    """TAKES takes of 1 s, the first a FOSSIL (its spectrogram rendered): {artifact id:
    revocation code}."""
    held: dict[int, str] = {}
    async with httpx.AsyncClient(base_url=server.url) as client:
        for i in range(TAKES):
            resp = await upload(client, wav16(1.0), mode="FOSSIL" if i == 0 else "ROOM",
                                effect_profile=("clear", "warm", "radio", "dream")[i % 4])
            assert resp.status_code == 201, resp.text
            body = resp.json()
            held[int(body["artifact"]["id"])] = body["revocation_token"]
    await run_jobs(room_app)
    return held


@pytest.fixture(scope="module")
async def room(browser: Browser, server: Server, archive: dict[int, str]
               ) -> AsyncIterator[Page]:
    """One room page for the loop tests, playing from the start; page errors fail them."""
    context = await browser.new_context(viewport={"width": 1024, "height": 700})
    context.set_default_timeout(WAIT_MS)
    errors: list[str] = []
    page = await context.new_page()
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    sent: list[Any] = []
    page.on("websocket", lambda ws: ws.on("framesent", lambda frame: sent.append(frame)))
    page.sent_frames = sent  # type: ignore[attr-defined]
    await page.goto(server.url + PAGE)
    await page.wait_for_selector("#room[data-ready='1']")
    try:
        yield page
    finally:
        await context.close()
    assert not errors, errors


# --- helpers ------------------------------------------------------------------------------
async def log(page: Page) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = await page.evaluate("() => window.rooms.room.log")
    return found


async def page_now(page: Page) -> float:
    return float(await page.evaluate("() => Date.now()"))


async def wait_log(page: Page, condition: str, timeout: int = WAIT_MS) -> None:
    """Wait until `condition` (JS over `log`, the room's event list) holds."""
    await page.wait_for_function(
        f"() => {{ const log = window.rooms.room.log; return {condition}; }}", timeout=timeout)


async def play_counts(app: FastAPI) -> dict[int, int]:
    async with resources(app).sessions() as session:
        rows = (await session.execute(select(Artifact.id, Artifact.play_count))).all()
    return {int(i): int(c) for i, c in rows}


async def steward(server: Server, **fields: Any) -> None:
    async with httpx.AsyncClient(base_url=server.url) as ops:
        resp = await ops.post("/api/v1/operator/controls", json=fields,
                              headers={"Authorization": f"Bearer {SECRET}"})
        assert resp.status_code == 200, resp.text


async def axe(page: Page) -> None:
    # evaluated over the DevTools protocol: the page's CSP (no inline script) stays on
    await page.evaluate(AXE.read_text(encoding="utf-8") + "\n;void 0")
    found: list[dict[str, Any]] = await page.evaluate(
        """async () => (await axe.run(document, {resultTypes: ["violations"]})).violations
             .map(v => ({id: v.id, impact: v.impact,
                         nodes: v.nodes.map(n => n.target.join(" "))}))""")
    bad = [v for v in found if v["impact"] in ("serious", "critical")]
    assert not bad, bad


def spectrogram(x: np.ndarray, rate: int, lo: float = 100.0, hi: float = 3400.0) -> np.ndarray:
    """Magnitudes of 1024-sample Hann frames (hop 256) between lo and hi Hz."""
    size, hop = 1024, 256
    frames = np.lib.stride_tricks.sliding_window_view(x, size)[::hop] * np.hanning(size)
    mags = np.abs(np.fft.rfft(frames, axis=1))
    freqs = np.fft.rfftfreq(size, 1 / rate)
    return mags[:, (freqs >= lo) & (freqs <= hi)]


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


def band_db(x: np.ndarray, rate: int, lo: float, hi: float) -> float:
    spec = np.abs(np.fft.rfft(x)) ** 2
    freqs = np.fft.rfftfreq(len(x), 1 / rate)
    return float(10 * np.log10(spec[(freqs >= lo) & (freqs < hi)].sum() + 1e-12))


# --- the tests ----------------------------------------------------------------------------
def test_the_js_fixture_is_the_servers_composition(tmp_path: Path) -> None:
    """tests/js/room-composition.json (the node tests' input) is what the server builds."""
    built = composition.build(make_settings(tmp_path, timezone="UTC"))
    fixture = json.loads(FIXTURE.read_text())
    assert {k: built[k] for k in fixture} == fixture


async def test_the_page_carries_the_composition_and_no_inline_code(
        client: httpx.AsyncClient, app: FastAPI) -> None:
    page = await client.get("/room/")
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    text = page.text
    blob = text.split('<script type="application/json" id="room-config">', 1)[1]
    config = json.loads(blob.split("</script>", 1)[0])
    assert config["composition"] == composition.build(resources(app).settings)
    assert {e["code"] for e in config["effects"]} == {"clear", "warm", "radio", "dream"}
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", text, re.S)
    inline = [a for a, body in scripts if "application/json" not in a and body.strip()]
    assert inline == []
    assert " style=" not in text and not re.search(r"\son[a-z]+=", text)
    for path in ("room.js", "loop.js", "chain.js", "policy.js", "sequencer.js", "live.js",
                 "room.css"):
        assert (await client.get(f"/static/room/{path}")).status_code == 200


async def test_the_wear_chain_wears_but_keeps_the_voice(
        browser: Browser, server: Server, archive: dict[int, str]) -> None:
    espeak = shutil.which("espeak-ng")
    if espeak is None:
        unavailable("espeak-ng is missing (apt-get install espeak-ng, or make services)",
                    "room page tests")
    said = Path("/tmp") / f"room-wear-{server.port}.wav"
    subprocess.run([espeak, "-w", str(said), "Every voice that crossed the river stays."],
                   check=True, timeout=60)
    samples, rate = _read_wav(said.read_bytes())
    said.unlink()
    source = voiced(samples, rate)
    context = await browser.new_context()
    try:
        page = await context.new_page()
        asked: list[str] = []
        page.on("request", lambda r: asked.append(r.url) if "/pool/next" in r.url else None)
        await page.goto(f"{server.url}/room/?autostart=0&pace=0.05")
        await page.wait_for_selector("#room[data-ready='1'][data-state='stopped']")
        rendered = await page.evaluate(
            """async ({samples, rate}) => {
                 const { wearChain } = await import("/static/room/chain.js");
                 const render = async (wear) => {
                   const ctx = new OfflineAudioContext(1, samples.length, rate);
                   const buf = ctx.createBuffer(1, samples.length, rate);
                   buf.copyToChannel(Float32Array.from(samples), 0);
                   const src = ctx.createBufferSource();
                   src.buffer = buf;
                   const chain = wearChain(ctx, wear);
                   src.connect(chain.input);
                   chain.output.connect(ctx.destination);
                   src.start(0);
                   chain.start(0);
                   return Array.from((await ctx.startRendering()).getChannelData(0));
                 };
                 return [await render(0), await render(0.5), await render(1)];
               }""", {"samples": source.tolist(), "rate": rate})
        # ?autostart=0: nothing was asked for until Start
        from playwright.async_api import expect

        await expect(page.locator("#b-toggle")).to_have_text("Start")
        assert not asked
        await page.click("#b-toggle")
        await expect(page.locator("#b-toggle")).to_have_text("Pause")
        await wait_log(page, "log.some(e => e.type === 'play')")
        await page.click("#b-toggle")
        await page.wait_for_selector("#room[data-state='stopped'][data-now='']")
    finally:
        await context.close()
    fresh, half, worn = (np.asarray(r) for r in rendered)
    src = spectrogram(source, rate)
    c_fresh = correlation(src, spectrogram(fresh, rate))
    c_half = correlation(src, spectrogram(half, rate))
    c_worn = correlation(src, spectrogram(worn, rate))
    print(f"wear correlation fresh {c_fresh:.3f} half {c_half:.3f} worn {c_worn:.3f}")
    assert c_fresh > 0.97, c_fresh
    assert c_worn > WORN_MIN_CORRELATION, c_worn    # still the same words
    assert c_fresh > c_half > c_worn                 # wear grows
    # measurably worn: the top of the voice is gone, the body stays
    top = band_db(fresh, rate, 4500, 8000) - band_db(worn, rate, 4500, 8000)
    body = band_db(fresh, rate, 300, 3000) - band_db(worn, rate, 300, 3000)
    print(f"wear 0 -> 1: 4.5-8 kHz {-top:.1f} dB, 300-3000 Hz {-body:.1f} dB")
    assert top > 8, top
    assert abs(body) < 3, body


async def test_the_room_plays_the_archive_without_repeats_and_counts_audible_plays(
        room: Page, room_app: FastAPI, archive: dict[int, str]) -> None:
    from playwright.async_api import expect

    plays_wanted = 2 * TAKES + 1
    await wait_log(room, "log.filter(e => e.type === 'ack' && e.status === 200).length"
                         f" >= {plays_wanted}", timeout=60_000)
    await expect(room.locator("#room")).to_have_attribute("data-audio", "running")
    events = await log(room)
    played = [e["id"] for e in events if e["type"] == "play"]
    for i, take in enumerate(played):  # no take inside the window of the takes before it
        assert take not in played[max(0, i - WINDOW):i], (i, played)
    assert set(played) <= set(archive)
    acked = [e["id"] for e in events if e["type"] == "ack" and e["status"] == 200]
    for i, e in enumerate(events):  # an ack only after its take ended, heard
        if e["type"] == "ack":
            ended = [x for x in events[:i] if x["type"] == "ended" and x["id"] == e["id"]]
            assert ended and ended[-1]["heard"] and ended[-1]["how"] == "ended"
    counts = await play_counts(room_app)
    for take in set(acked):  # the server counted them (a later ack may be in flight)
        assert counts[take] >= acked.count(take) - 1
    assert sum(counts.values()) >= len(acked) - 1
    await expect(room.locator("#status")).to_have_text("The room is playing.")
    # the quiet visual layer: the FOSSIL's spectrogram and the live streams' text
    await expect(room.locator("#fossils img")).to_have_count(1)
    await room.wait_for_function(
        "() => document.querySelector('#fossils img').naturalWidth > 0")
    await expect(room.locator("#streams li").first).not_to_be_empty()
    # the device report went out on the socket
    reports = [json.loads(f) for f in room.sent_frames  # type: ignore[attr-defined]
               if isinstance(f, str) and '"device"' in f]
    assert reports and reports[0]["kind"] == "room" and reports[0]["name"] == "test-room"
    assert reports[-1]["status"]["audio"] == "running"
    assert any(r["status"]["playing"] for r in reports)
    await room.screenshot(path=str(SHOT), full_page=True)
    await axe(room)


async def test_the_stewards_pause_stops_the_room_within_2_s(room: Page, server: Server) -> None:
    await room.wait_for_function("() => document.getElementById('room').dataset.now !== ''")
    began = time.monotonic()
    await steward(server, playback_paused=True)
    await room.wait_for_function(
        "() => { const m = document.getElementById('room'); "
        "return m.dataset.state === 'paused' && m.dataset.now === ''; }", timeout=10_000)
    took = time.monotonic() - began
    assert took < 2.0, took
    paused_at = await page_now(room)
    stopped = [e for e in await log(room) if e["type"] == "stopped"]
    assert stopped and stopped[-1]["why"] == "paused"
    await room.locator("#status").filter(has_text="paused").wait_for()
    await steward(server, playback_paused=False)
    await wait_log(room, f"log.some(e => e.type === 'play' && e.t > {paused_at})")
    resumed_at = min(e["t"] for e in await log(room) if e["type"] == "play" and e["t"] > paused_at)
    posture = [e for e in await log(room) if e["type"] == "posture" and e["t"] >= paused_at]
    assert any(not e["paused"] for e in posture)
    assert not [e for e in await log(room)
                if e["type"] == "play" and paused_at < e["t"] < posture[-1]["t"]
                and e["t"] < resumed_at - 1]


async def test_quieter_mode_and_a_muted_room_follow_the_steward(room: Page,
                                                                 server: Server) -> None:
    began = time.monotonic()
    await steward(server, quieter_mode=True, room_volume=0.0)
    await room.wait_for_function(
        "() => document.getElementById('room').dataset.quieter === '1'"
        " && window.rooms.room.volume === 0", timeout=10_000)
    took = time.monotonic() - began
    assert took < 2.0, took
    muted_at = await page_now(room)
    # the loop plays on, muted: what ends now was not heard, and is not acknowledged
    await wait_log(room, f"log.filter(e => e.type === 'ended' && e.t > {muted_at}).length >= 2")
    assert await room.evaluate("() => window.rooms.room.bus.master.gain.value") < 0.01
    await steward(server, quieter_mode=False, room_volume=1.0)
    await wait_log(room, "log.some(e => e.type === 'posture' && e.volume === 1 && !e.quieter)")
    loud_at = await page_now(room)
    await wait_log(room, f"log.some(e => e.type === 'ack' && e.t > {loud_at})")
    events = await log(room)
    muted = {e["id"] for e in events if e["type"] == "ended" and muted_at < e["t"] < loud_at}
    assert muted and not [e for e in events if e["type"] == "ended" and e["heard"]
                          and muted_at < e["t"] < loud_at]
    assert not [e for e in events if e["type"] == "ack" and muted_at + 300 < e["t"] < loud_at]


async def test_a_revoked_take_stops_at_once_and_never_returns(
        room: Page, server: Server, room_app: FastAPI, archive: dict[int, str]) -> None:
    async with httpx.AsyncClient(base_url=server.url) as client:
        # a 4 s take (so the revoke surely lands while it plays), new, so chosen soon
        resp = await upload(client, wav16(4.0))
        assert resp.status_code == 201, resp.text
        target = int(resp.json()["artifact"]["id"])
        archive[target] = resp.json()["revocation_token"]
        await room.wait_for_function(f"() => window.rooms.room.playing.has({target})",
                                     timeout=30_000)
        resp = await client.post("/api/v1/revoke", json={"token": archive[target]})
        assert resp.status_code == 200, resp.text
    revoked_at = await page_now(room)
    await wait_log(room, f"log.some(e => e.type === 'stopped' && e.id === {target} "
                         "&& e.why === 'revoked')")
    # the loop goes on with the others, and the revoked take never plays again
    await wait_log(room, f"log.filter(e => e.type === 'ack' && e.t > {revoked_at}).length >= 3")
    events = await log(room)
    assert not [e for e in events if e["type"] in ("play", "ack") and e["id"] == target
                and e["t"] > revoked_at]
    ended = [e for e in events if e["type"] == "ended" and e["id"] == target]
    assert ended and ended[0]["how"] == "stopped" and not ended[0]["heard"]
    assert (await play_counts(room_app))[target] == 0  # its one play was cut: never counted
    archive.pop(target)


async def test_a_new_take_joins_the_loop(room: Page, server: Server,
                                        archive: dict[int, str]) -> None:
    async with httpx.AsyncClient(base_url=server.url) as client:
        resp = await upload(client, wav16(1.0))
        assert resp.status_code == 201, resp.text
    new = int(resp.json()["artifact"]["id"])
    archive[new] = resp.json()["revocation_token"]
    await wait_log(room, f"log.some(e => e.type === 'ack' && e.id === {new} "
                         "&& e.status === 200)", timeout=30_000)


async def test_the_room_outlives_the_server_and_resumes_after_a_restart(
        room: Page, server: Server) -> None:
    await room.wait_for_function("() => window.rooms.room.memory.size >= 2")
    await server.stop()
    try:
        down_at = await page_now(room)
        await room.wait_for_function(
            "() => document.getElementById('room').dataset.state === 'offline'")
        await wait_log(room, f"log.filter(e => e.type === 'replay' && e.t > {down_at}).length >= 2")
        events = await log(room)
        assert not [e for e in events if e["type"] == "ack" and e.get("status") == 200
                    and e["t"] > down_at + 500]
        assert await room.evaluate("() => window.rooms.room.ctx.state") == "running"
        assert await room.evaluate("() => window.rooms.room.tone.level") > 0
    finally:
        await server.start()
    up_at = await page_now(room)
    await wait_log(room, f"log.some(e => e.type === 'online' && e.t > {down_at})")
    await wait_log(room, f"log.some(e => e.type === 'ack' && e.status === 200 && e.t > {up_at})")
    await room.wait_for_function(
        "() => document.getElementById('room').dataset.state === 'playing'")
    online = next(e["t"] for e in await log(room) if e["type"] == "online" and e["t"] > down_at)
    assert not [e for e in await log(room) if e["type"] == "replay" and e["t"] > online]
