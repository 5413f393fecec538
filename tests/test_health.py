"""/healthz, /readyz, /metrics and the error shape, in both tiers."""

from __future__ import annotations

import httpx


async def test_healthz_reports_every_dependency(client: httpx.AsyncClient, tier: str) -> None:
    resp = await client.get("/healthz")
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["ok"] is True
    expected = {"database", "storage"} | ({"redis"} if tier == "services" else set())
    assert set(body["checks"]) == expected
    assert all(check["ok"] for check in body["checks"].values())
    assert resp.headers["cache-control"] == "no-store"


async def test_unknown_route_is_a_json_error(client: httpx.AsyncClient) -> None:
    resp = await client.get("/api/v1/no-such-thing")
    assert resp.status_code == 404
    assert resp.json() == {"error": {"code": "not_found", "message": "Not Found"}}


async def test_metrics_count_requests_by_route(client: httpx.AsyncClient) -> None:
    await client.get("/healthz")
    await client.get("/healthz")
    text = (await client.get("/metrics")).text
    line = next(ln for ln in text.splitlines()
                if ln.startswith("rooms_http_requests_total") and 'route="/healthz"' in ln)
    assert float(line.rsplit(" ", 1)[1]) >= 2
    assert 'rooms_dependency_up{dependency="database"} 1.0' in text


async def test_oversized_json_body_is_refused(client: httpx.AsyncClient) -> None:
    declared = await client.post("/api/v1/revoke", content=b"{" + b" " * 100_000 + b"}",
                                 headers={"Content-Type": "application/json"})
    assert (declared.status_code, declared.json()["error"]["code"]) == (413, "too_large")

    async def streamed():  # type: ignore[no-untyped-def]  # no Content-Length: chunked
        for _ in range(1000):
            yield b" " * 1024

    resp = await client.post("/api/v1/revoke", content=streamed(),
                             headers={"Content-Type": "application/json"})
    assert (resp.status_code, resp.json()["error"]["code"]) == (413, "too_large")
