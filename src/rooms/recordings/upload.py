"""Streaming multipart intake: the file part goes straight to a temp file with a hard ceiling.

Starlette's `request.form()` reads the whole body before the handler sees it; here the body is
parsed as it arrives, hashed on the way, and refused the moment it passes the ceiling.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect, Request

from rooms.errors import RoomsError, TooLarge, UnsupportedMedia

MAX_FIELDS = 16
MAX_FIELD_BYTES = 4096
MULTIPART_OVERHEAD = 64 * 1024  # headers and small fields on top of the file itself


@dataclass(slots=True)
class UploadedFile:
    path: Path
    size: int
    sha256: str
    filename: str
    content_type: str


@dataclass(slots=True)
class ParsedUpload:
    fields: dict[str, str] = field(default_factory=dict)
    file: UploadedFile | None = None

    def discard(self) -> None:
        if self.file is not None:
            self.file.path.unlink(missing_ok=True)


class _Collector:
    """python-multipart callbacks: small fields into memory, the `file` part onto disk."""

    def __init__(self, staging: Path, max_bytes: int, file_field: str) -> None:
        self.staging, self.max_bytes, self.file_field = staging, max_bytes, file_field
        self.result = ParsedUpload()
        self._headers: dict[bytes, bytes] = {}
        self._hname = b""
        self._hvalue = b""
        self._name = ""
        self._value = bytearray()
        self._fh: int | None = None
        self._in_file = False
        self._tmp: Path | None = None
        self._hash = hashlib.sha256()
        self._size = 0
        self._filename = ""
        self._ctype = ""

    # header callbacks --------------------------------------------------------------
    def on_part_begin(self) -> None:
        self._headers = {}

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._hname += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._hvalue += data[start:end]

    def on_header_end(self) -> None:
        self._headers[self._hname.lower()] = self._hvalue
        self._hname, self._hvalue = b"", b""

    def on_headers_finished(self) -> None:
        _, opts = parse_options_header(self._headers.get(b"content-disposition", b""))
        self._name = opts.get(b"name", b"").decode("utf-8", "replace")
        filename = opts.get(b"filename")
        self._value = bytearray()
        if filename is not None and self._name == self.file_field:
            if self._fh is not None:
                raise RoomsError("send exactly one file part", code="invalid_request")
            self._filename = filename.decode("utf-8", "replace")[:200]
            self._ctype = self._headers.get(b"content-type", b"").decode("latin-1")[:100]
            fd, name = tempfile.mkstemp(dir=self.staging, prefix="upload-", suffix=".wav")
            self._fh, self._tmp, self._in_file = fd, Path(name), True
        elif filename is not None:
            self._name = ""  # a stray file under another name: ignored, never stored
        elif len(self.result.fields) >= MAX_FIELDS:
            raise RoomsError("too many form fields", code="invalid_request")

    # body callbacks ----------------------------------------------------------------
    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        chunk = data[start:end]
        if self._in_file:
            assert self._fh is not None
            self._size += len(chunk)
            if self._size > self.max_bytes:
                raise TooLarge(f"the recording is larger than {self.max_bytes} bytes",
                               code="too_large")
            self._hash.update(chunk)
            os.write(self._fh, chunk)
        elif self._name:
            self._value += chunk
            if len(self._value) > MAX_FIELD_BYTES:
                raise RoomsError(f"form field {self._name!r} is too long", code="invalid_request")

    def on_part_end(self) -> None:
        if self._in_file:
            assert self._fh is not None and self._tmp is not None
            os.close(self._fh)
            self._in_file = False
            self.result.file = UploadedFile(self._tmp, self._size, self._hash.hexdigest(),
                                            self._filename, self._ctype)
        elif self._name:
            self.result.fields.setdefault(self._name, self._value.decode("utf-8", "replace"))

    def abort(self) -> None:
        if self._in_file and self._fh is not None:
            with contextlib.suppress(OSError):
                os.close(self._fh)
        if self._tmp is not None:
            self._tmp.unlink(missing_ok=True)


async def receive_upload(request: Request, *, max_bytes: int, staging: Path,
                         file_field: str = "file") -> ParsedUpload:
    """Parse a multipart/form-data body, spooling `file_field` to `staging` (hashed, capped)."""
    ctype, opts = parse_options_header(request.headers.get("content-type", ""))
    boundary = opts.get(b"boundary")
    if ctype != b"multipart/form-data" or not boundary:
        raise UnsupportedMedia("send the recording as multipart/form-data with a `file` part",
                               code="unsupported_media_type")
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes + MULTIPART_OVERHEAD:
        raise TooLarge(f"the recording is larger than {max_bytes} bytes", code="too_large")
    collector = _Collector(staging, max_bytes, file_field)
    parser = MultipartParser(boundary, {  # type: ignore[arg-type]
        name: getattr(collector, name) for name in (
            "on_part_begin", "on_header_field", "on_header_value", "on_header_end",
            "on_headers_finished", "on_part_data", "on_part_end")})
    budget = max_bytes + MULTIPART_OVERHEAD
    seen = 0
    try:
        async for chunk in request.stream():
            seen += len(chunk)
            if seen > budget:
                raise TooLarge(f"the recording is larger than {max_bytes} bytes",
                               code="too_large")
            parser.write(chunk)
        parser.finalize()
    except ClientDisconnect:
        collector.abort()
        raise RoomsError("the upload was interrupted", code="upload_interrupted") from None
    except RoomsError:
        collector.abort()
        raise
    except Exception as exc:  # python-multipart's own parse errors
        collector.abort()
        raise RoomsError(f"malformed multipart body: {type(exc).__name__}",
                         code="invalid_request") from None
    return collector.result
