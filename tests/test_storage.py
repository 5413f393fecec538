"""The blob store contract: the same tests against the file store and a real S3 server."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from rooms.config import Settings
from rooms.resources import open_store
from rooms.storage import BlobNotFound, BlobStore, FileBlobStore


@pytest.fixture
async def store(settings: Settings) -> AsyncIterator[BlobStore]:
    blobs = await open_store(settings)
    try:
        yield blobs
    finally:
        await blobs.aclose()


async def _chunks(data: bytes, size: int = 1000) -> AsyncIterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i:i + size]


async def test_put_read_list_delete(store: BlobStore, tmp_path: Path, tier: str) -> None:
    assert store.name == ("file" if tier == "embedded" else "s3")
    payload = os.urandom(300_000)
    src = tmp_path / "take.wav"
    src.write_bytes(payload)
    assert await store.put_file("raw/7/audio.wav", src) == len(payload)
    assert src.read_bytes() == payload  # the source is left alone
    assert await store.put("derivatives/7/spectrogram.png", _chunks(b"png" * 999)) == 2997
    await store.put("raw/70/audio.wav", _chunks(b"other"))

    assert await store.read("raw/7/audio.wav") == payload
    assert await store.exists("raw/7/audio.wav")
    assert await store.list("raw/7/") == ["raw/7/audio.wav"]
    assert await store.list() == ["derivatives/7/spectrogram.png", "raw/7/audio.wav",
                                  "raw/70/audio.wav"]

    assert await store.delete("raw/7/audio.wav") is True
    assert await store.delete("raw/7/audio.wav") is False
    assert not await store.exists("raw/7/audio.wav")
    with pytest.raises(BlobNotFound):
        await store.open("raw/7/audio.wav")
    assert await store.list("raw/") == ["raw/70/audio.wav"]


async def test_ranges(store: BlobStore) -> None:
    data = bytes(range(256)) * 2000
    await store.put("raw/1/audio.wav", _chunks(data, 7000))
    blob = await store.open("raw/1/audio.wav", 1000, 5000)
    assert (blob.size, blob.start, blob.length) == (len(data), 1000, 5000)
    assert b"".join([c async for c in blob.chunks]) == data[1000:6000]
    tail = await store.open("raw/1/audio.wav", len(data) - 10)
    assert b"".join([c async for c in tail.chunks]) == data[-10:]
    past = await store.open("raw/1/audio.wav", len(data) + 5)
    assert past.length == 0 and [c async for c in past.chunks] == []


async def test_overwrite_replaces_whole_blob(store: BlobStore) -> None:
    await store.put("raw/2/audio.wav", _chunks(b"a" * 5000))
    await store.put("raw/2/audio.wav", _chunks(b"b" * 10))
    assert await store.read("raw/2/audio.wav") == b"b" * 10


@pytest.mark.parametrize("key", ["", "/abs", "raw/../etc", "raw//x", "raw/./x"])
async def test_unsafe_keys_are_refused(store: BlobStore, key: str) -> None:
    with pytest.raises(ValueError, match="bad blob key"):
        await store.put(key, _chunks(b"x"))


async def test_file_store_leaves_no_partial_files(tmp_path: Path) -> None:
    store = FileBlobStore(tmp_path / "blobs")

    async def failing() -> AsyncIterator[bytes]:
        yield b"partial"
        raise ConnectionError("client went away")

    with pytest.raises(ConnectionError):
        await store.put("raw/3/audio.wav", failing())
    assert await store.list() == []
    assert list((tmp_path / "blobs" / ".tmp").iterdir()) == []
