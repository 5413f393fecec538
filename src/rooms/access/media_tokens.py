"""Signed media URLs. A URL carries a short-lived token, never a bare artifact id."""

from __future__ import annotations

from rooms.config import Settings
from rooms.errors import Forbidden
from rooms.kit import tokens

POOL_AUDIO = "pool_audio"
POOL_HEARD = "pool_heard"
EPHEMERAL_AUDIO = "ephemeral_audio"
SPECTROGRAM_IMAGE = "spectrogram_image"
RECEIPT_AUDIO = "receipt_audio"  # a visitor's own take, from POST /api/v1/receipt
OPERATOR_AUDIO = "operator_audio"  # a steward reviewing a held take (MODERATION=hold)
RAW_PURPOSES = (POOL_AUDIO, EPHEMERAL_AUDIO, RECEIPT_AUDIO, OPERATOR_AUDIO)
REVIEW_PURPOSES = (RECEIPT_AUDIO, OPERATOR_AUDIO)  # may play a take held for review
RAW_PREFIX = "/api/v1/media/raw/"


def mint(settings: Settings, purpose: str, artifact_id: int, ttl_s: int | None = None) -> str:
    ttl = ttl_s if ttl_s is not None else settings.media_access_token_ttl_seconds
    return tokens.sign(settings.secret_key.get_secret_value(), purpose, {"a": artifact_id}, ttl)


def media_url(settings: Settings, purpose: str, artifact_id: int, ttl_s: int | None = None) -> str:
    path = "/api/v1/media/spectrogram/" if purpose == SPECTROGRAM_IMAGE else RAW_PREFIX
    return path + mint(settings, purpose, artifact_id, ttl_s)


def token_from_url(url: str) -> str | None:
    """The token at the end of a play URL (absolute or relative)."""
    _, sep, rest = url.partition(RAW_PREFIX)
    token = rest.split("?", 1)[0].strip("/")
    return token if sep and token else None


def verify(settings: Settings, purposes: tuple[str, ...], token: str) -> tuple[str, int]:
    """(purpose, artifact id) of a media token valid for one of `purposes`, else 403."""
    secret = settings.secret_key.get_secret_value()
    reason = "invalid"
    for purpose in purposes:
        try:
            data = tokens.verify(secret, purpose, token)
        except tokens.TokenError as exc:
            reason = exc.reason if exc.reason == "expired" else reason
            continue
        if isinstance(data.get("a"), int):
            return purpose, int(data["a"])
    raise Forbidden("this media link is not valid" if reason == "invalid"
                    else "this media link has expired", code=f"token_{reason}")
