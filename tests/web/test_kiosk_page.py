"""The kiosk in real Chromium with a fake microphone playing a file, against the app on
uvicorn: a spoken sentence (espeak-ng) and a 440 Hz tone go in, and what the server stored
is measured. One app and one server for the module; embedded tier (the kiosk's server side
is the API the other tests cover in both tiers).

Every state is screenshotted to screenshots/kiosk/ (git-ignored), for a person to look at.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import shutil
import subprocess
import time
import wave
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import numpy as np
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from rooms.app import create_app
from rooms.models import Artifact
from tests.browser import Server, chromium_available, launch_chromium
from tests.conftest import make_settings, unavailable
from tests.helpers import resources
from tests.recordings.conftest import artifact_count

if TYPE_CHECKING:
    from playwright.async_api import Browser, Page

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "screenshots" / "kiosk"
AXE = ROOT / "tests" / "js" / "vendor" / "axe-core" / "axe.min.js"
MIC_CHECK_S = 0.4   # the page's config (KIOSK_MIC_CHECK_SECONDS), served like any deployment's
COUNTDOWN_S = 0.6   # KIOSK_COUNTDOWN_SECONDS
LEAD_S = 2.0        # silence before the voice: the fake device starts at getUserMedia
TAIL_S = 1.5
SENTENCE = "The river remembers every voice that crossed it."
TONE_S = 2.0
STATE_TIMEOUT_MS = 15_000

pytestmark = pytest.mark.timeout(240)


# --- sounds -------------------------------------------------------------------------------
def _read_wav(data: bytes) -> tuple[np.ndarray, int]:
    with wave.open(io.BytesIO(data)) as w:
        assert (w.getnchannels(), w.getsampwidth()) == (1, 2)
        rate = w.getframerate()
        pcm = np.frombuffer(w.readframes(w.getnframes()), "<i2")
    return pcm.astype(np.float64) / 32768.0, rate


def _write_wav(path: Path, samples: np.ndarray, rate: int) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes((np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes())


def voiced(samples: np.ndarray, rate: int, floor_db: float = -45.0) -> np.ndarray:
    """The part of `samples` between the first and last 20 ms frame louder than floor_db."""
    size = int(rate * 0.02)
    frames = samples[: len(samples) // size * size].reshape(-1, size)
    loud = np.flatnonzero(20 * np.log10(np.sqrt((frames ** 2).mean(axis=1)) + 1e-12) > floor_db)
    assert loud.size, "no voice at all"
    return samples[loud[0] * size:(loud[-1] + 1) * size]


def rms_db(samples: np.ndarray) -> float:
    return float(20 * np.log10(np.sqrt(np.mean(samples ** 2)) + 1e-12))


@dataclass(frozen=True)
class Sounds:
    speech: Path
    spoken: np.ndarray  # the voice of the sentence, as espeak-ng said it
    speech_rate: int
    tone: Path

    @property
    def speech_s(self) -> float:
        return len(self.spoken) / self.speech_rate


@pytest.fixture(scope="module")
def sounds(tmp_path_factory: pytest.TempPathFactory) -> Sounds:
    espeak = shutil.which("espeak-ng")
    if espeak is None:
        unavailable("espeak-ng is missing (apt-get install espeak-ng, or make services)",
                    "kiosk page tests")
    root = tmp_path_factory.mktemp("sounds")
    said = root / "said.wav"
    subprocess.run([str(espeak), "-w", str(said), SENTENCE], check=True, timeout=60)
    samples, rate = _read_wav(said.read_bytes())
    spoken = voiced(samples, rate)
    pad = lambda s: np.zeros(int(s * rate))  # noqa: E731
    speech = root / "speech.wav"
    _write_wav(speech, np.concatenate([pad(LEAD_S), spoken, pad(TAIL_S)]), rate)
    tone_rate = 48_000
    t = np.arange(int(TONE_S * tone_rate)) / tone_rate
    ring = 0.3 * np.sin(2 * np.pi * 440.0 * t)
    tone = root / "tone.wav"
    _write_wav(tone, np.concatenate([np.zeros(int(LEAD_S * tone_rate)), ring,
                                     np.zeros(int(TAIL_S * tone_rate))]), tone_rate)
    return Sounds(speech=speech, spoken=spoken, speech_rate=rate, tone=tone)


# --- the app, its server, the browsers ----------------------------------------------------
@pytest.fixture(scope="module")
async def kiosk_app(tmp_path_factory: pytest.TempPathFactory,
                    sqlite_template: Path) -> AsyncIterator[FastAPI]:
    tmp = tmp_path_factory.mktemp("kiosk")
    db = tmp / "rooms.db"
    shutil.copyfile(sqlite_template, db)
    settings = make_settings(tmp, database_url=f"sqlite+aiosqlite:///{db}",
                             kiosk_mic_check_seconds=MIC_CHECK_S,
                             kiosk_countdown_seconds=COUNTDOWN_S)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture(scope="module")
async def server(kiosk_app: FastAPI) -> AsyncIterator[Server]:
    held = Server(kiosk_app)
    await held.start()
    try:
        yield held
    finally:
        await held.stop()


@contextlib.asynccontextmanager
async def _browser(wav: Path) -> AsyncIterator[Browser]:
    ok, reason = chromium_available()
    if not ok:
        unavailable(reason, "browser tests")
    async with launch_chromium("--use-fake-device-for-media-stream",
                               f"--use-file-for-fake-audio-capture={wav}%noloop",
                               "--autoplay-policy=no-user-gesture-required") as chromium:
        yield chromium


@pytest.fixture(scope="module")
async def speech_browser(sounds: Sounds) -> AsyncIterator[Browser]:
    async with _browser(sounds.speech) as b:
        yield b


@pytest.fixture(scope="module")
async def tone_browser(sounds: Sounds) -> AsyncIterator[Browser]:
    async with _browser(sounds.tone) as b:
        yield b


@contextlib.asynccontextmanager
async def kiosk(browser: Browser, server: Server, *, microphone: bool = True
                ) -> AsyncIterator[Page]:
    """A fresh context (no storage) on /kiosk/, ready; page errors fail the test."""
    context = await browser.new_context(viewport={"width": 1024, "height": 800},
                                        permissions=["microphone"] if microphone else [])
    context.set_default_timeout(STATE_TIMEOUT_MS)
    errors: list[str] = []
    page = await context.new_page()
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        await page.goto(f"{server.url}/kiosk/")
        await page.wait_for_selector("#kiosk[data-ready='1']")
        yield page
    finally:
        await context.close()
    assert not errors, errors


# --- helpers ------------------------------------------------------------------------------
async def at(page: Page, state: str, shot: str | None = None) -> None:
    await page.wait_for_selector(f"#kiosk[data-state='{state}']")
    if shot:
        SHOTS.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(SHOTS / f"{shot}.png"), full_page=True)


async def glimpse(page: Page, state: str, shot: str) -> None:
    """A screenshot of a short state (the mic check, the countdown) if it is still showing."""
    from playwright.async_api import TimeoutError as PlaywrightTimeout

    with contextlib.suppress(PlaywrightTimeout):
        await page.wait_for_selector(f"#kiosk[data-state='{state}']", timeout=300)
        SHOTS.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(SHOTS / f"{shot}.png"), full_page=True)


async def axe(page: Page, where: str) -> None:
    """No serious or critical axe-core violation on the page as it is now."""
    if not await page.evaluate("typeof axe !== 'undefined'"):
        # evaluated over the DevTools protocol: the page's CSP (no inline script) stays on
        await page.evaluate(AXE.read_text(encoding="utf-8") + "\n;void 0")
    found: list[dict[str, Any]] = await page.evaluate(
        """async () => (await axe.run(document, {resultTypes: ["violations"]})).violations
             .map(v => ({id: v.id, impact: v.impact, help: v.help,
                         nodes: v.nodes.map(n => n.target.join(" "))}))""")
    bad = [v for v in found if v["impact"] in ("serious", "critical")]
    assert not bad, f"axe on {where}: {bad}"


async def record(page: Page, *, shots: str | None = None, check: bool = False) -> None:
    """Start, let the fake microphone's file play out, stop: the page is in review."""
    began = time.monotonic()
    await page.click("#b-start")
    if shots:  # arming lasts only the mic check: a picture if we catch it, no failure if not
        await glimpse(page, "arming", f"{shots}-2-arming")
    await at(page, "armed", shots and f"{shots}-3-armed")
    if check:
        await axe(page, "armed")
    await page.click("#b-record")
    if shots:
        await glimpse(page, "countdown", f"{shots}-4-countdown")
    await at(page, "recording")
    if shots:
        await at(page, "recording", f"{shots}-5-recording")
    if check:
        await axe(page, "recording")
    file_s = LEAD_S + TAIL_S + 3.0  # the longest file; both are shorter than this
    await asyncio.sleep(max(0.0, began + file_s - time.monotonic()))
    await page.click("#b-stop")
    await at(page, "review", shots and f"{shots}-6-review")


