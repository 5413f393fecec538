"""Archive tests: a folder of WAVs to import, and an empty second instance to restore into."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path
from typing import Any

import pytest

from rooms.config import Settings
from rooms.kit.wav import encode_pcm16_wav
from tests.audio import tone, wav16
from tests.conftest import make_settings

MAX_S = 30  # INGEST_MAX_DURATION_SECONDS for these tests (its floor)


@pytest.fixture
async def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"ingest_max_duration_seconds": MAX_S})


def tone_wav(seconds: float, freq: float, rate: int = 16_000) -> bytes:
    return encode_pcm16_wav((tone(seconds, rate, freq) * 32767).astype("<i2").tobytes(), rate)


def import_folder(root: Path) -> dict[str, str]:
    """Write the folder every import test uses; returns {relative path: expected result}."""
    files: dict[str, tuple[bytes, str]] = {
        "a.wav": (tone_wav(1.0, 300), "imported"),
        "b.WAV": (tone_wav(1.5, 500), "imported"),
        "day2/c.wav": (tone_wav(0.5, 700), "imported"),
        "day2/copy-of-a.wav": (tone_wav(1.0, 300), "skipped"),  # a duplicate of a.wav
        "notes.wav": (b"these are the visitor book notes, not audio\n" * 4, "refused"),
        "stereo.wav": (wav16(1.0, 16_000, channels=2), "refused"),
        "long.wav": (tone_wav(MAX_S + 2, 200, rate=8_000), "refused"),
        "empty.wav": (b"", "refused"),
        "readme.txt": (b"not looked at", "ignored"),
        ".hidden.wav": (tone_wav(1.0, 900), "ignored"),
    }
    for name, (data, _) in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return {name: result for name, (_, result) in files.items()}


@pytest.fixture
async def target(tier: str, backend: Any, tmp_path: Path, settings: Settings) -> Settings:
    """A second, empty instance (database and blob store) with the same SECRET_KEY, whose
    revocation ledger is the first instance's (as after a restore on the same site)."""
    from rooms.recordings import ledger

    var = tmp_path / "target"
    var.mkdir()
    common = {"ingest_max_duration_seconds": MAX_S,
              "revocation_ledger_url": ledger.location(settings)}
    if tier == "embedded":
        db = var / "rooms.db"
        shutil.copyfile(backend, db)
        return make_settings(var, database_url=f"sqlite+aiosqlite:///{db}",
                             blob_store_url=f"file://{var / 'blobs'}", **common)
    name = f"t_{uuid.uuid4().hex[:12]}"
    url = await backend.postgres.create_database(name, template="rooms_template")
    return make_settings(
        var, database_url=url, redis_url=settings.redis_url,
        blob_store_url=f"s3://{name.replace('_', '-')}",
        s3_endpoint_url=settings.s3_endpoint_url,
        s3_access_key=settings.s3_access_key.get_secret_value(),
        s3_secret_key=settings.s3_secret_key.get_secret_value(),
        s3_region=settings.s3_region, **common)
