"""The six deployments (`ENGINE_DEPLOYMENT`, REFERENCE §2.3/§2.4), pure: multipliers,
preferred batches, and each deployment's weight factor. docs/deployments.md explains them.

A deployment changes three things in the pool:
- its profile multipliers (candidate limit, cooldown, wear per play, featured return) and
  the room's pacing multipliers (anti-repetition window, cue/pause gap, tone, overlap), the
  upstream table verbatim;
- `preferred`: batches tried before the memory batches, each a `Prefer` condition over the
  takes of the deployment's own kind (`deployment_kind`), in rank order. Memory has none.
  When every preferred batch is empty (for example no take of the kind yet), the memory
  batches run over all takes: REFERENCE's "falls back to memory artifacts";
- `factor(candidate, age_h, absence_h)`: one more weight factor (memory: 1.0).

The rules where REFERENCE gives only hints ("thread topic, unresolved, recent (10 d / 14 d),
settled (>= 6 h), aged (>= 12 h, absent 72 h)") are designed here; the numbers are ours.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from rooms.playback.pool import Candidate

UNRESOLVED = frozenset({"", "open", "unresolved", "pending"})
RESOLVED = frozenset({"answered", "resolved", "closed", "complete", "completed", "fixed",
                      "obsolete"})

# A preferred batch's condition; repository.py turns each into SQL.
#   thread_open:     topic_tag set and lifecycle_status in UNRESOLVED
#   thread_unfixed:  topic_tag set and lifecycle_status not in RESOLVED
#   recent_10d / recent_14d: created within 10 / 14 days
#   settled:         created at least 6 h ago
#   aged:            created at least 12 h ago and unheard for 72 h (or never heard)
Prefer = Literal["thread_open", "thread_unfixed", "recent_10d", "recent_14d", "settled",
                 "aged", "own_kind"]

RECENT_10D_H = 240.0
RECENT_14D_H = 336.0
SETTLED_H = 6.0
AGED_H = 12.0
AGED_ABSENT_H = 72.0


@dataclass(frozen=True, slots=True)
class Deployment:
    code: str
    candidate: float = 1.0
    cooldown: float = 1.0
    wear: float = 1.0
    anti_repetition: int = 12
    cue_gap: float = 1.0
    pause_gap: float = 1.0
    tone: float = 1.0
    overlap: float = 1.0
    featured: float = 1.0
    topic_cluster: float = 1.0
    preferred: tuple[Prefer, ...] = ()
    factor: Callable[[Candidate, float, float], float] = field(
        default=lambda c, age_h, absence_h: 1.0, compare=False, repr=False)


def _status(c: Candidate) -> str:
    return c.lifecycle_status.strip().lower()


def _question(c: Candidate, age_h: float, absence_h: float) -> float:
    """An open question with a topic gathers a chorus: topic x 1.24 (topic cluster), open
    x 1.35, answered/resolved x 0.7; asked within 10 days x 1.1."""
    w = 1.24 if c.topic_tag else 1.0
    w *= 1.35 if _status(c) in UNRESOLVED else 0.7
    return w * (1.1 if age_h <= RECENT_10D_H else 1.0)


def _prompt(c: Candidate, age_h: float, absence_h: float) -> float:
    """Prompts are for now: within 14 days x 1.3, older x 0.8; a `seed` x 1.2, `spent` x 0.6;
    a topic x 1.16 (topic cluster)."""
    w = 1.3 if age_h <= RECENT_14D_H else 0.8
    w *= {"seed": 1.2, "spent": 0.6}.get(_status(c), 1.0)
    return w * (1.16 if c.topic_tag else 1.0)


def _repair(c: Candidate, age_h: float, absence_h: float) -> float:
    """The repair bench plays what is still broken: not fixed/obsolete x 1.5, else x 0.6;
    a topic x 1.12 (topic cluster)."""
    w = 1.5 if _status(c) not in RESOLVED else 0.6
    return w * (1.12 if c.topic_tag else 1.0)


def _witness(c: Candidate, age_h: float, absence_h: float) -> float:
    """Testimony settles before it is replayed: younger than 6 h x 0.6, else x 1.2;
    `verified` x 1.15."""
    w = 0.6 if age_h < SETTLED_H else 1.2
    return w * (1.15 if _status(c) == "verified" else 1.0)


def _oracle(c: Candidate, age_h: float, absence_h: float) -> float:
    """The oracle answers from deep time: aged (>= 12 h) and unheard for 72 h x 1.6, younger
    than 12 h x 0.5; `held` x 1.2, `spent` x 0.5."""
    if age_h >= AGED_H and absence_h >= AGED_ABSENT_H:
        w = 1.6
    elif age_h < AGED_H:
        w = 0.5
    else:
        w = 1.0
    return w * {"held": 1.2, "spent": 0.5}.get(_status(c), 1.0)


DEPLOYMENTS: dict[str, Deployment] = {d.code: d for d in (
    Deployment("memory"),
    Deployment("question", 1.15, 0.65, 0.45, 8, 0.88, 0.92, 0.94, 1.18, 0.96, 1.24,
               ("thread_open", "recent_10d", "own_kind"), _question),
    Deployment("prompt", 1.12, 0.72, 0.55, 7, 0.76, 0.82, 0.9, 1.22, 0.84, 1.16,
               ("recent_14d", "own_kind"), _prompt),
    Deployment("repair", 1.2, 0.78, 0.3, 9, 0.8, 0.86, 0.82, 0.72, 0.9, 1.12,
               ("thread_unfixed", "own_kind"), _repair),
    Deployment("witness", 1.0, 1.18, 0.48, 15, 1.16, 1.22, 0.96, 0.5, 1.0, 1.0,
               ("settled", "own_kind"), _witness),
    Deployment("oracle", 0.8, 1.5, 0.18, 18, 1.45, 1.7, 1.14, 0.18, 1.32, 1.0,
               ("aged", "settled", "own_kind"), _oracle),
)}


def get(code: str) -> Deployment:
    """The deployment named `code`; KeyError for an unknown one (config.py rejects those)."""
    return DEPLOYMENTS[code]
