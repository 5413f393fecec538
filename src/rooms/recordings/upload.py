"""Streaming multipart intake: the file part goes straight to a spool file with a hard ceiling.

Starlette's `request.form()` reads the whole body before the handler sees it; here the body is
parsed as it arrives, hashed on the way, and refused the moment it passes the ceiling.

The spool lives exactly as long as the `async with receive_upload(...)` block: every way out
(a 201, a refused WAV, a database error, a client that vanished, a body cut short, a
cancelled task) closes its descriptor and deletes the file. Whatever a killed process leaves
behind is removed by the staging sweep (`BlobStore.sweep_staging`).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect, Request

from rooms.errors import RoomsError, TooLarge, UnsupportedMedia

MAX_FIELDS = 16
MAX_FIELD_BYTES = 4096
MAX_BOUNDARY = 256  # python-multipart's own ceiling; RFC 2046 allows 70, browsers send ~40
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


def _bad(message: str) -> RoomsError:
    return RoomsError(message, code="invalid_multipart")


class _Collector:
    """python-multipart callbacks: small fields into memory, the `file` part onto disk.

    The part named `file` is the recording whether or not it carries a filename (curl's
    `-F file=<take.wav` sends none); a second one is refused. Any other part with a
    filename is ignored and never stored.
    """

    def __init__(self, staging: Path, max_bytes: int, file_field: str) -> None:
        self.staging, self.max_bytes, self.file_field = staging, max_bytes, file_field
        self.result = ParsedUpload()
        self.complete = False  # the closing boundary arrived
        self._headers: dict[bytes, bytes] = {}
        self._hname = b""
        self._hvalue = b""
        self._name = ""
        self._value = bytearray()
        self._fd: int | None = None  # open while the file part is being written
        self._spool: Path | None = None
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
        if self._name == self.file_field:
            if self._spool is not None:
                raise RoomsError("send exactly one `file` part", code="invalid_request")
            self._filename = (filename or b"").decode("utf-8", "replace")[:200]
            self._ctype = self._headers.get(b"content-type", b"").decode("latin-1")[:100]
            self._fd, name = tempfile.mkstemp(dir=self.staging, prefix="upload-", suffix=".wav")
            self._spool = Path(name)
        elif filename is not None:
            self._name = ""  # a stray file under another name: ignored, never stored
        elif len(self.result.fields) >= MAX_FIELDS:
            raise RoomsError("too many form fields", code="invalid_request")

    # body callbacks ----------------------------------------------------------------
    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        chunk = data[start:end]
        if self._fd is not None:
            self._size += len(chunk)
            if self._size > self.max_bytes:
                raise TooLarge(f"the recording is larger than {self.max_bytes} bytes",
                               code="too_large")
            self._hash.update(chunk)
            os.write(self._fd, chunk)
        elif self._name:
            self._value += chunk
            if len(self._value) > MAX_FIELD_BYTES:
                raise RoomsError(f"form field {self._name!r} is longer than "
                                 f"{MAX_FIELD_BYTES} bytes", code="invalid_request")

    def on_part_end(self) -> None:
        if self._fd is not None:
            assert self._spool is not None
            self._close_fd()
            self.result.file = UploadedFile(self._spool, self._size, self._hash.hexdigest(),
                                            self._filename, self._ctype)
        elif self._name:
            self.result.fields.setdefault(self._name, self._value.decode("utf-8", "replace"))

    def on_end(self) -> None:
        self.complete = True

    # cleanup -----------------------------------------------------------------------
    def _close_fd(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)

    def discard(self) -> None:
        """Close the spool and delete it (a no-op once the store has moved it away)."""
        self._close_fd()
        if self._spool is not None:
            self._spool.unlink(missing_ok=True)


@contextlib.asynccontextmanager
async def receive_upload(request: Request, *, max_bytes: int, staging: Path,
                         file_field: str = "file") -> AsyncIterator[ParsedUpload]:
    """Parse a multipart/form-data body, spooling `file_field` to `staging` (hashed, capped).

    Yields the parsed upload; its spool is closed and deleted when the block exits, however
    it exits. Errors: 415 `unsupported_media_type` (not multipart), 413 `too_large`,
    400 `invalid_multipart` (unparseable body), 400 `upload_incomplete` (the body ended
    before its closing boundary), 400 `upload_interrupted` (the client went away).
    """
    ctype, opts = parse_options_header(request.headers.get("content-type", ""))
    boundary = opts.get(b"boundary")
    if ctype != b"multipart/form-data" or not boundary:
        raise UnsupportedMedia("send the recording as multipart/form-data with a `file` part",
                               code="unsupported_media_type")
    if len(boundary) > MAX_BOUNDARY:
        raise _bad(f"the multipart boundary is longer than {MAX_BOUNDARY} characters")
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes + MULTIPART_OVERHEAD:
        raise TooLarge(f"the recording is larger than {max_bytes} bytes", code="too_large")
    collector = _Collector(staging, max_bytes, file_field)
    try:
        await _read(request, collector, boundary, max_bytes)
        yield collector.result
    finally:
        collector.discard()


CALLBACKS = ("on_part_begin", "on_header_field", "on_header_value", "on_header_end",
             "on_headers_finished", "on_part_data", "on_part_end", "on_end")


async def _read(request: Request, collector: _Collector, boundary: bytes,
                max_bytes: int) -> None:
    """Feed the body to the parser; every failure becomes a 4xx RoomsError."""
    budget = max_bytes + MULTIPART_OVERHEAD
    seen = 0
    try:
        parser = MultipartParser(boundary, {  # type: ignore[arg-type]
            name: getattr(collector, name) for name in CALLBACKS})
        async for chunk in request.stream():
            seen += len(chunk)
            if seen > budget:
                raise TooLarge(f"the recording is larger than {max_bytes} bytes",
                               code="too_large")
            parser.write(chunk)
        parser.finalize()
    except ClientDisconnect:
        raise RoomsError("the upload was interrupted", code="upload_interrupted") from None
    except RoomsError:
        raise
    except Exception as exc:  # python-multipart's own parse errors, whatever their class
        raise _bad(f"malformed multipart body: {str(exc)[:120] or type(exc).__name__}") from None
    if not collector.complete:
        raise RoomsError("the upload ended before its last part was complete (no closing "
                         "boundary); nothing was kept", code="upload_incomplete")
