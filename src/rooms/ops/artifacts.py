"""The operator's view of the archive: list takes, and edit their topic and status.

A list is newest first (`stack_position` is not kept: every ingest would renumber the
whole stack, see README "Decisions"), filtered by status and topic, paged by id; each item
says whether the take is `playable` now (`playback.playable`, the pool's own rule). Editing
`topic_tag` or `lifecycle_status` is one StewardAction (`artifact.metadata.updated`) in the
same transaction. A take that is not live (revoked, expired, NOSAVE) cannot be edited (410).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from rooms.access.media_tokens import OPERATOR_AUDIO, media_url
from rooms.config import Settings
from rooms.effects import catalog
from rooms.errors import Conflict, Gone, NotFound, RoomsError
from rooms.kit.times import iso
from rooms.live import surface
from rooms.live.protocol import OPS_TOPIC
from rooms.logging import get_logger
from rooms.models import Artifact, ArtifactStatus, StewardAction, StewardActionName, utcnow
from rooms.ops import repository
from rooms.ops.status import read_archive
from rooms.playback import playable
from rooms.playback.classify import Thresholds, place
from rooms.recordings.removal import remove_takes
from rooms.recordings.repository import derivatives_of
from rooms.resources import Resources
from rooms.uow import UnitOfWork

log = get_logger("rooms.ops.artifacts")

# REFERENCE §2.2: the lifecycle statuses each deployment suggests (blank always allowed).
LIFECYCLE: dict[str, tuple[str, ...]] = {
    "memory": ("open", "resolved"),
    "question": ("open", "pending", "answered", "resolved"),
    "repair": ("pending", "needs_part", "fixed", "obsolete"),
    "prompt": ("seed", "echo", "spent"),
    "witness": ("observed", "verified", "contextual"),
    "oracle": ("held", "spent"),
}


class MetadataIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    topic_tag: str | None = Field(None, max_length=64)
    lifecycle_status: str | None = Field(None, max_length=32)

    @field_validator("topic_tag", "lifecycle_status")
    @classmethod
    def _trim(cls, value: str | None) -> str | None:
        return None if value is None else value.strip()


def _hours(since: datetime | None, now: datetime) -> float | None:
    return None if since is None else round((now - since).total_seconds() / 3600, 2)


def artifact_out(a: Artifact, now: datetime, t: Thresholds, *,
                 is_playable: bool) -> dict[str, Any]:
    age = _hours(a.created_at, now) or 0.0
    the_lane, the_density, the_mood = place(a.wear, a.play_count, a.duration_ms, age, t)
    return {"id": a.id, "status": a.status, "consent_mode": a.consent_mode,
            "playable": is_playable, "held": bool(a.held),
            "created_at": iso(a.created_at), "last_access_at": iso(a.last_access_at),
            "duration_ms": a.duration_ms, "play_count": a.play_count, "wear": a.wear,
            "deployment_kind": a.deployment_kind, "topic_tag": a.topic_tag,
            "lifecycle_status": a.lifecycle_status, "lane": the_lane, "density": the_density,
            "mood": the_mood, "age_hours": age,
            "absence_hours": _hours(a.last_access_at, now)}


async def listing(session: AsyncSession, t: Thresholds, *, status: str | None,
                  topic_tag: str | None, limit: int, cursor: int | None) -> dict[str, Any]:
    now = utcnow()
    query = (select(Artifact, playable.playable_clause(now))
             .order_by(Artifact.id.desc()).limit(limit))
    if status:
        query = query.where(Artifact.status == ArtifactStatus(status.upper()))
    if topic_tag is not None:
        query = query.where(Artifact.topic_tag == topic_tag.strip())
    if cursor is not None:
        query = query.where(Artifact.id < cursor)
    rows = list((await session.execute(query)).all())
    return {"items": [artifact_out(a, now, t, is_playable=bool(p)) for a, p in rows],
            "next_cursor": rows[-1][0].id if len(rows) == limit else None}


async def edit(uow: UnitOfWork, artifact_id: int, body: MetadataIn, actor: str) -> dict[str, Any]:
    await uow.begin_write()
    session = uow.session
    artifact = await session.get(Artifact, artifact_id)
    if artifact is None:
        raise NotFound(f"no artifact {artifact_id}", code="artifact_not_found")
    now = utcnow()
    if not playable.is_live(artifact, now):
        raise Gone("this recording is no longer in the archive", code="gone")
    allowed = LIFECYCLE.get(artifact.deployment_kind, ())
    if body.lifecycle_status and body.lifecycle_status not in allowed:
        raise RoomsError(f"lifecycle_status must be blank or one of: {', '.join(allowed)}",
                         code="invalid_lifecycle_status")
    changed = {field: value for field, value in body.model_dump(exclude_none=True).items()
               if getattr(artifact, field) != value}
    for field, value in changed.items():
        setattr(artifact, field, value)
    if changed:
        session.add(StewardAction(action=StewardActionName.ARTIFACT_METADATA_UPDATED,
                                  actor=actor,
                                  detail=f"artifact {artifact_id}: "
                                         + ", ".join(f"{k}={v!r}" for k, v in changed.items()),
                                  payload={"artifact_id": artifact_id, **changed}))
        await session.flush()
    t = Thresholds.from_settings(uow.resources.settings)
    can_play = playable.is_playable(artifact, now,
                                   await derivatives_of(session, [artifact_id]))
    return {"artifact": artifact_out(artifact, now, t, is_playable=can_play),
            "changed": sorted(changed)}


# --- remove from circulation, moderation ----------------------------------------------------
async def _pushed(uow: UnitOfWork, action: StewardActionName, actor: str,
                  payload: dict[str, Any]) -> None:
    """After the commit, the action goes to operator dashboards on `ops`."""
    events = uow.events
    uow.after_commit(lambda: events.publish(OPS_TOPIC, {
        "event": "steward_action", "action": action, "actor": actor, "payload": payload,
        "created_at": iso(utcnow())}))


async def remove(uow: UnitOfWork, artifact_id: int, actor: str) -> dict[str, Any]:
    """Take a live take out of circulation: blobs deleted, REVOKED, audited, pushed.
    404 unknown; 409 `artifact_not_active` if it is not live (already gone, NOSAVE)."""
    artifact = await uow.session.get(Artifact, artifact_id)
    if artifact is None:
        raise NotFound(f"no artifact {artifact_id}", code="artifact_not_found")
    if not playable.is_live(artifact, utcnow()):
        raise Conflict("this take is not active", code="artifact_not_active")
    done = await remove_takes(uow, [artifact_id], status=ArtifactStatus.REVOKED,
                              change="removed", action=StewardActionName.ARTIFACT_REMOVED,
                              actor=actor, detail=f"artifact {artifact_id} removed from "
                                                  "circulation")
    if not done.artifact_ids:  # someone else removed it meanwhile
        raise Conflict("this take is not active", code="artifact_not_active")
    await _pushed(uow, StewardActionName.ARTIFACT_REMOVED, actor,
                  {"artifact_ids": done.artifact_ids})
    log.info("ops.artifact.removed", artifact_id=artifact_id, actor=actor)
    return {"ok": True, "artifact_id": artifact_id, "status": ArtifactStatus.REVOKED,
            "deleted_derivatives": done.derivatives_deleted}


MODERATION_PAGE = 100


async def review_queue(session: AsyncSession, settings: Settings,
                       limit: int = MODERATION_PAGE) -> dict[str, Any]:
    """Live takes held for review, oldest first, each with a signed operator audio URL."""
    now = utcnow()
    rows = (await session.execute(
        select(Artifact.id, Artifact.created_at, Artifact.duration_ms, Artifact.consent_mode)
        .where(playable.held_clause(), playable.live_clause(now))
        .order_by(Artifact.id).limit(limit))).all()
    return {"items": [{"id": i, "created_at": iso(c), "duration_ms": d, "consent_mode": m,
                       "audio_url": media_url(settings, OPERATOR_AUDIO, i)}
                      for i, c, d, m in rows]}


async def _held(uow: UnitOfWork, artifact_id: int) -> Artifact:
    artifact = await uow.session.get(Artifact, artifact_id)
    if artifact is None:
        raise NotFound(f"no artifact {artifact_id}", code="artifact_not_found")
    if not artifact.held or not playable.is_live(artifact, utcnow()):
        raise Conflict("this take is not waiting for review", code="not_held")
    return artifact


async def approve(uow: UnitOfWork, artifact_id: int, actor: str) -> dict[str, Any]:
    """A held take enters the pool: audited, announced on `surface` as `added`."""
    await uow.begin_write()
    artifact = await _held(uow, artifact_id)
    artifact.held = False
    action = StewardActionName.ARTIFACT_APPROVED
    payload = {"artifact_id": artifact_id}
    uow.session.add(StewardAction(action=action, actor=actor, payload=payload,
                                  detail=f"artifact {artifact_id} approved"))
    await uow.session.flush()
    events = uow.events
    uow.after_commit(lambda: surface.pool_changed(events, "added", artifact_id))
    await _pushed(uow, action, actor, payload)
    log.info("ops.artifact.approved", artifact_id=artifact_id, actor=actor)
    return {"ok": True, "artifact_id": artifact_id, "held": False}


async def reject(uow: UnitOfWork, artifact_id: int, actor: str) -> dict[str, Any]:
    """A held take is removed as a revocation removes it (blobs deleted, REVOKED)."""
    await _held(uow, artifact_id)
    done = await remove_takes(uow, [artifact_id], status=ArtifactStatus.REVOKED,
                              change="removed", action=StewardActionName.ARTIFACT_REJECTED,
                              actor=actor, detail=f"artifact {artifact_id} rejected")
    if not done.artifact_ids:
        raise Conflict("this take is not waiting for review", code="not_held")
    await _pushed(uow, StewardActionName.ARTIFACT_REJECTED, actor,
                  {"artifact_ids": done.artifact_ids})
    log.info("ops.artifact.rejected", artifact_id=artifact_id, actor=actor)
    return {"ok": True, "artifact_id": artifact_id, "status": ArtifactStatus.REVOKED,
            "deleted_derivatives": done.derivatives_deleted}


async def summary(res: Resources) -> dict[str, Any]:
    """The artifact-summary download (REFERENCE §2.1): counts, lanes, moods, memory colors,
    deployments and retention, now."""
    now = utcnow()
    archive = await read_archive(res, now)
    async with res.sessions() as session:
        colors = await repository.active_counts_by(session, Artifact.effect_profile, now)
        deployments = await repository.active_counts_by(session, Artifact.deployment_kind, now)
        held = await repository.held_count(session, now)
    return {"generated_at": iso(now), "active": archive.by_status.get(ArtifactStatus.ACTIVE, 0),
            "playable": archive.playable, "held": held,
            "expired": archive.by_status.get(ArtifactStatus.EXPIRED, 0),
            "revoked": archive.by_status.get(ArtifactStatus.REVOKED, 0),
            "by_status": archive.by_status, "lanes": archive.lanes, "moods": archive.moods,
            "memory_colors": {"counts": colors,
                              "catalog": [{"code": e["code"], "label": e["label"]}
                                          for e in catalog()]},
            "deployments": deployments, "retention": archive.retention}
