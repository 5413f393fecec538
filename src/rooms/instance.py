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


def ensure_secrets(settings: Settings) -> Settings:
    """Fill SECRET_KEY and OPS_SHARED_SECRET from VAR_DIR when the env did not set them.

    The ops secret is printed once, on the console, the first time it is made, so the
    person installing rooms can sign in. It is never written to the logs.
    """
    updates: dict[str, SecretStr] = {}
    if not settings.secret_key.get_secret_value():
        value, _ = _read_or_create(settings.var_dir / "secret_key", 48)
        updates["secret_key"] = SecretStr(value)
    if not settings.ops_shared_secret.get_secret_value():
        value, created = _read_or_create(settings.var_dir / "ops_shared_secret", 18)
        if created:
            print(f"rooms: operator secret for /ops/ (shown once, kept in "
                  f"{settings.var_dir / 'ops_shared_secret'}): {value}", file=sys.stderr)
        updates["ops_shared_secret"] = SecretStr(value)
    return settings.model_copy(update=updates) if updates else settings
