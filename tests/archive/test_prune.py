"""`prune_audit`: exactly the access events and steward actions past their retention go,
and the close-of-day record tells the day's story."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from rooms.archive import day as closing
from rooms.archive.prune import prune_audit
from rooms.config import Settings
from rooms.models import AccessEvent, StewardAction
from tests.archive.conftest import tone_wav
from tests.helpers import resources, writing
from tests.recordings.conftest import upload

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


async def test_prune_removes_exactly_the_old_rows(app: FastAPI, client: httpx.AsyncClient,
                                                  settings: Settings) -> None:
    res = resources(app)
    res.settings = settings.model_copy(update={"access_event_retention_days": 30,
                                               "steward_action_retention_days": 100})
    resp = await upload(client, tone_wav(1.0, 300))
    take = resp.json()["artifact"]["id"]
    event_ages = [0, 1, 29.9, 30.1, 31, 400]  # days before NOW
    action_ages = [0, 99.9, 100.1, 365]
    async with writing(res) as session:
        session.add_all(AccessEvent(artifact_id=take, ts=NOW - timedelta(days=d),
                                    context="room", action="heard", ack_key=f"k{i}")
                        for i, d in enumerate(event_ages))
        session.add_all(StewardAction(created_at=NOW - timedelta(days=d), action="x.updated",
                                      detail=f"{d}") for d in action_ages)
    counts = await prune_audit(res.job_context(), now_ts=NOW.timestamp())
    assert counts == {"access_events": 3, "steward_actions": 2}
    async with res.sessions() as session:
        events = sorted((await session.execute(select(AccessEvent.ack_key))).scalars())
        actions = (await session.execute(select(StewardAction.action, StewardAction.detail)
                                          .order_by(StewardAction.id))).all()
    assert events == ["k0", "k1", "k2"]
    assert [tuple(a) for a in actions] == [("x.updated", "0"), ("x.updated", "99.9"),
                                           ("audit.pruned", "access_events 3, steward_actions 2")]
    # nothing more to prune: no second audit row
    assert await prune_audit(res.job_context(), now_ts=NOW.timestamp()) == {
        "access_events": 0, "steward_actions": 0}
    # 0 keeps a table forever
    res.settings = settings.model_copy(update={"access_event_retention_days": 0,
                                               "steward_action_retention_days": 0})
    assert await prune_audit(res.job_context(), now_ts=(NOW + timedelta(days=900)).timestamp()
                             ) == {"access_events": 0, "steward_actions": 0}


async def test_close_of_day_record(app: FastAPI, client: httpx.AsyncClient,
                                   tmp_path: Path) -> None:
    res = resources(app)
    first = await upload(client, tone_wav(1.0, 300), mode="ROOM")
    await upload(client, tone_wav(1.0, 500), mode="FOSSIL")
    code = first.json()["revocation_token"]
    assert (await client.post("/api/v1/revoke", json={"token": code})).status_code == 200
    today = datetime.now(res.settings.zone()).date()
    record = await closing.summary(res, today)
    path = closing.write(tmp_path / "archive", today, record)
    stored = json.loads(path.read_text())
    assert path.name == f"rooms-day-{today}.json" and path.stat().st_mode & 0o777 == 0o600
    assert stored["takes"]["added"] == {"ROOM": 1, "FOSSIL": 1, "NOSAVE": 0}
    assert stored["removed"] == {"revocation.completed": 1}
    assert stored["archive"]["REVOKED"] == 1 and stored["archive"]["ACTIVE"] == 1
    assert [a["action"] for a in stored["actions"]] == ["revocation.completed"]
    other = await closing.summary(res, date(2020, 1, 1))
    assert other["actions"] == [] and sum(other["takes"]["added"].values()) == 0
