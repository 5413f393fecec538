"""A stand-in for the `docker` CLI in tests of first_boot.sh and update.sh: no Docker engine
can run on the test machines (and no image can be pulled), so the scripts' docker calls come
here instead. `install(bin_dir, ...)` puts a `docker` on a PATH that runs this file.

Every call is recorded as one JSON line {"argv": [...], "cwd": "..."} in $DOCKER_SHIM_LOG.
`docker compose version` answers as Compose would. `docker compose run [--rm] [--no-deps]
SERVICE [COMMAND...]` runs COMMAND (or the service's own command) the way its container would,
when $DOCKER_SHIM_SERVICES names a JSON file {SERVICE: {"env": {...}, "cwd": DIR, "command":
[...]}} written by the test, with the image's /var/lib/rooms mapped to that service's VAR_DIR.
Every other call (build, up, ...) only succeeds.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

IMAGE_ROOT = "/var/lib/rooms"


def install(bin_dir: Path) -> Path:
    """Write `bin_dir/docker`, which runs this file with the tests' interpreter."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    docker = bin_dir / "docker"
    docker.write_text(f"#!/bin/sh\nexec {sys.executable} {Path(__file__).resolve()} \"$@\"\n")
    docker.chmod(0o755)
    return docker


def calls(log: Path) -> list[list[str]]:
    """The argv of every recorded call, in order."""
    if not log.exists():
        return []
    return [json.loads(line)["argv"] for line in log.read_text().splitlines()]


def main(argv: list[str]) -> int:
    with open(os.environ["DOCKER_SHIM_LOG"], "a") as log:
        log.write(json.dumps({"argv": argv, "cwd": os.getcwd()}) + "\n")
    if argv[:2] == ["compose", "version"]:
        print("Docker Compose version v2.40.3 (tests/production/docker_shim.py)")
        return 0
    if argv[:2] == ["compose", "run"]:
        return run(argv[2:])
    return 0


def run(args: list[str]) -> int:
    while args and args[0].startswith("--"):
        args = args[1:]
    service, command = args[0], args[1:]
    table = os.environ.get("DOCKER_SHIM_SERVICES")
    if not table:
        return 0
    spec = json.loads(Path(table).read_text())[service]
    var_dir = spec["env"]["VAR_DIR"]
    argv = [arg.replace(IMAGE_ROOT, var_dir) for arg in (command or spec["command"])]
    return subprocess.run(argv, env=spec["env"], cwd=spec["cwd"], check=False).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
