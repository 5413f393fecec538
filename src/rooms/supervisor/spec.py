"""The worker table: `orchestrator_tasks.yml` (ORCHESTRATOR_TASKS_PATH), or the seed's.

    tasks:
      - name: analysis_phase
        enabled: true
        min_ws_clients: 2          # run only with at least this many live listeners
        max_ws_clients: null       # ... and at most this many (null: no cap)
        hysteresis: {clients: 1, hold_s: 5}   # deadband, and how long a crossing must last
        ignore_quiet: false        # stopped while the steward's quieter_mode is on
        restart: {backoff_initial_s: 1, backoff_max_s: 60, factor: 2,
                  max_restarts: 5, window_s: 300}   # more crashes in window_s: crashloop
        health_timeout_s: 60       # no heartbeat for this long: restarted
        commons: false             # seek, and merge into `commons` when lonely (seed 002)

A task missing from the file keeps the seed's row; a name the file adds must be a known
worker. Unknown keys and impossible values are refused at start-up with one line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from rooms.errors import ConfigError


class Hysteresis(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    clients: int = Field(0, ge=0)
    hold_s: float = Field(0.0, ge=0)


class RestartPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    backoff_initial_s: float = Field(1.0, gt=0)
    backoff_max_s: float = Field(60.0, gt=0)
    factor: float = Field(2.0, ge=1)
    max_restarts: int = Field(5, ge=0)
    window_s: float = Field(300.0, gt=0)

    def delay(self, failures: int) -> float:
        """Wait before restart number `failures` (1 = the first) in a row."""
        return float(min(self.backoff_max_s,
                         self.backoff_initial_s * self.factor ** max(0, failures - 1)))


class TaskSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    enabled: bool = True
    min_ws_clients: int = Field(0, ge=0)
    max_ws_clients: int | None = Field(None, ge=0)
    hysteresis: Hysteresis = Hysteresis()
    ignore_quiet: bool = True
    restart: RestartPolicy = RestartPolicy()
    health_timeout_s: float = Field(60.0, gt=0)
    commons: bool = False  # a seeking stream that merges into `commons` when long lonely

    @model_validator(mode="after")
    def _bounds(self) -> TaskSpec:
        if self.max_ws_clients is not None and self.max_ws_clients < self.min_ws_clients:
            raise ValueError(f"{self.name}: max_ws_clients is below min_ws_clients")
        return self


# Seed 000's table; all_in_stage is its commented template, here real but disabled.
SEED_TASKS: tuple[TaskSpec, ...] = (
    TaskSpec(name="discovery_probe", min_ws_clients=0, max_ws_clients=1, ignore_quiet=True),
    TaskSpec(name="topic1_worker", min_ws_clients=0, ignore_quiet=True),
    TaskSpec(name="analysis_phase", min_ws_clients=2, ignore_quiet=False),
    TaskSpec(name="noise_metadata", min_ws_clients=0, ignore_quiet=True),
    TaskSpec(name="all_in_stage", enabled=False, min_ws_clients=0, ignore_quiet=False),
)


class SpecError(ConfigError):
    """The worker table cannot be used; the message names the file and the problem."""


def load_specs(path: Path, known: frozenset[str] | None = None) -> list[TaskSpec]:
    """The seed's table, overridden task by task by `path` when that file exists."""
    specs = {spec.name: spec for spec in SEED_TASKS}
    if not path.exists():
        return list(specs.values())
    import yaml  # only for a worker table on disk (~0.6 MiB otherwise idle)

    try:
        document = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        detail = " ".join(str(exc).split())  # one line, whatever the parser says
        raise SpecError(f"{path}: cannot read the worker table: {detail}") from None
    rows = document.get("tasks") if isinstance(document, dict) else None
    if not isinstance(rows, list):
        raise SpecError(f"{path}: expected a mapping with a `tasks` list")
    names = known if known is not None else frozenset(specs)
    for row in rows:
        if not isinstance(row, dict) or not isinstance(row.get("name"), str):
            raise SpecError(f"{path}: every task needs a `name`")
        name = row["name"]
        if name not in names:
            raise SpecError(f"{path}: unknown task {name!r} (known: {', '.join(sorted(names))})")
        base: dict[str, Any] = specs[name].model_dump() if name in specs else {}
        try:
            specs[name] = TaskSpec.model_validate({**base, **row})
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise SpecError(f"{path}: task {name!r}: {where}: {first['msg']}") from None
    return list(specs.values())