async def stored(app: FastAPI, artifact_id: int) -> tuple[np.ndarray, int, Artifact]:
    async with resources(app).sessions() as session:
        row = (await session.execute(select(Artifact).where(Artifact.id == artifact_id))
               ).scalar_one()
    samples, rate = _read_wav(await resources(app).blobs.read(row.raw_uri))
    return samples, rate, row


async def submit(page: Page, mode: str) -> dict[str, Any]:
    await page.check(f"input[name=consent][value={mode}]")
    async with page.expect_response("**/api/v1/artifacts/audio") as answer:
        await page.click("#b-submit")
    resp = await answer.value
    assert resp.status == 201, await resp.text()
    body: dict[str, Any] = await resp.json()
    return body


# --- the tests ----------------------------------------------------------------------------
async def test_a_spoken_take_is_trimmed_normalised_stored_and_revocable(
        speech_browser: Browser, server: Server, kiosk_app: FastAPI, sounds: Sounds) -> None:
    from playwright.async_api import expect

    async with kiosk(speech_browser, server) as page:
        await at(page, "idle", "speech-1-idle")
        await axe(page, "idle")
        await record(page, shots="speech", check=True)
        await axe(page, "review")
        await expect(page.locator("#quiet")).to_be_hidden()
        body = await submit(page, "ROOM")
        await at(page, "complete", "speech-8-complete")
        await axe(page, "complete")
        code = body["revocation_token"]
        await expect(page.locator("#code")).to_have_text(code)
        await expect(page.locator("#receipt-where")).to_contain_text(f"{server.url}/revoke/")
        assert await page.locator("#qr svg").count() == 1
        assert await page.locator("a").count() == 0  # no link leaves the kiosk
        samples, rate, row = await stored(kiosk_app, body["artifact"]["id"])
        await page.click("#b-done")
        await at(page, "idle")
        await expect(page.locator("#code")).to_be_hidden()

        # the stored take: the spoken part (first syllable kept), ~0.3 s around it, at the
        # loudness of the sentence normalised to the kiosk's peak
        duration = len(samples) / rate
        assert abs(duration - sounds.speech_s) <= 0.4, (duration, sounds.speech_s)
        assert row.consent_mode == "ROOM" and row.duration_ms == round(duration * 1000)
        source = sounds.spoken / np.abs(sounds.spoken).max() * 0.89
        assert abs(rms_db(samples) - rms_db(source)) <= 3.0, (rms_db(samples), rms_db(source))
        assert np.abs(samples).max() == pytest.approx(0.89, abs=0.02)

        # with the receipt code the visitor listens, downloads, then removes it on /revoke/
        await page.goto(f"{server.url}/revoke/")
        await page.fill("#code", code.lower())
        await page.get_by_role("button", name="Find my recording").click()
        await expect(page.locator("#mine audio")).to_have_count(1)
        await axe(page, "revoke with the take found")
        async with page.expect_download() as downloading:
            await page.get_by_role("link", name="Download it").click()
        saved = await (await downloading.value).path()
        assert Path(saved).read_bytes() == await resources(kiosk_app).blobs.read(row.raw_uri)
        await page.get_by_role("button", name="Remove it").click()
        await expect(page.get_by_role("status")).to_contain_text("It is gone")
    assert not await resources(kiosk_app).blobs.exists(row.raw_uri)


