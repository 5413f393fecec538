"""Queries for recordings. Only flush(); the request's unit of work commits."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from rooms.models import (
    AccessEvent,
    Artifact,
    ArtifactStatus,
    ConsentManifest,
    ConsentMode,
    Derivative,
)


async def by_idempotency_key(session: AsyncSession, key: str) -> Artifact | None:
    return (await session.execute(
        select(Artifact).where(Artifact.idempotency_key == key))).scalar()


async def get(session: AsyncSession, artifact_id: int) -> Artifact | None:
    return await session.get(Artifact, artifact_id)


async def consent_by_hashes(session: AsyncSession,
                            token_hashes: Sequence[str]) -> ConsentManifest | None:
    """The manifest stored under the first of `token_hashes` that matches (most likely first;
    `consent.candidate_hashes` gives at most 1024, one query)."""
    if not token_hashes:
        return None
    found = {m.revocation_token_hash: m for m in (await session.execute(
        select(ConsentManifest).where(ConsentManifest.revocation_token_hash.in_(
            token_hashes)))).scalars()}
    return next((found[h] for h in token_hashes if h in found), None)


async def artifacts_of_consent(session: AsyncSession, consent_id: int) -> Sequence[Artifact]:
    return (await session.execute(select(Artifact).where(
        Artifact.consent_id == consent_id).with_for_update())).scalars().all()


async def derivatives_of(session: AsyncSession,
                         artifact_ids: Sequence[int]) -> Sequence[Derivative]:
    if not artifact_ids:
        return []
    return (await session.execute(select(Derivative).where(
        Derivative.artifact_id.in_(artifact_ids)))).scalars().all()


# A NOSAVE take's listening window: the AccessEvent of its claim names the listener.
LISTEN_CONTEXT, LISTEN_ACTION = "nosave", "listen"


@dataclass(frozen=True, slots=True)
class NosaveState:
    status: str
    blob_key: str  # "" once the blob is deleted
    ends_at: datetime | None  # unplayed: the end of its lifetime; claimed: of its window
    listener: str | None  # the claimant's key, once claimed


async def nosave_state(session: AsyncSession, artifact_id: int) -> NosaveState | None:
    listener = (select(AccessEvent.ack_key).where(
        AccessEvent.artifact_id == artifact_id, AccessEvent.context == LISTEN_CONTEXT,
        AccessEvent.action == LISTEN_ACTION).limit(1).scalar_subquery())
    row = (await session.execute(select(
        Artifact.status, Artifact.raw_uri, Artifact.expires_at, listener).where(
        Artifact.id == artifact_id, Artifact.consent_mode == ConsentMode.NOSAVE))).first()
    return None if row is None else NosaveState(str(row[0]), row[1], row[2], row[3])


async def claim_nosave(session: AsyncSession, artifact_id: int, *, listener: str,
                       now: datetime, until: datetime) -> str | None:
    """Claim an unplayed NOSAVE take for `listener` (EPHEMERAL -> REVOKED, its window open
    until `until`) and return its blob key; None for every caller but the first. The UPDATE
    decides the race, so it is safe as the first statement of a transaction."""
    result = await session.execute(
        update(Artifact).where(
            Artifact.id == artifact_id, Artifact.status == ArtifactStatus.EPHEMERAL,
            Artifact.raw_uri != "", or_(Artifact.expires_at.is_(None), Artifact.expires_at > now))
        .values(status=ArtifactStatus.REVOKED, expires_at=until, last_access_at=now)
        .returning(Artifact.raw_uri))
    row = result.first()
    if row is None:
        return None
    session.add(AccessEvent(artifact_id=artifact_id, ts=now, context=LISTEN_CONTEXT,
                            action=LISTEN_ACTION, ack_key=listener))
    await session.flush()
    return str(row[0])


async def blob_deleted(session: AsyncSession, artifact_id: int, key: str) -> None:
    """The NOSAVE take's blob `key` is deleted: the row says so (REVOKED, no blob)."""
    await session.execute(update(Artifact).where(
        Artifact.id == artifact_id, Artifact.raw_uri == key).values(
        status=ArtifactStatus.REVOKED, raw_uri=""))


async def nosave_blobs_due(session: AsyncSession, now: datetime) -> list[int]:
    """NOSAVE takes whose blob is still kept although their time is up: unplayed past their
    lifetime, or played and their listening window closed."""
    return list((await session.execute(select(Artifact.id).where(
        Artifact.status.in_((ArtifactStatus.EPHEMERAL, ArtifactStatus.REVOKED)),
        Artifact.expires_at <= now, Artifact.consent_mode == ConsentMode.NOSAVE,
        Artifact.raw_uri != ""))).scalars())


def _column_values(obj: Artifact | ConsentManifest) -> dict[str, Any]:
    return {c.key: getattr(obj, c.key) for c in obj.__table__.columns
            if c.key != "id" and getattr(obj, c.key) is not None}


# Built once; the values go in as parameters (SQLAlchemy caches the compiled form per set
# of columns), so an upload does not build and hash two statements of its own.
_INSERT_MANIFEST = insert(ConsentManifest).returning(ConsentManifest.id)
_INSERT_ARTIFACT = insert(Artifact).returning(Artifact.id)


def insert_take_sync(conn: Connection, manifest: ConsentManifest, artifact: Artifact) -> None:
    """Insert a take's manifest and artifact on `conn` (for `Database.write`, which commits
    them together); sets the ids on the (transient) objects."""
    manifest_id = conn.execute(_INSERT_MANIFEST, _column_values(manifest)).scalar_one()
    artifact_id = conn.execute(_INSERT_ARTIFACT, {**_column_values(artifact),
                                                  "consent_id": manifest_id}).scalar_one()
    manifest.id, artifact.id, artifact.consent_id = manifest_id, artifact_id, manifest_id
