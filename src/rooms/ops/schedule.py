"""Opening hours for the operator API, and the task that makes their boundaries happen.

`GET|PUT /api/v1/operator/schedule` read and replace the weekly windows (rooms.hours);
a change is one StewardAction (`schedule.updated`) and is announced on `surface`:

    {"topic": "surface", "event": "hours", "open": true, "intake": true, "playback": true,
     "streams": true, "next_change_at": "2026-12-01T20:00:00Z", "changed": "schedule"}

Each api process runs `hours_keeper`: it keeps the supervisor's streams in step with the
schedule (`Supervisor.set_open`), sleeps until the next boundary and then announces it on
`surface` to its own clients (`changed: "boundary"`; every process does the same at the
same moment, so no event is sent twice), and drops its copy of the schedule when a
`schedule` announcement arrives from any process.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any, Literal

from rooms import hours
from rooms.errors import RoomsError
from rooms.live import surface
from rooms.live.protocol import OPS_TOPIC
from rooms.logging import get_logger
from rooms.models import StewardAction, StewardActionName, utcnow
from rooms.resources import Resources
from rooms.uow import UnitOfWork

log = get_logger("rooms.ops.schedule")

MAX_SLEEP_S = 300.0  # re-evaluate at least this often (a clock jump, a lost event)


def schedule_out(res: Resources, weekly: list[dict[str, Any]],
                 now: datetime | None = None) -> dict[str, Any]:
    openness = hours.evaluate(hours.parse(weekly), res.settings.zone(),
                              now or hours.state(res).clock())
    return {"timezone": res.settings.zone().key, "weekly": weekly, "now": openness.as_event()}


async def get(uow: UnitOfWork) -> dict[str, Any]:
    return schedule_out(uow.resources, await hours.read(uow.session))


async def put(uow: UnitOfWork, body: hours.ScheduleIn, actor: str) -> dict[str, Any]:
    """Replace the weekly windows; audited and announced when they changed."""
    res = uow.resources
    zone = res.settings.zone().key
    if body.timezone is not None and body.timezone.strip() != zone:
        raise RoomsError(f"the schedule is in the node's TIMEZONE ({zone}); set TIMEZONE to "
                         "change it", code="invalid_timezone")
    weekly = hours.dump(body.weekly)
    await uow.begin_write()
    row = await hours.row_for_update(uow.session)
    changed = list(row.weekly or []) != weekly
    if changed:
        row.weekly = weekly
        payload = {"weekly": weekly}
        uow.session.add(StewardAction(action=StewardActionName.SCHEDULE_UPDATED, actor=actor,
                                      detail=f"opening hours: {len(weekly)} window(s)",
                                      payload=payload))
        await uow.session.flush()
        uow.after_commit(lambda: announce(res, weekly, actor))
        log.info("ops.schedule.changed", actor=actor, windows=len(weekly))
    return {**schedule_out(res, weekly), "changed": changed}


async def announce(res: Resources, weekly: list[dict[str, Any]], actor: str) -> None:
    """After the commit: this process uses the new schedule at once; every process hears."""
    hours.state(res).store(weekly)
    await res.events.publish(surface.SURFACE, _event(res, "schedule"))
    await res.events.publish(OPS_TOPIC, {"event": "steward_action",
                                         "action": StewardActionName.SCHEDULE_UPDATED,
                                         "actor": actor, "payload": {"weekly": weekly}})


def _event(res: Resources, changed: Literal["schedule", "boundary"],
           openness: hours.Openness | None = None) -> dict[str, Any]:
    if openness is None:
        windows = hours.state(res).windows or ()
        openness = hours.evaluate(windows, res.settings.zone(), hours.state(res).clock())
    return {"event": "hours", **openness.as_event(), "changed": changed,
            "ts": utcnow().isoformat().replace("+00:00", "Z")}


def apply(res: Resources, openness: hours.Openness) -> None:
    """Streams follow the schedule."""
    if res.supervisor is not None:
        res.supervisor.set_open(openness.streams)


async def keep_once(res: Resources, last: hours.Openness | None) -> hours.Openness:
    """One round: evaluate, start/stop streams, announce a boundary to this process's
    clients if what is open changed since `last`. Returns what it found."""
    now = await hours.now_open(res)
    apply(res, now)
    if last is not None and (last.intake, last.playback, last.streams) != (
            now.intake, now.playback, now.streams):
        res.live.publish_local(surface.SURFACE, _event(res, "boundary", now))
        log.info("ops.hours.boundary", **now.as_event())
    return now


def _sleep_s(res: Resources, openness: hours.Openness) -> float:
    if openness.next_change_at is None:
        return MAX_SLEEP_S
    left = (openness.next_change_at - hours.state(res).clock()).total_seconds()
    return max(0.05, min(MAX_SLEEP_S, left + 0.01))


async def _keep(res: Resources) -> None:
    wake = asyncio.Event()

    async def listen() -> None:
        async with res.live.subscribe(surface.SURFACE) as sub:
            async for event in sub.events():
                data = event.data()
                if data.get("event") == "hours" and data.get("changed") == "schedule":
                    hours.state(res).forget()
                    wake.set()

    listener = asyncio.create_task(listen(), name="hours-follow")
    last: hours.Openness | None = None
    rescheduled = False  # the steward's change was announced already: no boundary event
    try:
        while True:
            try:
                last = await keep_once(res, None if rescheduled else last)
            except Exception as exc:  # the database away: try again soon
                log.warning("ops.hours.failed", error=type(exc).__name__)
                await asyncio.sleep(5.0)
                continue
            wake.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(_sleep_s(res, last)):
                    await wake.wait()
            rescheduled = wake.is_set()
    finally:
        listener.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await listener


@contextlib.asynccontextmanager
async def hours_keeper(res: Resources) -> AsyncIterator[None]:
    """Run the keeper for as long as this block (the app's lifespan) runs."""
    task = asyncio.create_task(_keep(res), name="ops-hours")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
