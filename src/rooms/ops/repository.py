"""Read-only archive queries for the node status: aggregates only, never whole rows.

Each is one statement that returns a handful of rows however large the archive is (the
counts GROUP BY status, the lane/density mix GROUP BY three small CASEs).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from rooms.models import Artifact, ArtifactStatus, ConsentMode
from rooms.playback import classify, playable
from rooms.playback.classify import Density, Lane, Thresholds
from rooms.playback.playable import playable_clause


async def counts_by_status(session: AsyncSession) -> dict[str, int]:
    rows = await session.execute(
        select(Artifact.status, func.count()).group_by(Artifact.status))
    return {str(status): int(n) for status, n in rows.all()}


async def playable_mix(session: AsyncSession, now: datetime, t: Thresholds, *,
                       mostly_active: bool, scan_beats_index: bool
                       ) -> list[tuple[Lane, Density, bool, int]]:
    """(lane, density, aged, count) over playable artifacts.

    Grouped over a subquery: PostgreSQL would not match a CASE with bound parameters in the
    SELECT list to the same CASE repeated in GROUP BY (each gets its own $n). When most rows
    are ACTIVE, a full scan may beat the status index (`Database.scan_beats_index`).
    """
    by_index = not (mostly_active and scan_beats_index)
    inner = select(classify.lane_sql(now, t).label("lane"),
                   classify.density_sql(t).label("density"),
                   classify.aged_sql(now, t).label("aged")).where(
        playable_clause(now, use_status_index=by_index)).subquery()
    rows = await session.execute(
        select(inner.c.lane, inner.c.density, inner.c.aged, func.count())
        .group_by(inner.c.lane, inner.c.density, inner.c.aged))
    return [(lane, density, bool(aged), int(n)) for lane, density, aged, n in rows.all()]


def _count(condition: Any) -> Any:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


async def retention(session: AsyncSession, now: datetime, soon: datetime) -> dict[str, Any]:
    """Raw audio really held (a servable take's blob: ACTIVE or EPHEMERAL; a gone take's is
    deleted), how much of it goes before `soon`, the next expiry still to come (one already
    due is `raw_overdue`, for the sweep), and the FOSSIL residue."""
    held = (Artifact.raw_uri != "") & Artifact.status.in_(
        (ArtifactStatus.ACTIVE, ArtifactStatus.EPHEMERAL))
    fossil = ((Artifact.status == ArtifactStatus.ACTIVE)
              & (Artifact.consent_mode == ConsentMode.FOSSIL))
    row = (await session.execute(select(
        _count(held),
        _count(held & (Artifact.raw_expires_at <= soon)),
        func.min(Artifact.raw_expires_at).filter(held & (Artifact.raw_expires_at > now)),
        _count(held & (Artifact.raw_expires_at <= now)),
        _count(fossil),
        _count(fossil & (Artifact.raw_uri == "")),
        func.min(Artifact.expires_at).filter(fossil),
    ))).one()
    return {"raw_held": int(row[0]), "raw_expiring_soon": int(row[1]),
            "next_raw_expiry_at": row[2], "raw_overdue": int(row[3]),
            "fossil_retained": int(row[4]), "fossil_residue_only": int(row[5]),
            "next_fossil_expiry_at": row[6]}


async def active_counts_by(session: AsyncSession, column: Any, now: datetime) -> dict[str, int]:
    """Live takes counted by `column` (effect_profile, deployment_kind)."""
    rows = await session.execute(select(column, func.count()).where(
        playable.live_clause(now)).group_by(column))
    return {str(k): int(n) for k, n in rows.all()}


async def held_count(session: AsyncSession, now: datetime) -> int:
    """Live takes waiting for a steward's review (MODERATION=hold)."""
    return int((await session.execute(select(func.count()).where(
        playable.held_clause(), playable.live_clause(now)))).scalar_one())
