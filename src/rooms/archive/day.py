"""`rooms archive-day`: the steward's close-of-day record, one JSON file per day.

The upstream's management command exports the artifact summary; this writes that and the
day's own story, so a venue keeps a readable record after the audit rows age out
(`STEWARD_ACTION_RETENTION_DAYS`):

    {"day": "2026-11-30", "timezone": "Europe/Helsinki", "generated_at": ISO,
     "takes": {"added": {"ROOM": n, "FOSSIL": n, "NOSAVE": n}, "plays": n},
     "removed": {"revocation.completed": n, "retention.expired": n, ...: takes},
     "archive": {"ACTIVE": n, "EXPIRED": n, ...}, "retention": {...node status's...},
     "actions": [{"created_at", "action", "actor", "detail", "payload"}, ...]}

The day is the local calendar day in `TIMEZONE`. Nothing in it is audio or a code; artifact
ids appear only as the audit trail names them. Written to `DIR/rooms-day-YYYY-MM-DD.json`
(default `VAR_DIR/archive/`) atomically, mode 0600; running it again for the same day
rewrites the file with the current figures.
"""

from __future__ import annotations

import json
import os
import tempfile
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from rooms.models import AccessEvent, Artifact, StewardAction, StewardActionName, utcnow
from rooms.ops import repository
from rooms.resources import Resources

REMOVALS = (StewardActionName.REVOCATION_COMPLETED, StewardActionName.RETENTION_EXPIRED,
            "artifact.removed_from_circulation")


def bounds(day: date, zone: Any) -> tuple[datetime, datetime]:
    """[start, end) of the local `day` in UTC."""
    start = datetime.combine(day, time(0), tzinfo=zone)
    return start.astimezone(UTC), (start + timedelta(days=1)).astimezone(UTC)


def _iso(value: Any) -> Any:
    return value.astimezone(UTC).isoformat() if isinstance(value, datetime) else value


async def summary(res: Resources, day: date, now: datetime | None = None) -> dict[str, Any]:
    zone = res.settings.zone()
    start, end = bounds(day, zone)
    when = now or utcnow()
    async with res.sessions() as session:
        added = dict((str(m), int(n)) for m, n in (await session.execute(
            select(Artifact.consent_mode, func.count()).where(
                Artifact.created_at >= start, Artifact.created_at < end)
            .group_by(Artifact.consent_mode))).all())
        plays = int((await session.execute(select(func.count()).select_from(AccessEvent).where(
            AccessEvent.ts >= start, AccessEvent.ts < end,
            AccessEvent.action == "heard"))).scalar_one())
        actions = (await session.execute(select(StewardAction).where(
            StewardAction.created_at >= start, StewardAction.created_at < end)
            .order_by(StewardAction.id))).scalars().all()
        status = await repository.counts_by_status(session)
        kept = await repository.retention(
            session, when, when + timedelta(hours=res.settings.ops_retention_soon_hours))
    removed: dict[str, int] = {}
    for action in actions:
        if action.action in REMOVALS:
            ids = (action.payload or {}).get("artifact_ids") or []
            removed[action.action] = removed.get(action.action, 0) + len(ids)
    return {
        "day": day.isoformat(), "timezone": str(zone), "generated_at": when.isoformat(),
        "takes": {"added": {m: added.get(m, 0) for m in ("ROOM", "FOSSIL", "NOSAVE")},
                  "plays": plays},
        "removed": removed, "archive": status,
        "retention": {k: _iso(v) for k, v in kept.items()},
        "actions": [{"created_at": _iso(a.created_at), "action": a.action, "actor": a.actor,
                     "detail": a.detail, "payload": a.payload} for a in actions],
    }


def write(folder: Path, day: date, record: dict[str, Any]) -> Path:
    """Write `record` as `folder/rooms-day-<day>.json` (temp file, fsync, rename)."""
    folder.mkdir(parents=True, exist_ok=True)
    dest = folder / f"rooms-day-{day.isoformat()}.json"
    fd, name = tempfile.mkstemp(dir=folder, prefix=".rooms-day-")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(record, fh, indent=1, sort_keys=True, default=str)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(name, 0o600)
        os.replace(name, dest)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
    return dest
