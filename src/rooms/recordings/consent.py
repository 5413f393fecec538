"""Consent manifests and revocation codes.

A revocation code is 10 characters from A-Z and 0-9, shown to the participant once; only its
SHA-256 is stored. With an Idempotency-Key the code is derived (HMAC of the server secret and
the key) so that a retried upload can answer with the same code without it ever being stored.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import datetime, timedelta
from typing import Any

from rooms.config import Settings
from rooms.models.enums import ConsentMode, DerivativeKind

CODE_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
CODE_LENGTH = 10
CODE_PATTERN = re.compile(rf"[A-Z0-9]{{{CODE_LENGTH}}}")
EPHEMERAL_TTL = timedelta(minutes=5)


def new_revocation_code(secret: str, idempotency_scope: str | None) -> str:
    if idempotency_scope is None:
        return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
    digest = hmac.new(secret.encode(), f"revocation:{idempotency_scope}".encode(),
                      hashlib.sha256).digest()
    return "".join(CODE_ALPHABET[b % len(CODE_ALPHABET)] for b in digest[:CODE_LENGTH])


def hash_code(code: str) -> str:
    return hashlib.sha256(code.encode("ascii")).hexdigest()


def normalize_code(raw: str) -> str | None:
    code = re.sub(r"[\s-]", "", raw).upper()
    return code if CODE_PATTERN.fullmatch(code) else None


def manifest(mode: ConsentMode, settings: Settings, now: datetime) -> dict[str, Any]:
    """The policy in force at submission, frozen into the ConsentManifest row."""
    if mode == ConsentMode.FOSSIL:
        derive = [DerivativeKind.SPECTROGRAM_PNG, DerivativeKind.ESSENCE_WAV]
        retention = {"raw_ttl_hours": settings.raw_ttl_hours_fossil,
                     "derivative_ttl_days": settings.derivative_ttl_days_fossil}
    elif mode == ConsentMode.ROOM:
        derive, retention = [], {"raw_ttl_hours": settings.raw_ttl_hours_room,
                                 "derivative_ttl_days": 0}
    else:
        derive, retention = [], {"raw_ttl_hours": 0, "derivative_ttl_days": 0}
    return {"mode": mode, "version": 1, "submitted_at": now.isoformat(),
            "derive_allowed": derive, "retention": retention,
            "revocation": {"allowed": mode != ConsentMode.NOSAVE},
            "publish": {"raw": False, "derivatives": False}}


def expiries(mode: ConsentMode, settings: Settings,
             now: datetime) -> tuple[datetime, datetime]:
    """(artifact expires_at, raw expires_at) for a new take."""
    if mode == ConsentMode.FOSSIL:
        return (now + timedelta(days=settings.derivative_ttl_days_fossil),
                now + timedelta(hours=settings.raw_ttl_hours_fossil))
    if mode == ConsentMode.ROOM:
        raw = now + timedelta(hours=settings.raw_ttl_hours_room)
        return raw, raw
    return now + EPHEMERAL_TTL, now + EPHEMERAL_TTL
