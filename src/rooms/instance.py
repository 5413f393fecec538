"""Embedded-instance state under VAR_DIR: generated secrets, written once with mode 0600."""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path

from pydantic import SecretStr

from rooms.config import Settings


def _read_or_create(path: Path, nbytes: int) -> tuple[str, bool]:
    if path.exists():
        return path.read_text().strip(), False
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(nbytes)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(value + "\n")
    return value, True


OPS_SECRET_FILE = "ops_shared_secret"  # noqa: S105 (a file name, not a secret)
SHOWN_MARKER = "ops_shared_secret.shown"


def ensure_secrets(settings: Settings) -> Settings:
    """Fill SECRET_KEY and OPS_SHARED_SECRET from VAR_DIR when the env did not set them."""
    updates: dict[str, SecretStr] = {}
    if not settings.secret_key.get_secret_value():
        value, _ = _read_or_create(settings.var_dir / "secret_key", 48)
        updates["secret_key"] = SecretStr(value)
    if not settings.ops_shared_secret.get_secret_value():
        value, _ = _read_or_create(settings.var_dir / OPS_SECRET_FILE, 18)
        updates["ops_shared_secret"] = SecretStr(value)
    return settings.model_copy(update=updates) if updates else settings


def announce_first_start(settings: Settings) -> None:
    """Once the first start has succeeded, say where the generated operator secret is.

    The console of a service is often a log, so the path is printed, and the secret itself
    only when stdout is a terminal (CONTRACT §3). Called after start-up succeeded, so a
    start that fails prints nothing, and the next good one still tells.
    """
    path = settings.var_dir / OPS_SECRET_FILE
    marker = settings.var_dir / SHOWN_MARKER
    if not path.exists() or marker.exists():
        return
    print(f"rooms: the operator secret for /ops/ was generated into {path} (mode 0600)",
          file=sys.stderr)
    if sys.stdout.isatty():
        print(f"rooms: operator secret: {path.read_text().strip()}")
    marker.touch(mode=0o600)
