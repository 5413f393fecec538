"""Who is uploading, and whether they still have budget."""

from __future__ import annotations

import re

from starlette.requests import HTTPConnection

from rooms.config import parse_rate
from rooms.errors import Throttled
from rooms.kit.ratelimit import Budget, RateLimiter

CLIENT_HEADER = "x-rooms-client-id"
CLIENT_COOKIE = "rooms_client_id"
_CLIENT_ID = re.compile(r"[A-Za-z0-9_.:-]{6,64}")


def client_ip(conn: HTTPConnection) -> str:
    return conn.client.host if conn.client else "unknown"


def client_id(conn: HTTPConnection) -> str:
    """The kiosk's own id (header, else cookie), else its IP."""
    for raw in (conn.headers.get(CLIENT_HEADER), conn.cookies.get(CLIENT_COOKIE)):
        if raw and _CLIENT_ID.fullmatch(raw):
            return f"c:{raw}"
    return f"ip:{client_ip(conn)}"


async def charge(limiter: RateLimiter, conn: HTTPConnection, *, scope: str, client_rate: str,
                 ip_rate: str, code: str, what: str) -> Budget:
    """Count one request against the client's and the IP's budget; 429 when either is spent."""
    c_limit, c_window = parse_rate(scope, client_rate)
    i_limit, i_window = parse_rate(scope, ip_rate)
    mine = await limiter.hit(scope, client_id(conn), c_limit, c_window)
    ip = await limiter.hit(f"{scope}_ip", client_ip(conn), i_limit, i_window)
    for budget in (mine, ip):
        if budget.exhausted:
            raise Throttled(f"too many {what}; try again in {budget.reset_in_s} s",
                            retry_after_s=budget.reset_in_s, code=code)
    return mine


async def peek(limiter: RateLimiter, conn: HTTPConnection, *, scope: str,
               client_rate: str) -> Budget:
    """The client's budget in the current window, without counting anything against it."""
    limit, window = parse_rate(scope, client_rate)
    return await limiter.peek(scope, client_id(conn), limit, window)
