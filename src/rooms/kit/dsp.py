"""Decoding WAV bytes to float samples, and the small signal helpers the renders share."""

from __future__ import annotations

import io

import numpy as np
import soundfile

from rooms.kit.wav import FORMAT_FLOAT, WavInfo, inspect_wav_bytes

# Decoding is never limited by the ingest duration: the take was validated when it came in.
_NO_LIMIT_S = 24 * 3600.0


def decode_wav(data: bytes) -> tuple[np.ndarray, int]:
    """(mono float32 samples in [-1, 1], sample rate) of any WAV that ingest accepts.

    libsndfile (`soundfile`) reads the well-formed ones (16/24/32-bit PCM, 32-bit float,
    WAVE_FORMAT_EXTENSIBLE). Containers it refuses but `kit/wav.py` tolerates, as players do
    (streaming placeholder sizes, a data chunk running past the end of the file), are read
    with numpy over the data chunk that `inspect_wav_bytes` located. Several channels are
    averaged. Raises `rooms.kit.wav.WavError` for bytes that are not an acceptable WAV.
    """
    try:
        samples, rate = soundfile.read(io.BytesIO(data), dtype="float32", always_2d=True)
    except (soundfile.LibsndfileError, RuntimeError, TypeError, ValueError):
        info = inspect_wav_bytes(data, max_duration_s=_NO_LIMIT_S, require_mono=False)
        return _decode_located(data, info), info.sample_rate
    mono = samples.mean(axis=1) if samples.shape[1] > 1 else samples[:, 0]
    return np.ascontiguousarray(mono, dtype=np.float32), int(rate)


def _decode_located(data: bytes, info: WavInfo) -> np.ndarray:
    width = info.bits_per_sample // 8
    raw = memoryview(data)[info.data_offset:info.data_offset + info.frames * info.block_align]
    if info.format_tag == FORMAT_FLOAT:
        out = np.frombuffer(raw, dtype="<f4").astype(np.float32)
    elif width == 3:
        b = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 3).astype(np.int32)
        ints = (b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)) << 8 >> 8  # sign-extend 24 bits
        out = ints.astype(np.float32) / float(1 << 23)
    else:
        ints = np.frombuffer(raw, dtype=f"<i{width}")
        out = ints.astype(np.float32) / float(1 << (8 * width - 1))
    if info.channels > 1:
        out = out.reshape(-1, info.channels).mean(axis=1)
    return np.ascontiguousarray(np.clip(out, -1.0, 1.0), dtype=np.float32)


def pcm16(samples: np.ndarray) -> bytes:
    """Float samples in [-1, 1] as little-endian 16-bit PCM bytes (rounded, clipped)."""
    ints = np.clip(np.round(samples * 32767.0), -32768, 32767).astype("<i2")
    return ints.tobytes()


def frame_rms(samples: np.ndarray, frame: int) -> np.ndarray:
    """RMS of consecutive `frame`-sample frames (a trailing partial frame is dropped)."""
    n = len(samples) // frame
    if n == 0:
        return np.zeros(0, dtype=np.float64)
    x = samples[:n * frame].astype(np.float64).reshape(n, frame)
    return np.asarray(np.sqrt((x * x).mean(axis=1)))
