"""The commands as an operator runs them (embedded instance, real processes): import with
its summary and exit code, backup, restore into a second instance, a damaged archive refused
before anything is written, and the close-of-day record."""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from tests.archive.conftest import MAX_S, import_folder


def rooms(cwd: Path, var: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items()
               if not k.startswith(("DATABASE_", "BLOB_", "REDIS_", "SECRET_", "VAR_"))}
    environ.update(VAR_DIR=str(var), INGEST_MAX_DURATION_SECONDS=str(MAX_S),
                   COLUMNS="200", **env)
    return subprocess.run([sys.executable, "-m", "rooms.cli", *args], cwd=cwd, env=environ,
                          capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.parametrize("tier", ["embedded"])
def test_the_commands_end_to_end(tier: str, tmp_path: Path) -> None:
    site, spare, third = tmp_path / "site", tmp_path / "spare", tmp_path / "third"
    folder = tmp_path / "recordings"
    import_folder(folder)
    codes = tmp_path / "codes.csv"

    first = rooms(tmp_path, site, "import", str(folder), "--consent-mode", "room",
                  "--topic", "harbour", "--codes", str(codes))
    assert first.returncode == 1, first.stderr  # some files were refused
    assert "imported 3, skipped 1" in first.stderr and "refused 4" in first.stderr
    assert "stereo.wav" in first.stderr and "not_mono" in first.stderr
    assert len(codes.read_text().splitlines()) == 3
    again = rooms(tmp_path, site, "import", str(folder), "--consent-mode", "ROOM")
    assert "imported 0, skipped 4" in again.stderr

    made = rooms(tmp_path, site, "backup", str(tmp_path / "site.tar"))
    assert made.returncode == 0, made.stderr
    assert "3 blobs" in made.stderr

    secret = (site / "secret_key").read_text().strip()
    restored = rooms(tmp_path, spare, "restore", str(tmp_path / "site.tar"),
                     SECRET_KEY=secret,
                     REVOCATION_LEDGER_URL=f"file://{site / 'revocations.jsonl'}")
    assert restored.returncode == 0, restored.stderr
    assert "SHA-256 all match" in restored.stderr and "3 blobs" in restored.stderr
    blobs = sorted(p.relative_to(spare / "blobs").as_posix()
                   for p in (spare / "blobs").rglob("*.wav"))
    assert len(blobs) == 3

    data = bytearray((tmp_path / "site.tar").read_bytes())
    with tarfile.open(tmp_path / "site.tar") as tar:
        member = next(m for m in tar.getmembers() if m.name.endswith("artifact.jsonl"))
    data[member.offset_data + 5] ^= 0x20
    (tmp_path / "bad.tar").write_bytes(bytes(data))
    refused = rooms(tmp_path, third, "restore", str(tmp_path / "bad.tar"))
    assert refused.returncode == 3
    assert "restore refused" in refused.stderr and "artifact.jsonl is damaged" in refused.stderr
    assert not third.exists()  # nothing was written, not even the instance folder

    day = rooms(tmp_path, site, "archive-day", "--dir", str(tmp_path / "days"))
    assert day.returncode == 0, day.stderr
    assert len(list((tmp_path / "days").glob("rooms-day-*.json"))) == 1
