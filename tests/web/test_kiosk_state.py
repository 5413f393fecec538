"""The steward's kiosk fields: normalised, audited, shown to the kiosk; the kiosk and landing
pages as the server renders them."""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI

from rooms.app import create_app
from tests.conftest import make_settings
from tests.ops.conftest import SECRET

BEARER = {"Authorization": f"Bearer {SECRET}"}


async def _kiosk(client: httpx.AsyncClient) -> dict[str, Any]:
    resp = await client.get("/api/v1/surface/state")
    assert resp.status_code == 200, resp.text
    kiosk: dict[str, Any] = resp.json()["kiosk"]
    return kiosk


async def test_kiosk_fields_are_normalised_audited_and_shown(client: httpx.AsyncClient) -> None:
    assert await _kiosk(client) == {"language": "en", "accessibility_mode": "",
                                    "force_reduced_motion": False, "max_recording_seconds": 120,
                                    "theme_title": "", "theme_prompt": ""}
    resp = await client.post("/api/v1/operator/controls", headers=BEARER, json={
        "kiosk_language_code": " ES_MX_CA ", "kiosk_accessibility_mode": "large_high_contrast",
        "kiosk_force_reduced_motion": True, "kiosk_max_recording_seconds": 1000,
        "session_theme_title": "  A  river " + "x" * 80,
        "session_theme_prompt": "What did you hear?"})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    state = body["operator_state"]
    assert state["kiosk_language_code"] == "es_mx_ca"
    assert state["kiosk_max_recording_seconds"] == 300  # clamped to 30..300
    assert state["session_theme_title"].startswith("A river x") and len(
        state["session_theme_title"]) == 64
    assert {c["action"] for c in body["changes"]} == {
        "kiosk_language_code.updated", "kiosk_accessibility_mode.updated",
        "kiosk_force_reduced_motion.updated", "kiosk_max_recording_seconds.updated",
        "session_theme_title.updated", "session_theme_prompt.updated"}
    kiosk = await _kiosk(client)
    # the test settings accept 300 s takes (INGEST_MAX_DURATION_SECONDS): not capped here
    assert kiosk == {"language": "es_mx_ca", "accessibility_mode": "large_high_contrast",
                     "force_reduced_motion": True, "max_recording_seconds": 300,
                     "theme_title": state["session_theme_title"],
                     "theme_prompt": "What did you hear?"}
    low = await client.post("/api/v1/operator/controls", headers=BEARER,
                            json={"kiosk_max_recording_seconds": 5})
    assert low.json()["operator_state"]["kiosk_max_recording_seconds"] == 30
    for bad in ({"kiosk_language_code": "fr"}, {"kiosk_accessibility_mode": "loud"},
                {"kiosk_max_recording_seconds": "long"}):
        refused = await client.post("/api/v1/operator/controls", headers=BEARER, json=bad)
        assert refused.status_code in (400, 422) and "error" in refused.json()


async def test_the_longest_take_never_exceeds_what_ingest_accepts(tmp_path: Path,
                                                                sqlite_template: Path) -> None:
    db = tmp_path / "rooms.db"
    db.write_bytes(sqlite_template.read_bytes())
    settings = make_settings(tmp_path, database_url=f"sqlite+aiosqlite:///{db}",
                             ingest_max_duration_seconds=60,
                             kiosk_default_max_recording_seconds=180,
                             kiosk_default_language_code="es_mx_ca")
    app = create_app(settings)
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://testserver") as client:
        kiosk = await _kiosk(client)
        assert (kiosk["max_recording_seconds"], kiosk["language"]) == (60, "es_mx_ca")
        page = await client.get("/kiosk/")
        config = json.loads(html.unescape(page.text.split('data-config="', 1)[1].split('"', 1)[0]))
        assert config["kiosk"]["max_recording_seconds"] == 60
        assert '<html lang="es">' in page.text


async def test_the_kiosk_page_carries_its_config_and_the_receipt_qr(
        client: httpx.AsyncClient) -> None:
    page = await client.get("/kiosk/")
    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    config = json.loads(html.unescape(page.text.split('data-config="', 1)[1].split('"', 1)[0]))
    assert config["revokeUrl"] == "http://testserver/revoke/"
    assert {"micCheckS", "countdownS", "reviewTimeoutS"} <= set(config)
    assert '<svg' in page.text and 'class="segno"' in page.text
    for path in ("/static/kiosk/kiosk.js", "/static/vendor/idb-keyval/index.js"):
        assert (await client.get(path)).status_code == 200


async def test_the_landing_page_links_every_page(client: httpx.AsyncClient, app: FastAPI) -> None:
    page = await client.get("/")
    assert page.status_code == 200
    for href in ("/kiosk/", "/room/", "/ops/", "/revoke/"):
        assert f'href="{href}"' in page.text
