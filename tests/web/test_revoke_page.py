"""The /revoke/ page in real Chromium, against the app on a real uvicorn server, both tiers."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import httpx
import pytest
from fastapi import FastAPI

from tests.browser import PAGE_TIMEOUT_MS, chromium_available, launch_chromium, serve_app
from tests.conftest import unavailable
from tests.helpers import resources
from tests.recordings.conftest import upload

if TYPE_CHECKING:
    from playwright.async_api import Browser, Page

SCREENSHOT = "/tmp/revoke.png"
REMOVED = re.compile(r"^Removed 1 recording( and \d+ things? made from it)?\. "
                     r"It is gone and will not play again\.$")


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    ok, reason = chromium_available()
    if not ok:
        unavailable(reason, "browser tests")
    async with launch_chromium() as chromium:
        yield chromium


@pytest.fixture
async def page(browser: Browser) -> AsyncIterator[Page]:
    """A fresh context (no cookies, no storage) per test."""
    context = await browser.new_context(viewport={"width": 800, "height": 600})
    context.set_default_timeout(PAGE_TIMEOUT_MS)
    try:
        yield await context.new_page()
    finally:
        await context.close()


async def _take(client: httpx.AsyncClient) -> str:
    resp = await upload(client)
    assert resp.status_code == 201, resp.text
    return str(resp.json()["revocation_token"])


async def test_code_removes_the_recording(page: Page, client: httpx.AsyncClient,
                                          app: FastAPI) -> None:
    from playwright.async_api import expect

    code = await _take(client)
    before = await resources(app).blobs.list("raw/")
    assert before, "the upload stored no blob"
    async with serve_app(app) as base_url:
        await page.goto(f"{base_url}/revoke/")
        await expect(page).to_have_title("Remove your recording · rooms")
        # as people copy it: lower case, in groups, 0 and 1 as o and l
        typed = f"{code[:3]}-{code[3:6]} {code[6:]}".lower().replace("0", "o").replace("1", "l")
        await page.fill("#code", typed)
        async with page.expect_response("**/api/v1/revoke") as answer:
            await page.get_by_role("button", name="Remove it").click()
        resp = await answer.value
        status = page.get_by_role("status")
        await expect(status).to_have_text(REMOVED)
        await expect(page.locator("#code")).to_have_value("")
        await page.screenshot(path=SCREENSHOT, full_page=True)
    assert resp.status == 200
    assert (await resp.json())["revoked"] == 1
    assert await resources(app).blobs.list("raw/") == []
    again = await client.post("/api/v1/revoke", json={"token": code})
    assert again.json() == {"revoked": 0, "derivatives_deleted": 0}


async def test_wrong_code_shows_the_servers_message(page: Page, client: httpx.AsyncClient,
                                                    app: FastAPI) -> None:
    from playwright.async_api import expect

    code = await _take(client)
    wrong = "ZZZZZZZZZZ" if code != "ZZZZZZZZZZ" else "YYYYYYYYYY"
    async with serve_app(app) as base_url:
        await page.goto(f"{base_url}/revoke/")
        await page.fill("#code", wrong)
        async with page.expect_response("**/api/v1/revoke") as answer:
            await page.get_by_role("button", name="Remove it").click()
        resp = await answer.value
        body = await resp.json()
        assert (resp.status, body["error"]["code"]) == (404, "unknown_token")
        await expect(page.get_by_role("status")).to_have_text(body["error"]["message"])
        await expect(page.locator("#code")).to_have_value(wrong)  # kept, to fix a typo
    assert await resources(app).blobs.list("raw/")  # nothing was removed


async def test_a_link_with_a_code_fills_the_form(client: httpx.AsyncClient) -> None:
    page = await client.get("/revoke/", params={"token": "abcd-efgh jk"})
    assert page.status_code == 200
    assert 'value="ABCDEFGHJK"' in page.text
    odd = await client.get("/revoke/", params={"token": '"><script>x</script>'})
    assert odd.status_code == 200 and "<script>x" not in odd.text
