"""The media proxy's Range handling, as browsers and players send it."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from rooms.access.media_tokens import POOL_AUDIO, media_url
from tests.audio import wav16
from tests.helpers import resources
from tests.recordings.conftest import upload

DATA = wav16(0.5)


async def _audio_url(client: httpx.AsyncClient, app: FastAPI) -> str:
    body = (await upload(client, DATA)).json()
    return media_url(resources(app).settings, POOL_AUDIO, body["artifact"]["id"])


@pytest.mark.parametrize(("header", "start", "end"), [
    ("bytes=0-1", 0, 1), ("Bytes=0-1", 0, 1), ("BYTES=10-", 10, len(DATA) - 1),
    ("bytes=-4", len(DATA) - 4, len(DATA) - 1), ("bytes = 2 - 5", 2, 5),
    ("bytes=0-" + "9" * 5000, 0, len(DATA) - 1), ("bytes=0000000003-4", 3, 4)])
async def test_ranges_are_partial_content(client: httpx.AsyncClient, app: FastAPI, header: str,
                                          start: int, end: int) -> None:
    resp = await client.get(await _audio_url(client, app), headers={"Range": header})
    assert resp.status_code == 206, resp.text
    assert resp.content == DATA[start:end + 1]
    assert resp.headers["content-range"] == f"bytes {start}-{end}/{len(DATA)}"


@pytest.mark.parametrize("header", ["bytes=" + "9" * 5000 + "-", f"bytes={len(DATA)}-",
                                    "bytes=-0"])
async def test_unsatisfiable_ranges_are_416_json(client: httpx.AsyncClient, app: FastAPI,
                                                 header: str) -> None:
    resp = await client.get(await _audio_url(client, app), headers={"Range": header})
    assert resp.status_code == 416
    assert resp.json()["error"]["code"] == "range_not_satisfiable"
    assert resp.headers["content-range"] == f"bytes */{len(DATA)}"


@pytest.mark.parametrize("header", ["items=0-1", "bytes=0-1,4-5", "bytes=x-y", "bytes=5-2x"])
async def test_other_ranges_get_the_whole_take(client: httpx.AsyncClient, app: FastAPI,
                                               header: str) -> None:
    resp = await client.get(await _audio_url(client, app), headers={"Range": header})
    assert (resp.status_code, resp.content) == (200, DATA)
