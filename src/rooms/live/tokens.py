"""Live tokens: HMAC-signed, expiring, single-purpose and single-use.

A token opens one websocket: `/ws/live` (purpose "live") or `/ws/ops` (purpose "ops"). It is
signed with SECRET_KEY (rooms.kit.tokens: HMAC-SHA256, constant-time compare, the purpose
bound into the key), expires LIVE_TOKEN_TTL_S after minting, and is refused the second time
it is presented. Used tokens are remembered until they expire: in Redis when REDIS_URL is
set (so a token used on one process is refused on every other), else in memory.
"""

from __future__ import annotations

import time
from typing import Literal

from redis.asyncio import Redis

from rooms.kit import tokens
from rooms.kit.tokens import Clock, TokenError
from rooms.logging import get_logger

log = get_logger("rooms.live.tokens")

Purpose = Literal["live", "ops"]
PURPOSES: dict[str, str] = {"live": "live_ws", "ops": "ops_ws"}  # kit purposes, ours alone
USED_PREFIX = "rooms:live:used:"
Reason = Literal["invalid", "expired", "used"]
REASONS: dict[str, str] = {"invalid": "invalid token", "expired": "token expired",
                           "used": "token already used"}


class TokenRefused(Exception):
    def __init__(self, reason: Reason) -> None:
        super().__init__(REASONS[reason])
        self.reason: Reason = reason

    @property
    def message(self) -> str:
        return REASONS[self.reason]


class LiveTokens:
    def __init__(self, *, secret: str, ttl_s: int, redis: Redis | None,
                 clock: Clock = time.time) -> None:
        self._secret = secret
        self.ttl_s = ttl_s
        self._redis = redis
        self.clock = clock  # public so tests can move time instead of sleeping
        self._used: dict[str, float] = {}
        self._prune_at = 1024

    def mint(self, purpose: Purpose) -> str:
        return tokens.sign(self._secret, PURPOSES[purpose], {}, self.ttl_s, clock=self.clock)

    async def redeem(self, token: str | None, purpose: Purpose) -> None:
        """Accept `token` for `purpose` exactly once, or raise TokenRefused saying why."""
        if not token:
            raise TokenRefused("invalid")
        try:
            payload = tokens.verify(self._secret, PURPOSES[purpose], token, clock=self.clock)
        except TokenError as exc:
            raise TokenRefused("expired" if exc.reason == "expired" else "invalid") from None
        if not await self._first_use(tokens.token_id(token), float(payload["exp"])):
            raise TokenRefused("used")

    async def _first_use(self, key: str, expires_at: float) -> bool:
        if self._redis is not None:
            try:
                ttl = max(1, int(expires_at - self.clock()) + 2)
                return bool(await self._redis.set(USED_PREFIX + key, b"1", nx=True, ex=ttl))
            except Exception as exc:  # Redis away: still single-use within this process
                log.warning("live.tokens.redis_unavailable", error=type(exc).__name__)
        return self._first_use_here(key, expires_at)

    def _first_use_here(self, key: str, expires_at: float) -> bool:
        now = self.clock()
        if len(self._used) >= self._prune_at:
            self._used = {k: exp for k, exp in self._used.items() if exp >= now}
            self._prune_at = max(1024, 2 * len(self._used))
        if key in self._used:
            return False
        self._used[key] = expires_at
        return True
