"""`rooms listener-sim`: seed 002's simulated listener, which answers a beacon by subscribing.

Each round it reads the subscriptions file, and unless it already holds the stream it
targets (TARGET_STREAM_ID, optional), reads the last LISTENER_TAIL_N beacons, picks the
newest one in a `seeking_*` state (of the target stream, if set) whose stream nobody holds
yet, and adds its own id (LISTENER_ID) to that stream's list, written atomically. Then it
sleeps LISTENER_POLL_INTERVAL_S. It opens no connection: it speaks through the two files.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from rooms.logging import get_logger
from rooms.streams.files import load_subscriptions, read_recent, save_subscriptions

log = get_logger("rooms.streams.listener_sim")


def pick(beacons: list[dict[str, Any]], subscriptions: dict[str, list[str]],
         target: str | None) -> dict[str, Any] | None:
    beacon: dict[str, Any]
    for beacon in reversed(beacons):
        stream = beacon.get("stream_id")
        if not isinstance(stream, str) or not str(beacon.get("state", "")).startswith("seeking_"):
            continue
        if target is not None and stream != target:
            continue
        if not subscriptions.get(stream):
            return beacon
    return None


def round_once(listener_id: str, beacon_path: Path, subscriptions_path: Path, *,
               tail_n: int = 250, target: str | None = None) -> str | None:
    """One poll; the stream id it subscribed to, if any."""
    subscriptions = load_subscriptions(subscriptions_path)
    if target is not None and listener_id in subscriptions.get(target, []):
        return None
    beacon = pick(read_recent(beacon_path, tail_n), subscriptions, target)
    if beacon is None:
        return None
    stream = str(beacon["stream_id"])
    subscriptions.setdefault(stream, []).append(listener_id)
    save_subscriptions(subscriptions_path, subscriptions)
    log.info("listener_sim.subscribed", stream=stream, beacon_n=beacon.get("beacon_n"),
             seq=beacon.get("seq"), listener=listener_id)
    return stream


def run(listener_id: str, beacon_path: Path, subscriptions_path: Path, *, poll_s: float,
        tail_n: int, target: str | None, rounds: int | None = None) -> None:
    done = 0
    while rounds is None or done < rounds:
        round_once(listener_id, beacon_path, subscriptions_path, tail_n=tail_n, target=target)
        done += 1
        if rounds is None or done < rounds:
            time.sleep(poll_s)
