"""The seed-002 files: beacons appended as JSON lines, subscriptions replaced atomically.

    NOISE_SEEK_BEACON_PATH         runtime/beacons.jsonl     (under VAR_DIR when relative)
    NOISE_SEEK_SUBSCRIPTIONS_PATH  runtime/subscriptions.json  {"noise_metadata": ["listener-1"]}

The beacon file is kept under BEACON_FILE_MAX_BYTES: past it, the newest half is kept
(rewritten atomically), so a box that runs for months does not fill its disk. Readers skip
lines that are not JSON objects (a torn last line, a hand edit).
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

BEACON_FILE_MAX_BYTES = 1 << 20


def _replace(path: Path, text: str) -> None:
    """Write `text` to a temp file beside `path`, fsync it, then `os.replace` it in."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def append_beacon(path: Path, beacon: dict[str, Any],
                  max_bytes: int = BEACON_FILE_MAX_BYTES) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        handle.write(json.dumps(beacon, separators=(",", ":")) + "\n")
        size = handle.tell()
    if size > max_bytes:
        lines = path.read_text().splitlines(keepends=True)
        _replace(path, "".join(lines[len(lines) // 2:]))


def read_recent(path: Path, max_lines: int = 200) -> list[dict[str, Any]]:
    """The last `max_lines` beacons, oldest first; a missing file is none."""
    try:
        lines = path.read_text().splitlines()[-max_lines:]
    except FileNotFoundError:
        return []
    out = []
    for line in lines:
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict):
            out.append(value)
    return out


def load_subscriptions(path: Path) -> dict[str, list[str]]:
    """stream id -> listener ids; a missing or unreadable file is no subscriptions."""
    try:
        value = json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return {}
    if not isinstance(value, dict):
        return {}
    return {str(k): [str(x) for x in v] for k, v in value.items() if isinstance(v, list)}


def save_subscriptions(path: Path, subscriptions: dict[str, list[str]]) -> None:
    _replace(path, json.dumps(subscriptions, indent=2) + "\n")
