"""Wire shapes of the recordings API."""

from __future__ import annotations

from pydantic import BaseModel, Field

from rooms.kit.times import iso
from rooms.models import Artifact


class ArtifactOut(BaseModel):
    id: int
    status: str
    consent_mode: str
    duration_ms: int
    sample_rate: int
    wear: float
    play_count: int
    effect_profile: str
    topic_tag: str
    lifecycle_status: str
    created_at: str | None
    expires_at: str | None

    @classmethod
    def of(cls, a: Artifact) -> ArtifactOut:
        return cls(id=a.id, status=a.status, consent_mode=a.consent_mode,
                   duration_ms=a.duration_ms, sample_rate=a.sample_rate, wear=a.wear,
                   play_count=a.play_count, effect_profile=a.effect_profile,
                   topic_tag=a.topic_tag, lifecycle_status=a.lifecycle_status,
                   created_at=iso(a.created_at), expires_at=iso(a.expires_at))


class IngestOut(BaseModel):
    artifact: ArtifactOut
    revocation_token: str
    revocation_url: str = "/revoke/"


class EphemeralOut(BaseModel):
    artifact_id: int
    play_url: str
    expires_at: str | None


class RevokeIn(BaseModel):
    token: str = Field(min_length=1, max_length=64)


class RevokeOut(BaseModel):
    revoked: int
    derivatives_deleted: int


class ConsumeIn(BaseModel):
    play_url: str | None = Field(default=None, max_length=4096)
    token: str | None = Field(default=None, max_length=2048)


class ConsumeOut(BaseModel):
    consumed: bool
