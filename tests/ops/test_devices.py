"""Devices: kiosks and rooms report themselves on /ws/live; the operator sees them, and one
not heard from for a minute is a `device_gone` warning."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from rooms.app import create_app
from rooms.config import Settings
from rooms.live.devices import MAX_DEVICES, DeviceReport, registry
from tests.helpers import resources
from tests.live.conftest import live_client, serve, until
from tests.ops.conftest import SECRET

BEARER = {"Authorization": f"Bearer {SECRET}"}


async def test_a_kiosk_reports_itself_and_goes_stale_after_a_minute(
        app: FastAPI, client: httpx.AsyncClient) -> None:
    res = resources(app)
    now = [1_800_000_000.0]
    registry(res).clock = lambda: now[0]
    async with serve(app) as server, live_client(server) as kiosk:
        reply = await kiosk.request({"op": "device", "kind": "kiosk", "name": "Foyer kiosk",
                                     "status": {"microphone": "granted", "recording": False,
                                                "token": "never-kept"}})
        assert reply == {"op": "device_seen"}
        bad = await kiosk.request({"op": "device", "kind": "toaster", "name": "x"})
        assert bad["op"] == "error" and bad["error"]["code"] == "bad_device"
        too_long = await kiosk.request({"op": "device", "kind": "room", "name": "r" * 65})
        assert too_long["error"]["code"] == "bad_device"
        nested = await kiosk.request({"op": "device", "kind": "room", "name": "r",
                                      "status": {"deep": {"a": 1}}})
        assert nested["error"]["code"] == "bad_device"
        other = await kiosk.request({"op": "device", "kind": "room", "name": "Hall"})
        assert other["error"] == {"code": "bad_device",
                                  "message": "one connection reports one device"}
    listed = (await client.get("/api/v1/operator/devices", headers=BEARER)).json()["items"]
    assert listed == [{"kind": "kiosk", "name": "Foyer kiosk",
                       "last_seen_at": "2027-01-15T08:00:00Z",
                       "status": {"microphone": "granted", "recording": False},
                       "stale": False}]
    status = (await client.get("/api/v1/node/status", headers=BEARER)).json()
    assert "device_gone" not in {w["code"] for w in status["warnings"]}

    now[0] += 61
    listed = (await client.get("/api/v1/operator/devices", headers=BEARER)).json()["items"]
    assert listed[0]["stale"] is True
    status = (await client.get("/api/v1/node/status", headers=BEARER)).json()
    gone = [w for w in status["warnings"] if w["code"] == "device_gone"]
    assert len(gone) == 1 and "Foyer kiosk" in gone[0]["message"]
    assert (await client.get("/api/v1/operator/devices")).status_code == 401


async def test_the_registry_is_bounded(app: FastAPI) -> None:
    reg = registry(resources(app))
    for n in range(MAX_DEVICES + 10):
        reg.seen(DeviceReport("room", f"room {n}", {}))
    names = {s.name for s in reg.items()}
    assert len(names) == MAX_DEVICES and "room 0" not in names and "room 73" in names


async def test_an_operator_socket_cannot_report_a_device(app: FastAPI) -> None:
    async with serve(app) as server, live_client(server, path="/ws/ops") as ops:
        while (await ops.recv()).get("op") != "subscribed":
            pass
        await ops.send({"op": "device", "kind": "kiosk", "name": "x"})
        while True:
            reply = await ops.recv()
            if reply.get("op") == "error":
                break
        assert reply["error"]["code"] == "unknown_op"
    assert registry(resources(app)).items() == []


@pytest.mark.parametrize("tier", ["services"], indirect=False)
async def test_with_redis_every_process_lists_every_device(
        app: FastAPI, client: httpx.AsyncClient, settings: Settings) -> None:
    other = create_app(settings)  # a second api process on the same Redis
    async with other.router.lifespan_context(other):
        registry(resources(other)).seen(DeviceReport("room", "Hall", {"audio": "playing"}))
        await until(lambda: not registry(resources(other))._writes, what="the shared write")
        listed = (await client.get("/api/v1/operator/devices", headers=BEARER)).json()
    assert [(d["kind"], d["name"], d["status"]) for d in listed["items"]] == [
        ("room", "Hall", {"audio": "playing"})]