async def test_a_tone_keeps_its_pitch(tone_browser: Browser, server: Server,
                                      kiosk_app: FastAPI) -> None:
    async with kiosk(tone_browser, server) as page:
        await record(page)
        await page.check("input[name=color][value=radio]")
        body = await submit(page, "FOSSIL")
        await at(page, "complete")
    samples, rate, row = await stored(kiosk_app, body["artifact"]["id"])
    assert (row.consent_mode, row.effect_profile) == ("FOSSIL", "radio")
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    peak_hz = np.fft.rfftfreq(len(samples), 1 / rate)[int(np.argmax(spectrum))]
    assert abs(peak_hz - 440.0) <= 5.0, peak_hz
    assert abs(len(samples) / rate - TONE_S) <= 0.4


async def test_a_take_survives_a_lost_answer_a_server_restart_and_a_reload(
        tone_browser: Browser, server: Server, kiosk_app: FastAPI) -> None:
    from playwright.async_api import Error as PlaywrightError
    from playwright.async_api import Route, expect

    before = await artifact_count(kiosk_app)
    first: list[dict[str, Any]] = []
    keys: list[str | None] = []

    async def lose_the_first_answer(route: Route) -> None:
        keys.append(route.request.headers.get("idempotency-key"))
        if first:
            await route.continue_()
            return
        answer = await route.fetch()  # the server stores the take and answers...
        first.append(await answer.json())
        await server.stop()           # ...then goes away, and the answer never arrives
        await route.abort("connectionreset")

    async with kiosk(tone_browser, server) as page:
        await record(page)
        await page.route("**/api/v1/artifacts/audio", lose_the_first_answer)
        await page.check("input[name=consent][value=ROOM]")
        await page.click("#b-submit")
        await at(page, "submitting")
        await expect(page.locator("#submitting-text")).to_have_text(
            "Saved on this kiosk. The installation is not answering yet; still trying.")
        SHOTS.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(SHOTS / "restart-7-submitting.png"), full_page=True)
        with contextlib.suppress(PlaywrightError):  # the server is down: the reload fails
            await page.reload()
        await server.start()
        for attempt in range(3):  # Chromium may still be showing its error page
            try:
                await page.goto(f"{server.url}/kiosk/")
                break
            except PlaywrightError as exc:
                if "interrupted by another navigation" not in str(exc) or attempt == 2:
                    raise
                await page.wait_for_load_state()
        await at(page, "complete", "restart-8-complete")
        await expect(page.locator("#code")).to_have_text(first[0]["revocation_token"])
        pending = await page.evaluate("""() => new Promise((ok, fail) => {
            const open = indexedDB.open("rooms-kiosk");
            open.onsuccess = () => { const tx = open.result.transaction("outbox");
              const req = tx.objectStore("outbox").count(); req.onsuccess = () => ok(req.result); };
            open.onerror = () => fail(open.error); })""")
        assert pending == 0
    assert await artifact_count(kiosk_app) == before + 1
    assert len(keys) >= 2 and len(set(keys)) == 1 and keys[0]


