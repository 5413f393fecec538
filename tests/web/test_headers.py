"""rooms' own pages send security headers: a CSP without inline script (the docs keep their
own), no framing, no referrer, and the microphone only where the kiosk records."""

from __future__ import annotations

import httpx
import pytest

pytestmark = pytest.mark.parametrize("tier", ["embedded"], indirect=False)


@pytest.mark.parametrize("path", ["/kiosk/", "/revoke/", "/"])
async def test_a_page_gets_the_strict_policy(client: httpx.AsyncClient, path: str) -> None:
    page = await client.get(path)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    csp = page.headers["content-security-policy"]
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["script-src"] == "'self'" and "unsafe-inline" not in csp
    assert directives["frame-ancestors"] == "'none'" and directives["object-src"] == "'none'"
    assert page.headers["referrer-policy"] == "no-referrer"
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["x-content-type-options"] == "nosniff"
    microphone = "microphone=(self)" if path == "/kiosk/" else "microphone=()"
    assert microphone in page.headers["permissions-policy"]
    assert "camera=()" in page.headers["permissions-policy"]


async def test_the_docs_keep_a_policy_that_lets_swagger_run(client: httpx.AsyncClient) -> None:
    docs = await client.get("/docs")
    csp = docs.headers["content-security-policy"]
    assert "script-src 'self' 'unsafe-inline'" in csp and "frame-ancestors 'none'" in csp
    assert "microphone=()" in docs.headers["permissions-policy"]


async def test_json_gets_nosniff_and_no_page_policy(client: httpx.AsyncClient) -> None:
    state = await client.get("/api/v1/surface/state")
    assert state.headers["x-content-type-options"] == "nosniff"
    assert "content-security-policy" not in state.headers
