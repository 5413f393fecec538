"""The revocation ledger: which takes went (revoked, removed, expired) and when, kept
outside the database so that restoring an older backup never brings one of them back.

`remove_takes` appends one entry per call *before* it deletes any blob (an intent record:
if the removal then fails, a later restore removes the take anyway, which errs on the side
of the visitor). `rooms restore` reads every entry and writes a take it names as gone,
without its audio (rooms/archive/backup.py).

An entry holds only HMACs of each take's identity (`identity`: its id and creation time,
under a key derived from SECRET_KEY), a kind and a time: no audio fingerprint, no code,
nothing that names a visitor. Where it lives (`REVOCATION_LEDGER_URL`):

- `file://PATH` (default when blobs are files: `VAR_DIR/revocations.jsonl`): one JSON line
  per entry, appended with O_APPEND and fsynced before the removal goes on;
- `s3://BUCKET/PREFIX` (default with an S3 blob store: the same bucket, `ledger/revocations/`):
  one small object per entry (S3 has no append), so every api process and the worker write
  to the same ledger.

A line: `{"v": 1, "kid": KEY_ID, "ts": ISO, "kind": "revoked"|"removed"|"expired",
"ids": [HMAC, ...]}`. `kid` names the key, so a restore run with another SECRET_KEY says so
instead of silently matching nothing.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import secrets
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from rooms.config import Settings
from rooms.logging import get_logger
from rooms.storage import BlobStore, open_blob_store

if TYPE_CHECKING:
    from rooms.resources import Resources

log = get_logger("rooms.recordings.ledger")
KINDS = ("revoked", "removed", "expired")
DEFAULT_S3_PREFIX = "ledger/revocations/"
_EXTRA_KEY = "revocation_ledger"


def _key(secret: str) -> bytes:
    return hmac.new(secret.encode(), b"rooms.revocation-ledger.v1", hashlib.sha256).digest()


def key_id(secret: str) -> str:
    """A short public name of the ledger key (not the key): 16 hex characters."""
    return hmac.new(_key(secret), b"key-id", hashlib.sha256).hexdigest()[:16]


def identity(secret: str, artifact_id: int, created_at: datetime) -> str:
    """HMAC-SHA256 (hex) of a take's identity: its id and creation time (UTC, microseconds),
    so an id issued again after a restore is a different take."""
    stamp = created_at.astimezone(UTC).isoformat(timespec="microseconds")
    return hmac.new(_key(secret), f"artifact:{artifact_id}:{stamp}".encode(),
                    hashlib.sha256).hexdigest()


@dataclass(frozen=True, slots=True)
class Entry:
    ts: datetime
    kind: str
    ids: tuple[str, ...]
    kid: str

    def line(self) -> str:
        return json.dumps({"v": 1, "kid": self.kid, "ts": self.ts.isoformat(),
                           "kind": self.kind, "ids": list(self.ids)}, separators=(",", ":"))

    @classmethod
    def parse(cls, text: str) -> Entry:
        """One line; ValueError when it is not an entry."""
        raw = json.loads(text)
        if not isinstance(raw, dict) or raw.get("kind") not in KINDS:
            raise ValueError("not a ledger entry")
        return cls(datetime.fromisoformat(raw["ts"]), raw["kind"],
                   tuple(str(i) for i in raw.get("ids", [])), str(raw.get("kid", "")))


class Ledger(Protocol):
    location: str

    async def append(self, entry: Entry) -> None:
        """Store `entry` durably before returning; raise on failure."""
        ...

    def entries(self) -> AsyncIterator[Entry]:
        """Every entry, oldest first where the medium knows the order."""
        ...

    async def aclose(self) -> None: ...


class FileLedger:
    """JSON lines in one append-only file (mode 0600)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.location = f"file://{path}"

    def _append(self, line: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, (line + "\n").encode())  # one write: lines never interleave
            os.fsync(fd)
        finally:
            os.close(fd)

    async def append(self, entry: Entry) -> None:
        await asyncio.to_thread(self._append, entry.line())

    async def entries(self) -> AsyncIterator[Entry]:
        try:
            text = await asyncio.to_thread(self.path.read_text)
        except FileNotFoundError:
            return
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                yield Entry.parse(line)
            except (ValueError, KeyError, TypeError):
                # a line cut short by a power loss mid-write is the only expected cause
                log.warning("ledger.bad_line", path=str(self.path), line=n)

    async def aclose(self) -> None:
        return None


