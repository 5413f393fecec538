"""The steward's switches: audited, honoured by the kiosk and the room, pushed live."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI

from tests.helpers import resources
from tests.live.conftest import until
from tests.ops.conftest import SECRET
from tests.recordings.conftest import upload

BEARER = {"Authorization": f"Bearer {SECRET}"}


async def post(client: httpx.AsyncClient, body: dict[str, Any], **kw: Any) -> httpx.Response:
    return await client.post("/api/v1/operator/controls", json=body,
                             headers=kw.get("headers", BEARER))


async def test_a_change_is_audited_and_a_repeat_is_not(client: httpx.AsyncClient) -> None:
    first = await client.get("/api/v1/operator/controls", headers=BEARER)
    assert first.status_code == 200 and first.headers["cache-control"] == "no-store"
    assert first.json() == {"operator_state": {"intake_paused": False, "playback_paused": False,
                                               "quieter_mode": False, "maintenance_mode": False,
                                               "mood_bias": "", "room_volume": 1.0,
                                               "kiosk_language_code": "",
                                               "kiosk_accessibility_mode": "",
                                               "kiosk_force_reduced_motion": False,
                                               "kiosk_max_recording_seconds": 120,
                                               "session_theme_title": "",
                                               "session_theme_prompt": "", "updated_at": None},
                            "recent_actions": []}
    changed = (await post(client, {"quieter_mode": True, "mood_bias": "hushed",
                                   "intake_paused": False})).json()
    assert changed["operator_state"]["quieter_mode"] is True
    assert changed["operator_state"]["mood_bias"] == "hushed"
    assert [c["action"] for c in changed["changes"]] == ["quieter_mode.enabled",
                                                         "mood_bias.updated"]
    again = (await post(client, {"quieter_mode": True})).json()
    assert again["changes"] == []  # nothing changed, nothing audited
    trail = (await client.get("/api/v1/operator/actions", headers=BEARER)).json()
    assert [a["action"] for a in trail["items"]] == ["mood_bias.updated", "quieter_mode.enabled"]
    assert trail["items"][0]["actor"] == "operator:bearer" and trail["next_cursor"] is None
    assert trail["items"][1]["payload"] == {"field": "quieter_mode", "value": True}


async def test_the_trail_pages_back_with_its_cursor(client: httpx.AsyncClient) -> None:
    for value in (True, False, True):
        await post(client, {"playback_paused": value})
    page = (await client.get("/api/v1/operator/actions?limit=2", headers=BEARER)).json()
    assert [a["action"] for a in page["items"]] == ["playback_paused.enabled",
                                                   "playback_paused.disabled"]
    rest = (await client.get(f"/api/v1/operator/actions?limit=2&cursor={page['next_cursor']}",
                             headers=BEARER)).json()
    assert [a["action"] for a in rest["items"]] == ["playback_paused.enabled"]


async def test_bad_bodies_and_strangers_are_refused(client: httpx.AsyncClient) -> None:
    for body in ({"quieter_mode": "loud"}, {"mood_bias": "angry"}, {"volume": 11}, [1]):
        response = await post(client, body)  # type: ignore[arg-type]
        assert response.status_code in (400, 422) and "error" in response.json()
    assert (await post(client, {"intake_paused": True}, headers={})).status_code == 401
    got = await client.get("/api/v1/operator/controls")
    assert got.status_code == 401 and got.json()["error"]["code"] == "ops_auth_required"
    assert (await client.get("/api/v1/operator/controls", headers=BEARER)).json()[
        "operator_state"]["intake_paused"] is False  # nothing a refused request changed


async def test_the_kiosk_and_the_room_honour_the_switches(client: httpx.AsyncClient) -> None:
    assert (await upload(client)).status_code == 201
    await post(client, {"intake_paused": True, "playback_paused": True})
    refused = await upload(client)
    assert refused.status_code == 503 and refused.json()["error"]["code"] == "intake_paused"
    state = (await client.get("/api/v1/surface/state")).json()
    assert state["intake_paused"] is True and state["playback_paused"] is True


async def test_changes_reach_live_clients_and_the_supervisor(app: FastAPI,
                                                            client: httpx.AsyncClient) -> None:
    res = resources(app)
    async with res.hub.subscribe("surface") as surface, res.hub.subscribe("ops") as ops:
        await post(client, {"quieter_mode": True})
        posture = (await anext(aiter(surface.events()))).data()
        action = (await anext(aiter(ops.events()))).data()
    assert posture["event"] == "posture" and posture["quieter_mode"] is True
    assert action["event"] == "steward_action" and action["action"] == "quieter_mode.enabled"
    await until(lambda: res.supervisor.quiet, what="the supervisor to go quiet")


async def test_workers_and_an_operator_restart(client: httpx.AsyncClient, app: FastAPI) -> None:
    body = (await client.get("/api/v1/operator/workers", headers=BEARER)).json()
    assert body["workers"]["topic1_worker"]["state"] == "running" and body["crashes"] == []
    assert body["workers"]["topic1_worker"]["reason"] is None
    assert body["workers"]["analysis_phase"]["reason"] == "too_few_listeners"  # says why
    assert body["workers"]["analysis_phase"]["listeners"]["min_ws_clients"] == 2
    restarted = await client.post("/api/v1/operator/workers/topic1_worker/restart",
                                  headers=BEARER)
    assert restarted.status_code == 200 and restarted.json()["worker"] == "topic1_worker"
    sup = resources(app).supervisor
    await until(lambda: sup.workers()["topic1_worker"]["state"] == "running")
    missing = await client.post("/api/v1/operator/workers/nope/restart", headers=BEARER)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "worker_not_found"
    trail = (await client.get("/api/v1/operator/actions", headers=BEARER)).json()
    assert [a["action"] for a in trail["items"]] == ["worker.restarted"]
