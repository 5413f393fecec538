"""Derivative queries: the guarded insert, what the sweeps look for, the listings."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import (
    ColumnElement,
    Connection,
    Integer,
    String,
    and_,
    bindparam,
    delete,
    exists,
    literal,
    not_,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlalchemy.sql import Executable

from rooms.db import Database, dialect_insert
from rooms.models import Artifact, Derivative
from rooms.models.artifact import UNMEASURED
from rooms.models.base import UTCDateTime
from rooms.playback import playable

SPECTROGRAM = "spectrogram_png"
ESSENCE = "essence_wav"
KINDS = (SPECTROGRAM, ESSENCE)
FILENAMES = {SPECTROGRAM: "spectrogram.png", ESSENCE: "essence.wav"}


def prefix(artifact_id: int) -> str:
    """Every blob rendered for a take lives under this prefix (revocation deletes it)."""
    return f"derivatives/{artifact_id}/"


def key(artifact_id: int, kind: str) -> str:
    """A fixed key per (take, kind), so a re-render overwrites the blob it replaces."""
    return prefix(artifact_id) + FILENAMES[kind]


@dataclass(frozen=True, slots=True)
class Source:
    artifact_id: int
    status: str
    consent_mode: str
    raw_uri: str
    raw_sha256: str

    @property
    def renderable(self) -> bool:
        return self.status == "ACTIVE" and self.consent_mode == "FOSSIL" and bool(self.raw_uri)


def source(conn: Connection, artifact_id: int) -> Source | None:
    """What a render needs to know about the take (for `Database.read`)."""
    row = conn.execute(select(
        Artifact.status, Artifact.consent_mode, Artifact.raw_uri, Artifact.raw_sha256)
        .where(Artifact.id == artifact_id)).first()
    return None if row is None else Source(artifact_id, *row)


@functools.cache
def _attach_query(dialect: str) -> Executable:
    """`attach`'s statement, built once per dialect with bound parameters (building and
    hashing it per call cost more CPU than the database takes to run it)."""
    chosen = (select(Artifact.id, bindparam("kind", type_=String()),
                     bindparam("uri", type_=String()), bindparam("now", type_=UTCDateTime()),
                     Artifact.expires_at, literal(False))
              .where(Artifact.id == bindparam("artifact_id", type_=Integer()),
                     Artifact.status == "ACTIVE", Artifact.consent_mode == "FOSSIL")
              .with_for_update())
    ins = dialect_insert(dialect, Derivative)
    stmt = ins.from_select(
        ["artifact_id", "kind", "uri", "created_at", "expires_at", "publishable"], chosen)
    upsert: Executable = stmt.on_conflict_do_update(
        index_elements=["artifact_id", "kind"],
        set_={"uri": stmt.excluded.uri, "created_at": stmt.excluded.created_at,
              "expires_at": stmt.excluded.expires_at},
    ).returning(Derivative.id)
    return upsert


def attach(conn: Connection, db: Database, artifact_id: int, kind: str,
           uri: str, now: datetime) -> bool:
    """Insert (or, on a re-render, refresh) the row for a rendered blob, in one
    INSERT ... SELECT ... WHERE the take is still ACTIVE and FOSSIL. True when a row went
    in or was refreshed; False when the take is gone (revoked, expired) meanwhile.

    On PostgreSQL the SELECT locks the take's row (FOR UPDATE), so a revocation's UPDATE
    either ran before (and this inserts nothing) or waits until this commits (and then
    deletes the row); on SQLite the write slot orders the two the same way. The row
    expires with the take (`expires_at`, the consent's derivative TTL)."""
    params = {"artifact_id": artifact_id, "kind": kind, "uri": uri, "now": now}
    return conn.execute(_attach_query(db.dialect), params).first() is not None


def _live(kind: str, now: datetime) -> ColumnElement[bool]:
    return exists().where(Derivative.artifact_id == Artifact.id, Derivative.kind == kind,
                          or_(Derivative.expires_at.is_(None), Derivative.expires_at > now))


async def lacking_renders(session: AsyncSession, now: datetime, limit: int) -> list[int]:
    """ACTIVE FOSSIL takes that still hold raw audio but miss a live derivative."""
    rows = await session.execute(select(Artifact.id).where(
        Artifact.status == "ACTIVE", Artifact.consent_mode == "FOSSIL", playable.raw_clause(now),
        or_(Artifact.expires_at.is_(None), Artifact.expires_at > now),
        or_(*(not_(_live(kind, now)) for kind in KINDS))).order_by(Artifact.id).limit(limit))
    return [int(i) for i in rows.scalars()]


async def past_expiry(session: AsyncSession, now: datetime,
                      limit: int) -> list[tuple[int, bool]]:
    """(id, still holds raw audio) of ACTIVE takes whose consent has run out."""
    rows = await session.execute(select(Artifact.id, Artifact.raw_uri != "").where(
        Artifact.status == "ACTIVE", Artifact.expires_at <= now).order_by(Artifact.id)
        .limit(limit))
    return [(int(i), bool(raw)) for i, raw in rows.all()]


async def raw_past_ttl(session: AsyncSession, now: datetime,
                       limit: int) -> list[tuple[int, str, bool]]:
    """(id, raw key, keeps an essence) of ACTIVE takes whose raw audio is past its TTL."""
    rows = await session.execute(select(
        Artifact.id, Artifact.raw_uri,
        and_(Artifact.consent_mode == "FOSSIL", _live(ESSENCE, now)))
        .where(Artifact.status == "ACTIVE", Artifact.raw_uri != "",
               Artifact.raw_expires_at <= now).order_by(Artifact.id).limit(limit))
    return [(int(i), str(k), bool(e)) for i, k, e in rows.all()]


async def drop_raw(session: AsyncSession, artifact_id: int, raw_key: str) -> bool:
    """Forget a deleted raw blob: the take stays ACTIVE and plays its essence."""
    done = (await session.execute(
        update(Artifact).where(Artifact.id == artifact_id, Artifact.raw_uri == raw_key,
                               Artifact.status == "ACTIVE")
        .values(raw_uri="", raw_sha256="").returning(Artifact.id))).first()
    return done is not None


async def gone_with_audio(session: AsyncSession, before: datetime,
                          limit: int) -> list[tuple[int, str]]:
    """(id, raw key) of REVOKED or EXPIRED takes that still name a raw blob or its
    fingerprint, and whose times (raw TTL, and `expires_at`: a played NOSAVE take's
    listening window ends there) all passed before `before`."""
    rows = await session.execute(select(Artifact.id, Artifact.raw_uri).where(
        Artifact.status.in_(("REVOKED", "EXPIRED")),
        or_(Artifact.raw_uri != "", Artifact.raw_sha256 != ""),
        or_(Artifact.raw_expires_at.is_(None), Artifact.raw_expires_at <= before),
        or_(Artifact.expires_at.is_(None), Artifact.expires_at <= before))
        .order_by(Artifact.id).limit(limit))
    return [(int(i), str(k)) for i, k in rows.all()]


async def forget_audio(session: AsyncSession, ids: Sequence[int]) -> int:
    """A gone take keeps no raw key and no fingerprint."""
    done = (await session.execute(
        update(Artifact).where(Artifact.id.in_(ids), Artifact.status.in_(("REVOKED", "EXPIRED")))
        .values(raw_uri="", raw_sha256="").returning(Artifact.id))).all()
    return len(done)


async def unplayable(session: AsyncSession, now: datetime, limit: int) -> list[int]:
    """ACTIVE takes with nothing left to play (no raw, no live essence); a take held for
    review is left to the steward's decision."""
    rows = await session.execute(select(Artifact.id).where(
        Artifact.status == "ACTIVE", playable.held_clause(released=True),
        not_(playable.playable_clause(now))).order_by(Artifact.id)
        .limit(limit))
    return [int(i) for i in rows.scalars()]


async def past_ttl_derivatives(session: AsyncSession, now: datetime,
                               limit: int) -> list[tuple[int, str]]:
    rows = await session.execute(select(Derivative.id, Derivative.uri).where(
        Derivative.expires_at <= now).order_by(Derivative.id).limit(limit))
    return [(int(i), str(u)) for i, u in rows.all()]


async def delete_rows(session: AsyncSession, ids: Sequence[int], now: datetime) -> int:
    gone = (await session.execute(delete(Derivative).where(
        Derivative.id.in_(ids), Derivative.expires_at <= now).returning(Derivative.id))).all()
    return len(gone)


async def fossil_images(session: AsyncSession, now: datetime,
                        limit: int) -> list[tuple[int, datetime]]:
    """(take id, take created_at) of the newest playable FOSSIL takes with a live
    spectrogram."""
    image = aliased(Derivative)  # `playable` correlates its own Derivative subquery
    rows = await session.execute(
        select(Artifact.id, Artifact.created_at)
        .join(image, and_(image.artifact_id == Artifact.id, image.kind == SPECTROGRAM))
        .where(Artifact.consent_mode == "FOSSIL", playable.playable_clause(now),
               or_(image.expires_at.is_(None), image.expires_at > now))
        .order_by(Artifact.created_at.desc(), Artifact.id.desc()).limit(limit))
    return [(int(i), c) for i, c in rows.all()]


async def spectrograms(session: AsyncSession, limit: int,
                       before_id: int | None) -> list[Derivative]:
    """The operator's inventory, newest first, `limit` rows before `before_id`."""
    query = select(Derivative).where(Derivative.kind == SPECTROGRAM)
    if before_id is not None:
        query = query.where(Derivative.id < before_id)
    rows = await session.execute(query.order_by(Derivative.id.desc()).limit(limit))
    return list(rows.scalars())


# --- loudness (docs/loudness.md) ------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Unmeasured:
    """What a take still needs measured: its raw key and/or its essence key ("" = none)."""

    raw_uri: str
    essence_uri: str


def to_measure(conn: Connection, artifact_id: int, now: datetime,
               limit: int) -> dict[int, Unmeasured]:
    """What to measure, by take id: what of live take `artifact_id` is still unmeasured
    (raw and/or essence), then up to `limit - 1` newer live takes whose raw audio is
    unmeasured, newest first (`artifact_unmeasured_idx`), so that one job measures what
    a burst of uploads queued (docs/loudness.md). Only newer ones: a take that cannot be
    measured (its blob gone) joins the batches of the few jobs queued before it, never
    every batch after it. Takes with nothing to do are left out."""
    row = conn.execute(select(
        Artifact.raw_uri, Artifact.loudness_lufs, Artifact.essence_loudness_lufs,
        playable.raw_clause(now)).where(Artifact.id == artifact_id,
                                        Artifact.status == "ACTIVE")).first()
    out: dict[int, Unmeasured] = {}
    if row is not None:
        raw_uri, raw_lufs, essence_lufs, has_raw = row
        essence = ""
        if essence_lufs is None:
            essence = conn.execute(select(Derivative.uri).where(
                Derivative.artifact_id == artifact_id, Derivative.kind == ESSENCE,
                or_(Derivative.expires_at.is_(None), Derivative.expires_at > now))
            ).scalar() or ""
        todo = Unmeasured(str(raw_uri) if raw_lufs is None and has_raw else "", str(essence))
        if todo.raw_uri or todo.essence_uri:
            out[artifact_id] = todo
    if limit > 1:
        others = conn.execute(select(Artifact.id, Artifact.raw_uri, playable.raw_clause(now))
                              .where(text(UNMEASURED), Artifact.id > artifact_id)
                              .order_by(Artifact.id.desc()).limit(limit - 1))
        out.update((int(i), Unmeasured(str(uri), "")) for i, uri, has_raw in others if has_raw)
    return out


def set_loudness(conn: Connection, artifact_id: int, *, raw: float | None,
                 essence: float | None) -> bool:
    """Set the measured values (None leaves a column as it is) on a still-ACTIVE take;
    False when it is no longer ACTIVE (on a plain connection, for `Database.write`)."""
    values = {k: v for k, v in (("loudness_lufs", raw), ("essence_loudness_lufs", essence))
              if v is not None}
    if not values:
        return False
    return conn.execute(update(Artifact).where(
        Artifact.id == artifact_id, Artifact.status == "ACTIVE").values(**values)
        .returning(Artifact.id)).first() is not None


async def lacking_loudness(session: AsyncSession, limit: int) -> list[int]:
    """Newest first, live takes with raw audio not measured yet (`artifact_unmeasured_idx`:
    its WHERE is repeated word for word so both planners pick the partial index)."""
    rows = await session.execute(select(Artifact.id).where(text(UNMEASURED))
                                 .order_by(Artifact.id.desc()).limit(limit))
    return [int(i) for i in rows.scalars()]
