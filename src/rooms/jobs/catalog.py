"""Imports every module that declares jobs, so both runners see the same list."""

from __future__ import annotations

import importlib

JOB_MODULES = ("rooms.ops.tasks", "rooms.recordings.tasks", "rooms.derivatives.tasks",
               "rooms.archive.prune")


def load_jobs() -> None:
    for name in JOB_MODULES:
        importlib.import_module(name)
