"""Integrated loudness (ITU-R BS.1770-4, LUFS) of a take, pure: numpy and pyloudnorm, no I/O.

`measure(samples, rate)` -> LUFS rounded to 0.01, never NaN or -inf (docs/loudness.md):
- silence (no 400 ms block above the -70 LUFS absolute gate) gives `FLOOR_LUFS` (-70.0);
- a take shorter than one block is measured repeated end to end up to one block, since
  padding with silence would understate a steady sound; an empty take gives the floor.

`measure_wav(bytes)` decodes a stored WAV first (mono, as ingest keeps it); it runs in a
render pool worker (`derivatives.workers`), never on the event loop.
"""

from __future__ import annotations

import math

import numpy as np
import pyloudnorm

from rooms.kit.dsp import decode_wav

FLOOR_LUFS = -70.0  # BS.1770's absolute gate: anything quieter measures as this
BLOCK_S = 0.4


def measure(samples: np.ndarray, rate: int) -> float:
    """The integrated loudness of mono `samples` (floats in [-1, 1]) at `rate` Hz, in LUFS."""
    x = np.asarray(samples, dtype=np.float64).reshape(-1)
    if x.size == 0 or rate <= 0 or not np.any(x):
        return FLOOR_LUFS
    block = math.ceil(BLOCK_S * rate)
    if x.size < block:
        x = np.tile(x, math.ceil(block / x.size))[:block]
    value = float(pyloudnorm.Meter(rate).integrated_loudness(x))
    if not math.isfinite(value) or value < FLOOR_LUFS:
        return FLOOR_LUFS
    return round(value, 2)


def measure_wav(wav: bytes) -> float:
    """`measure` of a WAV's samples (raises `rooms.kit.wav.WavError` for bad bytes)."""
    samples, rate = decode_wav(wav)
    return measure(samples, rate)
