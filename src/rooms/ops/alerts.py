"""Alerts: with ALERT_WEBHOOK_URL set, what needs a person is POSTed there as JSON.

    {"source": "rooms", "node": "...", "status": "firing" | "resolved",
     "kind": "critical_warning" | "device_gone" | "room_silent" | "disk_full",
     "key": "warning:dependency_down", "message": "...", "at": "2026-...Z", "details": {...}}

A watcher (`check_once`, every ALERT_CHECK_S) looks at the node status's critical warnings,
the disk, the devices (gone after DEVICE_GONE_S) and the room (silent: no acknowledged play
for ALERT_ROOM_SILENT_S while the opening hours let it play, the steward has not paused it
and something is playable). Each condition fires once when it starts and sends `resolved`
once when it ends (deduplicated by `key`; a condition that lasts is not repeated). Sending
is a background task with a bounded queue: nothing a request does waits for the webhook;
a failed POST (a network error or a non-2xx answer) is retried with exponential backoff
(ALERT_RETRIES times from ALERT_BACKOFF_S), then dropped and logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import func, select

from rooms import hours, steward
from rooms.kit.times import iso
from rooms.logging import get_logger
from rooms.models import Artifact, ArtifactStatus
from rooms.ops import devices
from rooms.ops.status import node_status
from rooms.resources import Resources

if TYPE_CHECKING:  # httpx (and the rich it pulls in) loads only when a webhook is set
    import httpx

log = get_logger("rooms.ops.alerts")

Kind = Literal["critical_warning", "device_gone", "room_silent", "disk_full"]
CHECK_S = 30.0
QUEUE_SIZE = 256
RETRIES = 5
BACKOFF_S = 1.0
TIMEOUT_S = 5.0


@dataclass
class Alerter:
    """Dedupes and queues alerts; `run()` sends them. One per api process."""

    url: str
    node: str = ""
    retries: int = RETRIES
    backoff_s: float = BACKOFF_S
    clock: Callable[[], float] = time.time
    active: dict[str, dict[str, Any]] = field(default_factory=dict)
    queue: asyncio.Queue[dict[str, Any]] = field(
        default_factory=lambda: asyncio.Queue(QUEUE_SIZE))
    sent: int = 0
    dropped: int = 0

    def _enqueue(self, body: dict[str, Any]) -> None:
        try:
            self.queue.put_nowait(body)
        except asyncio.QueueFull:
            self.dropped += 1
            log.warning("ops.alert.queue_full", key=body["key"])

    def observe(self, firing: dict[str, tuple[Kind, str, dict[str, Any]]]) -> None:
        """The conditions that hold now, by key: new ones fire, vanished ones resolve."""
        at = iso(datetime.fromtimestamp(self.clock(), UTC))
        for key, (kind, message, details) in firing.items():
            if key not in self.active:
                body = {"source": "rooms", "node": self.node, "status": "firing",
                        "kind": kind, "key": key, "message": message, "at": at,
                        "details": details}
                self.active[key] = body
                self._enqueue(body)
                log.info("ops.alert.firing", key=key, kind=kind)
        for key in [k for k in self.active if k not in firing]:
            body = {**self.active.pop(key), "status": "resolved", "at": at}
            self._enqueue(body)
            log.info("ops.alert.resolved", key=key)

    async def send(self, client: httpx.AsyncClient, body: dict[str, Any]) -> bool:
        """POST one alert, retrying with backoff; True when the receiver took it."""
        import httpx

        delay = self.backoff_s
        for attempt in range(1, self.retries + 1):
            try:
                answer = await client.post(self.url, json=body, timeout=TIMEOUT_S)
                if answer.is_success:
                    self.sent += 1
                    return True
                error = f"HTTP {answer.status_code}"
            except httpx.HTTPError as exc:
                error = type(exc).__name__
            log.warning("ops.alert.send_failed", key=body["key"], attempt=attempt, error=error)
            if attempt < self.retries:
                await asyncio.sleep(delay)
                delay *= 2
        self.dropped += 1
        log.error("ops.alert.dropped", key=body["key"], tries=self.retries)
        return False

    async def run(self) -> None:
        import httpx

        async with httpx.AsyncClient(follow_redirects=False) as client:
            while True:
                body = await self.queue.get()
                await self.send(client, body)


@dataclass
class Watch:
    """What the watcher remembers between rounds: since when the room should be playing."""

    playing_since: float | None = None


async def last_ack(res: Resources) -> datetime | None:
    """When a play was last acknowledged (the newest `last_access_at`)."""
    async with res.sessions() as session:
        found = (await session.execute(select(func.max(Artifact.last_access_at)).where(
            Artifact.status == ArtifactStatus.ACTIVE))).scalar()
    return found if isinstance(found, datetime) else None


async def conditions(res: Resources, watch: Watch,
                     now: float) -> dict[str, tuple[Kind, str, dict[str, Any]]]:
    """Every alert condition that holds at `now` (wall-clock seconds)."""
    found: dict[str, tuple[Kind, str, dict[str, Any]]] = {}
    status = await node_status(res)
    for w in status["warnings"]:
        if w["code"] == "disk_critical":
            found["disk_full"] = ("disk_full", w["message"], {"storage": status["storage"]})
        elif w["level"] == "critical":
            found[f"warning:{w['code']}"] = ("critical_warning", w["message"],
                                             {"code": w["code"]})
    for d in await devices.gone(res):
        found[f"device:{d['kind']}:{d['name']}"] = (
            "device_gone", f"{d['kind']} {d['name']!r} has not been heard from since "
                           f"{d['last_seen_at']}", {"kind": d["kind"], "name": d["name"],
                                                    "last_seen_at": d["last_seen_at"]})
    posture = await steward.posture(res)
    should_play = ((await hours.now_open(res)).playback and not posture.playback_stopped
                   and bool(status.get("playable")))
    if not should_play:
        watch.playing_since = None
    else:
        if watch.playing_since is None:
            watch.playing_since = now
        acked = await last_ack(res)
        since = max(watch.playing_since, acked.timestamp() if acked else 0.0)
        silent_s = now - since
        if silent_s >= res.settings.alert_room_silent_s:
            found["room_silent"] = ("room_silent",
                                    f"no play acknowledged for {int(silent_s)} s",
                                    {"last_ack_at": iso(acked), "silent_s": int(silent_s)})
    return found


def alerter(res: Resources) -> Alerter | None:
    held = res.extras.get("alerts")
    return held if isinstance(held, Alerter) else None


async def check_once(res: Resources, watch: Watch) -> None:
    """One round of the watcher (tests call it with a moved clock instead of waiting)."""
    a = alerter(res)
    if a is None:
        return
    a.observe(await conditions(res, watch, a.clock()))


async def _watch(res: Resources, watch: Watch) -> None:
    while True:
        try:
            await check_once(res, watch)
        except Exception as exc:  # a bad round must not end the watching
            log.warning("ops.alert.check_failed", error=type(exc).__name__)
        await asyncio.sleep(CHECK_S)


@contextlib.asynccontextmanager
async def alerting(res: Resources) -> AsyncIterator[None]:
    """With ALERT_WEBHOOK_URL set, watch and send for as long as this block runs."""
    url = res.settings.alert_webhook_url
    if not url or res.hub is None:
        yield
        return
    a = res.extras["alerts"] = Alerter(url, node=res.live.node)
    tasks = [asyncio.create_task(a.run(), name="alerts-send"),
             asyncio.create_task(_watch(res, Watch()), name="alerts-watch")]
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
