"""Exactly one stream leader per cluster: a Redis lock with a TTL (`LEADER_TTL_S`).

Only the process holding `rooms:streams:leader` runs stream workers (`Supervisor.set_leader`).

- A follower tries `SET key token NX PX ttl` and, while another holds it, sleeps until the
  key's own expiry (at most TTL/3), so it takes over within `LEADER_TTL_S` of the leader's
  last renewal when the leader dies.
- The leader renews (compare-and-`PEXPIRE`) every TTL/3. It measures its lease from the
  moment it *sent* the last successful renewal, and when that is TTL/2 old without a newer
  one (Redis slow, unreachable, or the lock taken) it stops its own workers: a stalled
  leader fences itself well before the key can expire and a follower take over.
- A clean shutdown deletes the key (only if still ours), so a follower takes over at once.

Cross-process view (`ClusterStreams`): the leader writes its supervisor's state (workers,
crash ring, health) into `rooms:streams:state` every `STATE_INTERVAL_S` with a TTL; every
other process reads it at the same pace and answers `/health`, `/readyz`, the operator's
worker list and the node status from it. An operator's restart on a follower is sent to the
leader on the hub's internal `_streams` topic (Redis pub/sub) and applied there.

Without Redis (embedded) there is no lock: the one process is always the leader.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # redis loads only where REDIS_URL is set (idle memory of the appliance)
    from redis.asyncio import Redis

from rooms.live.hub import Hub
from rooms.logging import get_logger
from rooms.supervisor.core import Supervisor

log = get_logger("rooms.supervisor.leader")
STOP_TRIES = 20  # x STOP_WAIT_S: how long a shutdown waits for the lock and state tasks
STOP_WAIT_S = 0.25


def _raise_if_cancelling() -> None:
    """Re-raise a cancellation that a Redis call or a timeout swallowed (Python 3.11)."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError

LOCK_KEY = "rooms:streams:leader"
STATE_KEY = "rooms:streams:state"
CONTROL_TOPIC = "_streams"  # internal hub topic (no client can subscribe to it)
STATE_INTERVAL_S = 1.0  # the leader's state snapshot is written (and read) this often
MIN_WAIT_S = 0.02

