"""A NOSAVE take in Chromium's own <audio> element: the browser probes, buffers and plays it
inside its listening window; after the window the take is gone (CONTRACT §4)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from fastapi import FastAPI

from rooms.models import utcnow
from tests.audio import wav16
from tests.browser import PAGE_TIMEOUT_MS, chromium_available, launch_chromium, serve_app
from tests.conftest import unavailable
from tests.recordings.conftest import blob_keys
from tests.recordings.test_nosave import OTHER, WINDOW, freeze, nosave_take

if TYPE_CHECKING:
    from playwright.async_api import Browser, Page, Response

PAGE = "<!doctype html><title>NOSAVE</title><body></body>"
PROBE = """async (url) => {
  const r = await fetch(url, {headers: {Range: "bytes=0-1"}});
  return {status: r.status, bytes: (await r.arrayBuffer()).byteLength,
          range: r.headers.get("content-range")};
}"""
PLAY = """async (url) => {
  const audio = document.createElement("audio");
  audio.preload = "auto";
  document.body.append(audio);
  const loaded = new Promise((ok, fail) => {
    audio.onloadedmetadata = ok;
    audio.onerror = () => fail(new Error("audio error " + (audio.error && audio.error.code)));
  });
  audio.src = url;
  await loaded;
  const duration = audio.duration;
  audio.currentTime = duration / 2;  // seek: the browser asks for a range
  await new Promise((ok) => { audio.onseeked = ok; });
  audio.currentTime = 0;
  await new Promise((ok) => { audio.onseeked = ok; });
  const ended = new Promise((ok) => { audio.onended = ok; });
  await audio.play();
  await ended;
  return {duration, ended: audio.ended, currentTime: audio.currentTime};
}"""


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    ok, reason = chromium_available()
    if not ok:
        unavailable(reason, "browser tests")
    async with launch_chromium("--autoplay-policy=no-user-gesture-required") as chromium:
        yield chromium


@pytest.fixture
async def page(browser: Browser) -> AsyncIterator[Page]:
    context = await browser.new_context()
    context.set_default_timeout(PAGE_TIMEOUT_MS)
    try:
        yield await context.new_page()
    finally:
        await context.close()


async def test_chromium_plays_a_nosave_take_inside_its_window(
        page: Page, client: httpx.AsyncClient, app: FastAPI) -> None:
    data = wav16(1.0)
    take = await nosave_take(client, data)
    t0 = utcnow()
    freeze(app, t0)
    fetched: list[tuple[int, str | None]] = []

    def seen(response: Response) -> None:
        if "/api/v1/media/raw/" in response.url:
            fetched.append((response.status, response.request.headers.get("range")))

    page.on("response", seen)
    async with serve_app(app) as base_url:
        await page.route(f"{base_url}/nosave-test/", lambda route: route.fulfill(
            status=200, content_type="text/html", body=PAGE))
        await page.goto(f"{base_url}/nosave-test/")
        # Safari's first request is a two-byte probe: it claims the take, opens the window
        probe = await page.evaluate(PROBE, base_url + take["play_url"])
        assert probe == {"status": 206, "bytes": 2, "range": f"bytes 0-1/{len(data)}"}
        played: dict[str, Any] = await page.evaluate(PLAY, base_url + take["play_url"])
        assert played["ended"] is True
        assert played["duration"] == pytest.approx(1.0, abs=0.01)
        assert played["currentTime"] == pytest.approx(1.0, abs=0.05)
        assert fetched and {status for status, _ in fetched} <= {200, 206}
        assert any(status == 206 for status, _ in fetched), fetched  # it did use ranges
        assert len(fetched) >= 2  # the probe, then the element's own request(s)
        # inside the window: another client is refused, the take is still stored
        stranger = await client.get(take["play_url"], headers=OTHER)
        assert stranger.status_code == 410
        assert len(await blob_keys(app)) == 1

        freeze(app, t0 + WINDOW)
        late = await page.evaluate("async (url) => (await fetch(url)).status",
                                   base_url + take["play_url"])
    assert late == 410
    assert await blob_keys(app) == []
    assert (await client.get(take["play_url"], headers={"Range": "bytes=0-1"})
            ).status_code == 410
