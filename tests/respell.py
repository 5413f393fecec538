"""Other spellings of a signed token that a lenient base64 decoder reads as the same bytes."""

from __future__ import annotations

import base64
import string

ALPHABET = string.ascii_uppercase + string.ascii_lowercase + string.digits + "-_"  # base64url


def lenient(text: str) -> bytes:
    """How Python's default base64 decoder reads `text`: junk skipped, stray bits ignored."""
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def respellings(token: str) -> list[str]:
    """Junk appended or inserted (`~~~~`, padding, characters outside the alphabet) and the
    MAC's last character with its unused low bits set: each decodes, leniently, to the same
    MAC as `token`, and each must be refused."""
    body, mac = token.split(".")
    last = ALPHABET.index(mac[-1])
    unused = (len(mac) * 6) % 8  # low bits of the last character that no byte uses
    low = [mac[:-1] + ALPHABET[last ^ bits] for bits in range(1, 1 << unused)]
    spelled = ([f"{token}{junk}" for junk in ("~~~~", "=", "==", "!!!!", "~~~~~~~~")]
               + [f"{body}.{m}" for m in low] + [f"{body}.{mac[:5]}~~~~{mac[5:]}"])
    assert all(lenient(s.split(".")[1]) == lenient(mac) for s in spelled)
    return spelled
