"""Seed 002: the seeking state machine, its beacons, the files and the listener simulation."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from rooms.streams.files import (
    append_beacon,
    load_subscriptions,
    read_recent,
    save_subscriptions,
)
from rooms.streams.listener_sim import Listener
from rooms.streams.seeking import SeekConfig, Seeker
from rooms.streams.store import FileSeekStore

CONFIG = SeekConfig(lonely_after_s=12, escalate_after_s=30, shutdown_after_s=120,
                    beacon_interval_low_s=10, beacon_interval_esc_s=5)


def seeker() -> Seeker:
    return Seeker(stream_id="noise_metadata", mode="markov", tempo_range_s=(0.8, 2.4),
                  config=CONFIG)


def run(s: Seeker, until: float, *, step: float = 1.0, attached: bool = False,
        start: float = 0.0) -> list[tuple[float, dict[str, Any]]]:
    beacons = []
    t = start
    while t <= until:
        beacon = s.tick(t, delivered=False, attached=attached, wall=1.8e9 + t)
        if beacon is not None:
            beacons.append((t, beacon))
        t += step
    return beacons


def test_a_lonely_stream_seeks_then_escalates_with_rate_limited_beacons() -> None:
    s = seeker()
    beacons = run(s, 40)
    times = [t for t, _ in beacons]
    assert times == [12, 22, 30, 35, 40]  # low: every 10 s from 12 s; escalated: every 5 s
    assert [b["state"] for _, b in beacons] == ["seeking_low"] * 2 + ["seeking_escalate"] * 3
    first = beacons[0][1]
    assert first == {"ts": "2027-01-15T08:00:12.000Z", "stream_id": "noise_metadata",
                     "state": "seeking_low", "seq": 13, "produced_ticks": 13,
                     "delivered_ticks": 0, "loneliness_ratio": 1.0, "mode": "markov",
                     "entropy_profile": "unknown", "tempo_range_s": [0.8, 2.4],
                     "tokens_hint": [], "spore": "", "beacon_n": 1}
    assert [b["beacon_n"] for _, b in beacons] == [1, 2, 3, 4, 5]


def test_attached_sends_no_beacons_and_loneliness_follows_delivery() -> None:
    s = seeker()
    assert run(s, 50, attached=True) == [] and s.state == "attached"
    assert s.loneliness == 1.0  # nothing delivered yet: as lonely as can be
    for t in range(51, 55):
        s.tick(t, delivered=True, attached=True, wall=t)
    assert abs(s.loneliness - 51 / 55) < 1e-9  # 55 produced, 4 of them delivered
    # The listener leaves: loneliness counts again from then, not from the start.
    assert run(s, 66, start=55) == [] and s.state == "idle"
    assert [t for t, _ in run(s, 67, start=67)] == [67] and s.state == "seeking_low"


def test_the_shutdown_intent_is_noted_once_and_the_stream_keeps_seeking() -> None:
    s = seeker()
    run(s, 119)
    assert not s.shutdown_intent
    run(s, 200, start=120)
    assert s.shutdown_intent and s.state == "seeking_escalate"


def test_beacon_file_is_json_lines_read_back_newest_last_and_bounded(tmp_path: Path) -> None:
    path = tmp_path / "runtime" / "beacons.jsonl"  # the folder is made on first append
    for n in range(1, 6):
        append_beacon(path, {"beacon_n": n})
    with path.open("a") as handle:
        handle.write("not json\n[1]\n")
    append_beacon(path, {"beacon_n": 6})
    assert [b["beacon_n"] for b in read_recent(path, 3)] == [6]  # bad lines are skipped
    assert [b["beacon_n"] for b in read_recent(path)] == [1, 2, 3, 4, 5, 6]
    for n in range(7, 200):
        append_beacon(path, {"beacon_n": n}, max_bytes=1000)
    assert path.stat().st_size <= 1000 + 20
    kept = [b["beacon_n"] for b in read_recent(path, 1000)]
    assert kept[-1] == 199 and kept == sorted(kept)
    assert read_recent(tmp_path / "none.jsonl") == []


def test_subscriptions_are_replaced_whole(tmp_path: Path) -> None:
    path = tmp_path / "subscriptions.json"
    assert load_subscriptions(path) == {}
    save_subscriptions(path, {"noise_metadata": ["listener-1"]})
    assert load_subscriptions(path) == {"noise_metadata": ["listener-1"]}
    assert [p.name for p in tmp_path.iterdir()] == ["subscriptions.json"]  # no temp left
    path.write_text("{broken")
    assert load_subscriptions(path) == {}


async def test_the_listener_answers_the_newest_seeking_beacon_once(tmp_path: Path) -> None:
    store = FileSeekStore(tmp_path / "beacons.jsonl", tmp_path / "subscriptions.json")

    def listener(name: str, target: str | None = None) -> Listener:
        return Listener(name, store, target=target)

    assert await listener("l-1").round() is None  # nothing to answer yet
    for stream, state in (("a", "seeking_low"), ("b", "idle"), ("c", "seeking_escalate"),
                          ("d", "attached")):
        await store.add_beacon({"stream_id": stream, "state": state, "beacon_n": 1})
    assert await listener("l-1").round() == "c"
    assert await listener("l-2").round() == "a"  # c is held: the next newest seeker
    assert await listener("l-3").round() is None
    assert await store.subscriptions() == {"c": ["l-1"], "a": ["l-2"]}
    assert load_subscriptions(tmp_path / "subscriptions.json") == {"c": ["l-1"], "a": ["l-2"]}
    assert await listener("l-1", target="c").round() is None  # already holds it


def test_rooms_listener_sim_command(tmp_path: Path) -> None:
    runtime = tmp_path / "runtime"
    append_beacon(runtime / "beacons.jsonl",
                  {"stream_id": "noise_metadata", "state": "seeking_low", "beacon_n": 3})
    env = {"VAR_DIR": str(tmp_path), "LISTENER_ID": "listener-test",
           "LISTENER_POLL_INTERVAL_S": "0.01", "PATH": "/usr/bin:/bin",
           "PYTHONPATH": os.environ.get("PYTHONPATH", "")}
    done = subprocess.run([sys.executable, "-m", "rooms.cli", "listener-sim", "--rounds", "2"],
                          env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "listener_sim.subscribed" in done.stderr  # logs go to stderr
    assert "listener_sim.left" in done.stderr
    # it held the stream while it ran, and let go when it ended
    assert load_subscriptions(runtime / "subscriptions.json") == {}
