"""Live tokens: HMAC-signed, expiring, single-purpose and single-use.

A token opens one websocket: `/ws/live` (purpose "live") or `/ws/ops` (purpose "ops"). It is
signed with SECRET_KEY (rooms.kit.tokens: HMAC-SHA256, constant-time compare, the purpose
bound into the key), expires LIVE_TOKEN_TTL_S after minting, and is refused the second time
it is presented. Used tokens are remembered until they expire in the shared store
(`rooms.kit.store`): in Redis when REDIS_URL is set, so a token used on one process is refused
on every other, else in memory. While Redis is away, a `live` token is single-use within
this process (it opens nothing that anyone cannot mint), and an `ops` token is refused
("try again"): an operator's cookie or bearer secret still opens /ws/ops.
"""

from __future__ import annotations

import time
from typing import Literal

from rooms.kit import tokens
from rooms.kit.store import MemoryStore, Store, StoreUnavailable
from rooms.kit.tokens import Clock, TokenError

Purpose = Literal["live", "ops"]
PURPOSES: dict[str, str] = {"live": "live_ws", "ops": "ops_ws"}  # kit purposes, ours alone
USED = "live:used:"
Reason = Literal["invalid", "expired", "used", "unavailable"]
REASONS: dict[str, str] = {"invalid": "invalid token", "expired": "token expired",
                           "used": "token already used",
                           "unavailable": "cannot check tokens now; try again"}
FAIL_CLOSED: frozenset[str] = frozenset({"ops"})  # purposes refused while Redis is away


class TokenRefused(Exception):
    def __init__(self, reason: Reason) -> None:
        super().__init__(REASONS[reason])
        self.reason: Reason = reason

    @property
    def message(self) -> str:
        return REASONS[self.reason]


class LiveTokens:
    def __init__(self, *, secret: str, ttl_s: int, store: Store | None = None,
                 clock: Clock = time.time) -> None:
        self._secret = secret
        self.ttl_s = ttl_s
        self.store: Store = store if store is not None else MemoryStore()
        self.clock = clock  # public so tests can move time instead of sleeping

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
        ttl = max(1.0, float(payload["exp"]) - self.clock() + 2)
        try:
            first = await self.store.add(USED + tokens.token_id(token), ttl,
                                         strict=purpose in FAIL_CLOSED)
        except StoreUnavailable:
            raise TokenRefused("unavailable") from None
        if not first:
            raise TokenRefused("used")
