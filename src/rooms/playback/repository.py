"""Pool queries. Reads return plain `Candidate`s; the ack is one INSERT and one UPDATE.

The reads are sync functions on a `Connection`: the service runs them all in one thread hop on
SQLite (aiosqlite would hop per statement) and through `AsyncSession.run_sync` elsewhere.

The cooled-down batch reads the first rows of `artifact_pool_rank_idx` (status, play_count,
wear, created_at DESC) and stops at the candidate limit, so it costs the same at 100 takes
and at 100,000. Narrowing by lane/density/mood looks only at the first `NARROW_WINDOW` rows
of that order, so a filter nothing matches cannot turn into a scan of the whole archive.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Integer,
    String,
    bindparam,
    case,
    func,
    literal,
    literal_column,
    or_,
    select,
    update,
)
from sqlalchemy.sql import Executable

from rooms.db import Database, dialect_insert
from rooms.models import AccessEvent, Artifact
from rooms.models.base import UTCDateTime
from rooms.playback import classify, deployments
from rooms.playback.classify import Density, Lane, Mood
from rooms.playback.deployments import Prefer
from rooms.playback.playable import playable_clause, raw_clause
from rooms.playback.pool import PROFILES, Candidate, Policy

NARROW_WINDOW = 500
# a deployment's preferred batches look at the first PREFER_SPAN x candidate limit
# cooled-down takes (question: 92 of the 100,000)
PREFER_SPAN = 2


def _columns(now: datetime | ColumnElement[datetime]) -> tuple[Any, ...]:
    return (Artifact.id, Artifact.wear, Artifact.play_count, Artifact.duration_ms,
            Artifact.created_at, Artifact.last_access_at, Artifact.effect_profile,
            Artifact.topic_tag, Artifact.lifecycle_status, Artifact.deployment_kind,
            raw_clause(now), Artifact.loudness_lufs, Artifact.essence_loudness_lufs)


RANK = (Artifact.play_count, Artifact.wear, Artifact.created_at.desc())
SETTLED = (Artifact.last_access_at.asc().nulls_first(), *RANK)


def _candidates(rows: Iterable[Sequence[Any]]) -> list[Candidate]:
    return [Candidate(id=int(r[0]), wear=float(r[1]), play_count=int(r[2]),
                      duration_ms=int(r[3]), created_at=r[4], last_access_at=r[5],
                      effect_profile=str(r[6]), topic_tag=str(r[7]),
                      lifecycle_status=str(r[8]), deployment_kind=str(r[9]),
                      has_raw=bool(r[10]), loudness_lufs=_lufs(r[11]),
                      essence_loudness_lufs=_lufs(r[12])) for r in rows]


def _lufs(value: Any) -> float | None:
    return None if value is None else float(value)


def _eligible(now: datetime | ColumnElement[datetime],
              exclude: Sequence[int] | ColumnElement[Any]) -> list[ColumnElement[bool]]:
    conds = [playable_clause(now, use_expiry_index=False)]
    if isinstance(exclude, ColumnElement) or exclude:
        conds.append(Artifact.id.not_in(exclude))
    return conds


def _cooled(cutoff: datetime | ColumnElement[datetime]) -> ColumnElement[bool]:
    return or_(Artifact.last_access_at.is_(None), Artifact.last_access_at <= cutoff)


def _cutoff(now: datetime, p: Policy) -> datetime:
    return now - timedelta(seconds=p.cooldown_s)


@functools.cache
def _batch_query(cooled: bool, excluding: bool) -> Executable:
    """Built once per shape, with bound parameters: building and hashing a fresh statement
    costs more CPU than SQLite takes to answer it."""
    now = bindparam("now", type_=UTCDateTime())
    conds = _eligible(now, bindparam("exclude", expanding=True) if excluding else ())
    if cooled:
        conds.append(_cooled(bindparam("cutoff", type_=UTCDateTime())))
    return (select(*_columns(now)).where(*conds).order_by(*(RANK if cooled else SETTLED))
            .limit(bindparam("limit", type_=Integer())))


def batch(conn: Connection, now: datetime, p: Policy, *, exclude: Sequence[int],
          cooled: bool) -> list[Candidate]:
    """The cooled-down batch (by play_count, wear, newest) or, with `cooled=False`, every
    eligible take by how long ago it was heard."""
    params: dict[str, Any] = {"now": now, "limit": p.candidate_limit}
    if exclude:
        params["exclude"] = list(exclude)
    if cooled:
        params["cutoff"] = _cutoff(now, p)
    return _candidates(conn.execute(_batch_query(cooled, bool(exclude)), params).all())


def _words(values: Iterable[str]) -> list[ColumnElement[str]]:
    """Constant status words as SQL literals: a list of bound values would be an expanding
    parameter, re-rendered into the cached statement on every execution (~0.04 ms a
    pool/next at 100,000 takes)."""
    words = sorted(values)
    assert all((w.isascii() and w.replace("_", "").isalnum()) or w == "" for w in words)
    return [literal_column(f"'{w}'") for w in words]


def _prefer_cond(prefer: Prefer) -> list[ColumnElement[bool]]:
    """A preferred batch's condition (deployments.Prefer), with bound `edge` / `absent`."""
    status = func.lower(func.trim(Artifact.lifecycle_status))
    edge = bindparam("edge", type_=UTCDateTime())
    if prefer == "thread_open":
        return [Artifact.topic_tag != "", status.in_(_words(deployments.UNRESOLVED))]
    if prefer == "thread_unfixed":
        return [Artifact.topic_tag != "", status.not_in(_words(deployments.RESOLVED))]
    if prefer in ("recent_10d", "recent_14d"):
        return [Artifact.created_at >= edge]
    if prefer == "settled":
        return [Artifact.created_at <= edge]
    if prefer == "aged":
        return [Artifact.created_at <= edge,
                _cooled(bindparam("absent", type_=UTCDateTime()))]
    return []  # own_kind


