"""Operator tests: disk thresholds at zero (the test machine's disk is not the subject) and
`@pytest.mark.ops_settings(**values)` for one test's settings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from rooms.config import Settings

SECRET = "ops-test-secret"  # tests/conftest.py's OPS_SHARED_SECRET
BROWSER = {"User-Agent": "Mozilla/5.0 (steward's laptop)"}
JSON = {"Accept": "application/json"}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "ops_settings(**values): settings for this test")


@pytest.fixture
async def settings(settings: Settings, request: pytest.FixtureRequest,
                   tmp_path: Path) -> Settings:
    values: dict[str, Any] = {
        "ops_storage_path": str(tmp_path), "ops_disk_warning_free_gb": 0.0,
        "ops_disk_warning_free_percent": 0.0, "ops_disk_critical_free_gb": 0.0,
        "ops_disk_critical_free_percent": 0.0}
    marker = request.node.get_closest_marker("ops_settings")
    if marker is not None:
        values.update(marker.kwargs)
    return settings.model_copy(update=values)


async def login(client: httpx.AsyncClient, secret: str = SECRET, *,
                headers: dict[str, str] | None = None) -> httpx.Response:
    return await client.post("/ops/login", data={"secret": secret},
                             headers={**BROWSER, **(headers or {})})


async def status(client: httpx.AsyncClient, *,
                 headers: dict[str, str] | None = None) -> httpx.Response:
    return await client.get("/api/v1/node/status", headers={**BROWSER, **(headers or {})})


def error_code(response: httpx.Response) -> str:
    code: str = response.json()["error"]["code"]
    return code