_RENEW = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('pexpire', KEYS[1], ARGV[2])
end
return 0
"""
# Acquire, or take back a lock that is still ours (a leader that fenced itself while Redis
# was slow); else report how long the holder's lock lives on (ms).
_ACQUIRE = """
local holder = redis.call('get', KEYS[1])
if holder == false then
  redis.call('set', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return {1, 0}
end
if holder == ARGV[1] then
  redis.call('pexpire', KEYS[1], ARGV[2])
  return {1, 0}
end
return {0, redis.call('pttl', KEYS[1])}
"""
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('del', KEYS[1])
end
return 0
"""


class LeaderLock:
    """The lock's decisions for one process, against a real Redis.

    `clock` (seconds, monotonic) measures the lease; tests pass a manual one. `step()` is
    one round (acquire or renew, then fence); `wait_s()` says when the next round is due.
    """

    def __init__(self, redis: Redis, *, token: str, ttl_s: float,
                 clock: Callable[[], float] = time.monotonic, key: str = LOCK_KEY) -> None:
        self.redis = redis
        self.token = token
        self.ttl_s = ttl_s
        self.key = key
        self._clock = clock
        self.leader = False
        self.renewed_at: float | None = None  # when the last good acquire/renew was sent
        self._follow_wait_s = ttl_s / 3

    @property
    def fence_at(self) -> float | None:
        """When the leader must have stopped its workers unless it renews before."""
        return None if self.renewed_at is None else self.renewed_at + self.ttl_s / 2

    async def step(self) -> bool:
        """Acquire (as a follower) or renew (as the leader); return whether we lead now.

        A Redis error or a call slower than the time left before fencing counts as "not
        renewed"; the lease then runs out at `fence_at`."""
        from redis.exceptions import RedisError

        sent = self._clock()
        try:
            async with asyncio.timeout(self._call_budget(sent)):
                if self.leader:
                    renewed = await self.redis.eval(  # type: ignore[misc]
                        _RENEW, 1, self.key, self.token, str(int(self.ttl_s * 1000)))
                    if renewed:
                        self.renewed_at = sent
                    else:
                        self._step_down("lost")
                else:
                    got, pttl = await self.redis.eval(  # type: ignore[misc]
                        _ACQUIRE, 1, self.key, self.token, str(int(self.ttl_s * 1000)))
                    if got:
                        self.leader, self.renewed_at = True, sent
                        log.info("streams.leader.acquired", node=self.token)
                    else:
                        self._follow_wait_s = self._follower_wait(int(pttl))
        except (RedisError, OSError, TimeoutError) as exc:
            log.warning("streams.leader.redis_failed", leader=self.leader,
                        error=type(exc).__name__)
            self._follow_wait_s = self.ttl_s / 3
        self.fence()
        return self.leader

    def fence(self) -> bool:
        """Step down if the lease (TTL/2 from the last renewal sent) has run out."""
        fence_at = self.fence_at
        if self.leader and fence_at is not None and self._clock() >= fence_at:
            self._step_down("fenced")
        return self.leader

    def wait_s(self) -> float:
        """Seconds until the next `step()`: TTL/3 for the leader (sooner if fencing is due
        first), the lock's remaining life (at most TTL/3) for a follower."""
        if not self.leader:
            return max(MIN_WAIT_S, self._follow_wait_s)
        assert self.renewed_at is not None
        due = self.renewed_at + self.ttl_s / 3
        return max(MIN_WAIT_S, min(due, self.fence_at or due) - self._clock())

    async def release(self) -> None:
        """On a clean shutdown: drop the lock if it is still ours (best effort, 1 s)."""
        from redis.exceptions import RedisError

        was = self.leader
        self.leader, self.renewed_at = False, None
        if not was:
            return
        with contextlib.suppress(RedisError, OSError, TimeoutError):
            async with asyncio.timeout(1.0):
                await self.redis.eval(_RELEASE, 1, self.key, self.token)  # type: ignore[misc]
        log.info("streams.leader.released", node=self.token)

    def _call_budget(self, sent: float) -> float:
        if self.leader and self.fence_at is not None:
            return max(MIN_WAIT_S, min(self.ttl_s / 3, self.fence_at - sent))
        return self.ttl_s / 3

    def _follower_wait(self, pttl: int) -> float:
        if pttl < 0:  # gone meanwhile, or no expiry: try again soon
            return MIN_WAIT_S if pttl == -2 else self.ttl_s / 3
        return min(self.ttl_s / 3, pttl / 1000 + MIN_WAIT_S)

    def _step_down(self, why: str) -> None:
        self.leader, self.renewed_at = False, None
        log.warning("streams.leader.lost", node=self.token, why=why)


@dataclass(frozen=True, slots=True)
class RemoteCrash:
    """A crash from the leader's ring, as it came over Redis."""

    data: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return dict(self.data)


class Leadership:
    """Runs the lock for this api process and moves the supervisor's state across the
    cluster (see the module docstring). Enter it after the supervisor and the hub."""

    def __init__(self, supervisor: Supervisor, hub: Hub, redis: Redis, *, ttl_s: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.supervisor = supervisor
        self.hub = hub
        self.redis = redis
        self.node = hub.node
        self.lock = LeaderLock(redis, token=hub.node, ttl_s=ttl_s, clock=clock)
        self.snapshot: dict[str, Any] | None = None  # the leader's, as last read
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._pending: set[asyncio.Task[None]] = set()

    @property
    def leading(self) -> bool:
        return self.lock.fence()

    async def __aenter__(self) -> Leadership:
        # nobody runs workers before holding the lock; the first try is made before the
        # process serves, so a lone process leads from its first request
        self.supervisor.set_leader(await self.lock.step())
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._run_lock(), name="streams-leader"),
                       loop.create_task(self._run_state(), name="streams-state"),
                       loop.create_task(self._run_control(), name="streams-control")]
        return self

    async def __aexit__(self, *exc: object) -> None:
        # Cancelled until done: a cancel that lands inside a Redis call or on the same tick as
        # a timeout can be swallowed on Python 3.11 (the loop then waits on), so it is repeated.
        tasks = [*self._tasks, *self._pending]
        for _ in range(STOP_TRIES):
            running = [task for task in tasks if not task.done()]
            if not running:
                break
            for task in running:
                task.cancel()
            await asyncio.wait(running, timeout=STOP_WAIT_S)
        for task in tasks:
            if task.done() and not task.cancelled():
                task.exception()  # retrieved, so asyncio does not log it as never retrieved
        self.supervisor.set_leader(False)
        await self.lock.release()

    # --- the lock --------------------------------------------------------------------
    async def _run_lock(self) -> None:
        while True:
            leading = await self.lock.step()
            _raise_if_cancelling()
            if leading != self.supervisor.leader:
                self.supervisor.set_leader(leading)
                self._wake.set()  # publish the new state at once
            await asyncio.sleep(self.lock.wait_s())

    # --- the state, out (leader) and in (followers) -----------------------------------
    def state(self) -> dict[str, Any]:
        sup = self.supervisor
        return {"node": self.node, "at": time.time(), "state": sup.state,
                "workers": sup.workers(), "unhealthy": sup.unhealthy(),
                "crashes": [crash.as_dict() for crash in sup.crashes]}

    async def _run_state(self) -> None:
        from redis.exceptions import RedisError

        while True:
            try:
                if self.leading:
                    body = json.dumps(self.state(), separators=(",", ":"), default=str)
                    await self.redis.set(STATE_KEY, body, px=int(self.lock.ttl_s * 1000))
                    self.snapshot = None
                else:
                    raw = await self.redis.get(STATE_KEY)
                    self.snapshot = _parse(raw, self.node)
            except (RedisError, OSError, TimeoutError) as exc:
                log.warning("streams.state.redis_failed", error=type(exc).__name__)
                self.snapshot = None
            _raise_if_cancelling()
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(STATE_INTERVAL_S):
                    await self._wake.wait()

    # --- restart requests from followers ---------------------------------------------
    def request_restart(self, name: str) -> None:
        """Ask the leader (whichever process it is) to restart worker `name`."""
        task = asyncio.get_running_loop().create_task(
            self.hub.publish(CONTROL_TOPIC, {"op": "restart", "worker": name,
                                             "from": self.node}))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _run_control(self) -> None:
        async with self.hub.subscribe(CONTROL_TOPIC) as sub:
            async for event in sub.events():
                data = event.data()
                name = data.get("worker")
                if data.get("op") != "restart" or not isinstance(name, str):
                    continue
                if self.leading and name in self.supervisor.slots:
                    self.supervisor.restart(name)
                    log.info("streams.restart.remote", worker=name, requested_by=data.get("from"))
                    self._wake.set()