_PREFER_EDGE_H = {"recent_10d": deployments.RECENT_10D_H,
                  "recent_14d": deployments.RECENT_14D_H,
                  "settled": deployments.SETTLED_H, "aged": deployments.AGED_H}


@functools.cache
def _preferred_query(prefer: Prefer, excluding: bool) -> Executable:
    now = bindparam("now", type_=UTCDateTime())
    conds = _eligible(now, bindparam("exclude", expanding=True) if excluding else ())
    conds.append(_cooled(bindparam("cutoff", type_=UTCDateTime())))
    window = (select(Artifact.id).where(*conds).order_by(*RANK)
              .limit(bindparam("window", type_=Integer())))
    return (select(*_columns(now))
            .where(Artifact.id.in_(window.scalar_subquery()),
                   # coalesce hides (deployment_kind, status) from SQLite's planner, which
                   # would otherwise walk every take of the kind instead of the window
                   func.coalesce(Artifact.deployment_kind, "") == bindparam("kind"),
                   *_prefer_cond(prefer))
            .order_by(*RANK).limit(bindparam("limit", type_=Integer())))


def preferred(conn: Connection, now: datetime, p: Policy, prefer: Prefer, *,
              exclude: Sequence[int]) -> list[Candidate]:
    """One of the deployment's preferred batches: takes of its own kind meeting `prefer`,
    among the first PREFER_SPAN x candidate-limit cooled-down eligible takes in rank order
    (so a condition nothing meets costs a bounded read, not a scan of the archive: ~1 ms at
    100,000 takes on SQLite), in rank order."""
    params: dict[str, Any] = {"now": now, "limit": p.candidate_limit,
                              "window": p.candidate_limit * PREFER_SPAN,
                              "cutoff": _cutoff(now, p), "kind": p.deployment.code}
    if exclude:
        params["exclude"] = list(exclude)
    if prefer in _PREFER_EDGE_H:
        params["edge"] = now - timedelta(hours=_PREFER_EDGE_H[prefer])
    if prefer == "aged":
        params["absent"] = now - timedelta(hours=deployments.AGED_ABSENT_H)
    query = _preferred_query(prefer, bool(exclude))
    return _candidates(conn.execute(query, params).all())


def narrowed(conn: Connection, now: datetime, p: Policy, *, exclude: Sequence[int],
             lane: Lane | None, density: Density | None,
             mood: Mood | None) -> list[Candidate]:
    """Candidates matching every requested filter, among the first NARROW_WINDOW eligible
    takes in rank order (cooled-down ones first)."""
    t = p.thresholds
    window = (select(Artifact.id).where(*_eligible(now, exclude))
              .order_by(*RANK).limit(NARROW_WINDOW))
    conds: list[ColumnElement[bool]] = [Artifact.id.in_(window.scalar_subquery())]
    if lane is not None:
        conds.append(classify.lane_sql(now, t) == lane)
    if density is not None:
        conds.append(classify.density_sql(t) == density)
    if mood is not None:
        conds.append(classify.mood_sql(now, t) == mood)
    cooled_first = case((_cooled(_cutoff(now, p)), 0), else_=1)
    query = select(*_columns(now)).where(*conds).order_by(cooled_first, *RANK)
    return _candidates(conn.execute(query.limit(p.candidate_limit)).all())


