"""The renders themselves: what a visitor sees in the spectrogram and hears in the essence."""

from __future__ import annotations

import io
import struct

import numpy as np
import pytest
from PIL import Image

from rooms.derivatives import render
from rooms.kit.dsp import decode_wav, frame_rms
from tests.audio import tone, wav16, wav_float, wav_raw


def _pcm24(x: np.ndarray) -> bytes:
    ints = np.round(x * (2**23 - 1)).astype("<i4")
    return np.frombuffer(ints.tobytes(), dtype=np.uint8).reshape(-1, 4)[:, :3].tobytes()


def _brightest_row(png: bytes) -> tuple[int, tuple[int, int]]:
    img = Image.open(io.BytesIO(png))
    rgb = np.asarray(img.convert("RGB"), dtype=np.float64)
    return int(rgb.sum(axis=(1, 2)).argmax()), img.size


@pytest.mark.parametrize("rate", [48_000, 44_100, 16_000])
def test_a_1khz_tone_is_brightest_at_1khz_on_the_log_axis(rate: int) -> None:
    png = render.render_spectrogram(tone(3.0, rate, 1000.0).astype(np.float32), rate)
    row, size = _brightest_row(png)
    assert size == (render.WIDTH, render.HEIGHT) == (900, 450)
    assert abs(row - render.frequency_row(1000.0, rate)) <= 0.03 * render.HEIGHT
    assert png.startswith(b"\x89PNG\r\n\x1a\n")


@pytest.mark.parametrize("wav", [
    wav16(2.0, 48_000),
    wav_raw(1, 24, _pcm24(tone(2.0, 48_000)), 48_000),
    wav_float(2.0, 48_000),
], ids=["pcm16", "pcm24", "float32"])
def test_every_accepted_format_decodes_and_renders(wav: bytes) -> None:
    samples, rate = decode_wav(wav)
    assert rate == 48_000 and len(samples) == 96_000
    assert abs(float(np.abs(samples).max()) - 0.4) < 0.01  # tests.audio.tone's amplitude
    out = render.render_all(wav)
    row, size = _brightest_row(out.spectrogram_png)
    assert size == (900, 450)
    assert abs(row - render.frequency_row(440.0, rate)) <= 0.03 * render.HEIGHT
    assert out.essence_wav[:4] == b"RIFF"


def test_a_container_libsndfile_refuses_still_decodes() -> None:
    """A streaming writer's placeholder sizes (0xFFFFFFFF), which ingest accepts."""
    good = wav16(1.0, 16_000)
    odd = good[:4] + struct.pack("<I", 0xFFFFFFFF) + good[8:40] + struct.pack("<I", 0xFFFFFFFF)
    odd += good[44:]
    samples, rate = decode_wav(odd)
    reference, _ = decode_wav(good)
    assert rate == 16_000
    np.testing.assert_allclose(samples, reference, atol=1e-6)


def test_the_essence_of_a_tone_is_8s_at_12khz_peaking_at_028() -> None:
    wav = render.render_essence(tone(20.0, 48_000, 440.0).astype(np.float32), 48_000)
    samples, rate = decode_wav(wav)
    assert rate == 12_000 and len(samples) == 8 * 12_000
    assert abs(float(np.abs(samples).max()) - 0.28) <= 0.01
    assert wav[34:36] == struct.pack("<H", 16)  # bits per sample


def test_the_essence_follows_the_take_s_loudness_contour() -> None:
    rate, seconds = 48_000, 24.0
    t = np.arange(int(seconds * rate)) / rate
    # three phrases: a swell, a quiet stretch, a loud burst, then silence
    contour = np.interp(t, [0, 4, 8, 10, 14, 15, 18, 19, 24],
                        [0.05, 1.0, 0.1, 0.1, 0.2, 0.9, 0.9, 0.02, 0.02])
    rng = np.random.default_rng(7)
    take = (contour * (0.5 * np.sin(2 * np.pi * 300 * t) + 0.1 * rng.standard_normal(len(t))))
    essence, er = decode_wav(render.render_essence(take.astype(np.float32), rate, seed=3))
    ours = frame_rms(essence, er // 10)  # 100 ms frames
    theirs = frame_rms(take, rate // 10)
    theirs = np.interp(np.linspace(0, len(theirs) - 1, len(ours)), np.arange(len(theirs)),
                       theirs)
    assert len(ours) == 80
    assert float(np.corrcoef(ours, theirs)[0, 1]) >= 0.8


def test_renders_are_deterministic_for_a_seed() -> None:
    x = tone(2.0, 16_000).astype(np.float32)
    assert render.render_essence(x, 16_000, seed=5) == render.render_essence(x, 16_000, seed=5)
    assert render.render_spectrogram(x, 16_000) == render.render_spectrogram(x, 16_000)


def test_silence_and_a_tiny_take_render() -> None:
    for x in (np.zeros(48_000, np.float32), np.full(10, 0.1, np.float32)):
        _, size = _brightest_row(render.render_spectrogram(x, 48_000))
        assert size == (900, 450)
        samples, _ = decode_wav(render.render_essence(x, 48_000))
        assert len(samples) == 96_000 and float(np.abs(samples).max()) <= 0.29
