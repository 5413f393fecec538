"""The process-local store is bounded in keys as well as time (issue 19: a soak's RSS grew
~1 MB/min because every upload's new kiosk id kept a budget window for an hour), and a full
store never opens a hole in a per-IP budget, a lock or a used-token list."""

from __future__ import annotations

import time

import pytest
from limits import RateLimitItemPerSecond
from starlette.requests import Request

from rooms.access.lockout import LoginLockout
from rooms.errors import Throttled
from rooms.kit.ratelimit import RateLimiter
from rooms.kit.store import MemoryStore, StoreFull
from rooms.live.tokens import LiveTokens, TokenRefused
from rooms.recordings.throttle import charge

HOUR = 3600


def clocked(max_keys: int = 1000) -> tuple[MemoryStore, list[float], list[str]]:
    now = [1_000_000.0]
    full: list[str] = []
    return MemoryStore(clock=lambda: now[0], max_keys=max_keys, on_full=full.append), now, full


def upload(ip: str, kiosk: str) -> Request:
    return Request({"type": "http", "method": "POST", "path": "/api/v1/artifacts/audio",
                    "headers": [(b"x-rooms-client-id", kiosk.encode())], "client": (ip, 40000)})


async def charge_upload(limiter: RateLimiter, ip: str, kiosk: str) -> bool:
    try:
        await charge(limiter, upload(ip, kiosk), scope="ingest", client_rate="180/hour",
                     ip_rate="600/hour", code="ingest_budget_exceeded", what="uploads")
    except Throttled:
        return False
    return True


async def test_a_new_kiosk_id_per_upload_no_longer_grows_the_store_without_end() -> None:
    store, now, full = clocked(max_keys=1000)
    limiter = RateLimiter(store)
    for n in range(5000):  # the soak's pattern: 20 uploads/s, each from its own kiosk id
        assert await limiter.hit("ingest", f"soak-kiosk-{n:08d}", 180, HOUR)
        now[0] += 0.05
    assert store.sizes()["windows"] == 1000
    assert full == ["windows"] * 4000  # each one forgotten is counted (and logged)


async def test_windows_age_on_the_stores_clock_and_expired_ones_go_first() -> None:
    store, now, full = clocked(max_keys=1000)
    limiter = RateLimiter(store)
    assert [await limiter.hit("ingest", "kiosk", 2, HOUR) for _ in range(3)] == [
        True, True, False]
    budget = await limiter.peek("ingest", "kiosk", 2, HOUR)
    assert (budget.remaining, budget.reset_in_s) == (0, HOUR)
    now[0] += HOUR + 1
    assert await limiter.hit("ingest", "kiosk", 2, HOUR)  # the old hits left the window
    for n in range(2000):  # then 2,000 new kiosks at once: 1,000 fit, 1,000 pushed out
        await limiter.hit("ingest", f"k{n}", 2, HOUR)
    assert store.sizes()["windows"] == 1000
    assert len(full) == 1001  # "kiosk" and k0..k999, each counted (and logged)
    now[0] += HOUR + 1  # an hour later all of them have expired
    for n in range(1000):
        assert await limiter.hit("ingest", f"late{n}", 2, HOUR)
    assert store.sizes()["windows"] == 1000
    assert len(full) == 1001  # room made from expired windows: nothing live forgotten
    for n in range(1000):
        assert (await limiter.peek("ingest", f"late{n}", 2, HOUR)).remaining == 1


async def test_when_full_the_least_recently_used_budget_is_forgotten() -> None:
    store, _, full = clocked(max_keys=1000)
    limiter = RateLimiter(store)
    assert [await limiter.hit("ingest", "spent", 1, HOUR) for _ in range(2)] == [True, False]
    for n in range(999):
        await limiter.hit("ingest", f"k{n}", 5, HOUR)
    await limiter.peek("ingest", "spent", 1, HOUR)  # a look counts as a use
    await limiter.hit("ingest", "k-new", 5, HOUR)  # full: k0, unseen the longest, goes
    assert full == ["windows"]
    assert not await limiter.hit("ingest", "spent", 1, HOUR)
    assert (await limiter.peek("ingest", "k0", 5, HOUR)).remaining == 5


async def test_kiosk_ids_rotated_from_a_spent_ip_cannot_free_another_ip() -> None:
    """The attacker spends IP A's budget, then floods from IP B (also spent) with a new
    kiosk id per request to push A's window out of a full store: A stays refused."""
    store, now, _ = clocked(max_keys=1000)
    limiter = RateLimiter(store)
    uploads_a = [await charge_upload(limiter, "192.0.2.1", f"a-kiosk-{n:04d}")
                 for n in range(601)]
    assert uploads_a.count(True) == 600 and uploads_a[-1] is False
    uploads_b = []
    for n in range(20_000):
        uploads_b.append(await charge_upload(limiter, "192.0.2.2", f"b-kiosk-{n:06d}"))
        now[0] += 0.01
    assert uploads_b.count(True) == 600
    assert store.sizes()["windows"] <= 1000
    assert not await charge_upload(limiter, "192.0.2.1", "a-kiosk-fresh")
    assert not await charge_upload(limiter, "192.0.2.2", "b-kiosk-fresh")


async def test_a_spent_ip_adds_no_kiosk_windows() -> None:
    store, _, _ = clocked()
    limiter = RateLimiter(store)
    for n in range(700):
        await charge_upload(limiter, "192.0.2.9", f"kiosk-{n:04d}")
    assert store.sizes()["windows"] == 1 + 600  # the IP and the kiosks inside its budget


async def test_used_tokens_and_locks_are_never_forgotten_early() -> None:
    store, now, full = clocked(max_keys=1000)
    tokens = LiveTokens(secret="s" * 32, ttl_s=60, store=store, clock=lambda: now[0])
    lockout = LoginLockout(store, clock=lambda: now[0])
    for _ in range(30):
        await lockout.fail("ip:attacker", max_attempts=30, lockout_s=900)
    assert await lockout.locked_for("ip:attacker") == 900
    first = tokens.mint("ops")
    await tokens.redeem(first, "ops")
    for _ in range(998):
        await tokens.redeem(tokens.mint("live"), "live")
    with pytest.raises(TokenRefused) as refused:  # full of unexpired marks: refused, ...
        await tokens.redeem(tokens.mint("live"), "live")
    assert refused.value.reason == "unavailable"
    with pytest.raises(StoreFull):
        await store.add("another", 60)
    with pytest.raises(TokenRefused) as again:  # ... never an old one forgotten
        await tokens.redeem(first, "ops")
    assert again.value.reason == "used"
    for n in range(5000):  # failure counters from many clients: forgotten oldest first
        await store.incr(f"ops:login:fail:client{n}", 900)
    assert store.sizes()["counters"] == 1000
    assert await lockout.locked_for("ip:attacker") == 900  # the lock is a mark: kept
    assert set(full) == {"marks", "counters"}
    now[0] += 63  # the live tokens' marks expire (60 s + 2 s): room again
    await tokens.redeem(tokens.mint("live"), "live")
    assert store.sizes()["marks"] <= 1000


async def test_window_stats_match_limits() -> None:
    store, now, _ = clocked()
    item = RateLimitItemPerSecond(3, 60)
    assert await store.hit(item, "a") and await store.hit(item, "a")
    now[0] += 10
    stats = await store.window(item, "a")
    assert stats.remaining == 1
    assert 49 <= stats.reset_time - time.time() <= 50  # the oldest hit + 60 s, wall clock
