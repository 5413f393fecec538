"""`rooms backup FILE` / `rooms restore FILE`: the database and the blobs in one archive.

The archive is a plain tar (gzip when FILE ends in `.gz`/`.tgz`):

    rooms-backup/db/<table>.jsonl     one JSON object per row, every table of rooms' models
    rooms-backup/blobs/<key>          every blob a kept take still needs (raw, derivatives)
    rooms-backup/manifest.json        last: format, source, row counts, and the SHA-256 and
                                      size of every other member

The database part is a *logical* dump through SQLAlchemy (rows as JSON, read in one
snapshot: REPEATABLE READ on PostgreSQL, one read transaction on SQLite), so an archive
made on SQLite restores into PostgreSQL and back, and a running server can be backed up.
Schema: `rooms restore` migrates the target to this code's newest revision and inserts the
rows; a column the archive lacks takes its default, a table or column this code does not
know refuses the archive (it was made by a newer rooms).

Consent is honoured both ways:
- a backup never holds a NOSAVE take's audio: such takes are written as REVOKED without
  audio, as they will be within minutes anyway;
- `rooms restore` reads the revocation ledger (recordings/ledger.py) and writes every take it
  names as gone (REVOKED or EXPIRED, no audio, no derivatives) without ever writing its
  blobs; audio already past its retention time is not written either, and the retention
  sweeps run once at the end, so a restore never brings back what a visitor removed or what
  has expired since the backup.

Restore first verifies the whole archive (every member's size and SHA-256 against the
manifest, the manifest's own form, the row counts) and refuses a damaged one before it
touches anything (`ArchiveError`). It restores only into an empty database (no takes, no
manifests, no audit rows); blobs are written first, then rows, then each written blob is
read back and checked again.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import os
import tarfile
import tempfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

from sqlalchemy import Column, Connection, DateTime, Table, func, select, text

from rooms.db import Database
from rooms.derivatives import retention
from rooms.logging import get_logger
from rooms.models import ArtifactStatus, Base, StewardAction, StewardActionName, utcnow
from rooms.recordings import ledger
from rooms.resources import Resources
from rooms.storage import BlobStore
from rooms.uow import unit_of_work

log = get_logger("rooms.archive.backup")

FORMAT = "rooms-backup"
VERSION = 1
ROOT = "rooms-backup"
MANIFEST = f"{ROOT}/manifest.json"
CHUNK = 1024 * 1024
BATCH = 1000
# rows a fresh instance may already hold; replaced by the archive's
REPLACEABLE = ("node", "steward_state")
# PostgreSQL: move a table's id sequence past the restored rows
SETVAL = ("SELECT setval(pg_get_serial_sequence('{name}', 'id'), COALESCE(MAX(id), 1), "
          "MAX(id) IS NOT NULL) FROM {name}")


class ArchiveError(Exception):
    """The archive is damaged, of another format, or cannot be restored here. Nothing
    was changed when this is raised before the restore began writing."""


class Progress:
    """What a progress bar needs; the default does nothing (tests, scripts)."""

    def start(self, label: str, total: int) -> None:
        return None

    def advance(self, amount: int) -> None:
        return None


@dataclass(slots=True)
class BackupReport:
    path: Path
    tables: dict[str, int]
    blobs: int
    blob_bytes: int
    nosave_withheld: int
    missing_blobs: list[str] = field(default_factory=list)


@dataclass(slots=True)
class RestoreReport:
    tables: dict[str, int]
    blobs_written: int
    reapplied: dict[str, int]  # ledger kind -> takes written as gone
    withheld_expired: int  # blobs past their retention, not written
    swept: dict[str, int]


# --- rows as JSON --------------------------------------------------------------------

def tables() -> list[Table]:
    """rooms' tables, parents before children."""
    return list(Base.metadata.sorted_tables)


