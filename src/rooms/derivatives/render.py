"""Pure renders of a FOSSIL take (REFERENCE §2.7): numpy, scipy and Pillow, no I/O.

`render_spectrogram` -> PNG bytes, `render_essence` -> 16-bit WAV bytes, `render_all` does
both from the stored WAV bytes; each is a plain function of its input, so it runs the same
in a process pool worker, in `rooms worker` and in a test.

Spectrogram: STFT with a 1024-sample Hann window and a 768-sample overlap (hop 256), power
in dB relative to full scale, shown over a fixed `DB_RANGE` below the loudest bin (and never
below `DB_FLOOR` dBFS); a logarithmic frequency axis from 50 Hz (bottom row) to
min(20 kHz, sr/2) (top row); time left to right; coloured with viridis. The image is
`WIDTH` x `HEIGHT` pixels (the upstream's 6x3 in at 150 dpi) with no axes or margins.

Essence: 12 kHz, 8 s: the take low-passed at 2.2 kHz (4th-order Butterworth, zero-phase),
squeezed or stretched into 8 s, its amplitude envelope (601-sample moving average) applied
to white noise shaped by the take's own spectrum (floor 0.08), with 50 ms fades, peak 0.28.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image
from scipy import fft as sfft
from scipy import signal

from rooms.derivatives import loudness
from rooms.derivatives.colormap import VIRIDIS
from rooms.kit.dsp import decode_wav, pcm16
from rooms.kit.wav import encode_pcm16_wav

WIDTH, HEIGHT = 900, 450
NPERSEG, NOVERLAP = 1024, 768
HOP = NPERSEG - NOVERLAP
F_MIN, F_MAX = 50.0, 20_000.0
DB_RANGE = 80.0  # dB shown below the loudest bin
DB_FLOOR = -120.0  # dBFS: quieter than this is black whatever the take's loudness

ESSENCE_RATE = 12_000
ESSENCE_SECONDS = 8
ESSENCE_CUTOFF_HZ = 2_200.0
ESSENCE_ENVELOPE = 601
ESSENCE_NOISE_FLOOR = 0.08
ESSENCE_PEAK = 0.28
ESSENCE_FADE_S = 0.05

_CHUNK = 64
_WINDOW = signal.get_window("hann", NPERSEG).astype(np.float32)
# A full-scale sine's peak bin power with this window: 0 dBFS.
_FULL_SCALE = float((_WINDOW.sum() / 2.0) ** 2)


@dataclass(frozen=True, slots=True)
class Renders:
    spectrogram_png: bytes
    essence_wav: bytes
    loudness_lufs: float | None = None  # of the take (derivatives.loudness)
    essence_loudness_lufs: float | None = None  # of the essence


def f_top(sample_rate: int) -> float:
    return min(F_MAX, sample_rate / 2.0)


def frequency_row(freq: float, sample_rate: int, height: int = HEIGHT) -> float:
    """The (fractional) image row of `freq` Hz: row 0 is the top (highest frequency)."""
    top = f_top(sample_rate)
    frac = np.log(freq / F_MIN) / np.log(top / F_MIN)
    return float((1.0 - frac) * (height - 1))


def _power_columns(x: np.ndarray, width: int) -> np.ndarray:
    """Power spectra of the Hann-windowed frames, averaged into `width` time columns
    (frames repeated when there are fewer than `width`): shape (width, NPERSEG // 2 + 1).

    Computed `_CHUNK` frames at a time, each chunk reduced into its columns at once: the
    windowed copy and the spectrum stay in cache (~3x faster than whole-array passes over a
    minute of audio) and memory stays a few MiB whatever the take's length."""
    if len(x) < NPERSEG:
        x = np.pad(x, (0, NPERSEG - len(x)))
    frames = np.lib.stride_tricks.sliding_window_view(x, NPERSEG)[::HOP]
    n = frames.shape[0]
    column = (np.arange(n) * width) // n
    sums = np.zeros((width, NPERSEG // 2 + 1), dtype=np.float64)
    for start in range(0, n, _CHUNK):
        spec = sfft.rfft(frames[start:start + _CHUNK] * _WINDOW, axis=1)
        power = spec.real * spec.real + spec.imag * spec.imag
        cols = column[start:start + _CHUNK]
        firsts = np.flatnonzero(np.diff(cols, prepend=-1))
        sums[cols[firsts]] += np.add.reduceat(power, firsts, axis=0)
    counts = np.bincount(column, minlength=width).astype(np.float64)
    if n >= width:
        return np.asarray(sums / counts[:, None])
    return np.asarray((sums[column] / counts[column][:, None])[(np.arange(width) * n) // width])


def _log_rows(power: np.ndarray, sample_rate: int, height: int) -> np.ndarray:
    """Resample the linear frequency bins onto `height` log-spaced rows (row 0 = top)."""
    freqs = np.geomspace(F_MIN, f_top(sample_rate), height)[::-1]
    pos = freqs / (sample_rate / NPERSEG)
    lo = np.clip(np.floor(pos).astype(np.intp), 0, power.shape[1] - 2)
    w = (pos - lo).astype(np.float32)
    return np.asarray(power[:, lo] * (1 - w) + power[:, lo + 1] * w)


def spectrogram_image(samples: np.ndarray, sample_rate: int, *, width: int = WIDTH,
                      height: int = HEIGHT) -> np.ndarray:
    """The RGB image (uint8, shape (height, width, 3)) of `samples` (mono float32)."""
    x = np.asarray(samples, dtype=np.float32)
    power = _log_rows(_power_columns(x, width), sample_rate, height)  # (width, height)
    db = 10.0 * np.log10(power / _FULL_SCALE + 1e-20)
    top = max(float(db.max()), DB_FLOOR + DB_RANGE)
    level = np.clip((db - (top - DB_RANGE)) / DB_RANGE, 0.0, 1.0)
    index = (level * 255.0 + 0.5).astype(np.uint8).T  # (height, width)
    return np.asarray(VIRIDIS[index])


def render_spectrogram(samples: np.ndarray, sample_rate: int) -> bytes:
    """PNG bytes (WIDTH x HEIGHT, RGB) of the take's spectrogram."""
    out = io.BytesIO()
    Image.fromarray(spectrogram_image(samples, sample_rate), "RGB").save(
        out, format="PNG", compress_level=1)
    return out.getvalue()


def _moving_average(x: np.ndarray, n: int) -> np.ndarray:
    kernel = np.full(n, 1.0 / n)
    return np.asarray(signal.oaconvolve(x, kernel, mode="same"))


def essence_samples(samples: np.ndarray, sample_rate: int, *, seed: int = 0) -> np.ndarray:
    """The essence as float64 samples: ESSENCE_RATE Hz, ESSENCE_SECONDS long, peak 0.28.
    Deterministic for a given `seed`, so a re-render writes the same bytes."""
    n_out = ESSENCE_RATE * ESSENCE_SECONDS
    x = np.asarray(samples, dtype=np.float64)
    if len(x) < 32:
        x = np.pad(x, (0, 32 - len(x)))
    sos = signal.butter(4, min(ESSENCE_CUTOFF_HZ, 0.45 * sample_rate), btype="low",
                        fs=sample_rate, output="sos")
    low = signal.sosfiltfilt(sos, x)
    # squeeze (or stretch) the whole take into 8 s: first to 12 kHz, then onto n_out points
    at_rate = signal.resample_poly(low, ESSENCE_RATE, sample_rate)
    t = np.linspace(0.0, len(at_rate) - 1.0, n_out)
    fitted = np.interp(t, np.arange(len(at_rate)), at_rate)
    envelope = _moving_average(np.abs(fitted), ESSENCE_ENVELOPE)
    envelope /= max(float(envelope.max()), 1e-12)
    rng = np.random.default_rng(seed)
    noise_spec = np.fft.rfft(rng.standard_normal(n_out))
    shape = np.abs(np.fft.rfft(fitted))
    shape = np.maximum(shape / max(float(shape.max()), 1e-12), ESSENCE_NOISE_FLOOR)
    shaped = np.fft.irfft(noise_spec * shape, n_out)
    shaped /= max(float(np.abs(shaped).max()), 1e-12)
    out = shaped * (0.18 + 0.82 * envelope)
    fade = int(ESSENCE_FADE_S * ESSENCE_RATE)
    ramp = np.linspace(0.0, 1.0, fade)
    out[:fade] *= ramp
    out[-fade:] *= ramp[::-1]
    return np.asarray(out * (ESSENCE_PEAK / max(float(np.abs(out).max()), 1e-12)))


def render_essence(samples: np.ndarray, sample_rate: int, *, seed: int = 0) -> bytes:
    """The essence as a 16-bit mono WAV at ESSENCE_RATE."""
    return encode_pcm16_wav(pcm16(essence_samples(samples, sample_rate, seed=seed)),
                            ESSENCE_RATE)


def render_all(wav: bytes, seed: int = 0) -> Renders:
    """Both renders of the stored WAV bytes, and the loudness of the take and of its
    essence (runs in a render worker process)."""
    samples, rate = decode_wav(wav)
    essence = essence_samples(samples, rate, seed=seed)
    return Renders(render_spectrogram(samples, rate),
                   encode_pcm16_wav(pcm16(essence), ESSENCE_RATE),
                   loudness.measure(samples, rate), loudness.measure(essence, ESSENCE_RATE))
