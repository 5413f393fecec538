"""POST /api/v1/pool/heard/<token>: one audible play counted once, atomically."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from rooms.access.media_tokens import POOL_AUDIO, POOL_HEARD, mint
from rooms.models import AccessEvent
from tests.helpers import resources
from tests.playback.conftest import row, take, update
from tests.recordings.conftest import upload
from tests.respell import respellings

pytestmark = pytest.mark.usefixtures("runtime")


async def _ack_url(client: httpx.AsyncClient) -> str:
    body = (await client.get("/api/v1/pool/next")).json()
    return str(body["artifact"]["playback_ack_url"])


async def _events(app: FastAPI) -> list[AccessEvent]:
    async with resources(app).sessions() as session:
        return list((await session.execute(select(AccessEvent))).scalars().all())


async def test_one_token_counts_one_play(client: httpx.AsyncClient, app: FastAPI) -> None:
    art = await take(client)
    url = await _ack_url(client)
    first = await client.post(url)
    assert first.status_code == 200, first.text
    assert first.json() == {"counted": True, "play_count": 1, "wear": pytest.approx(0.005)}
    again = await client.post(url)
    assert again.status_code == 200
    assert again.json() == {"counted": False, "play_count": 1, "wear": pytest.approx(0.005)}
    after = await row(app, art)
    assert (after.play_count, after.wear) == (1, pytest.approx(0.005))
    assert after.last_access_at is not None
    events = await _events(app)
    assert [(e.artifact_id, e.context, e.action) for e in events] == [(art, "room", "heard")]
    # a new pool/next gives a new token, which counts again
    assert (await client.post(await _ack_url(client))).json()["play_count"] == 2


async def test_a_respelled_ack_token_counts_nothing(client: httpx.AsyncClient,
                                                    app: FastAPI) -> None:
    art = await take(client)
    url = await _ack_url(client)
    prefix, token = url.rsplit("/", 1)
    for other in respellings(token):  # before and after the real ack: never a 500, never +1
        refused = await client.post(f"{prefix}/{other}")
        assert refused.status_code == 403, (other, refused.text)
        assert refused.json()["error"]["code"] == "token_invalid"
    assert (await client.post(url)).json()["counted"] is True
    for other in [*respellings(token), token + "A" * 40]:
        assert (await client.post(f"{prefix}/{other}")).status_code == 403, other
    assert (await row(app, art)).play_count == 1
    assert len(await _events(app)) == 1


async def test_concurrent_acks_all_count(client: httpx.AsyncClient, app: FastAPI) -> None:
    art = await take(client)
    urls = [await _ack_url(client) for _ in range(20)]
    resps = await asyncio.gather(*(client.post(u) for u in urls + urls[:5]))
    assert all(r.status_code == 200 for r in resps), [r.text for r in resps]
    assert sum(r.json()["counted"] for r in resps) == 20
    after = await row(app, art)
    assert after.play_count == 20 and after.wear == pytest.approx(0.1)
    assert len(await _events(app)) == 20


async def test_wear_caps_at_one(client: httpx.AsyncClient, app: FastAPI) -> None:
    art = await take(client)
    await update(app, art, wear=0.998)
    body = (await client.post(await _ack_url(client))).json()
    assert body["wear"] == 1.0 and (await row(app, art)).wear == 1.0


async def test_a_question_take_wears_more_slowly(client: httpx.AsyncClient,
                                                 app: FastAPI) -> None:
    art = await take(client)
    await update(app, art, wear=0.1, deployment_kind="question")
    body = (await client.post(await _ack_url(client))).json()
    assert body["wear"] == pytest.approx(0.10225)  # upstream's figure: 0.005 x 0.45


async def test_bad_tokens_are_403(client: httpx.AsyncClient, app: FastAPI) -> None:
    art = await take(client)
    url = await _ack_url(client)
    tampered = url[:-3] + ("AAA" if not url.endswith("AAA") else "BBB")
    for bad in (tampered, "/api/v1/pool/heard/nonsense",
                "/api/v1/pool/heard/" + mint(resources(app).settings, POOL_AUDIO, art),
                "/api/v1/pool/heard/" + mint(resources(app).settings, POOL_HEARD, art, ttl_s=-5)):
        resp = await client.post(bad)
        assert resp.status_code == 403, (bad, resp.text)
        assert resp.json()["error"]["code"].startswith("token_")
    assert (await row(app, art)).play_count == 0


async def test_a_revoked_take_is_gone(client: httpx.AsyncClient, app: FastAPI) -> None:
    resp = await upload(client)
    url = await _ack_url(client)
    code = resp.json()["revocation_token"]
    assert (await client.post("/api/v1/revoke", json={"token": code})).status_code == 200
    gone = await client.post(url)
    assert gone.status_code == 410 and gone.json()["error"]["code"] == "gone"
    assert await _events(app) == []


async def test_nosave_and_missing_takes_cannot_be_acked(client: httpx.AsyncClient,
                                                        app: FastAPI) -> None:
    nosave = (await upload(client, path="/api/v1/ephemeral/audio")).json()["artifact_id"]
    settings = resources(app).settings
    for artifact_id in (nosave, 424242):
        resp = await client.post("/api/v1/pool/heard/" + mint(settings, POOL_HEARD, artifact_id))
        assert resp.status_code == 410, resp.text
    assert (await row(app, nosave)).play_count == 0
    assert await _events(app) == []
