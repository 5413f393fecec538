"""The supervisor: every stream worker as a coroutine in one TaskGroup, started and stopped
by the live listener count, the steward's quiet mode, opening hours (`set_open`) and
stream leadership (`set_leader`), restarted with backoff.

Each run is wrapped so that nothing it raises reaches the TaskGroup: one worker crashing
never cancels another or the server. One control loop decides; it wakes when the hub's
counts change (`hub.counts_changed`, no polling), when a run ends, on `poke()`, and at the
next deadline (a hysteresis hold ending, a backoff ending, a heartbeat falling due).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from rooms.config import Settings
from rooms.live.hub import Hub
from rooms.live.surface import SURFACE
from rooms.logging import get_logger
from rooms.streams.seeking import SeekConfig, Seeker
from rooms.streams.store import SeekStore, make_seek_store
from rooms.streams.stream import Commons, Stream
from rooms.supervisor.context import WorkerContext
from rooms.supervisor.slot import Crash, Slot, WorkerFn, crash_of, starved_by
from rooms.supervisor.spec import TaskSpec

log = get_logger("rooms.supervisor")


class Supervisor:
    def __init__(self, *, settings: Settings, hub: Hub, specs: Iterable[TaskSpec],
                 workers: Mapping[str, WorkerFn], quiet: bool = False, open: bool = True,
                 leader: bool = True, clock: Callable[[], float] | None = None,
                 seek: SeekStore | None = None, topics: Mapping[str, str] | None = None,
                 own_streams: frozenset[str] = frozenset(),
                 tempo: Callable[[str, Settings], tuple[float, float]] | None = None) -> None:
        self.settings = settings
        self.hub = hub
        self.slots = {spec.name: Slot(spec, workers.get(spec.name)) for spec in specs}
        self.quiet = quiet
        self.open = open  # inside opening hours (the schedule's `streams`)
        self.leader = leader  # this process is the stream leader (one per cluster)
        self.crashes: deque[Crash] = deque(maxlen=settings.crash_ring_size)
        self._clock = clock
        # Seeking streams (seed 002): the beacon/subscription store, the one commons, each
        # worker's own topic, and the workers that run their own stream (the rest that opt
        # in with `commons: true` get one around their topic).
        self.seek = seek if seek is not None else make_seek_store(settings, hub.redis)
        self.commons = Commons()
        self._topics = dict(topics or {})
        self._own_streams = own_streams
        self._tempo = tempo
        self._poked = asyncio.Event()
        self._tg: asyncio.TaskGroup | None = None
        self._control: list[asyncio.Task[None]] = []
        self._closing = False

    def now(self) -> float:
        return self._clock() if self._clock is not None else asyncio.get_running_loop().time()

    # --- lifecycle -------------------------------------------------------------------------
    async def __aenter__(self) -> Supervisor:
        self._tg = asyncio.TaskGroup()
        await self._tg.__aenter__()
        self._control = [self._tg.create_task(self._run(), name="supervisor"),
                         self._tg.create_task(self._watch_counts(), name="supervisor-counts"),
                         self._tg.create_task(self._watch_posture(), name="supervisor-quiet")]
        log.info("supervisor.started", workers=sorted(n for n, s in self.slots.items()
                                                      if s.runnable))
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._closing = True
        for task in self._control:
            task.cancel()
        for slot in self.slots.values():
            if slot.task is not None:
                slot.task.cancel()
        if self._tg is not None:
            await self._tg.__aexit__(None, None, None)
            self._tg = None
        log.info("supervisor.stopped")

    # --- what others see and do ----------------------------------------------------------------
    def workers(self) -> dict[str, dict[str, Any]]:
        """Each worker's `state`, `restarts`, `last_heartbeat_s_ago`, `last_error`, and
        `reason` (why it is not running; CONTRACT §4) with `listeners` (`count`,
        `min_ws_clients`, `max_ws_clients`) when the reason is the listener count."""
        now = self.now()
        return {name: self._describe(slot, now) for name, slot in self.slots.items()}

    def _describe(self, slot: Slot, now: float) -> dict[str, Any]:
        out = slot.as_dict(now)
        reason = self.reason(slot)
        out["reason"] = reason
        if reason in ("too_few_listeners", "too_many_listeners"):
            out["listeners"] = {"count": self.hub.total,
                                "min_ws_clients": slot.spec.min_ws_clients,
                                "max_ws_clients": slot.spec.max_ws_clients}
        return out

    def reason(self, slot: Slot) -> str | None:
        """Why `slot` is not running, in CONTRACT §4's words; None while it runs, backs off
        after a crash, or is only waiting out `hysteresis.hold_s` before it starts.

        The first that applies: `disabled`, `crashloop`, `not_leader`, `closed`, `quiet`,
        `too_few_listeners` / `too_many_listeners` (the count against the limits; inside
        them but still held off by the deadband or `hold_s`, the side it last left by)."""
        if slot.state == "disabled":
            return "disabled"
        if slot.state == "crashloop":
            return "crashloop"
        if slot.state != "stopped":
            return None
        if not self.leader:
            return "not_leader"
        if not self.open:
            return "closed"
        if self.quiet and not slot.spec.ignore_quiet:
            return "quiet"
        spec, clients = slot.spec, self.hub.total
        if clients < spec.min_ws_clients:
            return "too_few_listeners"
        if spec.max_ws_clients is not None and clients > spec.max_ws_clients:
            return "too_many_listeners"
        return slot.gate.left_by

    @property
    def state(self) -> str:
        states = {slot.state for slot in self.slots.values()}
        if "crashloop" in states:
            return "degraded"
        return "running" if "running" in states else "idle"

    def unhealthy(self) -> list[str]:
        """Workers that should run but do not answer: silent past their health timeout, or
        parked in crashloop while their conditions want them."""
        now = self.now()
        out = []
        for name, slot in self.slots.items():
            silent = slot.silent_for(now)
            stalled = silent is not None and silent > slot.spec.health_timeout_s
            if stalled or (slot.state == "crashloop" and slot.gate.open):
                out.append(name)
        return out

    def set_quiet(self, quiet: bool) -> None:
        if quiet != self.quiet:
            self.quiet = quiet
            log.info("supervisor.quiet", quiet=quiet)
            self.poke()

    def set_open(self, open: bool) -> None:
        """Opening hours: False stops every worker at once (reason `closed`); True lets
        them start again as their conditions allow."""
        if open != self.open:
            self.open = open
            log.info("supervisor.open", open=open)
            self.poke()

    def set_leader(self, leader: bool) -> None:
        """Stream leadership (one supervisor runs workers per cluster): False stops every
        worker at once (reason `not_leader`); True lets them start as conditions allow."""
        if leader != self.leader:
            self.leader = leader
            log.info("supervisor.leader", leader=leader)
            self.poke()

    def restart(self, name: str) -> dict[str, Any]:
        """Operator restart: forget the crash history and start again if conditions allow."""
        slot = self.slots[name]
        slot.crash_times.clear()
        slot.failures_in_row = 0
        slot.last_error = None
        if slot.task is not None:
            self._cancel(slot, "restart")
        elif slot.runnable:
            slot.state = "stopped"
        self.poke()
        return self._describe(slot, self.now())

    def poke(self) -> None:
        self._poked.set()

    # --- the control loop ------------------------------------------------------------------
    async def _watch_counts(self) -> None:
        version = self.hub.version
        while True:
            version = await self.hub.counts_changed(version)
            self.poke()

    async def _watch_posture(self) -> None:
        """Follow the steward's quiet mode from `surface` posture events (every process
        hears them, through Redis when there are several)."""
        async with self.hub.subscribe(SURFACE) as sub:
            async for event in sub.events():
                data = event.data()
                if data.get("event") == "posture":
                    self.set_quiet(bool(data.get("quieter_mode")))

    async def _run(self) -> None:
        while True:
            self._poked.clear()
            wait_s = self.reconcile()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait_s):
                    await self._poked.wait()

    def reconcile(self) -> float | None:
        """Bring every slot to what its conditions say; seconds until the next deadline."""
        now = self.now()
        clients = self.hub.total
        deadlines: list[float] = []
        for slot in self.slots.values():
            if not slot.runnable:
                continue
            want = slot.gate.decide(clients, self.quiet, now,
                                    halted=not (self.open and self.leader))
            if (hold_ends := slot.gate.next_change_at()) is not None:
                deadlines.append(hold_ends)
            if slot.state == "running":
                if slot.stop_reason is not None:
                    continue  # being cancelled; its run's end pokes us
                silent = slot.silent_for(now)
                if not want:
                    self._cancel(slot, "stop")
                elif silent is not None and silent > slot.spec.health_timeout_s:
                    self._cancel(slot, "silent")
                elif slot.last_beat is not None:
                    deadlines.append(slot.last_beat + slot.spec.health_timeout_s + 0.001)
            elif slot.state == "backoff":
                if not want:
                    slot.state, slot.retry_at = "stopped", None
                elif slot.retry_at is not None and now >= slot.retry_at:
                    slot.restarts += 1
                    self._start(slot, now)
                elif slot.retry_at is not None:
                    deadlines.append(slot.retry_at)
            elif slot.state == "stopped" and want:
                self._start(slot, now)
        return None if not deadlines else max(0.0, min(deadlines) - now)

    def _start(self, slot: Slot, now: float) -> None:
        assert self._tg is not None and slot.fn is not None
        slot.state, slot.retry_at, slot.stop_reason = "running", None, None
        slot.last_beat = now
        slot.task = self._tg.create_task(self._guarded(slot, now), name=f"worker:{slot.spec.name}")
        log.info("supervisor.worker.started", worker=slot.spec.name, restarts=slot.restarts)

    def _cancel(self, slot: Slot, reason: str) -> None:
        if slot.task is not None and slot.stop_reason is None:
            slot.stop_reason = reason
            slot.task.cancel()

    def _stream_for(self, slot: Slot) -> Stream | None:
        """A seeking stream around the worker's topic, for a task that opted into the
        commons and does not run its own (noise_metadata does)."""
        name = slot.spec.name
        if not slot.spec.commons or name in self._own_streams or name not in self._topics:
            return None
        tempo = self._tempo(name, self.settings) if self._tempo is not None else (0.0, 0.0)
        seeker = Seeker(stream_id=name, mode="events", tempo_range_s=tempo,
                        config=SeekConfig.from_settings(self.settings))
        return Stream(stream_id=name, topic=self._topics[name], hub=self.hub, store=self.seek,
                      seeker=seeker, clock=self.now, commons=self.commons)

    async def _guarded(self, slot: Slot, started: float) -> None:
        """Run one worker; nothing it raises leaves here (the TaskGroup must never see it)."""
        assert slot.fn is not None
        name = slot.spec.name
        ctx = WorkerContext(name=name, settings=self.settings, hub=self.hub, clock=self.now,
                            beat=lambda: slot.beat(self.now()), seek=self.seek,
                            commons=self.commons if slot.spec.commons else None)
        ctx.stream = self._stream_for(slot)
        error: BaseException | None = None
        try:
            await slot.fn(ctx)
        except asyncio.CancelledError:
            if self._closing or slot.stop_reason is None:
                raise  # the supervisor is stopping: let the cancellation through
        except Exception as exc:
            error = exc
        finally:
            slot.task = None
            if ctx.stream is not None:
                ctx.stream.close()
        self._ended(slot, started, error)
        self.poke()

    def _ended(self, slot: Slot, started: float, error: BaseException | None) -> None:
        now = self.now()
        name, reason = slot.spec.name, slot.stop_reason
        slot.stop_reason = None
        if now - started >= slot.spec.restart.window_s:
            slot.failures_in_row = 0  # a long good run: the next failure starts over
        if error is not None and starved_by(error):
            crash = crash_of(name, error)
            self.crashes.append(crash)
            slot.starved(now, crash.error)
            log.warning("supervisor.worker.starved", worker=name, error=crash.error,
                        retry_in_s=round((slot.retry_at or now) - now, 1))
        elif error is not None:
            crash = crash_of(name, error)
            self.crashes.append(crash)
            slot.failed(now, crash.error)
            log.error("supervisor.worker.crashed", worker=name, error=crash.error,
                      state=slot.state)
        elif reason == "silent":
            slot.failed(now, f"no heartbeat for {slot.spec.health_timeout_s:g} s")
            log.warning("supervisor.worker.silent", worker=name, state=slot.state)
        elif reason in ("stop", "restart"):
            slot.state = "stopped"
            log.info("supervisor.worker.stopped", worker=name, reason=reason)
        else:  # it returned on its own while it should run: start it again, gently
            slot.state = "backoff"
            slot.retry_at = now + slot.spec.restart.backoff_initial_s
            log.info("supervisor.worker.returned", worker=name)
