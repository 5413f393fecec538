"""The steward's `room_volume`: controls -> surface/state -> a live `surface` event at a room's
websocket, audited; numbers are clamped to 0..1, anything else is refused (docs/loudness.md)."""

from __future__ import annotations

import asyncio
import math

import httpx
import pytest
from fastapi import FastAPI

from tests.live.conftest import live_client, serve
from tests.ops.conftest import SECRET

BEARER = {"Authorization": f"Bearer {SECRET}"}


async def _set(client: httpx.AsyncClient, value: object) -> httpx.Response:
    return await client.post("/api/v1/operator/controls", json={"room_volume": value},
                              headers=BEARER)


async def _state_volume(client: httpx.AsyncClient) -> float:
    return float((await client.get("/api/v1/surface/state")).json()["room_volume"])


async def test_a_volume_change_reaches_a_room_within_two_seconds(
        app: FastAPI, client: httpx.AsyncClient) -> None:
    assert await _state_volume(client) == 1.0  # the default: full volume
    async with serve(app) as server, live_client(server, topics=("surface",)) as room:
        loop = asyncio.get_running_loop()
        sent = loop.time()
        changed = await _set(client, 0.35)
        assert changed.status_code == 200, changed.text
        event = await room.recv(timeout=2.0)
        while event.get("event") != "posture":  # a pool event may come first
            event = await room.recv(timeout=2.0 - (loop.time() - sent))
        assert loop.time() - sent < 2.0
    assert event["topic"] == "surface" and event["room_volume"] == 0.35
    assert changed.json()["operator_state"]["room_volume"] == 0.35
    assert [c["action"] for c in changed.json()["changes"]] == ["room_volume.updated"]
    assert await _state_volume(client) == 0.35
    got = (await client.get("/api/v1/operator/controls", headers=BEARER)).json()
    assert got["operator_state"]["room_volume"] == 0.35
    trail = (await client.get("/api/v1/operator/actions", headers=BEARER)).json()["items"]
    assert trail[0]["action"] == "room_volume.updated"
    assert trail[0]["payload"] == {"field": "room_volume", "value": 0.35}


@pytest.mark.parametrize(("sent", "kept"), [(-1, 0.0), (2, 1.0), (0, 0.0), (1, 1.0),
                                            (0.123456, 0.123), (1e9, 1.0)])
async def test_numbers_outside_0_to_1_are_clamped(client: httpx.AsyncClient, sent: float,
                                                  kept: float) -> None:
    response = await _set(client, sent)
    assert response.status_code == 200, response.text
    assert response.json()["operator_state"]["room_volume"] == kept
    assert await _state_volume(client) == kept


@pytest.mark.parametrize("bad", ["0.5", "loud", True, [0.5], {"v": 1}, math.nan, math.inf])
async def test_anything_but_a_number_is_refused_and_changes_nothing(
        client: httpx.AsyncClient, bad: object) -> None:
    await _set(client, 0.6)
    if isinstance(bad, float):  # NaN and Infinity: Python's JSON writes the bare tokens
        import json

        response = await client.post("/api/v1/operator/controls", headers={
            **BEARER, "Content-Type": "application/json"},
            content=json.dumps({"room_volume": bad}))
    else:
        response = await _set(client, bad)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "invalid_request"
    assert await _state_volume(client) == 0.6
