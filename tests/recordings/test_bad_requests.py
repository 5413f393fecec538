"""Malformed requests to the public routes are a 4xx JSON error, never a 500 (and never a
traceback in the log): odd multipart bodies, deeply nested JSON."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from structlog.testing import capture_logs

from tests.audio import wav16
from tests.recordings.conftest import CLIENT, blob_keys
from tests.recordings.test_leftovers import FILE_HEAD, FILE_TAIL, MULTIPART, PATHS, spools


@pytest.fixture
def no_crash_logged() -> Iterator[list[dict[str, Any]]]:
    with capture_logs() as logs:
        yield logs
    crashes = [e for e in logs if e.get("exc_info") or e["log_level"] in ("error", "critical")]
    assert crashes == []


def multipart(boundary: str, parts: list[tuple[str, str | None, bytes]]) -> bytes:
    body = b""
    for name, filename, data in parts:
        disposition = f'form-data; name="{name}"' + (
            f'; filename="{filename}"' if filename is not None else "")
        body += f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode()
        body += data + b"\r\n"
    return body + f"--{boundary}--\r\n".encode()


@pytest.mark.parametrize("path", PATHS)
async def test_a_boundary_past_the_limit_is_400(client: httpx.AsyncClient, app: FastAPI,
                                                no_crash_logged: Any, path: str) -> None:
    boundary = "x" * 300
    body = multipart(boundary, [("consent_mode", None, b"ROOM"),
                                ("file", "take.wav", wav16(0.5))])
    resp = await client.post(path, content=body, headers={
        **CLIENT, "Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert resp.status_code == 400
    assert resp.json()["error"]["code"] == "invalid_multipart"
    assert "boundary" in resp.json()["error"]["message"]
    assert await blob_keys(app) == []


@pytest.mark.parametrize("path", PATHS)
async def test_a_file_part_without_a_filename_is_the_file(client: httpx.AsyncClient,
                                                          path: str) -> None:
    """curl -F file=<take.wav sends no filename; it is still the recording."""
    resp = await client.post(path, files={"file": (None, wav16(0.5))},
                             data={"consent_mode": "ROOM"}, headers=CLIENT)
    assert resp.status_code == 201, resp.text


async def test_every_truncation_of_an_upload_is_a_clean_4xx(client: httpx.AsyncClient,
                                                            app: FastAPI,
                                                            no_crash_logged: Any) -> None:
    """The kind behind the cut-short body: a body ending anywhere is refused cleanly."""
    whole = FILE_HEAD + wav16(0.1) + FILE_TAIL
    for cut in [*range(0, 200, 7), *range(len(whole) - 40, len(whole) - 2)]:
        resp = await client.post(PATHS[1], content=whole[:cut], headers=MULTIPART)
        assert resp.status_code == 400, (cut, resp.text)
        assert resp.json()["error"]["code"] in (
            "upload_incomplete", "invalid_multipart", "missing_file"), (cut, resp.text)
    assert spools(app) == []
    # the closing boundary without its final CRLF is complete: that take is kept
    assert (await client.post(PATHS[1], content=whole[:-2], headers=MULTIPART)).status_code == 201


@pytest.mark.parametrize("body", [
    b"not multipart at all",
    b"--rooms-test-boundary\r\n\r\n\r\n--rooms-test-boundary--\r\n",  # a part with no headers
    b"--rooms-test-boundary\r\nContent-Disposition: form-data\r\n\r\nx\r\n"
    b"--rooms-test-boundary--\r\n",  # a part with no name
    b"--rooms-test-boundary\r\nContent-Disposition: form-data; name=\"file\"; "
    b"filename=\"\xff\xfe.wav\"\r\n\r\nRIFF\r\n--rooms-test-boundary--\r\n",
    b"--rooms-test-boundary\r\n" + b"X-Junk: " + b"a" * 70_000 + b"\r\n\r\n",
])
async def test_odd_multipart_bodies_are_4xx(client: httpx.AsyncClient, app: FastAPI,
                                            no_crash_logged: Any, body: bytes) -> None:
    resp = await client.post(PATHS[0], content=body, headers=MULTIPART)
    assert 400 <= resp.status_code < 500, resp.text
    assert resp.json()["error"]["code"]
    assert spools(app) == []


@pytest.mark.parametrize(("path", "prefix"), [
    ("/api/v1/revoke", b""), ("/api/v1/ephemeral/consume", b'{"token":'),
    ("/api/v1/live/token", b'{"purpose":')])
async def test_deeply_nested_json_bodies_are_400(client: httpx.AsyncClient,
                                                 no_crash_logged: Any, path: str,
                                                 prefix: bytes) -> None:
    resp = await client.post(path, content=prefix + b"[" * 30_000,
                             headers={**CLIENT, "Content-Type": "application/json"})
    assert resp.status_code == 400, resp.text
    assert resp.json()["error"]["code"]
