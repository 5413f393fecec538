"""GET /api/v1/node/status: what the steward sees about the archive, the pool and the node."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from rooms.models import Artifact, ConsentManifest, Derivative, utcnow
from rooms.ops.status import node_status
from rooms.playback import classify
from tests.audio import wav16
from tests.helpers import resources, set_posture, writing
from tests.live.conftest import live_client, serve, until
from tests.ops.conftest import SECRET, login, status
from tests.recordings.conftest import CLIENT, upload

BEARER = {"Authorization": f"Bearer {SECRET}"}


async def node(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await status(client, headers=BEARER)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def codes(body: dict[str, Any]) -> dict[str, str]:
    return {w["code"]: w["level"] for w in body["warnings"]}


async def test_an_empty_archive_warns_that_the_room_is_silent(client: httpx.AsyncClient,
                                                              tier: str, tmp_path: Any) -> None:
    body = await node(client)
    assert body["ok"] is True  # nothing is broken; there is just nothing to play yet
    assert body["now"].endswith("Z")
    expected = {"database", "storage"} | ({"redis"} if tier == "services" else set())
    assert set(body["components"]) == expected
    assert all(c["ok"] for c in body["components"].values())
    assert body["artifacts"] == {"ACTIVE": 0, "EXPIRED": 0, "REVOKED": 0, "EPHEMERAL": 0}
    assert (body["active"], body["expired"], body["revoked"], body["playable"]) == (0, 0, 0, 0)
    assert body["lanes"] == {"fresh": 0, "mid": 0, "worn": 0}
    assert body["moods"] == {m: 0 for m in classify.MOODS}
    assert body["operator_state"] == {"intake_paused": False, "playback_paused": False,
                                      "quieter_mode": False, "maintenance_mode": False,
                                      "updated_at": None}
    assert codes(body)["empty_pool"] == "warning"
    assert body["warnings"][0]["message"]
    storage = body["storage"]
    assert (storage["path"], storage["state"]) == (str(tmp_path), "ok")
    assert storage["total_gb"] > 0 and 0 <= storage["free_percent"] <= 100
    assert round(storage["used_percent"] + storage["free_percent"]) == 100
    assert body["retention"]["raw_held"] == 0 and body["retention"]["next_raw_expiry_at"] is None
    assert body["jobs"]["ok"] is True and body["jobs"]["depth"] == 0
    assert body["supervisor"]["state"] in ("idle", "running")  # the probe runs when it may
    assert body["supervisor"]["workers"]["all_in_stage"]["state"] == "disabled"
    assert body["live"]["total"] == 0 and body["live"]["peers"] == []
    assert body["live"]["topics"]["stage"] == 0


async def test_counts_follow_takes_as_they_are_kept_and_revoked(client: httpx.AsyncClient) -> None:
    tokens = [(await upload(client)).json()["revocation_token"] for _ in range(3)]
    assert (await upload(client, wav16(6.0), mode="FOSSIL")).status_code == 201
    nosave = await client.post("/api/v1/ephemeral/audio", headers=CLIENT,
                               files={"file": ("t.wav", wav16(1.0), "audio/wav")})
    assert nosave.status_code == 201
    revoked = await client.post("/api/v1/revoke", json={"token": tokens[0]})
    assert revoked.json()["revoked"] == 1

    body = await node(client)
    assert body["artifacts"] == {"ACTIVE": 3, "EXPIRED": 0, "REVOKED": 1, "EPHEMERAL": 1}
    assert (body["active"], body["revoked"], body["playable"]) == (3, 1, 3)
    assert body["lanes"] == {"fresh": 3, "mid": 0, "worn": 0}  # new, unplayed takes
    # two 1 s takes are light (clear); the 6 s FOSSIL is medium (gathering)
    assert body["moods"] == {"clear": 2, "hushed": 0, "suspended": 0, "weathered": 0,
                             "gathering": 1}
    retention = body["retention"]
    assert retention["raw_held"] == 4  # the revoked take's audio is gone; the NOSAVE one waits
    assert retention["raw_expiring_soon"] == 1  # the NOSAVE take goes within 5 minutes
    assert (retention["fossil_retained"], retention["fossil_residue_only"]) == (1, 0)
    assert retention["next_raw_expiry_at"] < retention["next_fossil_expiry_at"]
    assert "empty_pool" not in codes(body)
    assert codes(body)["pool_low"] == "warning"


async def _insert(app: FastAPI, rows: list[dict[str, Any]],
                  essences: dict[int, datetime | None] | None = None) -> None:
    """Artifacts straight into the database, as months of plays and sweeps leave them."""
    res = resources(app)
    async with writing(res) as session:
        consent = ConsentManifest(json={}, revocation_token_hash="0" * 64)
        session.add(consent)
        await session.flush()
        artifacts = [Artifact(consent_id=consent.id, effect_metadata={}, **row) for row in rows]
        session.add_all(artifacts)
        await session.flush()
        for index, expires_at in (essences or {}).items():
            session.add(Derivative(artifact_id=artifacts[index].id, kind="essence_wav",
                                   uri=f"derivatives/{index}/essence.wav",
                                   expires_at=expires_at))


# (wear, play_count, age hours, duration ms) -> the lane, density and mood REFERENCE §2.4 gives
POOL_CASES = [
    ((0.18, 2, 8.0, 5000), ("fresh", "light", "clear")),
    ((0.18, 2, 8.0, 5001), ("fresh", "medium", "gathering")),
    ((0.19, 0, 1.0, 3000), ("mid", "light", "hushed")),
    ((0.0, 3, 1.0, 3000), ("mid", "light", "hushed")),
    ((0.0, 0, 8.01, 3000), ("mid", "light", "hushed")),
    ((0.0, 0, 12.0, 3000), ("mid", "light", "suspended")),
    ((0.0, 0, 11.99, 3000), ("mid", "light", "hushed")),
    ((0.0, 0, 9.0, 18000), ("mid", "dense", "suspended")),
    ((0.37, 4, 17.99, 17999), ("mid", "medium", "suspended")),
    ((0.38, 0, 1.0, 18000), ("worn", "dense", "weathered")),
    ((0.0, 5, 1.0, 1000), ("worn", "light", "hushed")),
    ((0.0, 0, 18.0, 20000), ("worn", "dense", "weathered")),
    ((1.0, 40, 300.0, 9000), ("worn", "medium", "hushed")),
]


async def test_lanes_and_moods_are_counted_by_the_pool_rules_at_the_boundaries(
        app: FastAPI) -> None:
    now = utcnow()
    later = now + timedelta(days=1)
    rows = [{"wear": w, "play_count": p, "created_at": now - timedelta(hours=h),
             "duration_ms": d, "status": "ACTIVE", "raw_uri": f"raw/{i}/audio.wav",
             "expires_at": later, "raw_expires_at": later}
            for i, ((w, p, h, d), _) in enumerate(POOL_CASES)]
    fresh = {"wear": 0.0, "play_count": 0, "created_at": now, "duration_ms": 1000}
    not_playable = [
        {**fresh, "status": "ACTIVE", "raw_uri": "raw/x", "expires_at": now},  # expires now
        {**fresh, "status": "EXPIRED", "raw_uri": "", "expires_at": later},
        {**fresh, "status": "REVOKED", "raw_uri": "", "expires_at": later},
        {**fresh, "status": "EPHEMERAL", "raw_uri": "eph/x", "expires_at": later},
        {**fresh, "status": "ACTIVE", "raw_uri": "", "expires_at": later},  # nothing to play
        {**fresh, "status": "ACTIVE", "raw_uri": "", "expires_at": later},  # essence expired
    ]
    residue = {**fresh, "status": "ACTIVE", "raw_uri": "", "expires_at": later}  # essence only
    await _insert(app, [*rows, *not_playable, residue],
                  essences={len(rows) + 5: now, len(rows) + 6: None})

    body = await node_status(resources(app), now=now)

    lanes = {lane: 0 for lane in classify.LANES}
    moods = {mood: 0 for mood in classify.MOODS}
    for (w, p, h, d), (lane, density, mood) in POOL_CASES:
        # the table is REFERENCE's rules; the pure functions must say the same
        assert classify.lane(w, p, h) == lane
        assert classify.density(d) == density
        assert classify.mood(lane, density, h) == mood
        lanes[lane] += 1
        moods[mood] += 1
    lanes["fresh"] += 1  # the essence-only take
    moods["clear"] += 1
    assert body["playable"] == len(POOL_CASES) + 1
    assert body["lanes"] == lanes
    assert body["moods"] == moods
    assert body["artifacts"] == {"ACTIVE": len(POOL_CASES) + 4, "EXPIRED": 1, "REVOKED": 1,
                                 "EPHEMERAL": 1}


async def test_retention_counts_raw_audio_still_held(app: FastAPI) -> None:
    now = utcnow()
    base = {"wear": 0.0, "play_count": 0, "created_at": now, "duration_ms": 1000,
            "status": "ACTIVE", "expires_at": now + timedelta(days=300)}
    soon, later = now + timedelta(hours=3), now + timedelta(hours=40)
    await _insert(app, [
        {**base, "consent_mode": "ROOM", "raw_uri": "r/1", "raw_expires_at": soon},
        {**base, "consent_mode": "ROOM", "raw_uri": "r/2", "raw_expires_at": later},
        {**base, "consent_mode": "FOSSIL", "raw_uri": "r/3", "raw_expires_at": later},
        {**base, "consent_mode": "FOSSIL", "raw_uri": "", "raw_expires_at": now,
         "expires_at": now + timedelta(days=9)},
    ])
    retention = (await node_status(resources(app), now=now))["retention"]
    assert retention["soon_window_hours"] == 24
    assert (retention["raw_held"], retention["raw_expiring_soon"]) == (3, 1)
    assert (retention["fossil_retained"], retention["fossil_residue_only"]) == (2, 1)
    assert retention["next_raw_expiry_at"].startswith(soon.strftime("%Y-%m-%dT%H:%M"))
    assert retention["next_fossil_expiry_at"].startswith(
        (now + timedelta(days=9)).strftime("%Y-%m-%dT%H:%M"))


@pytest.mark.ops_settings(ops_pool_low_count=2, ops_pool_imbalance_ratio=0.72)
async def test_a_lopsided_pool_and_a_paused_kiosk_are_flagged(client: httpx.AsyncClient,
                                                              app: FastAPI) -> None:
    for _ in range(3):
        assert (await upload(client)).status_code == 201
    await set_posture(resources(app), intake_paused=True)
    body = await node(client)
    assert body["operator_state"]["intake_paused"] is True
    assert body["operator_state"]["updated_at"] is not None
    warnings = codes(body)
    warnings.pop("jobs_stale", None)  # services tier: no arq worker runs in the tests
    assert warnings == {"lane_imbalance": "info", "intake_paused": "info"}
    imbalance = next(w for w in body["warnings"] if w["code"] == "lane_imbalance")
    assert "3 of 3" in imbalance["message"] and "fresh" in imbalance["message"]
    assert body["ok"] is True


@pytest.mark.ops_settings(ops_disk_warning_free_percent=100.0)
async def test_low_disk_is_a_warning(client: httpx.AsyncClient) -> None:
    body = await node(client)
    assert body["storage"]["state"] == "warning"
    assert codes(body)["disk_warning"] == "warning"
    assert body["ok"] is True


@pytest.mark.ops_settings(ops_disk_warning_free_gb=1e9, ops_disk_critical_free_gb=1e9)
async def test_a_nearly_full_disk_is_critical_and_not_ok(client: httpx.AsyncClient) -> None:
    body = await node(client)
    assert body["storage"]["state"] == "critical"
    assert body["warnings"][0]["code"] == "disk_critical"
    assert body["warnings"][0]["level"] == "critical"
    assert body["ok"] is False


async def test_live_subscribers_are_counted(app: FastAPI, client: httpx.AsyncClient) -> None:
    async with serve(app) as server:
        async with live_client(server, topics=("stage", "beacons")), \
                live_client(server, topics=("stage",)):
            await until(lambda: server.hub.total == 2, what="two listeners")
            live = (await node(client))["live"]
        assert (live["total"], live["local_total"]) == (2, 2)
        assert live["topics"]["stage"] == 2 and live["topics"]["beacons"] == 1
        assert live["topics"]["ops"] == 0
        assert live["node"] == server.hub.node and live["peers"] == []


@pytest.mark.parametrize("tier", ["services"], indirect=True)
@pytest.mark.parametrize(("dependency", "check"), [("postgres", "database"),
                                                   ("redis", "redis"), ("s3", "storage")])
async def test_a_stopped_dependency_is_reported_and_the_operator_still_gets_in(
        client: httpx.AsyncClient, backend: Any, dependency: str, check: str) -> None:
    signed_in = await login(client)
    assert signed_in.status_code == 303
    server = getattr(backend, dependency)
    if getattr(server, "external", False):
        pytest.skip(f"{dependency} comes from the environment; cannot stop it")
    server.stop()
    try:
        response = await status(client)  # the session cookie: Redis may be the one down
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["ok"] is False
        assert [n for n, c in body["components"].items() if not c["ok"]] == [check]
        first = body["warnings"][0]
        assert (first["code"], first["level"]) == ("dependency_down", "critical")
        assert check in first["message"]
        if check == "database":
            assert body["artifacts"] is None and body["playable"] is None
        else:
            assert body["artifacts"] is not None
    finally:
        server.start()
    assert (await status(client)).json()["ok"] is True
