"""The six deployments (docs/deployments.md): weights drawn many times with a seeded Random,
thread signals, and the preferred batches through GET /api/v1/pool/next."""

from __future__ import annotations

import math
import random
from collections import Counter
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI

from rooms.config import Settings, load_settings
from rooms.models import utcnow
from rooms.playback import pool
from rooms.playback.deployments import DEPLOYMENTS
from rooms.playback.pool import Candidate, Policy
from tests.playback.conftest import take, update

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def policy(code: str) -> Policy:
    return Policy.from_settings(load_settings(secret_key="x" * 40, engine_deployment=code))


def cand(i: int, p: Policy, *, kind: str = "memory", topic: str = "", status: str = "",
         age_h: float = 30.0, heard_h: float | None = None) -> pool.Classified:
    c = Candidate(id=i, wear=0.0, play_count=0, duration_ms=8000,
                  created_at=NOW - timedelta(hours=age_h),
                  last_access_at=None if heard_h is None else NOW - timedelta(hours=heard_h),
                  topic_tag=topic, lifecycle_status=status, deployment_kind=kind)
    return pool.classify(c, NOW, p.thresholds)


def share_of_first(a: pool.Classified, b: pool.Classified, p: Policy, n: int = 6000,
                   seed: int = 22) -> tuple[float, float]:
    """(observed share of `a` over n seeded picks, expected share from the weights)."""
    rng = random.Random(seed)
    counts = Counter(pool.pick([a, b], NOW, p, rng).candidate.id  # type: ignore[union-attr]
                     for _ in range(n))
    wa, wb = pool.weight(a, NOW, p), pool.weight(b, NOW, p)
    return counts[a.candidate.id] / n, wa / (wa + wb)


def assert_share(observed: float, expected: float, n: int = 6000) -> None:
    """Within five standard deviations of the binomial share: a wrong rule misses by far more."""
    assert abs(observed - expected) < 5 * math.sqrt(expected * (1 - expected) / n), (
        observed, expected)


def test_memory_weighs_every_kind_alike() -> None:
    p = policy("memory")
    plain = pool.weight(cand(1, p), NOW, p)
    assert plain == pytest.approx(3 * 1.15 * 1.16)
    for kind, topic, status in (("question", "bridge", "open"), ("oracle", "", "held")):
        assert pool.weight(cand(2, p, kind=kind, topic=topic, status=status), NOW, p) == plain


def test_question_favours_open_threads() -> None:
    p = policy("question")
    open_, answered = (cand(1, p, topic="bridge", status="open"),
                       cand(2, p, topic="bridge", status="answered"))
    ratio = pool.weight(open_, NOW, p) / pool.weight(answered, NOW, p)
    assert ratio == pytest.approx(1.35 / 0.7)
    observed, expected = share_of_first(open_, answered, p)
    assert_share(observed, expected)
    assert observed > 0.62
    # a topic gathers the chorus (x 1.24); an untagged open take less so
    untagged = cand(3, p, status="open")
    assert pool.weight(open_, NOW, p) / pool.weight(untagged, NOW, p) == pytest.approx(1.24)


def test_prompt_favours_recent_seeds() -> None:
    p = policy("prompt")
    seed, spent_old = (cand(1, p, status="seed", age_h=30),
                       cand(2, p, status="spent", age_h=400, heard_h=50))
    observed, expected = share_of_first(seed, spent_old, p)
    assert_share(observed, expected)
    assert observed > 0.8


def test_repair_favours_what_is_still_broken() -> None:
    p = policy("repair")
    broken, fixed = (cand(1, p, topic="hinge", status="needs_part"),
                     cand(2, p, topic="hinge", status="fixed"))
    assert pool.weight(broken, NOW, p) / pool.weight(fixed, NOW, p) == pytest.approx(
        1.5 / 0.6)
    observed, expected = share_of_first(broken, fixed, p)
    assert_share(observed, expected)
    assert observed > 0.68


def test_witness_lets_testimony_settle() -> None:
    p = policy("witness")
    settled, raw = cand(1, p, age_h=30), cand(2, p, age_h=0.5)
    assert pool.weight(settled, NOW, p) / pool.weight(raw, NOW, p) == pytest.approx(
        (1.16 * 1.2) / (0.82 * 0.6))
    observed, expected = share_of_first(settled, raw, p)
    assert_share(observed, expected)
    assert observed > 0.7


