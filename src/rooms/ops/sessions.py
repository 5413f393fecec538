"""Operator sessions: signed, short-lived, bound to the browser, revocable at sign-out.

A session is a `rooms.kit.tokens` token (purpose `ops_session`) carrying only a binding
hash and its expiry. It is signed with a key made of SECRET_KEY and a hash of
OPS_SHARED_SECRET, so changing the operator secret signs every operator out. Nothing about a
session is stored, except the ones signed out before they expired: their MACs are kept until
then (in Redis when REDIS_URL is set, so every process refuses them, else in memory).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Literal

from redis.asyncio import Redis

from rooms.config import Settings
from rooms.kit import tokens
from rooms.kit.tokens import Clock, TokenError
from rooms.logging import get_logger

log = get_logger("rooms.ops.sessions")

PURPOSE = "ops_session"
REVOKED_PREFIX = "rooms:ops:revoked:"
BindingMode = Literal["strict", "user_agent", "none"]


def binding(mode: BindingMode, ip: str, user_agent: str) -> str:
    """What a session is tied to: sha256 of ip|user-agent, of the user agent, or a constant."""
    if mode == "strict":
        source = f"{ip}|{user_agent}"
    elif mode == "user_agent":
        source = user_agent
    else:
        source = "rooms-ops-unbound"
    return hashlib.sha256(source.encode("utf-8", "replace")).hexdigest()[:32]


def _signing_key(settings: Settings) -> str:
    ops = hashlib.sha256(settings.ops_shared_secret.get_secret_value().encode()).hexdigest()
    return f"{settings.secret_key.get_secret_value()}\0ops:{ops}"


class OpsSessions:
    def __init__(self, redis: Redis | None = None, *, clock: Clock = time.time) -> None:
        self._redis = redis
        self.clock = clock  # public so tests can move time instead of sleeping
        self._revoked: dict[str, float] = {}

    def mint(self, settings: Settings, bound_to: str) -> str:
        return tokens.sign(_signing_key(settings), PURPOSE, {"b": bound_to},
                           settings.ops_session_ttl_seconds, clock=self.clock)

    def _payload(self, settings: Settings, token: str) -> dict[str, object] | None:
        try:
            return tokens.verify(_signing_key(settings), PURPOSE, token, clock=self.clock)
        except TokenError:
            return None

    async def valid(self, settings: Settings, token: str | None, bound_to: str) -> bool:
        """Signed by us, unexpired, bound to this browser, and not signed out."""
        if not token:
            return False
        payload = self._payload(settings, token)
        if payload is None:
            return False
        given = payload.get("b")
        if not isinstance(given, str) or not hmac.compare_digest(given, bound_to):
            return False
        return not await self._is_revoked(tokens.token_id(token))

    async def revoke(self, settings: Settings, token: str | None) -> bool:
        """Sign `token` out for the rest of its life; False if it was not a live session."""
        payload = self._payload(settings, token) if token else None
        if token is None or payload is None:
            return False
        expires_at = float(payload["exp"])  # type: ignore[arg-type]  # verify checked int
        key = tokens.token_id(token)
        self._remember(key, expires_at)
        if self._redis is not None:
            ttl = max(1, int(expires_at - self.clock()) + 2)
            try:
                await self._redis.set(REVOKED_PREFIX + key, b"1", ex=ttl)
            except Exception as exc:  # still refused by this process
                log.warning("ops.sessions.redis_unavailable", error=type(exc).__name__)
        return True

    async def _is_revoked(self, key: str) -> bool:
        if key in self._revoked:
            return True
        if self._redis is None:
            return False
        try:
            return bool(await self._redis.exists(REVOKED_PREFIX + key))
        except Exception as exc:
            # Fail open on the sign-out list only (signature, expiry and binding still hold):
            # a Redis outage is exactly when the operator needs the status page.
            log.warning("ops.sessions.redis_unavailable", error=type(exc).__name__)
            return False

    def _remember(self, key: str, expires_at: float) -> None:
        now = self.clock()
        if len(self._revoked) >= 1024:
            self._revoked = {k: exp for k, exp in self._revoked.items() if exp >= now}
        self._revoked[key] = expires_at