class StoreLedger:
    """One object per entry under a prefix of a blob store (S3 has no append)."""

    def __init__(self, store: BlobStore, prefix: str, location: str, *, owned: bool) -> None:
        self.store, self.prefix, self.location, self._owned = store, prefix, location, owned

    async def append(self, entry: Entry) -> None:
        key = (f"{self.prefix}{entry.ts:%Y/%m/%d}/"
               f"{entry.ts:%H%M%S%f}-{secrets.token_hex(4)}.json")

        async def body() -> AsyncIterator[bytes]:
            yield entry.line().encode()

        await self.store.put(key, body())

    async def entries(self) -> AsyncIterator[Entry]:
        for key in await self.store.list(self.prefix):
            try:
                yield Entry.parse((await self.store.read(key)).decode())
            except (ValueError, KeyError, TypeError, UnicodeDecodeError):
                log.warning("ledger.bad_object", key=key)

    async def aclose(self) -> None:
        if self._owned:
            await self.store.aclose()


def location(settings: Settings) -> str:
    """Where the ledger lives: REVOCATION_LEDGER_URL, else beside the blob store."""
    if settings.revocation_ledger_url:
        return settings.revocation_ledger_url
    blobs = settings.resolved_blob_store_url
    if blobs.startswith("s3://"):
        return f"{blobs.rstrip('/')}/{DEFAULT_S3_PREFIX}"
    return f"file://{(settings.var_dir / 'revocations.jsonl').resolve()}"


async def open_ledger(settings: Settings, blobs: BlobStore | None = None) -> Ledger:
    """The ledger `settings` name; an S3 ledger in the blob store's own bucket reuses
    `blobs`' connection, another bucket gets one of its own (closed with the ledger)."""
    url = location(settings)
    if url.startswith("file://"):
        return FileLedger(Path(url.removeprefix("file://")))
    if not url.startswith("s3://"):
        raise ValueError(f"REVOCATION_LEDGER_URL must be file://PATH or s3://BUCKET/PREFIX: "
                         f"{url!r}")
    bucket, _, prefix = url.removeprefix("s3://").partition("/")
    prefix = prefix.strip("/") + "/" if prefix.strip("/") else DEFAULT_S3_PREFIX
    same = settings.resolved_blob_store_url.removeprefix("s3://").strip("/") == bucket
    if same and blobs is not None:
        return StoreLedger(blobs, prefix, url, owned=False)
    store = await open_blob_store(
        f"s3://{bucket}", endpoint_url=settings.s3_endpoint_url,
        access_key=settings.s3_access_key.get_secret_value(),
        secret_key=settings.s3_secret_key.get_secret_value(), region=settings.s3_region,
        staging=settings.var_dir / "spool")
    return StoreLedger(store, prefix, url, owned=True)


async def of(res: Resources) -> Ledger:
    """This process's ledger (opened on first use, closed with the resources)."""
    found = res.extras.get(_EXTRA_KEY)
    if found is None:
        found = res.extras[_EXTRA_KEY] = await open_ledger(res.settings, res.blobs)
    ledger: Ledger = found
    return ledger


async def record(res: Resources, kind: str, takes: Sequence[tuple[int, datetime]],
                 now: datetime | None = None) -> None:
    """Append one entry naming `takes` ((id, created_at) pairs) as gone for `kind`.
    Raises what the medium raises: the caller must not go on removing without it."""
    if not takes:
        return
    secret = res.settings.secret_key.get_secret_value()
    entry = Entry(now or datetime.now(UTC), kind,
                  tuple(identity(secret, i, created) for i, created in takes), key_id(secret))
    await (await of(res)).append(entry)