async def test_nosave_plays_once_and_is_gone(tone_browser: Browser, server: Server,
                                            kiosk_app: FastAPI) -> None:
    from playwright.async_api import expect

    before = await artifact_count(kiosk_app)
    async with kiosk(tone_browser, server) as page:
        await record(page, shots="nosave")
        await page.check("input[name=consent][value=NOSAVE]")
        async with page.expect_response("**/api/v1/ephemeral/audio") as posted:
            await page.click("#b-submit")
        body = await (await posted.value).json()
        await at(page, "complete")
        await expect(page.locator("#complete-text")).to_have_text(
            "Played once. Nothing was kept.", timeout=STATE_TIMEOUT_MS)
        await at(page, "complete", "nosave-8-complete")
        await expect(page.locator("#receipt")).to_be_hidden()
    async with httpx.AsyncClient(base_url=server.url) as other:
        again = await other.get(body["play_url"], headers={"X-Rooms-Client-Id": "someone-else"})
    assert again.status_code == 410
    async with resources(kiosk_app).sessions() as session:
        rows = (await session.execute(select(Artifact.status).where(
            Artifact.id > 0).order_by(Artifact.id.desc()).limit(1))).scalars().all()
    assert rows == ["REVOKED"] and await artifact_count(kiosk_app) == before + 1


