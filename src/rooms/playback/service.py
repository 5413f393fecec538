"""The room's side of the pool: pick the next take, count a heard play, the surface state.

pool/next only reads (wear moves when the room acknowledges a play, not when it asks for
one). Batches follow REFERENCE §2.4: a non-memory deployment first tries its preferred
batches (docs/deployments.md); then, as for memory, the cooled-down takes by (play_count,
wear, newest); if none, every eligible take by how long ago it was heard; if still none,
the same again without the client's exclusions. A requested lane, density or mood narrows
the choice only when something matches.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from rooms import hours, steward
from rooms.access import media_tokens
from rooms.access.media_tokens import POOL_AUDIO, POOL_HEARD
from rooms.db import Database
from rooms.errors import Gone
from rooms.kit import tokens
from rooms.kit.bounds import MAX_ROW_ID
from rooms.logging import get_logger
from rooms.playback import pool, repository
from rooms.playback.classify import Density, Lane, Mood, density
from rooms.playback.runtime import pool_runtime
from rooms.resources import Resources

log = get_logger("rooms.playback")
HEARD_PREFIX = "/api/v1/pool/heard/"


@dataclass(frozen=True, slots=True)
class NextQuery:
    lane: Lane | None = None
    density: Density | None = None
    mood: Mood | None = None
    exclude: tuple[int, ...] = ()


@dataclass(slots=True)
class PoolRead:
    """What one request read: the cached values it was asked to refresh, and candidates."""

    fresh: dict[str, Any] = field(default_factory=dict)
    found: list[pool.Candidate] = field(default_factory=list)


def _candidates(conn: Connection, now: datetime, p: pool.Policy,
                q: NextQuery) -> list[pool.Candidate]:
    for exclude in ((q.exclude, ()) if q.exclude else ((),)):
        for prefer in p.deployment.preferred:
            found = repository.preferred(conn, now, p, prefer, exclude=exclude)
            if found:
                return found
        if q.lane or q.density or q.mood:
            found = repository.narrowed(conn, now, p, exclude=exclude, lane=q.lane,
                                        density=q.density, mood=q.mood)
            if found:
                return found
        for cooled in (True, False):
            found = repository.batch(conn, now, p, exclude=exclude, cooled=cooled)
            if found:
                return found
    return []


def _read(conn: Connection, now: datetime, p: pool.Policy, q: NextQuery | None,
          reload: frozenset[str], posture: steward.Posture | None) -> PoolRead:
    out = PoolRead()
    if posture is None:
        posture = out.fresh["posture"] = steward.read_sync(conn)
    if "pool_size" in reload:
        out.fresh["pool_size"] = repository.pool_size(conn, now)
    if q is None or posture.playback_stopped:
        return out
    out.found = _candidates(conn, now, p, q)
    if out.found and "recent" in reload:
        out.fresh["recent"] = repository.recent_durations(conn)
    return out


async def read_pool(res: Resources, now: datetime, p: pool.Policy,
                    q: NextQuery | None) -> tuple[steward.Posture, int, list[Density],
                                                  list[pool.Candidate]]:
    """(steward posture, pool size, recent densities, candidates), cached values at most
    `cache_ttl_s` old; candidates only for a query, and not while playback is paused.
    All of a request's reads go in one `Database.read` (one thread hop on SQLite)."""
    rt = pool_runtime(res)
    keys = ("pool_size",) if q is None else ("pool_size", "recent")
    reload = frozenset(k for k in keys if rt.claim(k))
    cached = steward.cache(res)
    posture = cached.peek()
    try:
        read = await res.db.read(lambda c: _read(c, now, p, q, reload, posture))
    except BaseException:
        rt.release(reload)
        raise
    if (fresh := read.fresh.pop("posture", None)) is not None:
        cached.store(fresh)
        posture = fresh
    for key, value in read.fresh.items():
        rt.store(key, value)
    rt.release(reload)
    assert posture is not None
    recent = [density(d, p.thresholds) for d in (rt.get("recent") or [])]
    return posture, int(rt.get("pool_size") or 0), recent, read.found


def _artifact_out(res: Resources, k: pool.Classified) -> dict[str, Any]:
    c, s = k.candidate, res.settings
    return {"id": c.id, "lane": k.lane, "density": k.density, "mood": k.mood,
            "wear": c.wear, "play_count": c.play_count, "duration_ms": c.duration_ms,
            "effect_profile": c.effect_profile, "topic_tag": c.topic_tag,
            # a FOSSIL whose raw expired plays its essence (derivatives.retention)
            "media_kind": "raw" if c.has_raw else "essence",
            "loudness_lufs": c.media_loudness,  # of what audio_url serves (docs/loudness.md)
            "audio_url": media_tokens.media_url(s, POOL_AUDIO, c.id),
            "playback_ack_url": HEARD_PREFIX + media_tokens.mint(s, POOL_HEARD, c.id)}


