"""Blob stores: one small interface, a local folder (atomic writes) and S3 (aioboto3).

Keys look like `raw/2026/11/30/<random>.wav` (see README "Blob layout"); both stores treat
them as opaque `/`-separated paths, and list a prefix without reading anything outside it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
from collections.abc import AsyncIterable, AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from rooms.logging import get_logger

log = get_logger("rooms.storage")
CHUNK = 256 * 1024
# A spool (an upload on its way in, a blob being written) not touched for this long belongs
# to a request or process that is gone: a crash, a kill -9, a client that vanished.
SPOOL_GRACE = timedelta(minutes=15)
SPOOL_PREFIXES = ("upload-", ".put-", "w-", "probe-")


class BlobNotFound(KeyError):
    """No blob under that key."""


class BlobStoreError(RuntimeError):
    """The store could not be reached or refused the operation."""


@dataclass(slots=True)
class BlobStream:
    """An open blob: its total size, the byte range served, and the bytes."""

    size: int
    start: int
    length: int
    chunks: AsyncIterator[bytes]


@dataclass(frozen=True, slots=True)
class BlobEntry:
    key: str
    size: int
    modified: datetime


BlobEntries = list[BlobEntry]  # an alias: the stores' `list` method shadows the builtin


class BlobStore(Protocol):
    name: str

    async def put_file(self, key: str, path: Path, *, move: bool = False,
                       synced: bool = False) -> int:
        """Store the file at `path`; with move=True the store may take the file itself,
        and with synced=True (the caller fsync'd it) need not sync it again."""
        ...

    def staging_dir(self) -> Path:
        """Where to spool uploads so that put_file(move=True) is cheapest."""
        ...

    async def sweep_staging(self, older_than: datetime) -> int:
        """Delete spool files last written before `older_than`; returns how many."""
        ...

    async def put(self, key: str, chunks: AsyncIterable[bytes]) -> int: ...
    async def open(self, key: str, start: int = 0, length: int | None = None) -> BlobStream: ...
    async def read(self, key: str) -> bytes: ...
    async def size(self, key: str) -> int: ...
    async def delete(self, key: str) -> bool: ...
    async def exists(self, key: str) -> bool: ...
    async def list(self, prefix: str = "") -> list[str]: ...
    async def entries(self, prefix: str = "") -> BlobEntries: ...
    async def check(self) -> None: ...
    async def aclose(self) -> None: ...


def _check_key(key: str) -> str:
    parts = key.split("/")
    if not key or key.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"bad blob key {key!r}")
    return key


def _clamp(size: int, start: int, length: int | None) -> tuple[int, int]:
    start = max(0, min(start, size))
    remaining = size - start
    return start, remaining if length is None else max(0, min(length, remaining))


def _sweep_spools(folder: Path, older_than: datetime) -> int:
    """Delete this store's spool files in `folder` last modified before `older_than`."""
    cutoff = older_than.timestamp()
    removed = 0
    try:
        names = os.listdir(folder)
    except FileNotFoundError:
        return 0
    for name in names:
        if not name.startswith(SPOOL_PREFIXES):
            continue
        path = folder / name
        with contextlib.suppress(FileNotFoundError):  # its request finished meanwhile
            if path.is_file() and path.stat().st_mtime < cutoff:
                path.unlink()
                removed += 1
    return removed


async def _spool(chunks: AsyncIterable[bytes], directory: Path | None) -> Path:
    fd, name = tempfile.mkstemp(dir=directory, prefix=".put-")
    try:
        with os.fdopen(fd, "wb") as fh:
            async for chunk in chunks:
                await asyncio.to_thread(fh.write, chunk)
    except BaseException:
        await asyncio.to_thread(Path(name).unlink, missing_ok=True)
        raise
    return Path(name)


