"""`rooms listener-sim` as a user runs it: it leaves on SIGTERM, listens over the websocket
with `--ws`, and with `--prefer` takes the beacons of its taste."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi import FastAPI

from rooms.streams.files import append_beacon, load_subscriptions
from rooms.streams.listener_sim import Taste, pick, run_ws
from tests.browser import serve_app
from tests.helpers import resources
from tests.live.conftest import until


def test_sigterm_drops_its_subscription(tmp_path: Path) -> None:
    runtime = tmp_path / "runtime"
    append_beacon(runtime / "beacons.jsonl",
                  {"stream_id": "noise_metadata", "state": "seeking_low", "beacon_n": 1})
    env = {"VAR_DIR": str(tmp_path), "LISTENER_ID": "listener-term", "PATH": "/usr/bin:/bin",
           "LISTENER_POLL_INTERVAL_S": "0.05", "PYTHONPATH": os.environ.get("PYTHONPATH", "")}
    proc = subprocess.Popen([sys.executable, "-m", "rooms.cli", "listener-sim"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        path = runtime / "subscriptions.json"
        for _ in range(600):  # up to 30 s for the interpreter to start and subscribe
            if load_subscriptions(path).get("noise_metadata") == ["listener-term"]:
                break
            try:
                proc.wait(0.05)
            except subprocess.TimeoutExpired:
                continue
            pytest.fail(f"listener-sim ended early: {proc.stderr.read() if proc.stderr else ''}")
        else:
            pytest.fail("listener-sim never subscribed")
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "listener_sim.left" in err
    assert load_subscriptions(path) == {}


def test_prefer_takes_its_taste_and_remembers_what_it_liked() -> None:
    beacons = [{"stream_id": s, "state": "seeking_low", "entropy_profile": p}
               for s, p in (("a", "low"), ("b", "high"), ("c", "medium"))]
    assert pick(beacons, {}, None)["stream_id"] == "c"  # no taste: the newest
    high, low = Taste("high"), Taste("low")
    assert pick(beacons, {}, None, high)["stream_id"] == "b"
    assert pick(beacons, {}, None, low)["stream_id"] == "a"
    assert pick(beacons, {"a": ["someone"]}, None, low)["stream_id"] == "c"  # next best
    # two high streams: the memory breaks nothing, the newest still wins among equals
    twins = [*beacons, {"stream_id": "d", "state": "seeking_low", "entropy_profile": "high"}]
    assert pick(twins, {}, None, high)["stream_id"] == "d"
    high.took(twins[-1])
    assert list(high.liked) == ["high"]
    low.took(beacons[1])  # took a high one: not to its taste, not remembered as liked
    assert list(low.liked) == []
    # equal fit (medium, and a profile it does not know): the memory decides
    lows = [{"stream_id": "m", "state": "seeking_low", "entropy_profile": "medium"},
            {"stream_id": "u", "state": "seeking_low", "entropy_profile": "unknown"}]
    assert pick(lows, {}, None, low)["stream_id"] == "u"  # nothing remembered: the newest
    low.took(lows[0])
    assert list(low.liked) == ["medium"]
    assert pick(lows, {}, None, low)["stream_id"] == "m"  # it liked a medium one lately


@pytest.mark.parametrize("tier", ["embedded"], indirect=True)
async def test_ws_mode_listens_like_a_real_client_and_leaves_by_closing(app: FastAPI) -> None:
    hub = resources(app).live
    stop = asyncio.Event()
    async with serve_app(app) as base_url:
        task = asyncio.create_task(run_ws(base_url, "listener-ws", taste=Taste(None),
                                          target=None, poll_s=0.1, stop=stop))
        await until(lambda: hub.counts()["beacons"] == 1, what="the listener on beacons")
        await hub.publish("beacons", {"stream_id": "elsewhere", "state": "attached"})
        await hub.publish("beacons", {"stream_id": "noise_metadata", "state": "seeking_low",
                                      "stream_topic": "noise_metadata", "beacon_n": 1})
        await until(lambda: hub.counts()["noise_metadata"] == 1, what="it to subscribe")
        assert hub.total == 1
        stop.set()
        async with asyncio.timeout(10):
            await task
        await until(lambda: hub.total == 0 and hub.counts()["noise_metadata"] == 0)


def test_a_merged_streams_older_beacon_is_not_answered() -> None:
    beacons = [{"stream_id": "noise_metadata", "state": "seeking_escalate"},
               {"stream_id": "commons", "state": "seeking_escalate",
                "streams": {"noise_metadata": "commons"}}]
    assert pick(beacons, {}, None)["stream_id"] == "commons"
    # the commons held by someone: noise_metadata is in it, its old beacon is stale
    assert pick(beacons, {"commons": ["l-1"]}, None) is None
