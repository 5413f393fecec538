"""Whether a kiosk (and its IP) still has budget for uploads and revocation attempts."""

from __future__ import annotations

from typing import NoReturn

from starlette.requests import HTTPConnection

from rooms.config import Settings, parse_rate
from rooms.errors import Throttled
from rooms.kit.clients import CLIENT_COOKIE, CLIENT_HEADER, client_id, client_ip
from rooms.kit.ratelimit import Budget, RateLimiter

__all__ = ["CLIENT_COOKIE", "CLIENT_HEADER", "charge", "charge_revoke", "client_id", "client_ip",
           "peek"]


async def charge(limiter: RateLimiter, conn: HTTPConnection, *, scope: str, client_rate: str,
                 ip_rate: str, code: str, what: str) -> None:
    """Count one request against the client's and the IP's budget; 429 when either is spent.

    The IP's budget is read first, counting nothing: a spent IP is refused before any
    per-client state is made, so client ids rotated from one IP add at most its budget's
    worth of keys to the store and can never push the IP's own entry out of a full one
    (`rooms.kit.store`, "Bounds")."""
    ip_scope, ip = f"{scope}_ip", client_ip(conn)
    ip_limit, ip_window = parse_rate(ip_scope, ip_rate)
    budget = await limiter.peek(ip_scope, ip, ip_limit, ip_window)
    if budget.remaining <= 0:
        _refuse(budget, code, what)
    for name, key, rate in ((scope, client_id(conn), client_rate), (ip_scope, ip, ip_rate)):
        limit, window = parse_rate(name, rate)
        if not await limiter.hit(name, key, limit, window):
            _refuse(await limiter.peek(name, key, limit, window), code, what)


def _refuse(budget: Budget, code: str, what: str) -> NoReturn:
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
