"""HTTP Range parsing for media responses (one range; RFC 9110 semantics)."""

from __future__ import annotations

import re

from rooms.errors import RoomsError

# The unit is case-insensitive (RFC 9110 §14.1: `Bytes=0-1` is a Range); digits past 18
# are more than any blob holds, and Python refuses to convert 4,300 of them.
_RANGE = re.compile(r"bytes\s*=\s*(\d*)\s*-\s*(\d*)", re.IGNORECASE)
_BEYOND = 10**18


class RangeNotSatisfiable(RoomsError):
    status = 416
    code = "range_not_satisfiable"


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """(start, length) for a satisfiable single range, None to send the whole body.

    A malformed or multi-range header is ignored (the whole body is sent), as RFC 9110 allows.
    """
    if not header:
        return None
    match = _RANGE.fullmatch(header.strip())
    if match is None:
        return None
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:  # suffix: the last N bytes
        n = _number(last)
        if n == 0:
            raise _unsatisfiable(size)
        n = min(n, size)
        return size - n, n
    start = _number(first)
    end = min(_number(last), size - 1) if last else size - 1
    if start >= size or (last and _number(last) < start):
        raise _unsatisfiable(size)
    return start, end - start + 1


def _number(digits: str) -> int:
    digits = digits.lstrip("0") or "0"
    return int(digits) if len(digits) <= 18 else _BEYOND


def _unsatisfiable(size: int) -> RangeNotSatisfiable:
    return RangeNotSatisfiable(f"range not satisfiable for {size} bytes",
                               headers={"Content-Range": f"bytes */{size}"})
