"""Short-lived signed tokens: HMAC-SHA256 over a compact JSON payload, one purpose each.

`sign(secret, purpose, data, ttl_s)` -> opaque URL-safe string; `verify` checks signature
(constant time), purpose and expiry and returns the data. A token never carries a bare id
that works without the signature, and one minted for one purpose fails for every other.

A token has exactly one spelling: both halves must be canonical unpadded base64url (only
the alphabet, no `=`, no stray bits in the last character), so the lists that remember a
token (used live tokens, signed-out sessions, pool acks) cannot be walked around by
respelling it; they key on `token_id`, the canonical spelling of the decoded MAC.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import time
from collections.abc import Callable
from typing import Any

Clock = Callable[[], float]
MAC_BYTES = 20
_B64URL = re.compile(r"[A-Za-z0-9_-]*")


class TokenError(Exception):
    """Bad signature, wrong purpose, malformed or expired."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    """Strict: ValueError unless `text` is exactly how `_b64` spells some bytes."""
    if not _B64URL.fullmatch(text):
        raise ValueError("not base64url")
    raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if _b64(raw) != text:  # unused low bits set in the last character
        raise ValueError("not canonical base64url")
    return raw


def _mac(secret: str, purpose: str, body: str) -> bytes:
    key = hashlib.sha256(f"rooms.tokens:{purpose}:{secret}".encode()).digest()
    return hmac.new(key, body.encode("ascii"), hashlib.sha256).digest()[:MAC_BYTES]


def sign(secret: str, purpose: str, data: dict[str, Any], ttl_s: float,
         *, clock: Clock = time.time) -> str:
    """Mint a token for `purpose` that expires `ttl_s` seconds from now; adds a nonce."""
    payload = {**data, "exp": int(clock() + ttl_s), "n": secrets.token_urlsafe(6)}
    body = _b64(json.dumps(payload, separators=(",", ":"), sort_keys=True).encode())
    return f"{body}.{_b64(_mac(secret, purpose, body))}"


def verify(secret: str, purpose: str, token: str, *, clock: Clock = time.time) -> dict[str, Any]:
    """Return the token's data, or raise TokenError (`invalid` or `expired`)."""
    if len(token) > 2048 or token.count(".") != 1:
        raise TokenError("invalid")
    body, mac = token.split(".")
    if not _B64URL.fullmatch(body):
        raise TokenError("invalid")
    try:
        given = _unb64(mac)
    except ValueError:
        raise TokenError("invalid") from None
    if not hmac.compare_digest(given, _mac(secret, purpose, body)):
        raise TokenError("invalid")
    try:
        payload = json.loads(_unb64(body))
    except ValueError:
        raise TokenError("invalid") from None
    if not isinstance(payload, dict) or not isinstance(payload.get("exp"), int):
        raise TokenError("invalid")
    if payload["exp"] < clock():
        raise TokenError("expired")
    return payload


def token_id(token: str) -> str:
    """The token's name: its decoded MAC (unique per token, since it covers the nonce),
    spelled canonically, 27 characters. For the single-use, sign-out and ack lists; take it
    from a token that `verify` accepted. TokenError when the MAC is not canonical."""
    try:
        mac = _unb64(token.rsplit(".", 1)[-1])
    except ValueError:
        raise TokenError("invalid") from None
    if len(mac) != MAC_BYTES:
        raise TokenError("invalid")
    return _b64(mac)


def peek(token: str) -> dict[str, Any] | None:
    """The unverified payload, for tokens whose purpose must be discovered first."""
    try:
        data = json.loads(_unb64(token.split(".")[0]))
    except (ValueError, IndexError):
        return None
    return data if isinstance(data, dict) else None