def _parse(raw: bytes | str | None, own: str) -> dict[str, Any] | None:
    if raw is None:
        return None
    try:
        data = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(data, dict) or data.get("node") == own:
        return None
    return data


class ClusterStreams:
    """The stream workers as every process sees them (`Resources.streams`).

    On the leader (or without Redis) this is the local supervisor. On a follower, reads
    answer from the leader's last snapshot (ages brought up to now) and a restart goes to
    the leader; with no leader for the moment, the local supervisor answers (every worker
    `stopped`, reason `not_leader`). Anything else (`set_open`, `set_quiet`, `open`, ...)
    is the local supervisor's.
    """

    def __init__(self, local: Supervisor, leadership: Leadership | None = None) -> None:
        self.local = local
        self.leadership = leadership

    def __getattr__(self, name: str) -> Any:
        return getattr(self.local, name)

    @property
    def leading(self) -> bool:
        """Whether this process runs the stream workers (always, without Redis)."""
        return self.leadership is None or self.leadership.leading

    @property
    def leader_node(self) -> str | None:
        if self.leadership is None or self.leading:
            return None if self.leadership is None else self.leadership.node
        snap = self._remote()
        return None if snap is None else str(snap.get("node"))

    def _remote(self) -> dict[str, Any] | None:
        if self.leadership is None or self.leadership.leading:
            return None
        return self.leadership.snapshot

    @property
    def slots(self) -> dict[str, Any]:
        return self.local.slots

    def workers(self) -> dict[str, dict[str, Any]]:
        snap = self._remote()
        if snap is None:
            return self.local.workers()
        age = max(0.0, time.time() - float(snap.get("at", time.time())))
        out: dict[str, dict[str, Any]] = {}
        for name, worker in dict(snap.get("workers") or {}).items():
            worker = dict(worker)
            ago = worker.get("last_heartbeat_s_ago")
            if isinstance(ago, int | float):
                worker["last_heartbeat_s_ago"] = round(ago + age, 1)
            out[str(name)] = worker
        return out

    @property
    def state(self) -> str:
        snap = self._remote()
        return self.local.state if snap is None else str(snap.get("state", "idle"))

    def unhealthy(self) -> list[str]:
        snap = self._remote()
        return self.local.unhealthy() if snap is None else [str(n) for n in
                                                            snap.get("unhealthy") or []]

    @property
    def crashes(self) -> list[Any]:
        snap = self._remote()
        if snap is None:
            return list(self.local.crashes)
        return [RemoteCrash(dict(c)) for c in snap.get("crashes") or [] if isinstance(c, dict)]

    def restart(self, name: str) -> dict[str, Any]:
        """Restart `name` here when leading, else ask the leader; the worker as known now."""
        if self.leadership is None or self.leadership.leading:
            return self.local.restart(name)
        self.leadership.request_restart(name)
        return self.workers().get(name) or self.local.workers()[name]
