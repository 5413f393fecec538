"""The steward's switches, their audit trail, and the workers, for the operator API.

Every change of a switch is one StewardAction (`<flag>.enabled` / `<flag>.disabled`,
`mood_bias.updated`) in the same transaction as the change. Once committed, the new posture
goes to every live client on `surface` (through Redis to every process, whose supervisor
follows quiet mode from it) and each action to operator dashboards on `ops`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictFloat, ValidationInfo, field_validator
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from rooms import steward
from rooms.errors import NotFound
from rooms.kit.times import iso
from rooms.live.protocol import OPS_TOPIC
from rooms.logging import get_logger
from rooms.models import StewardAction, StewardActionName
from rooms.playback.runtime import pool_runtime
from rooms.resources import Resources
from rooms.uow import UnitOfWork

log = get_logger("rooms.ops.controls")

RECENT_ACTIONS = 8


class ControlsIn(BaseModel):
    """Any subset of the switches; a field left out is left as it is."""

    model_config = ConfigDict(extra="forbid")

    intake_paused: bool | None = None
    playback_paused: bool | None = None
    quieter_mode: bool | None = None
    maintenance_mode: bool | None = None
    mood_bias: Literal["", "clear", "hushed", "suspended", "weathered", "gathering"] | None = None
    # the room's master volume: a JSON number (a string, boolean, NaN or Infinity is a 400);
    # clamped to 0..1 and rounded to 0.001 (docs/loudness.md)
    room_volume: StrictFloat | None = Field(default=None, allow_inf_nan=False)
    # the kiosk's fields, normalised as REFERENCE §2.2 ("" = the server's default)
    kiosk_language_code: Literal["", "en", "es_mx_ca"] | None = None
    kiosk_accessibility_mode: Literal["", "large_high_contrast"] | None = None
    kiosk_force_reduced_motion: bool | None = None
    kiosk_max_recording_seconds: int | None = None
    session_theme_title: str | None = None
    session_theme_prompt: str | None = None

    @field_validator("kiosk_language_code", "kiosk_accessibility_mode", mode="before")
    @classmethod
    def _code(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("room_volume")
    @classmethod
    def _clamp_volume(cls, value: float | None) -> float | None:
        return None if value is None else round(max(0.0, min(1.0, value)), 3)

    @field_validator("kiosk_max_recording_seconds")
    @classmethod
    def _clamp_seconds(cls, value: int | None) -> int | None:
        """Clamped to 30..300 s, as the upstream steward does."""
        return None if value is None else max(30, min(300, value))

    @field_validator("session_theme_title", "session_theme_prompt")
    @classmethod
    def _text(cls, value: str | None, info: ValidationInfo) -> str | None:
        """Blanks collapsed; cut to the column's length (title 64, prompt 180)."""
        if value is None:
            return None
        limit = 64 if info.field_name == "session_theme_title" else 180
        return " ".join(value.split())[:limit]


KIOSK_FIELDS = ("kiosk_language_code", "kiosk_accessibility_mode", "kiosk_force_reduced_motion",
                "kiosk_max_recording_seconds", "session_theme_title", "session_theme_prompt")


def state_out(posture: steward.Posture) -> dict[str, Any]:
    """The switches, the mood bias, the room's volume and the kiosk's fields."""
    return {**posture.switches(), "room_volume": posture.room_volume,
            **{name: getattr(posture, name) for name in KIOSK_FIELDS}}


def action_out(action: StewardAction) -> dict[str, Any]:
    return {"id": action.id, "action": action.action, "actor": action.actor,
            "detail": action.detail, "payload": action.payload,
            "created_at": iso(action.created_at)}


async def actions(session: AsyncSession, *, limit: int,
                  before: int | None = None) -> list[StewardAction]:
    """Newest first; `before` an action id to page back from."""
    query = select(StewardAction).order_by(StewardAction.id.desc()).limit(limit)
    if before is not None:
        query = query.where(StewardAction.id < before)
    return list((await session.execute(query)).scalars())


async def controls(session: AsyncSession) -> dict[str, Any]:
    state = await steward.read(session)
    recent = await actions(session, limit=RECENT_ACTIONS)
    return {"operator_state": state_out(state),
            "recent_actions": [action_out(a) for a in recent]}


async def change(uow: UnitOfWork, wanted: ControlsIn, actor: str) -> dict[str, Any]:
    """Apply the switches that differ; one audit row each; publish after the commit."""
    await uow.begin_write()
    session = uow.session
    state = await steward.row_for_update(session)
    made: list[StewardAction] = []
    for field, value in wanted.model_dump(exclude_none=True).items():
        if getattr(state, field) == value:
            continue
        setattr(state, field, value)
        made.append(StewardAction(action=StewardActionName.for_change(field, value),
                                  actor=actor, detail=f"{field} set to {value!r}",
                                  payload={"field": field, "value": value}))
    session.add_all(made)
    await session.flush()
    posture = steward.Posture.of(state)
    out = state_out(posture)
    changes = [{"field": a.payload["field"], "value": a.payload["value"], "action": a.action,
                "detail": a.detail} for a in made]
    if made:
        res = uow.resources
        rows = [action_out(a) for a in made]
        uow.after_commit(lambda: _announce(res, posture, rows))
        log.info("ops.controls.changed", actor=actor, actions=[a.action for a in made])
    recent = await actions(session, limit=RECENT_ACTIONS)
    return {"operator_state": out, "recent_actions": [action_out(a) for a in recent],
            "changes": changes}


async def _announce(res: Resources, posture: steward.Posture,
                    rows: list[dict[str, Any]]) -> None:
    # Every process drops its copy of the posture when it hears this, so all obey at once.
    pool_runtime(res).forget()
    await steward.announce(res, posture)
    for row in rows:
        await res.events.publish(OPS_TOPIC, {"event": "steward_action", **row})


async def record(uow: UnitOfWork, action: StewardActionName, actor: str, detail: str,
                 payload: dict[str, Any]) -> None:
    await uow.begin_write()
    uow.session.add(StewardAction(action=action, actor=actor, detail=detail, payload=payload))


def workers_out(res: Resources) -> dict[str, Any]:
    sup = res.streams
    return {"state": sup.state, "workers": sup.workers(),
            "crashes": [crash.as_dict() for crash in reversed(sup.crashes)]}


async def restart_worker(uow: UnitOfWork, name: str, actor: str) -> dict[str, Any]:
    sup = uow.resources.streams
    if name not in sup.slots:
        raise NotFound(f"no worker named {name!r}", code="worker_not_found")
    await record(uow, StewardActionName.WORKER_RESTARTED, actor, f"{name} restarted",
                 {"worker": name})
    result = sup.restart(name)
    log.info("ops.worker.restarted", worker=name, actor=actor)
    return {"worker": name, **result}
