"""GET /api/v1/surface/state: the switches, the pool and this kiosk's budget."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from tests.playback.conftest import steward, take
from tests.recordings.conftest import CLIENT, upload

pytestmark = pytest.mark.usefixtures("runtime")


async def _state(client: httpx.AsyncClient, **headers: str) -> dict:  # type: ignore[type-arg]
    resp = await client.get("/api/v1/surface/state", headers={**CLIENT, **headers})
    assert resp.status_code == 200, resp.text
    assert resp.headers["cache-control"] == "no-store"
    body: dict = resp.json()  # type: ignore[type-arg]
    return body


async def test_state_reflects_switches_pool_and_budget(client: httpx.AsyncClient,
                                                       app: FastAPI) -> None:
    before = await _state(client)
    assert before == {"intake_paused": False, "playback_paused": False, "quieter_mode": False,
                      "room_volume": 1.0, "pool_size": 0,
                      "ingest_budget": {"limit": 180, "remaining": 180, "window_s": 3600},
                      "kiosk": {"language": "en", "accessibility_mode": "",
                                "force_reduced_motion": False, "max_recording_seconds": 120,
                                "theme_title": "", "theme_prompt": ""},
                      "open": True, "next_change_at": None,
                      "hours": {"intake": True, "playback": True, "streams": True}}
    assert (await _state(client))["ingest_budget"]["remaining"] == 180  # reading is free
    await take(client)
    after = await _state(client)
    assert after["pool_size"] == 1 and after["ingest_budget"]["remaining"] == 179
    other = await _state(client, **{"X-Rooms-Client-Id": "kiosk-other-02"})
    assert other["ingest_budget"]["remaining"] == 180
    await steward(app, playback_paused=True, quieter_mode=True)
    paused = await _state(client)
    assert (paused["intake_paused"], paused["playback_paused"], paused["quieter_mode"]) == (
        False, True, True)


async def test_the_effect_catalog_is_the_one_uploads_are_checked_against(
        client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/effects")
    assert response.status_code == 200
    items = response.json()
    assert [i["code"] for i in items] == ["clear", "warm", "radio", "dream"]
    assert all({"code", "label", "description", "dsp", "topology"} <= set(i) for i in items)
    assert items[2]["dsp"]["lowpass"] == {"hz": 3350, "q": 0.92}
    refused = await upload(client, effect_profile="sparkle")
    assert refused.status_code == 400
    assert refused.json()["error"]["message"] == (
        "effect_profile must be one of: clear, warm, radio, dream.")
