"""Wire shapes of the derivative routes (for OpenAPI; the routes build the same dicts)."""

from __future__ import annotations

from pydantic import BaseModel


class FossilOut(BaseModel):
    created_at: str
    image_url: str


class FossilsOut(BaseModel):
    items: list[FossilOut]


class SpectrogramOut(BaseModel):
    id: int
    artifact_id: int
    kind: str
    created_at: str
    expires_at: str | None
    image_url: str


class SpectrogramsOut(BaseModel):
    items: list[SpectrogramOut]
    next_cursor: int | None
