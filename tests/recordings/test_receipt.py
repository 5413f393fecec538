"""POST /api/v1/receipt: the visitor's own take by their code, and the consent text it was
given under."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from rooms.models import ConsentManifest
from tests.helpers import resources
from tests.recordings.conftest import upload

CODE_FIELDS = {"consent_version": "kiosk-consent-2026-11-30-es_mx_ca",
               "consent_language": "es_mx_ca"}


async def test_a_code_shows_its_take_to_listen_and_download(client: httpx.AsyncClient,
                                                            app: FastAPI) -> None:
    made = await upload(client, mode="FOSSIL", **CODE_FIELDS)
    assert made.status_code == 201, made.text
    code = made.json()["revocation_token"]
    # typed by hand: lower case, in groups, O for 0 and l for 1
    typed = f"{code[:3]}-{code[3:6]} {code[6:]}".lower().replace("0", "o").replace("1", "l")
    resp = await client.post("/api/v1/receipt", json={"token": typed})
    assert resp.status_code == 200, resp.text
    assert resp.headers["cache-control"] == "no-store"
    [take] = resp.json()["takes"]
    assert (take["status"], take["consent_mode"]) == ("ACTIVE", "FOSSIL")
    assert take["duration_ms"] == made.json()["artifact"]["duration_ms"]
    assert (take["consent_text_version"], take["consent_language"]) == (
        CODE_FIELDS["consent_version"], "es_mx_ca")
    assert take["audio_url"].startswith("/api/v1/media/raw/")  # a signed token, no bare id
    assert not take["audio_url"].endswith(f"/{made.json()['artifact']['id']}")
    audio = await client.get(take["audio_url"])
    assert audio.status_code == 200 and audio.content[:4] == b"RIFF"
    download = await client.get(take["download_url"])
    assert download.status_code == 200 and download.content == audio.content
    assert download.headers["content-disposition"].startswith("attachment")
    async with resources(app).sessions() as session:
        stored = (await session.execute(select(ConsentManifest.json))).scalars().all()
    assert stored[-1]["consent_text"] == {"version": CODE_FIELDS["consent_version"],
                                          "language": "es_mx_ca"}
    assert stored[-1]["mode"] == "FOSSIL"

    assert (await client.post("/api/v1/revoke", json={"token": code})).status_code == 200
    after = (await client.post("/api/v1/receipt", json={"token": code})).json()["takes"]
    assert after[0]["status"] == "REVOKED" and after[0]["audio_url"] is None
    assert (await client.get(take["audio_url"])).status_code == 410


async def test_unknown_codes_say_nothing_and_guesses_are_throttled(
        client: httpx.AsyncClient) -> None:
    for guess in ("ZZZZZZZZZZ", "not a code", "\u200bABC"):
        resp = await client.post("/api/v1/receipt", json={"token": guess})
        assert resp.status_code == 404, resp.text
        assert resp.json() == {"error": {"code": "unknown_token",
                                         "message": "no recording has that code"}}
    statuses = [(await client.post("/api/v1/receipt", json={"token": "ZZZZZZZZZZ"})).status_code
                for _ in range(40)]
    assert statuses[-1] == 429 and set(statuses) == {404, 429}
    # one budget with revocation: a guess is a guess, whichever door it knocks on
    assert (await client.post("/api/v1/revoke", json={"token": "ZZZZZZZZZZ"})).status_code == 429


async def test_a_malformed_consent_text_field_is_refused(client: httpx.AsyncClient) -> None:
    bad = await upload(client, consent_language="fr")
    assert (bad.status_code, bad.json()["error"]["code"]) == (400, "invalid_consent_language")
    bad = await upload(client, consent_version="<script>")
    assert (bad.status_code, bad.json()["error"]["code"]) == (400, "invalid_consent_version")
    plain = await upload(client)  # a client that sends neither is still welcome
    assert plain.status_code == 201
