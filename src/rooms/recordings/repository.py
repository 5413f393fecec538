"""Queries for recordings. Only flush(); the request's unit of work commits."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from rooms.models import Artifact, ArtifactStatus, ConsentManifest, Derivative


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


async def claim_ephemeral(session: AsyncSession, artifact_id: int) -> str | None:
    """Flip EPHEMERAL -> REVOKED atomically and return its blob key; None for every caller
    but the first. A single UPDATE, so it is safe as the first statement of a transaction."""
    result = await session.execute(
        update(Artifact).where(Artifact.id == artifact_id,
                               Artifact.status == ArtifactStatus.EPHEMERAL)
        .values(status=ArtifactStatus.REVOKED).returning(Artifact.raw_uri))
    row = result.first()
    return None if row is None else str(row[0])


def _column_values(obj: Artifact | ConsentManifest) -> dict[str, Any]:
    return {c.key: getattr(obj, c.key) for c in obj.__table__.columns
            if c.key != "id" and getattr(obj, c.key) is not None}


def insert_take_sync(conn: Connection, manifest: ConsentManifest, artifact: Artifact) -> None:
    """Insert a take's manifest and artifact on `conn` (for `Database.write`, which commits
    them together); sets the ids on the (transient) objects."""
    manifest_id = conn.execute(insert(ConsentManifest).values(
        **_column_values(manifest)).returning(ConsentManifest.id)).scalar_one()
    artifact_id = conn.execute(insert(Artifact).values(
        **_column_values(artifact), consent_id=manifest_id).returning(Artifact.id)).scalar_one()
    manifest.id, artifact.id, artifact.consent_id = manifest_id, artifact_id, manifest_id
