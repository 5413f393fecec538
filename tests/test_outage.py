"""/healthz answers 503 naming the dependency that is down, and 200 once it is back."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.parametrize("tier", ["services"], indirect=True)


@pytest.mark.parametrize(("dependency", "check"), [("postgres", "database"),
                                                   ("redis", "redis"), ("s3", "storage")])
async def test_healthz_names_the_stopped_dependency(client: httpx.AsyncClient, backend: Any,
                                                    dependency: str, check: str) -> None:
    assert (await client.get("/healthz")).status_code == 200
    server = getattr(backend, dependency)
    if getattr(server, "external", False):
        pytest.skip(f"{dependency} comes from the environment; cannot stop it")
    server.stop()
    try:
        resp = await client.get("/healthz")
        assert resp.status_code == 503
        body = resp.json()
        assert body["checks"][check]["ok"] is False
        assert [name for name, c in body["checks"].items() if not c["ok"]] == [check]
        assert check in body["error"]["message"]
    finally:
        server.start()
    resp = await client.get("/healthz")
    assert resp.status_code == 200, resp.text