def test_oracle_answers_from_deep_time() -> None:
    p = policy("oracle")
    deep, young = cand(1, p, age_h=100, heard_h=80), cand(2, p, age_h=2)
    recent_heard = cand(3, p, age_h=100, heard_h=10)
    assert pool.weight(deep, NOW, p) / pool.weight(recent_heard, NOW, p) == pytest.approx(1.6)
    observed, expected = share_of_first(deep, young, p)
    assert_share(observed, expected)
    assert observed > 0.75
    spent = cand(4, p, status="spent", age_h=100, heard_h=80)
    assert pool.weight(spent, NOW, p) / pool.weight(deep, NOW, p) == pytest.approx(0.5)


def test_the_profiles_are_the_upstream_table() -> None:
    table = {code: (d.candidate, d.cooldown, d.wear, d.anti_repetition, d.cue_gap,
                    d.pause_gap, d.tone, d.overlap, d.featured, d.topic_cluster)
             for code, d in DEPLOYMENTS.items()}
    assert table == {
        "memory": (1.0, 1.0, 1.0, 12, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0),
        "question": (1.15, 0.65, 0.45, 8, 0.88, 0.92, 0.94, 1.18, 0.96, 1.24),
        "prompt": (1.12, 0.72, 0.55, 7, 0.76, 0.82, 0.9, 1.22, 0.84, 1.16),
        "repair": (1.2, 0.78, 0.3, 9, 0.8, 0.86, 0.82, 0.72, 0.9, 1.12),
        "witness": (1.0, 1.18, 0.48, 15, 1.16, 1.22, 0.96, 0.5, 1.0, 1.0),
        "oracle": (0.8, 1.5, 0.18, 18, 1.45, 1.7, 1.14, 0.18, 1.32, 1.0)}


@pytest.mark.parametrize(("kind", "topic", "status", "signal"), [
    ("question", "bridge", "", "question_chorus"),
    ("question", "bridge", " Pending ", "question_chorus"),
    ("question", "bridge", "answered", None),
    ("question", "", "open", None),
    ("repair", "hinge", "needs_part", "repair_bench"),
    ("repair", "hinge", "pending", "repair_bench"),
    ("repair", "hinge", "obsolete", None),
    ("repair", "", "needs_part", None),
    ("memory", "bridge", "open", None),
    ("oracle", "bridge", "held", None),
])
def test_thread_signal(kind: str, topic: str, status: str, signal: str | None) -> None:
    c = Candidate(id=1, wear=0, play_count=0, duration_ms=1000, created_at=NOW,
                  last_access_at=None, topic_tag=topic, lifecycle_status=status,
                  deployment_kind=kind)
    got = pool.thread_signal(c)
    assert (got and got["kind"]) == signal
    if got:
        assert got == {"kind": signal, "deployment": kind, "topic_tag": topic,
                       "lifecycle_status": status}


# --- through the API: the preferred batches -----------------------------------------------

@pytest.fixture
async def settings(settings: Settings, request: pytest.FixtureRequest) -> Settings:
    marker = request.node.get_closest_marker("deployment")
    code = marker.args[0] if marker else "memory"
    return settings.model_copy(update={"engine_deployment": code})


async def picks(client: httpx.AsyncClient, n: int = 12) -> Counter[int]:
    out: Counter[int] = Counter()
    for _ in range(n):
        body = (await client.get("/api/v1/pool/next")).json()
        out[body["artifact"]["id"]] += 1
    return out


@pytest.mark.deployment("question")
@pytest.mark.usefixtures("runtime")
async def test_a_question_room_plays_its_open_threads_first(
        client: httpx.AsyncClient, app: FastAPI) -> None:
    asked = await take(client, topic_tag="bridge")
    others = [await take(client), await take(client)]
    for other in others:
        await update(app, other, deployment_kind="memory")
    await update(app, asked, lifecycle_status="open")
    assert await picks(client) == Counter({asked: 12})
    body = (await client.get("/api/v1/pool/next")).json()
    assert body["thread_signal"]["kind"] == "question_chorus"
    # no question takes left: the room falls back to the memory takes
    await update(app, asked, deployment_kind="memory")
    assert set(await picks(client, 30)) == {asked, *others}


@pytest.mark.deployment("oracle")
@pytest.mark.usefixtures("runtime")
async def test_an_oracle_room_prefers_aged_unheard_takes(
        client: httpx.AsyncClient, app: FastAPI) -> None:
    young, aged = await take(client), await take(client)
    await update(app, aged, created_at=utcnow() - timedelta(hours=30))
    assert await picks(client) == Counter({aged: 12})
    await update(app, aged, last_access_at=utcnow() - timedelta(hours=10))
    # heard 10 h ago: not aged; both are settled? the young one is not (minutes old)
    assert await picks(client) == Counter({aged: 12})
    await update(app, aged, created_at=utcnow() - timedelta(hours=2))
    assert set(await picks(client, 30)) == {young, aged}
