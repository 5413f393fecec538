"""Times on the wire: UTC, ISO 8601, with a `Z`."""

from __future__ import annotations

import time
from datetime import UTC, datetime


def iso(value: datetime | None) -> str | None:
    """`2026-11-23T12:00:00.123456Z` for a timezone-aware datetime; None stays None."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def iso_ms(value: datetime) -> str:
    """To the millisecond: `2026-11-23T12:00:00.123Z` (noise events, beacons)."""
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def now_iso() -> str:
    """The current time to the second: `2026-11-23T12:00:00Z`."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
