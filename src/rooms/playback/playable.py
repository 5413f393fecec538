"""Is this take live, and is it playable now? One rule, read as SQL and as Python.

- **live**: status ACTIVE, consent mode not NOSAVE (a NOSAVE take is never in the pool or
  the archive, whatever its status), and `expires_at` set and later than now;
- **raw audio**: a `raw_uri`, and `raw_expires_at` unset or later than now;
- **a live essence**: an `essence_wav` derivative whose `expires_at` is unset or later;
- **released**: not `held` for a steward's review (MODERATION=hold, docs/ops.md);
- **playable**: live, released, with raw audio or a live essence (a FOSSIL take plays its
  essence once its raw audio has expired, CONTRACT "Consent modes").

The rule is written once, in `_live`, `_raw`, `_essence`, `_released` and `_playable`,
over a five-word vocabulary (`_Logic`). `SQL` reads the words as clauses over the columns,
for queries that count or pick among thousands of takes (pool, heard, operator list, node
status); `PY` reads them over one loaded row (media proxy, operator edits). A test
evaluates both forms over a grid of takes and requires the same answer for each
(tests/playback/test_playable.py).

SQL's `expires_at > now` is NULL, not false, for a take without `expires_at`: a WHERE treats
that as false, and a selected `playable_clause` value must be read with `bool()`.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement, String, and_, exists, false, func, or_, type_coerce

from rooms.models import Artifact, ArtifactStatus, ConsentMode, Derivative, DerivativeKind

B = TypeVar("B")
Now = datetime | ColumnElement[datetime]


class _Logic(Generic[B]):
    """The words the rule is written in; `B` is bool in Python, a clause in SQL."""

    def all(self, *terms: Any) -> B:
        raise NotImplementedError

    def any(self, *terms: Any) -> B:
        raise NotImplementedError

    def ahead(self, moment: Any, now: Any) -> B:
        """`moment` is set and later than `now`."""
        raise NotImplementedError

    def open_after(self, moment: Any, now: Any) -> B:
        """`moment` is unset (no limit) or later than `now`."""
        raise NotImplementedError

    def unset(self, flag: Any) -> B:
        """A boolean flag is off (unset counts as off)."""
        raise NotImplementedError


class _Sql(_Logic[ColumnElement[bool]]):
    def all(self, *terms: Any) -> ColumnElement[bool]:
        return and_(*terms)

    def any(self, *terms: Any) -> ColumnElement[bool]:
        return or_(*terms)

    def ahead(self, moment: Any, now: Any) -> ColumnElement[bool]:
        return moment > now  # type: ignore[no-any-return]  # NULL, i.e. not ahead, when unset

    def open_after(self, moment: Any, now: Any) -> ColumnElement[bool]:
        return or_(moment.is_(None), moment > now)

    def unset(self, flag: Any) -> ColumnElement[bool]:
        return flag == false()  # type: ignore[no-any-return]


class _Py(_Logic[bool]):
    def all(self, *terms: Any) -> bool:
        return all(terms)

    def any(self, *terms: Any) -> bool:
        return any(terms)

    def ahead(self, moment: Any, now: Any) -> bool:
        return moment is not None and bool(moment > now)

    def open_after(self, moment: Any, now: Any) -> bool:
        return moment is None or bool(moment > now)

    def unset(self, flag: Any) -> bool:
        return not flag


SQL = _Sql()
PY = _Py()


# --- the rule, once ----------------------------------------------------------------------

def _live(lg: _Logic[B], status: Any, consent_mode: Any, expires_at: Any, now: Any) -> B:
    return lg.all(status == ArtifactStatus.ACTIVE, consent_mode != ConsentMode.NOSAVE,
                  lg.ahead(expires_at, now))


def _raw(lg: _Logic[B], raw_uri: Any, raw_expires_at: Any, now: Any) -> B:
    return lg.all(raw_uri != "", lg.open_after(raw_expires_at, now))


def _essence(lg: _Logic[B], kind: Any, expires_at: Any, now: Any) -> B:
    return lg.all(kind == DerivativeKind.ESSENCE_WAV, lg.open_after(expires_at, now))


def _released(lg: _Logic[B], held: Any) -> B:
    return lg.unset(held)


def _playable(lg: _Logic[B], live: Any, released: Any, raw: Any, essence: Any) -> B:
    return lg.all(live, released, lg.any(raw, essence))


# --- SQL ----------------------------------------------------------------------------------

def live_clause(now: Now, *, use_status_index: bool = True,
                use_expiry_index: bool = True) -> ColumnElement[bool]:
    """ACTIVE, not NOSAVE, not expired.

    `use_status_index=False` hides `status` from the planner (`status || ''`): SQLite, which
    keeps no statistics, otherwise walks the (status, expires_at) index even when most rows
    are ACTIVE, fetching each row by id, ~3x slower than one pass over the table.
    `use_expiry_index=False` hides `expires_at` (`coalesce(expires_at, NULL)`), so that a
    query ordered like another index (pool/next's rank) walks that one and stops at its
    LIMIT instead of reading every unexpired row through (status, expires_at) and sorting.
    """
    status = (Artifact.status if use_status_index
              else type_coerce(Artifact.status, String).concat(""))
    expires = (Artifact.expires_at if use_expiry_index
               else func.coalesce(Artifact.expires_at, None))
    return _live(SQL, status, Artifact.consent_mode, expires, now)


def raw_clause(now: Now) -> ColumnElement[bool]:
    """The take still has its raw audio."""
    return _raw(SQL, Artifact.raw_uri, Artifact.raw_expires_at, now)


def essence_clause(now: Now) -> ColumnElement[bool]:
    """The take has an unexpired essence (a correlated EXISTS on `derivative`)."""
    return exists().where(Derivative.artifact_id == Artifact.id,
                          _essence(SQL, Derivative.kind, Derivative.expires_at, now))


def playable_clause(now: Now, *, use_status_index: bool = True,
                    use_expiry_index: bool = True) -> ColumnElement[bool]:
    """Live, released, with raw audio or an unexpired essence. The index hints:
    `live_clause`."""
    return _playable(SQL, live_clause(now, use_status_index=use_status_index,
                                      use_expiry_index=use_expiry_index),
                     held_clause(released=True), raw_clause(now), essence_clause(now))


def held_clause(*, released: bool = False) -> ColumnElement[bool]:
    """The take waits for a steward's review (`released=True`: it does not)."""
    return _released(SQL, Artifact.held) if released else Artifact.held == True  # noqa: E712


# --- Python -------------------------------------------------------------------------------

def is_live(artifact: Artifact, now: datetime) -> bool:
    return _live(PY, artifact.status, artifact.consent_mode, artifact.expires_at, now)


def has_raw(artifact: Artifact, now: datetime) -> bool:
    return _raw(PY, artifact.raw_uri, artifact.raw_expires_at, now)


def live_essence(derivatives: Iterable[Derivative], now: datetime) -> Derivative | None:
    """The first unexpired essence among a take's derivatives (of any kind), or None."""
    return next((d for d in derivatives if _essence(PY, d.kind, d.expires_at, now)), None)


def is_playable(artifact: Artifact, now: datetime, derivatives: Iterable[Derivative], *,
                review: bool = False) -> bool:
    """`derivatives`: the take's derivative rows (any kinds; only a live essence counts).
    `review=True` ignores the moderation hold (a steward reviewing it, its own visitor)."""
    return _playable(PY, is_live(artifact, now), review or _released(PY, artifact.held),
                     has_raw(artifact, now), live_essence(derivatives, now) is not None)


def audio_key(artifact: Artifact, now: datetime,
              derivatives: Iterable[Derivative], *, review: bool = False) -> str | None:
    """The blob to play: the raw audio, else the live essence; None unless playable
    (`review`: as `is_playable`)."""
    derivatives = list(derivatives)
    if not is_playable(artifact, now, derivatives, review=review):
        return None
    if has_raw(artifact, now):
        return artifact.raw_uri
    essence = live_essence(derivatives, now)
    return None if essence is None else essence.uri
