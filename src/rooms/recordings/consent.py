"""Consent manifests and revocation codes.

A revocation code is 10 characters of Crockford's base32 (0-9 and A-Z without I, L, O, U), so
nothing on the kiosk screen has a look-alike; it is shown to the participant once and only its
SHA-256 is stored. With an Idempotency-Key the code is derived (HMAC of the server secret and
the key) so that a retried upload can answer with the same code without it ever being stored.

Typed codes are normalised (`normalize_code`): Unicode NFKC, upper case, every space and dash
removed, then O -> 0 and I/L -> 1. Codes issued before Crockford (A-Z and 0-9, so O/0 and I/1
both occur) still revoke: `candidate_hashes` gives the hashes of the typed form, its
normalised form and every look-alike variant, one per ambiguous character (O/0, I/1, L/1),
so at most 2**10 = 1024 hashes for a 10-character code, looked up in one query.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import re
import secrets
import string
import unicodedata
from datetime import datetime, timedelta
from typing import Any

from rooms.config import Settings
from rooms.models.enums import ConsentMode, DerivativeKind

# Crockford base32: 0-9 and A-Z without I, L, O, U (32 symbols, none a look-alike of another).
CODE_ALPHABET = "".join(c for c in string.digits + string.ascii_uppercase if c not in "ILOU")
CODE_LENGTH = 10
CODE_PATTERN = re.compile(rf"[A-Z0-9]{{{CODE_LENGTH}}}")  # new and legacy codes alike
EPHEMERAL_TTL = timedelta(minutes=5)

# What a typed character may have been: O/0 and I/1 swap both ways on a screen, and an L is
# a Crockford 1 in a new code but itself in a legacy one. Two readings each, so 2**k hashes.
_LOOK_ALIKES = {"0": "0O", "O": "0O", "1": "1I", "I": "1I", "L": "1L"}
_CROCKFORD = str.maketrans({"O": "0", "I": "1", "L": "1"})
# Characters people paste between groups: spaces of every width, hyphens and dashes, the minus
# sign, soft hyphens and zero-width joiners. (Categories: Z* separators, Pd dashes, Cf format.)
_EXTRA_DASHES = frozenset("\u2212\u2043\ufe63\uff0d")


def new_revocation_code(secret: str, idempotency_scope: str | None) -> str:
    """A fresh code, or (with an Idempotency-Key scope) the same code on every retry."""
    if idempotency_scope is None:
        return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
    digest = hmac.new(secret.encode(), f"revocation:{idempotency_scope}".encode(),
                      hashlib.sha256).digest()
    # 256 is a multiple of 32, so `b % 32` is unbiased.
    return "".join(CODE_ALPHABET[b % len(CODE_ALPHABET)] for b in digest[:CODE_LENGTH])


def hash_code(code: str) -> str:
    return hashlib.sha256(code.encode("ascii")).hexdigest()


def _separator(ch: str) -> bool:
    cat = unicodedata.category(ch)
    return ch.isspace() or cat[0] == "Z" or cat in ("Pd", "Cf") or ch in _EXTRA_DASHES


def clean_code(raw: str) -> str | None:
    """The code as typed, without its decoration: NFKC, upper case, spaces and dashes gone.
    None unless that leaves exactly CODE_LENGTH characters of A-Z and 0-9."""
    text = unicodedata.normalize("NFKC", raw[:256]).upper()
    code = "".join(ch for ch in text if not _separator(ch))
    return code if CODE_PATTERN.fullmatch(code) else None


def normalize_code(raw: str) -> str | None:
    """The typed code in Crockford form (O -> 0, I/L -> 1), or None if it cannot be one."""
    code = clean_code(raw)
    return None if code is None else code.translate(_CROCKFORD)


def candidate_hashes(raw: str) -> list[str]:
    """Hashes a typed code may have been stored under, most likely first: the typed form,
    its Crockford form, then each look-alike variant (2**k for k ambiguous characters, k at
    most CODE_LENGTH, so at most 1024). Empty if the input cannot be a code."""
    typed = clean_code(raw)
    if typed is None:
        return []
    readings = [_LOOK_ALIKES.get(ch, ch) for ch in typed]
    ordered = dict.fromkeys([typed, typed.translate(_CROCKFORD)])
    ordered.update(dict.fromkeys("".join(p) for p in itertools.product(*readings)))
    return [hash_code(code) for code in ordered]


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
