"""What a render worker process runs: the renders and, for the file store, the blob I/O.

This module is light on purpose (no numpy, scipy or Pillow at import): the API process
imports it to name the functions it sends to the render pool, and the heavy modules are
imported only inside the worker (`rooms.derivatives.render`, preloaded by the forkserver).

- `render_file_blobs`: the file store's path. The worker reads the take from the blob
  folder, renders both derivatives and writes them (temp file, fsync, rename, folder
  fsync), so the process that enqueued the job never holds the take's bytes or the
  renders: a FOSSIL upload costs the API process what a ROOM upload costs plus one enqueue.
- `render_bytes`: any other store (S3). The job's process (`rooms worker` with Redis)
  reads and writes the blobs itself and sends only the bytes through the pool.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from rooms.storage import BlobNotFound, FileBlobStore

if TYPE_CHECKING:
    from rooms.derivatives.render import Renders


@dataclass(frozen=True, slots=True)
class Stored:
    """What a render left in the store: bytes written per kind, and the loudness (LUFS) of
    the take and of its essence (None where it could not be measured)."""

    sizes: dict[str, int]
    loudness_lufs: float | None = None
    essence_loudness_lufs: float | None = None


def render_bytes(wav: bytes, seed: int) -> Renders:
    """Both renders of the stored WAV bytes (see `render.render_all`)."""
    from rooms.derivatives import render

    return render.render_all(wav, seed)


def render_file_blobs(root: str, raw_key: str, outputs: Mapping[str, str],
                      seed: int) -> Stored | None:
    """Read `raw_key` from the file store at `root`, render, and store each render under
    its key in `outputs` ({"spectrogram_png" | "essence_wav": key}). Returns what was
    stored, or None when the raw blob is gone (expired or revoked meanwhile). Raises
    OSError when the folder cannot be read or written (the job retries)."""
    store = FileBlobStore(Path(root))
    try:
        wav = store.read_sync(raw_key)
    except BlobNotFound:
        return None
    renders = render_bytes(wav, seed)
    del wav
    data = {"spectrogram_png": renders.spectrogram_png, "essence_wav": renders.essence_wav}
    sizes = {kind: store.put_bytes_sync(key, data[kind]) for kind, key in outputs.items()}
    return Stored(sizes, renders.loudness_lufs, renders.essence_loudness_lufs)


def measure_bytes(wav: bytes) -> float:
    """The integrated loudness (LUFS) of WAV bytes (`loudness.measure_wav`)."""
    from rooms.derivatives import loudness

    return loudness.measure_wav(wav)


def measure_file_blobs(root: str, keys: list[str]) -> list[float | None]:
    """`measure_file_blob` of each key, in one call (one trip to the render pool for a
    batch of takes)."""
    return [measure_file_blob(root, key) for key in keys]


def measure_file_blob(root: str, key: str) -> float | None:
    """`measure_bytes` of the blob at `key` in the file store at `root`, read here in the
    worker; None when it is gone."""
    try:
        wav = FileBlobStore(Path(root)).read_sync(key)
    except BlobNotFound:
        return None
    return measure_bytes(wav)