def pool_size(conn: Connection, now: datetime) -> int:
    """How many takes are playable right now."""
    query = select(func.count()).select_from(Artifact).where(playable_clause(now))
    return int(conn.execute(query).scalar_one())


def recent_durations(conn: Connection, n: int = 3) -> list[int]:
    """Durations of the last `n` takes the room acknowledged, newest first."""
    rows = conn.execute(
        select(Artifact.duration_ms).join(AccessEvent, AccessEvent.artifact_id == Artifact.id)
        .where(AccessEvent.action == "heard").order_by(AccessEvent.id.desc()).limit(n))
    return [int(d) for d in rows.scalars().all()]


def _wear_step(epsilon: float) -> ColumnElement[float]:
    """WEAR_EPSILON_PER_PLAY times the take's deployment wear multiplier."""
    whens = {kind: epsilon * prof.wear for kind, prof in PROFILES.items() if prof.wear != 1.0}
    return case(whens, value=Artifact.deployment_kind, else_=epsilon)


@functools.cache
def _ack_query(dialect: str) -> Executable:
    """INSERT ... SELECT of the ack's AccessEvent, ON CONFLICT (ack_key) DO NOTHING, built
    once per dialect with bound `artifact_id`, `now` and `ack_key`."""
    ins = dialect_insert(dialect, AccessEvent)
    source = select(Artifact.id, bindparam("now", type_=UTCDateTime()), literal("room"),
                    literal("heard"), bindparam("ack_key", type_=String())
                    ).where(Artifact.id == bindparam("artifact_id", type_=Integer()))
    stmt: Executable = (
        ins.from_select(["artifact_id", "ts", "context", "action", "ack_key"], source)
        .on_conflict_do_nothing(index_elements=["ack_key"]).returning(AccessEvent.id))
    return stmt


def record_ack(conn: Connection, db: Database, artifact_id: int, ack_key: str,
               now: datetime) -> bool:
    """Insert the ack's AccessEvent unless this key was seen before or the take's row is
    gone (INSERT ... SELECT, so a missing take is no foreign-key error). True when a row
    went in; under concurrency the unique index decides, in either database."""
    params = {"artifact_id": artifact_id, "now": now, "ack_key": ack_key}
    return conn.execute(_ack_query(db.dialect), params).first() is not None


@functools.cache
def _play_state_query() -> Executable:
    now = bindparam("now", type_=UTCDateTime())
    return select(Artifact.play_count, Artifact.wear).where(
        Artifact.id == bindparam("artifact_id", type_=Integer()), playable_clause(now))


def play_state(conn: Connection, artifact_id: int, now: datetime) -> tuple[int, float] | None:
    """(play_count, wear) of the take, or None unless it is playable now."""
    row = conn.execute(_play_state_query(), {"artifact_id": artifact_id, "now": now}).first()
    return None if row is None else (int(row[0]), float(row[1]))


@functools.cache
def _count_play_query(epsilon: float) -> Executable:
    now = bindparam("now", type_=UTCDateTime())
    bumped = Artifact.wear + _wear_step(epsilon)
    return (update(Artifact)
            .where(Artifact.id == bindparam("artifact_id", type_=Integer()),
                   playable_clause(now))
            .values(play_count=Artifact.play_count + 1,
                    wear=case((bumped > 1.0, 1.0), else_=bumped), last_access_at=now)
            .returning(Artifact.play_count, Artifact.wear))


def count_play(conn: Connection, artifact_id: int, now: datetime,
               epsilon: float) -> tuple[int, float] | None:
    """One audible play, as a single UPDATE: play_count + 1, wear + epsilon (capped at 1),
    last_access_at = now. None when the take is not playable now."""
    row = conn.execute(_count_play_query(epsilon),
                       {"artifact_id": artifact_id, "now": now}).first()
    return None if row is None else (int(row[0]), float(row[1]))