async def test_the_whole_flow_by_keyboard_alone(tone_browser: Browser, server: Server) -> None:
    from playwright.async_api import expect

    async with kiosk(tone_browser, server) as page:
        focused = "() => document.activeElement && document.activeElement.id"
        assert await page.evaluate(focused) == "b-start"
        began = time.monotonic()
        await page.keyboard.press("Space")
        await at(page, "armed")
        assert await page.evaluate(focused) == "b-record"
        await page.keyboard.press("Space")
        await at(page, "recording")
        assert await page.evaluate(focused) == "b-stop"
        await asyncio.sleep(max(0.0, began + LEAD_S + TONE_S + 1.0 - time.monotonic()))
        await page.keyboard.press("Space")
        await at(page, "review")
        assert await page.evaluate(focused) == "b-play"  # Send waits for a consent choice
        await page.keyboard.press("2")
        await expect(page.locator("input[value=FOSSIL]")).to_be_checked()
        await expect(page.locator("#b-submit")).to_be_enabled()
        async with page.expect_response("**/api/v1/artifacts/audio") as answer:
            await page.keyboard.press("Enter")
        assert (await answer.value).status == 201
        await at(page, "complete")
        assert await page.evaluate(focused) == "b-done"
        await page.keyboard.press("Space")
        await at(page, "idle")
        await page.keyboard.press("Space")  # Escape from anywhere starts over
        await at(page, "armed")
        await page.keyboard.press("Escape")
        await at(page, "idle")


async def test_a_refused_microphone_says_so(tone_browser: Browser, server: Server) -> None:
    from playwright.async_api import expect

    async with kiosk(tone_browser, server, microphone=False) as page:
        await page.click("#b-start")
        await at(page, "error", "error-9-mic-refused")
        await expect(page.locator("#error-text")).to_contain_text("microphone is not allowed")
        await axe(page, "error")
        await page.click("#b-reset")
        await at(page, "idle")


async def test_the_landing_page_passes_axe(tone_browser: Browser, server: Server) -> None:
    context = await tone_browser.new_context()
    try:
        page = await context.new_page()
        await page.goto(f"{server.url}/")
        await axe(page, "landing")
    finally:
        await context.close()


async def test_the_kiosk_follows_the_steward_live(tone_browser: Browser, server: Server) -> None:
    from playwright.async_api import expect

    from tests.ops.conftest import SECRET

    async def steward(**fields: Any) -> None:
        async with httpx.AsyncClient(base_url=server.url) as ops:
            resp = await ops.post("/api/v1/operator/controls", json=fields,
                                  headers={"Authorization": f"Bearer {SECRET}"})
            assert resp.status_code == 200, resp.text

    async with kiosk(tone_browser, server) as page:
        await expect(page.locator("#b-start")).to_be_enabled()
        async with httpx.AsyncClient(base_url=server.url) as ops:  # it reported itself
            for _ in range(200):
                found = (await ops.get("/api/v1/operator/devices", headers={
                    "Authorization": f"Bearer {SECRET}"})).json()["items"]
                if any(d["kind"] == "kiosk" for d in found):
                    break
                await asyncio.sleep(0.05)
        device = next(d for d in found if d["kind"] == "kiosk")
        assert device["stale"] is False and device["name"].startswith("kiosk ")
        assert device["status"]["microphone"] in ("granted", "prompt", "denied", "unknown")
        await steward(intake_paused=True, kiosk_language_code="es_mx_ca",
                      kiosk_accessibility_mode="large_high_contrast",
                      session_theme_prompt="¿Qué escuchaste hoy?")
        await expect(page.locator("#notice")).to_have_text(
            "La grabación está en pausa por ahora. Vuelve más tarde, por favor.")
        await expect(page.locator("#b-start")).to_be_disabled()
        await expect(page.locator("#b-start")).to_have_text("Empezar")
        await expect(page.locator("#theme-prompt")).to_have_text("¿Qué escuchaste hoy?")
        await expect(page.locator("html")).to_have_class("large-high-contrast")
        await at(page, "idle", "steward-1-paused-es")
        await axe(page, "idle, paused, large text")
        await steward(intake_paused=False, kiosk_language_code="en",
                      kiosk_accessibility_mode="", session_theme_prompt="")
        await expect(page.locator("#b-start")).to_be_enabled()
        await expect(page.locator("#b-start")).to_have_text("Start")
        await expect(page.locator("#notice")).to_have_text("")
