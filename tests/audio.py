"""Real WAV bytes for tests, made on the spot."""

from __future__ import annotations

import struct

import numpy as np

from rooms.kit.wav import encode_pcm16_wav


def tone(seconds: float, rate: int = 48_000, freq: float = 440.0) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return 0.4 * np.sin(2 * np.pi * freq * t)


def wav16(seconds: float = 1.0, rate: int = 48_000, channels: int = 1) -> bytes:
    mono = (tone(seconds, rate) * 32767).astype("<i2")
    pcm = np.repeat(mono, channels) if channels > 1 else mono
    return encode_pcm16_wav(pcm.tobytes(), rate, channels)


def wav_raw(fmt_tag: int, bits: int, payload: bytes, rate: int = 48_000,
            channels: int = 1) -> bytes:
    align = channels * bits // 8
    fmt = struct.pack("<HHIIHH", fmt_tag, channels, rate, rate * align, align, bits)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt
    body += b"data" + struct.pack("<I", len(payload)) + payload
    return b"RIFF" + struct.pack("<I", len(body)) + body


def wav8(seconds: float = 1.0, rate: int = 16_000) -> bytes:
    return wav_raw(1, 8, ((tone(seconds, rate) * 127) + 128).astype("u1").tobytes(), rate)


def wav_float(seconds: float = 1.0, rate: int = 48_000, bits: int = 32) -> bytes:
    dtype = "<f4" if bits == 32 else "<f8"
    return wav_raw(3, bits, tone(seconds, rate).astype(dtype).tobytes(), rate)