def policy(res: Resources) -> pool.Policy:
    """The pool policy of this process's settings, built once (settings never change while
    a process runs)."""
    held = res.extras.get("pool.policy")
    if not isinstance(held, tuple) or held[0] is not res.settings:
        held = res.extras["pool.policy"] = (res.settings, pool.Policy.from_settings(res.settings))
    built: pool.Policy = held[1]
    return built


async def next_take(res: Resources, q: NextQuery) -> dict[str, Any]:
    """The body of GET /api/v1/pool/next."""
    rt = pool_runtime(res)
    now = rt.clock()
    p = policy(res)
    if not (await hours.now_open(res)).playback:  # outside the opening hours: the room rests
        _, size, _, _ = await read_pool(res, now, p, None)
        return {"artifact": None, "pool_size": size, "thread_signal": None, "reason": "closed"}
    posture, size, recent, found = await read_pool(res, now, p, q)
    if posture.playback_stopped:
        return {"artifact": None, "pool_size": size, "thread_signal": None,
                "reason": "playback_paused"}
    classified = pool.narrow([pool.classify(c, now, p.thresholds) for c in found],
                             lane=q.lane, density=q.density, mood=q.mood)
    bias: Mood | None = posture.mood_bias or None  # type: ignore[assignment]
    chosen = pool.pick(classified, now, p, rt.rng, recent=recent, mood_target=q.mood or bias)
    if chosen is None:
        return {"artifact": None, "pool_size": size, "thread_signal": None,
                "reason": "empty_pool"}
    return {"artifact": _artifact_out(res, chosen), "pool_size": max(size, len(found)),
            "thread_signal": pool.thread_signal(chosen.candidate), "reason": None}


class _NotPlayable(Exception):
    """Raised inside the ack's transaction so that it rolls back (the take went)."""


def _ack(conn: Connection, db: Database, artifact_id: int, ack_key: str, now: datetime,
         epsilon: float) -> tuple[bool, int, float]:
    """The ack's whole transaction: record the event once per key, count the play.
    Raises _NotPlayable (rolling the event back) when the take is not playable."""
    if not repository.record_ack(conn, db, artifact_id, ack_key, now):
        state = repository.play_state(conn, artifact_id, now)
        if state is None:
            raise _NotPlayable
        return False, *state
    counted = repository.count_play(conn, artifact_id, now, epsilon)
    if counted is None:  # no longer playable: the event goes with the rollback
        raise _NotPlayable
    return True, *counted


async def heard(res: Resources, token: str) -> dict[str, Any]:
    """Count one audible play for a pool_heard token, once per token: one short write
    transaction (`Database.write`: one thread hop on SQLite), like pool/next's one read.
    403 for a bad or expired token, 410 `gone` when the take is not playable."""
    _, artifact_id = media_tokens.verify(res.settings, (POOL_HEARD,), token)
    ack_key = tokens.token_id(token)
    now = pool_runtime(res).clock()
    db, epsilon = res.db, res.settings.wear_epsilon_per_play
    try:
        counted, plays, wear = await db.write(
            lambda conn: _ack(conn, db, artifact_id, ack_key, now, epsilon))
    except _NotPlayable:
        raise Gone("this recording is no longer available", code="gone") from None
    if counted:
        log.info("playback.heard", artifact_id=artifact_id, play_count=plays)
    return {"counted": counted, "play_count": plays, "wear": wear}


def parse_exclude(raw: str | None, limit: int = 50) -> tuple[int, ...]:
    """The first `limit` ids of "1,2,3"; blanks are skipped, anything else is an error."""
    if not raw:
        return ()
    ids: list[int] = []
    for part in raw.split(",", limit)[:limit]:
        part = part.strip()
        if not part:
            continue
        digits = part.lstrip("0") or "0"
        if not part.isascii() or not part.isdigit() or len(digits) > 10 \
                or int(digits) > MAX_ROW_ID:
            raise ValueError(part[:20])
        ids.append(int(digits))
    return tuple(dict.fromkeys(ids))


def choose(value: str | None, allowed: Sequence[str]) -> str | None:
    """None for missing, blank or `any`; the value when allowed; else ValueError."""
    if value is None or value.strip().lower() in ("", "any"):
        return None
    v = value.strip().lower()
    if v not in allowed:
        raise ValueError(v)
    return v
