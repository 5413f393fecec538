"""Streaming multipart intake: the file part goes straight to a spool file with a hard ceiling.

Starlette's `request.form()` reads the whole body before the handler sees it; here the body is
parsed as it arrives, hashed on the way, and refused the moment it passes the ceiling.

Nothing blocks the event loop: the file part's bytes are gathered in memory up to
`FLUSH_BYTES` and handed to a worker thread, which creates the spool file on its first
flush, writes them and feeds the SHA-256 (one buffer per flush: one GIL release for the
hash, one for the write); the last flush also fsyncs the spool, so the blob store only
renames it into place. A take of up to 1 MiB (10 s at 48 kHz) costs one thread hop here,
every further MiB one more; memory per upload stays under `FLUSH_BYTES` plus one network
chunk. Each hop is a thread wake-up and a GIL handoff, which on a small box cost more
than the copying they save (README "Performance").

The spool lives exactly as long as the `async with receive_upload(...)` block: every way out
(a 201, a refused WAV, a database error, a client that vanished, a body cut short, a
cancelled task) closes its descriptor and deletes the file. Whatever a killed process leaves
behind is removed by the staging sweep (`BlobStore.sweep_staging`).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import tempfile
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect, Request

from rooms.errors import RoomsError, TooLarge, Unavailable, UnsupportedMedia
from rooms.logging import get_logger

log = get_logger("rooms.recordings")
MAX_FIELDS = 16
MAX_FIELD_BYTES = 4096
MAX_BOUNDARY = 256  # python-multipart's own ceiling; RFC 2046 allows 70, browsers send ~40
MULTIPART_OVERHEAD = 64 * 1024  # headers and small fields on top of the file itself
FLUSH_BYTES = 1024 * 1024  # file bytes gathered before a worker thread writes and hashes them


@dataclass(slots=True)
class UploadedFile:
    path: Path
    size: int
    sha256: str
    filename: str
    content_type: str
    synced: bool = False  # fsync'd: the store need not sync it again before renaming


@dataclass(slots=True)
class ParsedUpload:
    fields: dict[str, str] = field(default_factory=dict)
    file: UploadedFile | None = None


Finisher = Callable[[UploadedFile], None]
"""Blocking work on the finished spool (fsync'd and closed), run in the same worker thread
as the last write, so that it costs no thread hop of its own (a WAV check, the blob's
install). A RoomsError it raises is the request's answer; an OSError is 503
`storage_unavailable`."""


def _bad(message: str) -> RoomsError:
    return RoomsError(message, code="invalid_multipart")


class _Collector:
    """python-multipart callbacks: small fields into memory, the `file` part onto disk.

    The part named `file` is the recording whether or not it carries a filename (curl's
    `-F file=<take.wav` sends none); a second one is refused. Any other part with a
    filename is ignored and never stored.
    """

    def __init__(self, staging: Path, max_bytes: int, file_field: str,
                 finisher: Finisher | None = None) -> None:
        self.staging, self.max_bytes, self.file_field = staging, max_bytes, file_field
        self.finisher = finisher
        self.result = ParsedUpload()
        self.complete = False  # the closing boundary arrived
        self._headers: dict[bytes, bytes] = {}
        self._hname = b""
        self._hvalue = b""
        self._name = ""
        self._value = bytearray()
        self._fd: int | None = None  # the spool, made by the first flush
        self._spool: Path | None = None
        self._in_file = False  # inside the file part
        self._file_seen = False
        self._file_done = False
        self._pending: list[bytes] = []  # file bytes not yet written
        self.pending_bytes = 0
        self.inflight: asyncio.Future[None] | None = None  # a flush running in a thread
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
            if self._file_seen:
                raise RoomsError("send exactly one `file` part", code="invalid_request")
            self._filename = (filename or b"").decode("utf-8", "replace")[:200]
            self._ctype = self._headers.get(b"content-type", b"").decode("latin-1")[:100]
            self._file_seen = self._in_file = True  # the spool is made by the first flush
        elif filename is not None:
            self._name = ""  # a stray file under another name: ignored, never stored
        elif len(self.result.fields) >= MAX_FIELDS:
            raise RoomsError("too many form fields", code="invalid_request")

    # body callbacks ----------------------------------------------------------------
    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        chunk = data[start:end]
        if self._in_file:
            self._size += len(chunk)
            if self._size > self.max_bytes:
                raise TooLarge(f"the recording is larger than {self.max_bytes} bytes",
                               code="too_large")
            self._pending.append(chunk)
            self.pending_bytes += len(chunk)
        elif self._name:
            self._value += chunk
            if len(self._value) > MAX_FIELD_BYTES:
                raise RoomsError(f"form field {self._name!r} is longer than "
                                 f"{MAX_FIELD_BYTES} bytes", code="invalid_request")

    def on_part_end(self) -> None:
        if self._in_file:
            self._in_file, self._file_done = False, True  # completed by `finish` (a thread)
        elif self._name:
            self.result.fields.setdefault(self._name, self._value.decode("utf-8", "replace"))

    def on_end(self) -> None:
        self.complete = True

    # in a worker thread -------------------------------------------------------------
    def flush(self) -> None:
        """Write and hash the gathered file bytes (blocking: run it in a thread, one at a
        time). The first call creates the spool file."""
        chunks, self._pending, self.pending_bytes = self._pending, [], 0
        if self._fd is None:
            self._fd, name = tempfile.mkstemp(dir=self.staging, prefix="upload-", suffix=".wav")
            self._spool = Path(name)
        if len(chunks) > 1:  # one buffer: one GIL release for the hash and one for the write
            chunks = [b"".join(chunks)]
        for chunk in chunks:
            self._hash.update(chunk)
        _write_all(self._fd, chunks)

    def finish(self) -> None:
        """The last flush once the file part has ended: fsync and close the spool, describe
        it, and run the finisher, all in the same hop."""
        self.flush()
        assert self._spool is not None and self._fd is not None
        os.fsync(self._fd)
        self._close_fd()
        self.result.file = UploadedFile(self._spool, self._size, self._hash.hexdigest(),
                                        self._filename, self._ctype, synced=True)
        if self.finisher is not None:
            self.finisher(self.result.file)

    @property
    def file_done(self) -> bool:
        return self._file_done

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
                         file_field: str = "file",
                         finisher: Finisher | None = None) -> AsyncIterator[ParsedUpload]:
    """Parse a multipart/form-data body, spooling `file_field` to `staging` (hashed, capped)
    and running `finisher` on the spool once it is complete (see `Finisher`).

    Yields the parsed upload; its spool is closed and deleted when the block exits, however
    it exits. Errors: 415 `unsupported_media_type` (not multipart), 413 `too_large`,
    503 `storage_unavailable` (the spool could not be written: a full disk),
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
    collector = _Collector(staging, max_bytes, file_field, finisher)
    try:
        await _read(request, collector, boundary, max_bytes)
        yield collector.result
    finally:
        if collector.inflight is not None and not collector.inflight.done():
            # a cancelled request: let its thread finish with the descriptor first
            await asyncio.wait([collector.inflight])
        collector.discard()


def _write_all(fd: int, chunks: list[bytes]) -> None:
    """os.writev until every byte is written (a regular file rarely writes short)."""
    data: list[bytes | memoryview] = list(chunks)
    while data:
        written = os.writev(fd, data)
        while data and written >= len(data[0]):
            written -= len(data.pop(0))
        if data and written:
            data[0] = memoryview(data[0])[written:]


async def _in_thread(collector: _Collector, fn: Callable[[], None]) -> None:
    """Run a collector's blocking step in the default executor; `inflight` lets the
    cleanup wait for it if the request is cancelled meanwhile."""
    collector.inflight = asyncio.get_running_loop().run_in_executor(None, fn)
    await asyncio.shield(collector.inflight)


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
            if collector.pending_bytes >= FLUSH_BYTES:
                await _in_thread(collector, collector.flush)
        parser.finalize()
        if collector.complete and collector.file_done:
            await _in_thread(collector, collector.finish)
    except ClientDisconnect:
        raise RoomsError("the upload was interrupted", code="upload_interrupted") from None
    except RoomsError:
        raise
    except OSError as exc:  # the spool could not be written (disk full, I/O error): not the
        # client's fault, and nothing was kept
        log.warning("recordings.spool_failed", error=type(exc).__name__, errno=exc.errno)
        raise Unavailable("the recording could not be stored right now; nothing was kept",
                          code="storage_unavailable") from None
    except Exception as exc:  # python-multipart's own parse errors, whatever their class
        raise _bad(f"malformed multipart body: {str(exc)[:120] or type(exc).__name__}") from None
    if not collector.complete:
        raise RoomsError("the upload ended before its last part was complete (no closing "
                         "boundary); nothing was kept", code="upload_incomplete")