class FileBlobStore:
    """Blobs as files under one folder. Writes go to a temp file, fsync, then rename."""

    name = "file"

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self._tmp = self.root / ".tmp"
        self._tmp.mkdir(exist_ok=True)

    def _path(self, key: str) -> Path:
        return self.root / _check_key(key)

    def _install(self, src: Path, key: str, *, move: bool, synced: bool = False) -> int:
        """Make `src` the blob at `key`: fsync (unless `synced`), rename into place, fsync
        the folder.

        With move=False the bytes are copied to a temp file first, so `src` is untouched.
        """
        dest = self._path(key)
        new_dirs = self._make_parents(dest.parent)
        if move:
            staged = src
            if not synced:
                with staged.open("rb+") as fh:
                    os.fsync(fh.fileno())
        else:
            fd, name = tempfile.mkstemp(dir=self._tmp, prefix="w-")
            staged = Path(name)
            try:
                with os.fdopen(fd, "wb") as out, src.open("rb") as inp:
                    while block := inp.read(CHUNK):
                        out.write(block)
                    out.flush()
                    os.fsync(out.fileno())
            except BaseException:
                staged.unlink(missing_ok=True)
                raise
        try:
            os.replace(staged, dest)
        except BaseException:
            staged.unlink(missing_ok=True)
            raise
        # the rename, and any folder made for it, must survive a power cut too
        for folder in (dest.parent, *new_dirs):
            dir_fd = os.open(folder, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        return dest.stat().st_size

    def _make_parents(self, folder: Path) -> list[Path]:
        """mkdir -p; returns the parents of folders it created (they need an fsync)."""
        missing: list[Path] = []
        while not folder.exists() and folder != self.root:
            missing.append(folder)
            folder = folder.parent
        for path in reversed(missing):
            path.mkdir(exist_ok=True)
        return [p.parent for p in missing]

    async def put_file(self, key: str, path: Path, *, move: bool = False,
                       synced: bool = False) -> int:
        move = move and path.parent == self._tmp
        return await asyncio.to_thread(self._install, path, key, move=move,
                                       synced=move and synced)

    # blocking twins, for a process of its own (a render worker reads and writes blobs
    # itself, so the API process never holds a take's bytes) --------------------------
    def read_sync(self, key: str) -> bytes:
        """The blob's bytes (blocking). Raises BlobNotFound."""
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            raise BlobNotFound(key) from None

    def install_sync(self, path: Path, key: str, *, synced: bool = False) -> int:
        """Make the spool at `path` (in `staging_dir()`) the blob at `key` (blocking): fsync
        unless `synced`, rename, folder fsync. Returns its size in bytes."""
        if path.parent != self._tmp:
            raise ValueError(f"{path} is not in this store's staging folder")
        return self._install(path, key, move=True, synced=synced)

    def put_bytes_sync(self, key: str, data: bytes) -> int:
        """Store `data` at `key` (blocking): temp file, fsync, rename, folder fsync."""
        fd, name = tempfile.mkstemp(dir=self._tmp, prefix="w-")
        staged = Path(name)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
        except BaseException:
            staged.unlink(missing_ok=True)
            raise
        return self._install(staged, key, move=True)

    def staging_dir(self) -> Path:
        return self._tmp

    async def sweep_staging(self, older_than: datetime) -> int:
        return await asyncio.to_thread(_sweep_spools, self._tmp, older_than)

    async def put(self, key: str, chunks: AsyncIterable[bytes]) -> int:
        spooled = await _spool(chunks, self._tmp)
        try:
            return await asyncio.to_thread(self._install, spooled, key, move=True)
        finally:
            spooled.unlink(missing_ok=True)

    async def open(self, key: str, start: int = 0, length: int | None = None) -> BlobStream:
        path = self._path(key)
        try:
            size = (await asyncio.to_thread(path.stat)).st_size
        except FileNotFoundError:
            raise BlobNotFound(key) from None
        start, count = _clamp(size, start, length)

        async def chunks() -> AsyncIterator[bytes]:
            # opened on first read, so a stream that is never consumed holds no descriptor
            try:
                fh = await asyncio.to_thread(path.open, "rb")
            except FileNotFoundError:
                raise BlobNotFound(key) from None
            try:
                await asyncio.to_thread(fh.seek, start)
                left = count
                while left > 0:
                    block = await asyncio.to_thread(fh.read, min(CHUNK, left))
                    if not block:
                        break
                    left -= len(block)
                    yield block
            finally:
                fh.close()

        return BlobStream(size=size, start=start, length=count, chunks=chunks())

    async def size(self, key: str) -> int:
        try:
            return (await asyncio.to_thread(self._path(key).stat)).st_size
        except FileNotFoundError:
            raise BlobNotFound(key) from None

    async def read(self, key: str) -> bytes:
        try:
            return await asyncio.to_thread(self._path(key).read_bytes)
        except FileNotFoundError:
            raise BlobNotFound(key) from None

    async def delete(self, key: str) -> bool:
        path = self._path(key)
        try:
            await asyncio.to_thread(path.unlink)
        except FileNotFoundError:
            return False
        with contextlib.suppress(OSError):  # tidy empty parents, never the root
            parent = path.parent
            while parent != self.root:
                parent.rmdir()
                parent = parent.parent
        return True

    async def exists(self, key: str) -> bool:
        return await asyncio.to_thread(self._path(key).is_file)

    async def list(self, prefix: str = "") -> list[str]:
        def walk() -> list[str]:
            # start at the prefix's folder: listing one day of raw/ never walks the rest
            folder, _, _ = prefix.rpartition("/")
            start = self.root / _check_key(folder) if folder else self.root
            keys = []
            for dirpath, dirnames, filenames in os.walk(start):
                dirnames[:] = [d for d in dirnames if d != ".tmp"]
                rel = Path(dirpath).relative_to(self.root)
                for fn in filenames:
                    key = (rel / fn).as_posix()
                    if key.startswith(prefix):
                        keys.append(key)
            return sorted(keys)

        return await asyncio.to_thread(walk)

    async def entries(self, prefix: str = "") -> BlobEntries:
        def stat_all(keys: list[str]) -> BlobEntries:
            out = []
            for key in keys:
                try:
                    st = (self.root / key).stat()
                except FileNotFoundError:
                    continue
                out.append(BlobEntry(key, st.st_size, datetime.fromtimestamp(st.st_mtime, UTC)))
            return out

        return await asyncio.to_thread(stat_all, await self.list(prefix))

    async def check(self) -> None:
        def probe() -> None:
            fd, name = tempfile.mkstemp(dir=self._tmp, prefix="probe-")
            os.close(fd)
            os.unlink(name)

        try:
            await asyncio.to_thread(probe)
        except OSError as exc:
            raise BlobStoreError(f"blob folder not writable: {exc.strerror}") from exc

    async def aclose(self) -> None:
        return None


class S3BlobStore:
    """Blobs in one S3 bucket through an aioboto3 client entered for the app's lifetime."""

    name = "s3"

    def __init__(self, client: Any, bucket: str, stack: AsyncExitStack,
                 staging: Path | None = None) -> None:
        self._client = client
        self.bucket = bucket
        self._stack = stack
        # one spool folder per bucket: what its sweep deletes is this store's own leftovers
        self._staging = (staging or Path(tempfile.gettempdir()) / f"rooms-spool-{bucket}"
                         ).resolve()
        self._staging.mkdir(parents=True, exist_ok=True)

    @classmethod
    async def connect(cls, bucket: str, *, endpoint_url: str | None, access_key: str,
                      secret_key: str, region: str, create_bucket: bool = True,
                      staging: Path | None = None) -> S3BlobStore:
        import aioboto3
        from botocore.config import Config

        session = aioboto3.Session()
        stack = AsyncExitStack()
        client = await stack.enter_async_context(session.client(
            "s3",
            endpoint_url=endpoint_url or None,
            aws_access_key_id=access_key or None,
            aws_secret_access_key=secret_key or None,
            region_name=region,
            config=Config(s3={"addressing_style": "path"}, connect_timeout=3, read_timeout=30,
                          retries={"max_attempts": 2, "mode": "standard"},
                          max_pool_connections=64),
        ))
        store = cls(client, bucket, stack, staging)
        if create_bucket:
            with contextlib.suppress(Exception):  # already there, or no right: check() says
                await client.create_bucket(Bucket=bucket)
        return store

    def staging_dir(self) -> Path:
        return self._staging

    async def sweep_staging(self, older_than: datetime) -> int:
        return await asyncio.to_thread(_sweep_spools, self._staging, older_than)

    async def put_file(self, key: str, path: Path, *, move: bool = False,
                       synced: bool = False) -> int:
        _check_key(key)  # S3 has the object once the PUT answers: `move`/`synced` unused
        size = (await asyncio.to_thread(path.stat)).st_size
        with path.open("rb") as fh:
            await self._client.put_object(Bucket=self.bucket, Key=key, Body=fh,
                                          ContentLength=size)
        return size

    async def put(self, key: str, chunks: AsyncIterable[bytes]) -> int:
        spooled = await _spool(chunks, self._staging)
        try:
            return await self.put_file(key, spooled)
        finally:
            spooled.unlink(missing_ok=True)

    async def open(self, key: str, start: int = 0, length: int | None = None) -> BlobStream:
        from botocore.exceptions import ClientError

        _check_key(key)
        try:
            head = await self._client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                raise BlobNotFound(key) from None
            raise
        size = int(head["ContentLength"])
        start, count = _clamp(size, start, length)

        async def chunks() -> AsyncIterator[bytes]:
            if count == 0:
                return
            resp = await self._client.get_object(Bucket=self.bucket, Key=key,
                                                 Range=f"bytes={start}-{start + count - 1}")
            body = resp["Body"]
            try:
                async for block in body.iter_chunks(CHUNK):
                    yield block
            finally:
                body.close()

        return BlobStream(size=size, start=start, length=count, chunks=chunks())

    async def size(self, key: str) -> int:
        return (await self.open(key, 0, 0)).size

    async def read(self, key: str) -> bytes:
        blob = await self.open(key)
        return b"".join([c async for c in blob.chunks])

    async def delete(self, key: str) -> bool:
        _check_key(key)
        existed = await self.exists(key)
        await self._client.delete_object(Bucket=self.bucket, Key=key)
        return existed

    async def exists(self, key: str) -> bool:
        try:
            await self.open(key, 0, 0)
        except BlobNotFound:
            return False
        return True

    async def list(self, prefix: str = "") -> list[str]:
        keys: list[str] = []
        paginator = self._client.get_paginator("list_objects_v2")
        async for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
            keys.extend(obj["Key"] for obj in page.get("Contents", []))
        return sorted(keys)

    async def entries(self, prefix: str = "") -> BlobEntries:
        out: BlobEntries = []
        paginator = self._client.get_paginator("list_objects_v2")
        async for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
            out.extend(BlobEntry(o["Key"], int(o["Size"]), o["LastModified"])
                       for o in page.get("Contents", []))
        return sorted(out, key=lambda e: e.key)

    async def check(self) -> None:
        try:
            await self._client.head_bucket(Bucket=self.bucket)
        except Exception as exc:
            raise BlobStoreError(f"s3 bucket {self.bucket!r} unreachable: {exc}") from exc

    async def aclose(self) -> None:
        await self._stack.aclose()


async def open_blob_store(url: str, *, endpoint_url: str = "", access_key: str = "",
                          secret_key: str = "", region: str = "us-east-1",
                          staging: Path | None = None,
                          now: datetime | None = None) -> BlobStore:
    """Build the store a BLOB_STORE_URL names (file://PATH or s3://BUCKET).

    `staging` is where an S3 store spools uploads (default: a folder per bucket in the
    system's temp folder; a file store spools inside its own folder). Spools older than
    SPOOL_GRACE (relative to `now`) are deleted on the way: a process that died mid-upload
    left them.
    """
    store: BlobStore
    if url.startswith("file://"):
        store = FileBlobStore(Path(url.removeprefix("file://")))
    elif url.startswith("s3://"):
        bucket = url.removeprefix("s3://").strip("/")
        store = await S3BlobStore.connect(bucket, endpoint_url=endpoint_url,
                                          access_key=access_key, secret_key=secret_key,
                                          region=region, staging=staging)
    else:
        raise ValueError(f"unsupported BLOB_STORE_URL {url!r}")
    removed = await store.sweep_staging((now or datetime.now(UTC)) - SPOOL_GRACE)
    if removed:
        log.info("storage.stale_spools_removed", count=removed, store=store.name)
    return store
