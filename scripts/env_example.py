#!/usr/bin/env python3
"""Write .env.example from rooms.config.Settings: every variable rooms reads, with its default.

    python scripts/env_example.py          # rewrite .env.example
    python scripts/env_example.py --check  # exit 1 when .env.example is stale

tests/production/test_deploy_files.py fails when a setting is missing from the file.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from pydantic import SecretStr  # noqa: E402

from rooms.config import Settings  # noqa: E402

HEADER = """\
# rooms: every variable it reads. Generated from src/rooms/config.py by
# scripts/env_example.py; do not edit by hand (edit config.py, then re-run it).
#
# Copy to .env (scripts/first_boot.sh does it and fills in the secrets). Lines starting
# with `#` show the default; uncomment one to change it. Names are case-insensitive.

# --- compose.yaml (production): secrets and the site ------------------------------------
# first_boot.sh generates these; compose refuses to start while one is empty
SECRET_KEY=
OPS_SHARED_SECRET=
POSTGRES_PASSWORD=
S3_ACCESS_KEY=
S3_SECRET_KEY=
# the site Caddy serves: a public host name (ROOMS_TLS=auto: Let's Encrypt), or a LAN name
# or address for a kiosk (ROOMS_TLS=internal: Caddy's own CA), see the Caddyfile
ROOMS_SITE=localhost
ROOMS_TLS=internal
# Caddy's body limit: INGEST_MAX_UPLOAD_BYTES + 65536 (keep the two in step)
ROOMS_MAX_REQUEST_BYTES=33619968
# S3 bucket (BLOB_STORE_URL=s3://S3_BUCKET inside compose)
S3_BUCKET=rooms
# PostgreSQL's max_connections (README "Connection budget")
POSTGRES_MAX_CONNECTIONS=100
# how many api and worker processes `docker compose up -d` runs (update.sh keeps them)
API_PROCESSES=1
WORKER_PROCESSES=1
"""

# Set by compose.yaml for its services (or listed above); shown here for other set-ups.
IN_HEADER = {"SECRET_KEY", "OPS_SHARED_SECRET", "S3_ACCESS_KEY", "S3_SECRET_KEY"}
SECTION = re.compile(r"^\s*# --- (.+?) -+\s*$")
FIELD = re.compile(r"^\s{4}([a-z_][a-z0-9_]*)\s*:")


def _value(value: Any) -> str:
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    return str(value)


def render() -> str:
    """The text of .env.example for the Settings class as it is now."""
    sections: dict[str, str] = {}
    current = "settings"
    source = (ROOT / "src" / "rooms" / "config.py").read_text(encoding="utf-8")
    in_class = False
    for line in source.splitlines():
        if line.startswith("class Settings("):
            in_class = True
            continue
        if in_class and line and not line[0].isspace():
            break
        if match := SECTION.match(line):
            current = match.group(1).strip()
        elif (match := FIELD.match(line)) and in_class:
            sections.setdefault(match.group(1), current)
    out = [HEADER]
    last = None
    for name, field in Settings.model_fields.items():
        section = sections.get(name, "settings")
        if section != last:
            out.append(f"\n# --- {section} ---")
            last = section
        env = name.upper()
        if env in IN_HEADER:
            out.append(f"# {env}: above")
            continue
        default = field.get_default(call_default_factory=True)
        out.append(f"# {env}={_value(default)}")
    return "\n".join(out) + "\n"


def main() -> int:
    target = ROOT / ".env.example"
    text = render()
    if "--check" in sys.argv[1:]:
        if not target.exists() or target.read_text(encoding="utf-8") != text:
            print("rooms: .env.example is stale: run python scripts/env_example.py",
                  file=sys.stderr)
            return 1
        return 0
    target.write_text(text, encoding="utf-8")
    print(f"wrote {target.relative_to(ROOT)} ({len(Settings.model_fields)} settings)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
