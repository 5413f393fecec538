"""Stream-worker supervisor (placeholder until the supervisor issue lands)."""

from __future__ import annotations

from typing import Any


class Supervisor:
    """Owns every background stream coroutine through one TaskGroup (later issue)."""

    async def __aenter__(self) -> Supervisor:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    def workers(self) -> dict[str, dict[str, Any]]:
        return {}

    @property
    def state(self) -> str:
        return "idle"
