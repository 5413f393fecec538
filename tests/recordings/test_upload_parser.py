"""Property tests for the streaming multipart reader: whatever the body, it parses or raises
a 4xx RoomsError, and it never leaves a spool file or an open descriptor behind."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.requests import Request

from rooms.errors import RoomsError
from rooms.recordings.upload import receive_upload
from tests.audio import wav16

WAV = wav16(0.05)
BOUNDARY_CHARS = st.sampled_from("abcXYZ019'()+_,-./:=? ")


def body_of(boundary: str, parts: list[tuple[str, str | None, bytes]], close: bool) -> bytes:
    out = b""
    for name, filename, data in parts:
        disposition = f'form-data; name="{name}"' + (
            f'; filename="{filename}"' if filename is not None else "")
        out += f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + data
        out += b"\r\n"
    return out + (f"--{boundary}--\r\n".encode() if close else b"")


@st.composite
def bodies(draw: st.DrawFn) -> tuple[str, bytes, list[int]]:
    boundary = draw(st.text(BOUNDARY_CHARS, min_size=1, max_size=300)).strip() or "b"
    parts = draw(st.lists(st.tuples(
        st.sampled_from(["file", "consent_mode", "topic_tag", "other", ""]),
        st.one_of(st.none(), st.sampled_from(["take.wav", "", "é.wav"])),
        st.one_of(st.just(WAV), st.binary(max_size=64), st.just(b"x" * 5000))), max_size=4))
    body = bytearray(body_of(boundary, parts, draw(st.booleans())))
    for _ in range(draw(st.integers(0, 3))):  # damage it here and there
        if body:
            at = draw(st.integers(0, len(body) - 1))
            body[at:at + draw(st.integers(0, 8))] = draw(st.binary(max_size=8))
    if draw(st.booleans()):
        body = body[:draw(st.integers(0, len(body)))]
    cuts = sorted(draw(st.lists(st.integers(0, len(body)), max_size=4)))
    return boundary, bytes(body), cuts


async def _read(staging: Path, boundary: str, body: bytes, cuts: list[int],
                max_bytes: int) -> Any:
    chunks = [body[a:b] for a, b in zip([0, *cuts], [*cuts, len(body)], strict=True)]
    messages = [{"type": "http.request", "body": c, "more_body": True} for c in chunks]
    messages.append({"type": "http.request", "body": b"", "more_body": False})

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    request = Request({"type": "http", "method": "POST", "path": "/", "query_string": b"",
                       "headers": [(b"content-type",
                                    f"multipart/form-data; boundary={boundary}".encode())]},
                      receive)  # type: ignore[arg-type]
    try:
        async with receive_upload(request, max_bytes=max_bytes, staging=staging) as upload:
            if upload.file is not None:
                assert upload.file.path.exists()
                assert upload.file.size == upload.file.path.stat().st_size
            return upload
    except RoomsError as exc:
        assert 400 <= exc.status < 500, exc
        return exc


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=bodies(), max_bytes=st.sampled_from([1024, 32 * 1024]))
def test_any_body_parses_or_is_a_4xx_and_leaves_nothing(
        tmp_path_factory: Any, case: tuple[str, bytes, list[int]], max_bytes: int) -> None:
    staging = tmp_path_factory.mktemp("spool", numbered=True)
    fds = len(os.listdir("/proc/self/fd"))
    boundary, body, cuts = case
    asyncio.run(_read(staging, boundary, body, cuts, max_bytes))
    assert os.listdir(staging) == []
    assert len(os.listdir("/proc/self/fd")) == fds


def test_a_well_formed_body_gives_its_file_and_fields(tmp_path: Path) -> None:
    body = body_of("b0undary", [("consent_mode", None, b"FOSSIL"), ("file", None, WAV),
                                ("other", "ignored.bin", b"zzz")], close=True)
    upload = asyncio.run(_read(tmp_path, "b0undary", body, [3, 100, 101], 1 << 20))
    assert not isinstance(upload, RoomsError), upload
    assert upload.fields == {"consent_mode": "FOSSIL"}
    assert upload.file is not None and upload.file.size == len(WAV)
    assert os.listdir(tmp_path) == []  # deleted when the block ended
