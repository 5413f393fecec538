"""Alerts reach a real HTTP receiver on loopback: once per condition, resolved when it
ends, retried with backoff when the receiver fails, never in a request's way."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from rooms.live.devices import DeviceReport, registry
from rooms.models import utcnow
from rooms.ops import alerts
from tests.helpers import resources
from tests.live.conftest import until
from tests.ops.conftest import SECRET
from tests.playback.conftest import take, update

BEARER = {"Authorization": f"Bearer {SECRET}"}


class Receiver:
    """A little webhook receiver: answers each POST with the next of `statuses` (then 200)
    and keeps the JSON bodies of the ones it answered 2xx."""

    def __init__(self, statuses: list[int] | None = None) -> None:
        self.statuses = list(statuses or [])
        self.bodies: list[dict[str, Any]] = []
        self.attempts = 0
        self.lock = threading.Lock()

    def handle(self, raw: bytes) -> int:
        with self.lock:
            self.attempts += 1
            status = self.statuses.pop(0) if self.statuses else 200
            if status < 300:
                self.bodies.append(json.loads(raw))
            return status


@contextmanager
def receiver(statuses: list[int] | None = None) -> Iterator[tuple[Receiver, str]]:
    got = Receiver(statuses)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(got.handle(raw))
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield got, f"http://127.0.0.1:{server.server_address[1]}/hook"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def hook() -> Iterator[tuple[Receiver, str]]:
    with receiver([500, 503]) as found:
        yield found


@pytest.fixture
async def settings(settings: Any, hook: tuple[Receiver, str]) -> Any:
    return settings.model_copy(update={"alert_webhook_url": hook[1],
                                       "alert_room_silent_s": 600.0})


async def test_a_gone_device_fires_once_is_retried_and_resolves(
        app: FastAPI, client: httpx.AsyncClient, hook: tuple[Receiver, str]) -> None:
    got, _ = hook
    res = resources(app)
    alerter = alerts.alerter(res)
    assert alerter is not None
    alerter.backoff_s = 0.01
    now = [1_800_000_000.0]
    registry(res).clock = alerter.clock = lambda: now[0]
    registry(res).seen(DeviceReport("room", "Hall", {"audio": "playing"}))
    watch = alerts.Watch()
    await alerts.check_once(res, watch)
    now[0] += 61
    await alerts.check_once(res, watch)
    await alerts.check_once(res, watch)  # still gone: not sent again
    await until(lambda: len(got.bodies) == 1, what="the alert after two failures")
    assert got.attempts == 3  # 500, 503, then taken
    body = got.bodies[0]
    assert (body["status"], body["kind"], body["key"]) == ("firing", "device_gone",
                                                           "device:room:Hall")
    assert body["details"]["name"] == "Hall" and body["source"] == "rooms"
    registry(res).seen(DeviceReport("room", "Hall", {"audio": "playing"}))
    await alerts.check_once(res, watch)
    await until(lambda: len(got.bodies) == 2, what="the resolution")
    assert (got.bodies[1]["status"], got.bodies[1]["key"]) == ("resolved", "device:room:Hall")


async def test_a_silent_room_is_reported_while_it_should_be_playing(
        app: FastAPI, client: httpx.AsyncClient, hook: tuple[Receiver, str]) -> None:
    got, _ = hook
    got.statuses.clear()
    res = resources(app)
    alerter = alerts.alerter(res)
    assert alerter is not None
    artifact_id = await take(client)
    start = utcnow().timestamp()
    await update(app, artifact_id, last_access_at=utcnow() - timedelta(hours=1))
    now = [start]
    alerter.clock = lambda: now[0]
    watch = alerts.Watch()
    await alerts.check_once(res, watch)  # the room should play from now on
    now[0] += 599
    await alerts.check_once(res, watch)
    assert "room_silent" not in alerter.active
    now[0] += 2
    await alerts.check_once(res, watch)
    await until(lambda: any(b["kind"] == "room_silent" for b in got.bodies),
                what="the silent-room alert")
    # the steward pauses the room: not silent any more, it is resting
    paused = await client.post("/api/v1/operator/controls", json={"playback_paused": True},
                               headers=BEARER)
    assert paused.status_code == 200
    await alerts.check_once(res, watch)
    await until(lambda: got.bodies[-1]["status"] == "resolved", what="the resolution")


async def test_an_unreachable_receiver_never_holds_up_a_request(app: FastAPI,
                                                               client: httpx.AsyncClient) -> None:
    res = resources(app)
    alerter = alerts.alerter(res)
    assert alerter is not None
    alerter.url = "http://127.0.0.1:9/nothing-listens-here"
    alerter.backoff_s = 30.0  # the sender waits; nobody else does
    alerter.observe({"x": ("critical_warning", "test", {})})
    for _ in range(3):
        assert (await client.get("/api/v1/surface/state")).status_code == 200
    assert alerter.sent == 0
