"""Every JSON route answers what /openapi.json says it answers (issue 17 item 7, issue 18 item 6).

One walk through the API as a kiosk, a room and an operator would use it, in both tiers;
each answer's status must be documented for its operation and its body must validate
against that status's schema. The walk must visit every operation in the document, so a
new route cannot join without being checked here.
"""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from jsonschema import Draft202012Validator

from tests.audio import wav16
from tests.helpers import run_jobs

SECRET = "ops-test-secret"  # tests/conftest.py make_settings
OPS = {"Authorization": f"Bearer {SECRET}", "Accept": "application/json"}
KIOSK = {"X-Rooms-Client-Id": "kiosk-contract"}


class Contract:
    """Checks answers against the app's own OpenAPI document."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self.visited: set[tuple[str, str]] = set()
        self.operations = {(method.upper(), path)
                           for path, item in document["paths"].items() for method in item}
        self._patterns = [(re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", path) + "$"), path)
                          for path in document["paths"]]

    def template(self, url: str) -> str:
        path = httpx.URL(url).path
        exact = [t for rx, t in self._patterns if rx.match(path) and "{" not in t]
        matches = exact or [t for rx, t in self._patterns if rx.match(path)]
        assert matches, f"{path} is not in /openapi.json"
        return matches[0]

    def check(self, response: httpx.Response) -> Any:
        """Assert the answer is documented and its JSON body matches; return the body."""
        method = response.request.method
        path = self.template(str(response.request.url))
        operation = self.document["paths"][path][method.lower()]
        self.visited.add((method, path))
        documented = operation["responses"]
        status = str(response.status_code)
        assert status in documented, (
            f"{method} {path} answered {status}, documented {sorted(documented)}: "
            f"{response.text[:300]}")
        content = documented[status].get("content") or {}
        if "application/json" not in content:
            assert not response.headers.get("content-type", "").startswith("application/json"), (
                f"{method} {path} {status} sent JSON where the document declares none")
            return None
        assert response.headers["content-type"].startswith("application/json"), (
            f"{method} {path} {status}: {response.headers['content-type']}")
        body = response.json()
        schema = {**content["application/json"]["schema"],
                  "components": self.document["components"]}
        errors = sorted(Draft202012Validator(schema).iter_errors(body), key=str)
        assert not errors, (f"{method} {path} {status} does not match its schema: "
                            f"{errors[0].message} at {list(errors[0].absolute_path)}")
        return body


async def _upload(client: httpx.AsyncClient, path: str = "/api/v1/artifacts/audio",
                  **form: str) -> httpx.Response:
    files = {"file": ("take.wav", wav16(1.0), "audio/wav")}
    return await client.post(path, files=files, data=form, headers=KIOSK)


async def test_every_json_route_answers_its_declared_schema(
        app: FastAPI, client: httpx.AsyncClient) -> None:
    document = (await client.get("/openapi.json")).json()
    c = Contract(document)

    # Health
    for path in ("/healthz", "/readyz", "/health"):
        c.check(await client.get(path))

    # A kiosk records: a FOSSIL take (replayed once by its Idempotency-Key), a NOSAVE one
    first = c.check(await client.post(
        "/api/v1/artifacts/audio", files={"file": ("t.wav", wav16(1.0), "audio/wav")},
        data={"consent_mode": "FOSSIL", "topic_tag": "memory"},
        headers={**KIOSK, "Idempotency-Key": "contract-1"}))
    replay = await client.post(
        "/api/v1/artifacts/audio", files={"file": ("t.wav", wav16(1.0), "audio/wav")},
        data={"consent_mode": "FOSSIL", "topic_tag": "memory"},
        headers={**KIOSK, "Idempotency-Key": "contract-1"})
    assert c.check(replay)["artifact"]["id"] == first["artifact"]["id"]
    second = c.check(await _upload(client, consent_mode="ROOM"))
    c.check(await _upload(client, consent_mode="NOT-A-MODE"))  # 400
    c.check(await client.post("/api/v1/artifacts/audio", content=b"x",
                              headers={"Content-Type": "text/plain"}))  # 415
    ephemeral = c.check(await _upload(client, "/api/v1/ephemeral/audio"))
    c.check(await client.post("/api/v1/ephemeral/consume",
                              json={"play_url": ephemeral["play_url"]}))
    c.check(await client.post("/api/v1/ephemeral/consume", json={}))  # 400
    c.check(await client.post("/api/v1/ephemeral/consume", json={"token": "forged"}))  # 403
    await run_jobs(app)

    # The room plays
    c.check(await client.get("/api/v1/surface/state", headers=KIOSK))
    c.check(await client.get("/api/v1/effects"))
    c.check(await client.get("/api/v1/room/composition"))
    c.check(await client.get("/api/v1/pool/next", params={"lane": "sideways"}))  # 400
    bad_ids = await client.get("/api/v1/pool/next", params={"exclude_ids": "1,\x1b[31m"})
    assert "\x1b" not in c.check(bad_ids)["error"]["message"]
    nxt = c.check(await client.get("/api/v1/pool/next"))
    take = nxt["artifact"]
    assert take is not None, nxt
    audio = await client.get(take["audio_url"], headers={"Range": "bytes=0-1"})
    c.check(audio)
    assert audio.status_code == 206
    c.check(await client.post(take["playback_ack_url"]))
    c.check(await client.post("/api/v1/pool/heard/forged"))  # 403
    c.check(await client.get("/api/v1/media/raw/forged"))  # 403
    c.check(await client.get("/api/v1/media/spectrogram/forged"))  # 403
    fossils = c.check(await client.get("/api/v1/surface/fossils"))
    assert len(fossils["items"]) == 1, fossils  # the FOSSIL take, rendered by run_jobs
    image = await client.get(fossils["items"][0]["image_url"])
    c.check(image)
    assert image.headers["content-type"] == "image/png"

    # Live tokens
    c.check(await client.post("/api/v1/live/token"))
    c.check(await client.post("/api/v1/live/token", json={"purpose": "ops"}))  # 401
    c.check(await client.post("/api/v1/live/token", json={"purpose": "ops"}, headers=OPS))
    c.check(await client.post("/api/v1/live/token", json={"purpose": "root"}))  # 400

    # The operator
    c.check(await client.get("/api/v1/node/status"))  # 401
    c.check(await client.get("/api/v1/node/status", headers=OPS))
    c.check(await client.get("/api/v1/operator/controls", headers=OPS))
    c.check(await client.post("/api/v1/operator/controls", json={"quieter_mode": True,
                                                                 "mood_bias": "hushed"},
                              headers=OPS))
    c.check(await client.post("/api/v1/operator/controls", json={"quieter_mode": False,
                                                                 "mood_bias": ""},
                              headers=OPS))
    c.check(await client.post("/api/v1/operator/controls", json={"volume": 11},
                              headers=OPS))  # 400
    page = c.check(await client.get("/api/v1/operator/actions", params={"limit": 1},
                                    headers=OPS))
    c.check(await client.get("/api/v1/operator/actions",
                             params={"cursor": page["next_cursor"]}, headers=OPS))
    workers = c.check(await client.get("/api/v1/operator/workers", headers=OPS))
    for name in list(workers["workers"])[:1]:
        c.check(await client.post(f"/api/v1/operator/workers/{name}/restart", headers=OPS))
    c.check(await client.post("/api/v1/operator/workers/nobody/restart", headers=OPS))  # 404
    c.check(await client.get("/api/v1/operator/artifacts", params={"status": "active"},
                             headers=OPS))
    c.check(await client.get("/api/v1/derivatives/spectrograms"))  # 401
    c.check(await client.get("/api/v1/derivatives/spectrograms", params={"limit": 0},
                             headers=OPS))  # 400
    c.check(await client.get("/api/v1/derivatives/spectrograms", headers=OPS))
    artifact_id = first["artifact"]["id"]
    c.check(await client.patch(f"/api/v1/operator/artifacts/{artifact_id}/metadata",
                               json={"lifecycle_status": "resolved"}, headers=OPS))
    c.check(await client.patch("/api/v1/operator/artifacts/999999/metadata",
                               json={"topic_tag": "x"}, headers=OPS))  # 404
    summary = await client.get("/api/v1/operator/artifact-summary", headers=OPS)
    c.check(summary)
    assert summary.headers["content-disposition"].startswith("attachment")
    c.check(await client.get("/api/v1/operator/devices", headers=OPS))
    c.check(await client.get("/api/v1/operator/schedule", headers=OPS))
    c.check(await client.put("/api/v1/operator/schedule", json={"weekly": [
        {"day": 0, "open": "10:00", "close": "18:00"}]}, headers=OPS))
    c.check(await client.put("/api/v1/operator/schedule", json={"weekly": []}, headers=OPS))
    c.check(await client.put("/api/v1/operator/schedule", json={"weekly": [
        {"day": 7, "open": "25:00", "close": "18:00"}]}, headers=OPS))  # 400
    c.check(await client.get("/api/v1/operator/moderation", headers=OPS))
    c.check(await client.post(f"/api/v1/operator/artifacts/{artifact_id}/approve",
                              headers=OPS))  # 409 not held
    c.check(await client.post(f"/api/v1/operator/artifacts/{artifact_id}/reject",
                              headers=OPS))  # 409 not held
    c.check(await client.post(f"/api/v1/operator/artifacts/{artifact_id}/remove",
                              headers=OPS))
    c.check(await client.post(f"/api/v1/operator/artifacts/{artifact_id}/remove",
                              headers=OPS))  # 409

    # Sign in and out: a JSON client gets {"ok": true}, a browser a 303 without a body
    c.check(await client.post("/ops/login", data={"secret": SECRET},
                              headers={"Accept": "application/json"}))
    c.check(await client.post("/ops/login", data={"secret": "wrong"},
                              headers={"Accept": "application/json"}))  # 403
    c.check(await client.post("/ops/logout", headers={"Accept": "text/html"}))
    c.check(await client.post("/ops/logout", headers={"Accept": "application/json"}))

    # The visitor takes their voice back
    mine = c.check(await client.post("/api/v1/receipt",
                                     json={"token": second["revocation_token"].lower()}))
    assert (await client.get(mine["takes"][0]["download_url"])).status_code == 200
    c.check(await client.post("/api/v1/receipt", json={"token": "ZZZZZZZZZZ"}))  # 404
    c.check(await client.post("/api/v1/receipt", json={}))  # 400
    c.check(await client.post("/api/v1/revoke", json={"token": second["revocation_token"]}))
    c.check(await client.post("/api/v1/revoke", json={"token": second["revocation_token"]}))
    gone = c.check(await client.post("/api/v1/receipt",
                                     json={"token": second["revocation_token"]}))
    assert gone["takes"][0]["status"] == "REVOKED" and gone["takes"][0]["audio_url"] is None
    c.check(await client.post("/api/v1/revoke", json={}))  # 400

    missing = c.operations - c.visited
    assert not missing, f"operations the contract walk never called: {sorted(missing)}"


@pytest.mark.parametrize("tier", ["embedded"], indirect=False)
async def test_validation_errors_are_documented_as_400_with_one_error_model(
        client: httpx.AsyncClient) -> None:
    document = (await client.get("/openapi.json")).json()
    schemas = document["components"]["schemas"]
    assert "HTTPValidationError" not in schemas and "ValidationError" not in schemas
    for path, item in document["paths"].items():
        for method, operation in item.items():
            responses = operation["responses"]
            assert "422" not in responses, f"{method} {path}"
            for status, answer in responses.items():
                if int(status) >= 400:
                    ref = answer["content"]["application/json"]["schema"].get("$ref", "")
                    assert ref in ("#/components/schemas/Error",
                                   "#/components/schemas/HealthOut",
                                   "#/components/schemas/WorkersHealthOut"), (
                        f"{method.upper()} {path} {status}: {ref}")
            has_input = operation.get("parameters") or operation.get("requestBody")
            if has_input:
                assert "400" in responses, f"{method.upper()} {path} documents no 400"
    assert (await client.post("/api/v1/revoke", json={"token": ""})).status_code == 400


@pytest.mark.parametrize("tier", ["embedded"], indirect=False)
async def test_uploads_and_enums_are_described(client: httpx.AsyncClient) -> None:
    document = (await client.get("/openapi.json")).json()
    upload = document["paths"]["/api/v1/artifacts/audio"]["post"]["requestBody"]
    form = upload["content"]["multipart/form-data"]["schema"]
    assert form["properties"]["file"] == {**form["properties"]["file"], "type": "string",
                                          "format": "binary"}
    assert form["properties"]["consent_mode"]["enum"] == ["ROOM", "FOSSIL"]
    assert set(form["required"]) == {"file", "consent_mode"}
    assert {"effect_profile", "topic_tag", "duration_ms"} <= set(form["properties"])
    nosave = document["paths"]["/api/v1/ephemeral/audio"]["post"]["requestBody"]
    assert "file" in nosave["content"]["multipart/form-data"]["schema"]["required"]
    params = {p["name"]: p["schema"]
              for p in document["paths"]["/api/v1/pool/next"]["get"]["parameters"]}
    assert params["lane"]["enum"] == ["any", "fresh", "mid", "worn"]
    assert params["density"]["enum"] == ["any", "light", "medium", "dense"]
    assert params["mood"]["enum"] == ["any", "clear", "hushed", "suspended", "weathered",
                                      "gathering"]
    for path in ("/ops/logout", "/ops/login"):
        redirect = document["paths"][path]["post"]["responses"]["303"]
        assert not redirect.get("content"), f"{path} documents a body for its 303"


@pytest.mark.parametrize("tier", ["embedded"], indirect=False)
async def test_allow_lists_every_method_of_a_path(client: httpx.AsyncClient) -> None:
    options = await client.options("/api/v1/operator/controls")
    assert options.status_code == 204
    assert {"GET", "POST"} <= {m.strip() for m in options.headers["allow"].split(",")}
    wrong = await client.delete("/api/v1/operator/controls")
    assert wrong.status_code == 405
    assert {"GET", "POST"} <= {m.strip() for m in wrong.headers["allow"].split(",")}
    assert wrong.json()["error"]["code"] == "method_not_allowed"
    put = await client.put("/api/v1/pool/next")
    assert put.status_code == 405 and "GET" in put.headers["allow"]
    static = await client.post("/docs/assets/swagger-ui.css")
    assert static.status_code == 405 and "GET" in static.headers["allow"]


@pytest.mark.parametrize("tier", ["embedded"], indirect=False)
async def test_error_messages_never_echo_control_characters(
        client: httpx.AsyncClient) -> None:
    answers = [
        await client.get("/api/v1/pool/next", params={"exclude_ids": "\x00\r\n\x07\x1b[2J"}),
        await client.post("/api/v1/operator/controls", json={"\x1b]0;pwned\x07": True},
                          headers=OPS),
        await client.patch("/api/v1/operator/artifacts/1/metadata",
                           json={"topic_tag": "a", "x\ny": 1}, headers=OPS),
    ]
    for answer in answers:
        assert answer.status_code == 400, answer.text
        message = answer.json()["error"]["message"]
        assert message.isprintable(), repr(message)


@pytest.mark.parametrize("tier", ["embedded"], indirect=False)
async def test_docs_need_no_internet(client: httpx.AsyncClient) -> None:
    page = await client.get("/docs")
    assert page.status_code == 200
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert assets and all(a.startswith("/") for a in assets), assets
    assert "cdn" not in page.text.lower()
    for asset in assets:
        answer = await client.get(asset)
        assert answer.status_code == 200 and len(answer.content) > 1000, asset
    redoc = await client.get("/redoc")
    assert redoc.status_code == 200 and "cdn" not in redoc.text.lower()
    for asset in re.findall(r'src="([^"]+)"', redoc.text):
        assert (await client.get(asset)).status_code == 200, asset
