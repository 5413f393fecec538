"""Whether a kiosk (and its IP) still has budget for uploads and revocation attempts."""

from __future__ import annotations

from starlette.requests import HTTPConnection

from rooms.config import Settings, parse_rate
from rooms.errors import Throttled
from rooms.kit.clients import CLIENT_COOKIE, CLIENT_HEADER, client_id, client_ip
from rooms.kit.ratelimit import Budget, RateLimiter

__all__ = ["CLIENT_COOKIE", "CLIENT_HEADER", "charge", "charge_revoke", "client_id", "client_ip",
           "peek"]


async def charge(limiter: RateLimiter, conn: HTTPConnection, *, scope: str, client_rate: str,
                 ip_rate: str, code: str, what: str) -> None:
    """Count one request against the client's and the IP's budget; 429 when either is spent."""
    for name, key, rate in ((scope, client_id(conn), client_rate),
                            (f"{scope}_ip", client_ip(conn), ip_rate)):
        limit, window = parse_rate(name, rate)
        if not await limiter.hit(name, key, limit, window):
            budget = await limiter.peek(name, key, limit, window)
            raise Throttled(f"too many {what}; try again in {budget.reset_in_s} s",
                            retry_after_s=budget.reset_in_s, code=code)


async def charge_revoke(limiter: RateLimiter, conn: HTTPConnection, settings: Settings) -> None:
    """Count one attempt with a revocation code (revoke, receipt) against
    PUBLIC_REVOKE_RATE / PUBLIC_REVOKE_IP_RATE: one budget, however the code is used."""
    await charge(limiter, conn, scope="revoke", client_rate=settings.public_revoke_rate,
                 ip_rate=settings.public_revoke_ip_rate, code="revoke_throttled",
                 what="revocation attempts")


async def peek(limiter: RateLimiter, conn: HTTPConnection, *, scope: str,
               client_rate: str) -> Budget:
    """The client's budget as it stands, without counting anything against it."""
    limit, window = parse_rate(scope, client_rate)
    return await limiter.peek(scope, client_id(conn), limit, window)
