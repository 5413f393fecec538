"""Operator sessions: signed, short-lived, bound to the browser, revocable at sign-out.

A session is a `rooms.kit.tokens` token (purpose `ops_session`) carrying only a binding
hash and its expiry. It is signed with a key made of SECRET_KEY and a hash of
OPS_SHARED_SECRET, so changing the operator secret signs every operator out. Nothing about a
session is stored, except the ones signed out before they expired: their MACs are kept until
then in the shared store (`rooms.kit.store`: Redis when REDIS_URL is set, so every process
refuses them, else memory). While Redis is away the list is this process's (sign-outs made
meanwhile are written to Redis when it returns): signature, expiry and binding still hold,
and an outage is when the operator most needs the status page.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Literal

from rooms.config import Settings
from rooms.kit import tokens
from rooms.kit.store import MemoryStore, Store
from rooms.kit.tokens import Clock, TokenError

PURPOSE = "ops_session"
REVOKED = "ops:revoked:"
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
    def __init__(self, store: Store | None = None, *, clock: Clock = time.time) -> None:
        self.store: Store = store if store is not None else MemoryStore()
        self.clock = clock  # public so tests can move time instead of sleeping

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
        return await self.store.get(REVOKED + tokens.token_id(token)) is None

    async def revoke(self, settings: Settings, token: str | None) -> bool:
        """Sign `token` out for the rest of its life; False if it was not a live session."""
        payload = self._payload(settings, token) if token else None
        if token is None or payload is None:
            return False
        expires_at = float(payload["exp"])  # type: ignore[arg-type]  # verify checked int
        ttl = max(1.0, expires_at - self.clock() + 2)
        await self.store.set(REVOKED + tokens.token_id(token), "1", ttl)
        return True
