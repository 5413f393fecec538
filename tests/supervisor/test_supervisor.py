"""The supervisor on a real hub: scaling with listeners, quiet mode, crashes, silence.

Workers here are small real coroutines written for the test; time is a clock the test
moves, and every wait is for a condition (`until`), never a fixed sleep.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from rooms.live import surface
from rooms.live.hub import Hub
from rooms.supervisor import Supervisor
from rooms.supervisor.context import WorkerContext
from rooms.supervisor.spec import Hysteresis, RestartPolicy, TaskSpec
from tests.conftest import make_settings
from tests.live.conftest import until


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


class Runs:
    """Counts how often each test worker started, and how often it was cancelled."""

    def __init__(self) -> None:
        self.started: dict[str, int] = {}
        self.cancelled: dict[str, int] = {}

    def worker(self, *, crash: bool = False, beat: bool = True) -> Any:
        async def run(ctx: WorkerContext) -> None:
            self.started[ctx.name] = self.started.get(ctx.name, 0) + 1
            try:
                while True:
                    if crash:
                        raise RuntimeError(f"{ctx.name} broke")
                    if beat:
                        ctx.heartbeat()
                    await asyncio.sleep(0.01)
            except asyncio.CancelledError:
                self.cancelled[ctx.name] = self.cancelled.get(ctx.name, 0) + 1
                raise
        return run


@pytest.fixture
async def hub(tmp_path: Path) -> AsyncIterator[Hub]:
    async with Hub(settings=make_settings(tmp_path), redis=None) as h:
        yield h


@contextlib.asynccontextmanager
async def supervising(hub: Hub, specs: list[TaskSpec], workers: dict[str, Any],
                      clock: Clock) -> AsyncIterator[Supervisor]:
    async with Supervisor(settings=hub.settings, hub=hub, specs=specs, workers=workers,
                          clock=clock) as sup:
        yield sup


def states(sup: Supervisor) -> dict[str, str]:
    return {name: w["state"] for name, w in sup.workers().items()}


async def test_workers_start_and_stop_with_the_listener_count(hub: Hub) -> None:
    runs, clock = Runs(), Clock()
    specs = [TaskSpec(name="probe", max_ws_clients=1), TaskSpec(name="analysis", min_ws_clients=2)]
    async with supervising(hub, specs, {"probe": runs.worker(), "analysis": runs.worker()},
                           clock) as sup, contextlib.AsyncExitStack() as listeners:
        await until(lambda: states(sup) == {"probe": "running", "analysis": "stopped"})
        for _ in range(2):  # two websocket listeners (the hub counts them like real ones)
            await listeners.enter_async_context(hub.connection())
        await until(lambda: states(sup) == {"probe": "stopped", "analysis": "running"},
                    what="analysis to start and the probe to stop at 2 listeners")
        assert runs.cancelled == {"probe": 1}
        await listeners.aclose()
        await until(lambda: states(sup) == {"probe": "running", "analysis": "stopped"})
        assert runs.started == {"probe": 2, "analysis": 1}


async def test_a_listener_dip_inside_the_hold_does_not_stop_a_worker(hub: Hub) -> None:
    runs, clock = Runs(), Clock()
    spec = TaskSpec(name="analysis", min_ws_clients=1, hysteresis=Hysteresis(hold_s=5))
    async with supervising(hub, [spec], {"analysis": runs.worker()}, clock) as sup:
        gate = sup.slots["analysis"].gate

        async def after_hold() -> None:
            await until(lambda: gate.next_change_at() is not None, what="the crossing")
            clock.t += 5
            sup.poke()

        async with hub.connection():
            await after_hold()
            await until(lambda: states(sup)["analysis"] == "running")
        await until(lambda: gate.next_change_at() is not None)  # the listener left...
        clock.t += 2
        async with hub.connection():  # ...and is back 2 s into a 5 s hold
            await until(lambda: gate.next_change_at() is None, what="the hold to be dropped")
            clock.t += 4
            sup.poke()
            await asyncio.sleep(0.02)
            assert states(sup)["analysis"] == "running" and runs.started == {"analysis": 1}
        await after_hold()
        await until(lambda: states(sup)["analysis"] == "stopped")


async def test_quiet_mode_stops_only_workers_that_do_not_ignore_it(hub: Hub) -> None:
    runs, clock = Runs(), Clock()
    specs = [TaskSpec(name="noise", ignore_quiet=True),
             TaskSpec(name="analysis", ignore_quiet=False)]
    async with supervising(hub, specs, {"noise": runs.worker(), "analysis": runs.worker()},
                           clock) as sup:
        await until(lambda: set(states(sup).values()) == {"running"})
        sup.set_quiet(True)
        await until(lambda: states(sup) == {"noise": "running", "analysis": "stopped"})
        sup.set_quiet(False)
        await until(lambda: set(states(sup).values()) == {"running"})


async def test_quiet_follows_the_stewards_posture_events(hub: Hub) -> None:
    runs, clock = Runs(), Clock()
    specs = [TaskSpec(name="analysis", ignore_quiet=False)]
    async with supervising(hub, specs, {"analysis": runs.worker()}, clock) as sup:
        await until(lambda: states(sup) == {"analysis": "running"})
        await surface.posture_changed(hub, intake_paused=False, playback_paused=False,
                                      quieter_mode=True)  # as another process would
        await until(lambda: states(sup) == {"analysis": "stopped"} and sup.quiet)
        await surface.posture_changed(hub, intake_paused=True, playback_paused=False,
                                      quieter_mode=False)
        await until(lambda: states(sup) == {"analysis": "running"})
        assert hub.receivers("surface") == 1  # the supervisor listens...
        assert hub.counts()["surface"] == 0  # ...but is nobody's audience


def reasons(sup: Supervisor) -> dict[str, str | None]:
    return {name: w["reason"] for name, w in sup.workers().items()}


async def test_a_stopped_worker_says_why(hub: Hub) -> None:
    runs, clock = Runs(), Clock()
    specs = [TaskSpec(name="probe", max_ws_clients=1),
             TaskSpec(name="analysis", min_ws_clients=2, ignore_quiet=False),
             TaskSpec(name="stage", enabled=False)]
    workers = {"probe": runs.worker(), "analysis": runs.worker(), "stage": runs.worker()}
    async with supervising(hub, specs, workers, clock) as sup, \
            contextlib.AsyncExitStack() as listeners:
        await until(lambda: states(sup)["probe"] == "running")
        assert reasons(sup) == {"probe": None, "analysis": "too_few_listeners",
                                "stage": "disabled"}
        assert sup.workers()["analysis"]["listeners"] == {
            "count": 0, "min_ws_clients": 2, "max_ws_clients": None}
        for _ in range(2):
            await listeners.enter_async_context(hub.connection())
        await until(lambda: states(sup)["probe"] == "stopped")
        assert reasons(sup)["probe"] == "too_many_listeners"
        assert sup.workers()["probe"]["listeners"] == {
            "count": 2, "min_ws_clients": 0, "max_ws_clients": 1}
        await until(lambda: states(sup)["analysis"] == "running")
        sup.set_quiet(True)
        await until(lambda: reasons(sup)["analysis"] == "quiet")
        sup.set_open(False)  # opening hours end: every worker stops
        await until(lambda: states(sup) == {"probe": "stopped", "analysis": "stopped",
                                            "stage": "disabled"})
        assert reasons(sup) == {"probe": "closed", "analysis": "closed", "stage": "disabled"}
        sup.set_leader(False)  # another process leads the streams
        assert reasons(sup) == {"probe": "not_leader", "analysis": "not_leader",
                                "stage": "disabled"}
        sup.set_open(True)
        sup.set_quiet(False)
        await asyncio.sleep(0.02)
        assert states(sup)["analysis"] == "stopped"  # still not the leader
        sup.set_leader(True)
        await until(lambda: states(sup)["analysis"] == "running")
        await listeners.aclose()
        await until(lambda: states(sup)["probe"] == "running")
        assert runs.started == {"probe": 2, "analysis": 2}


async def test_a_crash_backs_off_then_parks_past_the_flood_guard(hub: Hub) -> None:
    runs, clock = Runs(), Clock()
    policy = RestartPolicy(backoff_initial_s=1, factor=2, backoff_max_s=10, max_restarts=2,
                           window_s=60)
    specs = [TaskSpec(name="broken", restart=policy), TaskSpec(name="steady")]
    async with supervising(hub, specs, {"broken": runs.worker(crash=True),
                                        "steady": runs.worker()}, clock) as sup:
        await until(lambda: states(sup)["broken"] == "backoff")
        assert sup.workers()["broken"]["last_error"] == "RuntimeError: broken broke"
        for wait in (1, 2):  # backoff 1 s, then 2 s; each restart crashes again
            clock.t += wait - 0.01
            sup.poke()
            await asyncio.sleep(0.02)
            assert runs.started["broken"] == 1 + (wait == 2)  # not before its time
            clock.t += 0.01
            sup.poke()
            await until(lambda w=wait: runs.started["broken"] == 1 + w.bit_length())
        await until(lambda: states(sup)["broken"] == "crashloop", what="the flood guard")
        assert sup.workers()["broken"]["restarts"] == 2
        assert states(sup)["steady"] == "running" and runs.cancelled.get("steady") is None
        assert [c.worker for c in sup.crashes] == ["broken"] * 3
        assert "RuntimeError: broken broke" in sup.crashes[-1].traceback
        assert sup.unhealthy() == ["broken"] and sup.state == "degraded"
        sup.restart("broken")  # the operator's restart forgets the history
        await until(lambda: runs.started["broken"] == 4)


async def test_a_silent_worker_is_restarted_after_its_health_timeout(hub: Hub) -> None:
    runs, clock = Runs(), Clock()
    spec = TaskSpec(name="mute", health_timeout_s=30, restart=RestartPolicy(backoff_initial_s=1))
    async with supervising(hub, [spec], {"mute": runs.worker(beat=False)}, clock) as sup:
        await until(lambda: states(sup)["mute"] == "running")
        clock.t += 29
        sup.poke()
        await asyncio.sleep(0.02)
        assert states(sup)["mute"] == "running" and sup.unhealthy() == []
        clock.t += 2
        assert sup.unhealthy() == ["mute"]  # what /health reports until it is restarted
        sup.poke()
        await until(lambda: states(sup)["mute"] == "backoff")
        assert runs.cancelled == {"mute": 1}
        assert sup.workers()["mute"]["last_error"] == "no heartbeat for 30 s"
        clock.t += 1
        sup.poke()
        await until(lambda: runs.started.get("mute") == 2)


async def test_stopping_the_supervisor_cancels_every_run(hub: Hub) -> None:
    runs, clock = Runs(), Clock()
    specs = [TaskSpec(name="a"), TaskSpec(name="b")]
    async with supervising(hub, specs, {"a": runs.worker(), "b": runs.worker()}, clock) as sup:
        await until(lambda: set(states(sup).values()) == {"running"})
    assert runs.cancelled == {"a": 1, "b": 1}


async def test_a_worker_out_of_file_descriptors_backs_off_but_never_parks(hub: Hub) -> None:
    """EMFILE is the process's want, not the worker's bug: it backs off (growing) and keeps
    trying, past the flood guard that parks a crashing worker, and runs once fds are back."""
    clock = Clock()
    policy = RestartPolicy(backoff_initial_s=1, factor=2, backoff_max_s=4, max_restarts=2,
                           window_s=600)
    starts: list[float] = []
    fds_back = False

    async def opens_files(ctx: WorkerContext) -> None:
        starts.append(clock.t)
        if not fds_back:
            try:
                raise OSError(errno.EMFILE, "Too many open files")
            except OSError as exc:
                raise RuntimeError("stream reader failed") from exc  # wrapped, as libraries do
        while True:
            ctx.heartbeat()
            await asyncio.sleep(0.01)

    async with supervising(hub, [TaskSpec(name="reader", restart=policy)],
                           {"reader": opens_files}, clock) as sup:
        for n, delay in enumerate((1, 2, 4, 4, 4, 4), start=1):
            await until(lambda n=n: len(starts) == n and states(sup)["reader"] == "backoff",
                        what=f"failure {n}")
            retry_at = sup.slots["reader"].retry_at
            assert retry_at == pytest.approx(clock.t + delay)  # growing, capped, never parked
            clock.t += delay
            sup.poke()
        await until(lambda: len(starts) == 7)
        assert "Too many open files" in sup.crashes[-1].traceback
        fds_back = True
        await until(lambda: states(sup)["reader"] == "backoff")
        clock.t += 4
        sup.poke()
        await until(lambda: states(sup)["reader"] == "running" and len(starts) == 8)
        assert sup.unhealthy() == [] and sup.state == "running"