def _encode(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    raise TypeError(f"cannot store {type(value).__name__} in a backup")


def _is_datetime(column: Column[Any]) -> bool:
    impl = getattr(column.type, "impl", column.type)
    return isinstance(impl, DateTime) or isinstance(column.type, DateTime)


def decode_row(table: Table, row: dict[str, Any]) -> dict[str, Any]:
    """A JSON row back into column values; ArchiveError for an unknown column."""
    out: dict[str, Any] = {}
    for name, value in row.items():
        if name not in table.c:
            raise ArchiveError(f"the archive's table {table.name!r} has a column {name!r} "
                               f"this rooms does not know (made by a newer rooms?)")
        column = table.c[name]
        out[name] = (datetime.fromisoformat(value) if value is not None and _is_datetime(column)
                     else value)
    return out


# --- backup --------------------------------------------------------------------------

def _dump_sync(conn: Connection, folder: Path, begin: bool) -> dict[str, Any]:
    """Write every table to `folder/<table>.jsonl` inside one read snapshot; return the row
    counts, the alembic revision, the blobs a kept take needs, and the NOSAVE count."""
    if begin:  # pysqlite starts no transaction for a SELECT: make one snapshot of it all
        conn.exec_driver_sql("BEGIN")
    counts: dict[str, int] = {}
    artifacts: dict[int, str] = {}  # ACTIVE take id -> its raw key ("" when none)
    derivative_keys: dict[str, int] = {}
    withheld = 0
    for table in tables():
        n = 0
        with (folder / f"{table.name}.jsonl").open("w", encoding="utf-8") as out:
            result = conn.execution_options(stream_results=True, yield_per=BATCH).execute(
                select(table).order_by(*table.primary_key.columns))
            for mapping in result.mappings():
                row = dict(mapping)
                if table.name == "artifact":
                    if row["status"] == ArtifactStatus.EPHEMERAL:
                        # NOSAVE: one play, then gone; never into a backup
                        row.update(status=str(ArtifactStatus.REVOKED), raw_uri="",
                                   raw_sha256="")
                        withheld += 1
                    elif row["status"] == ArtifactStatus.ACTIVE:
                        artifacts[int(row["id"])] = row["raw_uri"] or ""
                    row["status"] = str(row["status"])
                    row["consent_mode"] = str(row["consent_mode"])
                elif table.name == "derivative":
                    row["kind"] = str(row["kind"])
                    if int(row["artifact_id"]) in artifacts and row["uri"]:
                        derivative_keys[row["uri"]] = int(row["artifact_id"])
                out.write(json.dumps(row, default=_encode, separators=(",", ":")) + "\n")
                n += 1
        counts[table.name] = n
    revision = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    blobs = {key: {"artifact_id": i, "role": "raw"} for i, key in artifacts.items() if key}
    blobs.update({k: {"artifact_id": i, "role": "derivative"}
                  for k, i in derivative_keys.items()})
    return {"tables": counts, "revision": revision, "blobs": blobs, "withheld": withheld}


async def _dump(db: Database, folder: Path) -> dict[str, Any]:
    if db.is_sqlite:
        return await db.read(lambda conn: _dump_sync(conn, folder, begin=True))
    async with db.engine.connect() as conn:
        snap = await conn.execution_options(isolation_level="REPEATABLE READ")
        async with snap.begin():
            return await snap.run_sync(lambda c: _dump_sync(c, folder, begin=False))


def _sha256_file(path: Path) -> tuple[str, int]:
    sha = hashlib.sha256()
    size = 0
    with path.open("rb") as fh:
        while block := fh.read(CHUNK):
            sha.update(block)
            size += len(block)
    return sha.hexdigest(), size


async def _fetch(blobs: BlobStore, key: str, dest: Path) -> tuple[str, int]:
    """Copy blob `key` to the file `dest`; (sha256, size)."""
    stream = await blobs.open(key)
    sha = hashlib.sha256()
    size = 0
    with dest.open("wb") as fh:
        async for block in stream.chunks:
            sha.update(block)
            size += len(block)
            await asyncio.to_thread(fh.write, block)
    return sha.hexdigest(), size


def _prepare(path: Path) -> tuple[Path, Path]:
    """(the archive's absolute path, a fresh temp file beside it)."""
    path = path.resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    os.close(fd)
    return path, Path(tmp_name)


def _create(path: Path, *, gzip: bool) -> tarfile.TarFile:
    if gzip:
        return tarfile.open(path, "w:gz", format=tarfile.PAX_FORMAT)
    return tarfile.open(path, "w", format=tarfile.PAX_FORMAT)


async def backup(res: Resources, path: Path, *, progress: Progress | None = None,
                 now: datetime | None = None) -> BackupReport:
    """Write the archive to `path` (atomically: a temp file renamed into place)."""
    from rooms.storage import BlobNotFound

    bar = progress or Progress()
    created = now or utcnow()
    path, tmp = await asyncio.to_thread(_prepare, path)
    members: dict[str, dict[str, Any]] = {}
    missing: list[str] = []
    try:
        with tempfile.TemporaryDirectory(prefix="rooms-backup-") as work_dir:
            work = Path(work_dir)
            dump = await _dump(res.db, work)
            keys = sorted(dump["blobs"])
            bar.start("backup", len(dump["tables"]) + len(keys))
            with _create(tmp, gzip=path.name.endswith((".gz", ".tgz"))) as tar:
                for name in dump["tables"]:
                    member = f"{ROOT}/db/{name}.jsonl"
                    file = work / f"{name}.jsonl"
                    digest, size = await asyncio.to_thread(_sha256_file, file)
                    await asyncio.to_thread(tar.add, str(file), member)
                    members[member] = {"sha256": digest, "size": size}
                    file.unlink()
                    bar.advance(1)
                blob_bytes = 0
                for key in keys:
                    file = work / "blob"
                    try:
                        digest, size = await _fetch(res.blobs, key, file)
                    except BlobNotFound:
                        # removed after the snapshot: the ledger names it, restore skips it
                        missing.append(key)
                        bar.advance(1)
                        continue
                    member = f"{ROOT}/blobs/{key}"
                    await asyncio.to_thread(tar.add, str(file), member)
                    members[member] = {"sha256": digest, "size": size, "key": key,
                                       **dump["blobs"][key]}
                    blob_bytes += size
                    file.unlink()
                    bar.advance(1)
                secret = res.settings.secret_key.get_secret_value()
                manifest = {
                    "format": FORMAT, "version": VERSION, "created_at": created.isoformat(),
                    "source": {"dialect": res.db.dialect, "alembic_revision": dump["revision"],
                               "blob_store": res.blobs.name},
                    "ledger_kid": ledger.key_id(secret),
                    "tables": dump["tables"], "nosave_withheld": dump["withheld"],
                    "missing_blobs": missing, "members": members,
                }
                data = json.dumps(manifest, indent=1, sort_keys=True).encode()
                info = tarfile.TarInfo(MANIFEST)
                info.size, info.mtime, info.mode = len(data), int(created.timestamp()), 0o600
                await asyncio.to_thread(tar.addfile, info, io.BytesIO(data))
        await asyncio.to_thread(_fsync_rename, tmp, path)
    except BaseException:
        await asyncio.to_thread(tmp.unlink, missing_ok=True)
        raise
    log.info("backup.written", path=str(path), blobs=len(keys) - len(missing),
             rows=sum(dump["tables"].values()), missing=len(missing))
    return BackupReport(path, dump["tables"], len(keys) - len(missing), blob_bytes,
                        dump["withheld"], missing)


def _fsync_rename(tmp: Path, dest: Path) -> None:
    with tmp.open("rb+") as fh:
        os.fsync(fh.fileno())
    os.chmod(tmp, 0o600)
    os.replace(tmp, dest)
    dir_fd = os.open(dest.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


# --- verify --------------------------------------------------------------------------

@dataclass(slots=True)
class Verified:
    manifest: dict[str, Any]
    tables: dict[str, int]


def _open(path: Path) -> tarfile.TarFile:
    try:
        return tarfile.open(path, "r:*")
    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
        raise ArchiveError(f"{path} is not a readable rooms backup ({exc})") from None


def _read_manifest(tar: tarfile.TarFile) -> dict[str, Any]:
    try:
        fh = tar.extractfile(MANIFEST)
        raw = json.loads(fh.read() if fh is not None else b"")
    except KeyError:
        raise ArchiveError("the archive has no manifest.json: not a rooms backup, or cut "
                           "short") from None
    except (ValueError, tarfile.TarError, OSError, EOFError, zlib.error) as exc:
        raise ArchiveError(f"the manifest cannot be read ({exc})") from None
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise ArchiveError("not a rooms backup (manifest format)")
    if raw.get("version") != VERSION:
        raise ArchiveError(f"backup format version {raw.get('version')!r} is not one this "
                           f"rooms reads ({VERSION})")
    if not isinstance(raw.get("members"), dict) or not isinstance(raw.get("tables"), dict):
        raise ArchiveError("the manifest is damaged (members or tables missing)")
    return raw


def _hash_member(tar: tarfile.TarFile, info: tarfile.TarInfo,
                 bar: Progress) -> tuple[str, int, int]:
    """(sha256, size, lines) of one member, read in chunks."""
    fh = tar.extractfile(info)
    if fh is None:
        raise ArchiveError(f"{info.name} is not a file")
    sha = hashlib.sha256()
    size = lines = 0
    while block := fh.read(CHUNK):
        sha.update(block)
        size += len(block)
        lines += block.count(b"\n")
        bar.advance(len(block))
    return sha.hexdigest(), size, lines


def verify(path: Path, progress: Progress | None = None) -> Verified:
    """Check the whole archive against its manifest; ArchiveError naming the first fault.
    Reads everything, writes nothing."""
    bar = progress or Progress()
    with _open(path) as tar:
        try:
            infos = {i.name: i for i in tar.getmembers()}
        except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
            raise ArchiveError(f"the archive is damaged or cut short ({exc})") from None
        manifest = _read_manifest(tar)
        members: dict[str, dict[str, Any]] = manifest["members"]
        known = {t.name: t for t in tables()}
        for name, rows in manifest["tables"].items():
            if name not in known:
                raise ArchiveError(f"the archive has a table {name!r} this rooms does not "
                                   f"know (made by a newer rooms?)")
            if f"{ROOT}/db/{name}.jsonl" not in members or not isinstance(rows, int):
                raise ArchiveError(f"the manifest is damaged (table {name!r})")
        extra = sorted(set(infos) - set(members) - {MANIFEST})
        if extra:
            raise ArchiveError(f"the archive holds {extra[0]!r}, which its manifest does "
                               f"not list")
        bar.start("verify", sum(int(m.get("size", 0)) for m in members.values()))
        for name, meta in members.items():
            info = infos.get(name)
            if info is None:
                raise ArchiveError(f"{name} is listed in the manifest but missing from the "
                                   f"archive (cut short?)")
            try:
                digest, size, lines = _hash_member(tar, info, bar)
            except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
                raise ArchiveError(f"{name} cannot be read ({exc})") from None
            if size != meta.get("size") or digest != meta.get("sha256"):
                raise ArchiveError(f"{name} is damaged: its SHA-256 does not match the "
                                   f"manifest")
            table = name.removeprefix(f"{ROOT}/db/").removesuffix(".jsonl")
            if name.startswith(f"{ROOT}/db/") and manifest["tables"].get(table) != lines:
                raise ArchiveError(f"{name} holds {lines} rows, the manifest says "
                                   f"{manifest['tables'].get(table)}")
    return Verified(manifest, dict(manifest["tables"]))


# --- restore -------------------------------------------------------------------------

def _rows(tar: tarfile.TarFile, table: str) -> Iterator[dict[str, Any]]:
    fh = tar.extractfile(f"{ROOT}/db/{table}.jsonl")
    assert fh is not None
    for line in io.TextIOWrapper(fh, encoding="utf-8"):
        if line.strip():
            yield json.loads(line)


async def _occupied(db: Database) -> dict[str, int]:
    """Rows in the target that a restore would collide with (REPLACEABLE ones aside)."""
    def count(conn: Connection) -> dict[str, int]:
        found = {}
        for table in tables():
            if table.name in REPLACEABLE:
                continue
            n = int(conn.execute(select(func.count()).select_from(table)).scalar_one())
            if n:
                found[table.name] = n
        return found

    return await db.read(count)


@dataclass(slots=True)
class _Plan:
    """Which takes the ledger or the clock says are gone, and which blobs to write."""

    gone: dict[int, str] = field(default_factory=dict)  # artifact id -> ledger kind
    due: set[str] = field(default_factory=set)  # blob keys past their retention
    reapplied: dict[str, int] = field(default_factory=dict)


async def _plan(res: Resources, tar: tarfile.TarFile, now: datetime) -> _Plan:
    secret = res.settings.secret_key.get_secret_value()
    kid = ledger.key_id(secret)
    kinds: dict[str, str] = {}
    book = await ledger.open_ledger(res.settings, res.blobs)
    try:
        async for entry in book.entries():
            if entry.kid and entry.kid != kid:
                raise ArchiveError(
                    f"the revocation ledger at {book.location} was written with another "
                    f"SECRET_KEY: run the restore with that key, so that takes removed "
                    f"since the backup stay removed")
            for ident in entry.ids:
                kinds.setdefault(ident, entry.kind)
    finally:
        await book.aclose()
    plan = _Plan()
    for row in _rows(tar, "artifact"):
        if row["status"] not in (ArtifactStatus.ACTIVE, ArtifactStatus.EPHEMERAL):
            continue
        created = datetime.fromisoformat(row["created_at"])
        kind = kinds.get(ledger.identity(secret, int(row["id"]), created))
        if kind is not None:
            plan.gone[int(row["id"])] = kind
            plan.reapplied[kind] = plan.reapplied.get(kind, 0) + 1
            continue
        expires = row.get("expires_at")
        raw_expires = row.get("raw_expires_at")
        if row.get("raw_uri") and (
                (expires and datetime.fromisoformat(expires) <= now)
                or (raw_expires and datetime.fromisoformat(raw_expires) <= now)):
            plan.due.add(row["raw_uri"])
    for row in _rows(tar, "derivative"):
        expires = row.get("expires_at")
        if expires and datetime.fromisoformat(expires) <= now:
            plan.due.add(row["uri"])
    return plan


def _adjust(table: str, row: dict[str, Any], plan: _Plan) -> dict[str, Any] | None:
    """The row as the restore writes it: a take the ledger names goes in as gone."""
    if table == "artifact" and int(row["id"]) in plan.gone:
        status = (ArtifactStatus.EXPIRED if plan.gone[int(row["id"])] == "expired"
                  else ArtifactStatus.REVOKED)
        return {**row, "status": str(status), "raw_uri": "", "raw_sha256": ""}
    if table == "derivative" and int(row["artifact_id"]) in plan.gone:
        return None
    return row


async def _insert_table(db: Database, table: Table, rows: Iterator[dict[str, Any]],
                        plan: _Plan) -> int:
    written = 0
    batch: list[dict[str, Any]] = []

    async def flush() -> None:
        if batch:
            chunk = list(batch)
            await db.write(lambda conn: conn.execute(table.insert(), chunk))
            batch.clear()

    for raw in rows:
        row = _adjust(table.name, raw, plan)
        if row is None:
            continue
        batch.append(decode_row(table, row))
        written += 1
        if len(batch) >= BATCH:
            await flush()
    await flush()
    return written


async def _reset_sequences(db: Database) -> None:
    if db.is_sqlite:
        return

    def reset(conn: Connection) -> None:
        for table in tables():
            if "id" in table.c and table.c.id.primary_key:
                conn.execute(text(SETVAL.format(name=table.name)))  # rooms' own table names

    await db.write(reset)


async def _write_blob(res: Resources, tar: tarfile.TarFile, member: str, key: str,
                      expected: str, work: Path) -> None:
    """Extract one member, store it, read it back and check its SHA-256."""
    def extract() -> Path:
        fh = tar.extractfile(member)
        assert fh is not None
        dest = work / "blob"
        with dest.open("wb") as out:
            while block := fh.read(CHUNK):
                out.write(block)
        return dest

    file = await asyncio.to_thread(extract)
    try:
        await res.blobs.put_file(key, file)
    finally:
        file.unlink(missing_ok=True)
    stored = await res.blobs.open(key)
    sha = hashlib.sha256()
    async for block in stored.chunks:
        sha.update(block)
    if sha.hexdigest() != expected:
        raise ArchiveError(f"blob {key} read back from the store does not match its "
                           f"checksum; the store is not keeping what it is given")


async def restore(res: Resources, path: Path, *, progress: Progress | None = None,
                  now: datetime | None = None,
                  verified: Verified | None = None) -> RestoreReport:
    """Restore `path` into this (migrated, empty) database and blob store; see the module.
    ArchiveError before anything is written when the archive is damaged, the target is not
    empty, or the ledger was written with another key."""
    bar = progress or Progress()
    when = now or utcnow()
    checked: Verified = (verified if verified is not None
                         else await asyncio.to_thread(verify, path, bar))
    manifest = checked.manifest
    occupied = await _occupied(res.db)
    if occupied:
        listed = ", ".join(f"{n} {t}" for t, n in sorted(occupied.items()))
        raise ArchiveError(f"the target database is not empty ({listed}); restore into an "
                           f"empty database")
    with _open(path) as tar, tempfile.TemporaryDirectory(prefix="rooms-restore-") as work_dir:
        plan = await _plan(res, tar, when)
        blobs = {name: meta for name, meta in manifest["members"].items()
                 if name.startswith(f"{ROOT}/blobs/")}
        bar.start("restore", len(blobs) + len(checked.tables))
        written = withheld = 0
        for name, meta in sorted(blobs.items()):
            key = str(meta.get("key") or PurePosixPath(name).relative_to(f"{ROOT}/blobs"))
            if int(meta.get("artifact_id", -1)) in plan.gone:
                bar.advance(1)
                continue
            if key in plan.due:
                withheld += 1
                bar.advance(1)
                continue
            await _write_blob(res, tar, name, key, str(meta["sha256"]), Path(work_dir))
            written += 1
            bar.advance(1)
        await _clear_replaceable(res.db)
        restored: dict[str, int] = {}
        for table in tables():
            if table.name not in checked.tables:
                bar.advance(1)
                continue
            restored[table.name] = await _insert_table(res.db, table,
                                                       _rows(tar, table.name), plan)
            bar.advance(1)
    await _reset_sequences(res.db)
    swept = {**await retention.expire_raw(res, when),
             **{f"derivatives_{k}": v
                for k, v in (await retention.prune_derivatives(res, when)).items()}}
    async with unit_of_work(res) as uow:
        await uow.begin_write()
        uow.session.add(StewardAction(
            action=StewardActionName.RESTORE_COMPLETED, actor="cli:restore",
            detail=f"backup of {manifest.get('created_at', '?')}: {written} blobs, "
                   f"{sum(plan.reapplied.values())} take(s) removed since then kept removed",
            payload={"backup_created_at": manifest.get("created_at"), "blobs": written,
                     "reapplied": plan.reapplied, "withheld_expired": withheld,
                     "tables": restored}))
    log.info("restore.done", blobs=written, reapplied=plan.reapplied, withheld=withheld)
    return RestoreReport(restored, written, plan.reapplied, withheld, swept)


async def _clear_replaceable(db: Database) -> None:
    def clear(conn: Connection) -> None:
        for table in reversed(tables()):
            if table.name in REPLACEABLE:
                conn.execute(table.delete())

    await db.write(clear)

