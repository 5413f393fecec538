"""Live routes (filled in by the live issue): POST /api/v1/live/token, WS /ws/live, WS /ws/ops."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["live"])
