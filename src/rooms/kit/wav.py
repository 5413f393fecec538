"""Server-side WAV validation for kiosk uploads.

The RIFF header and chunk table are parsed by hand rather than with the `wave` module: `wave`
rejects IEEE float and WAVE_FORMAT_EXTENSIBLE inconsistently and reads more than it needs.
Uploads are already spooled to disk, so the reader only seeks between chunk headers and reads
the fmt body; the sample data is never read (nor decoded). Nothing the client claims (duration,
RIFF size, data size, byte rate) is trusted: sizes are hints, read the way players read them, and
the duration is that of the whole frames present in the data chunk.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from rooms.errors import RoomsError

FORMAT_PCM = 1
FORMAT_FLOAT = 3
FORMAT_EXTENSIBLE = 0xFFFE

MIN_SAMPLE_RATE = 8_000
MAX_SAMPLE_RATE = 96_000
PCM_BITS = frozenset({16, 24, 32})

# Real files carry a handful of chunks (fmt, data, LIST, bext, iXML, JUNK...). The cap bounds the
# work a hostile file of millions of empty chunks can cause: at most 8 bytes read per chunk.
MAX_CHUNKS = 128

# Streaming writers that cannot seek back leave the RIFF and data sizes as these placeholders.
_STREAMING_SIZES = frozenset({0, 0xFFFFFFFF})

# KSDATAFORMAT_SUBTYPE_* GUIDs are the format tag followed by this fixed suffix. Checking it keeps
# look-alikes (e.g. ambisonic B-format, whose GUID also starts 01 00) from passing as PCM.
_KSDATAFORMAT_SUFFIX = bytes.fromhex("000000001000800000aa00389b71")

_FMT_READ = 40  # the longest fmt body we look at (WAVEFORMATEXTENSIBLE); larger ones are cut


class WavError(RoomsError):
    """The upload is not an acceptable WAV. `code` is snake_case, `status` is 400, 413 or 415.

    A RoomsError, so the app's single error handler renders it without extra wiring.
    """

    code: str
    status: int

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message, code=code, status=status)


@dataclass(frozen=True)
class WavInfo:
    sample_rate: int
    channels: int
    bits_per_sample: int
    format_tag: int  # resolved: 1 PCM or 3 IEEE float, never 0xFFFE
    block_align: int
    data_offset: int  # absolute file offset of the first sample byte
    data_size: int
    frames: int
    duration_ms: int  # rounded down


def _invalid(message: str) -> WavError:
    return WavError("invalid_wav", message, 400)


def _read(f: BinaryIO, n: int, what: str) -> bytes:
    # Loop because unbuffered raw files may return short reads; a short read at EOF is truncation.
    buf = b""
    while len(buf) < n:
        part = f.read(n - len(buf))
        if not part:
            raise _invalid(f"{what} is truncated")
        buf += part
    return buf


def _printable(cid: bytes) -> bool:
    """A chunk id is four printable ASCII bytes ("fmt ", "data", "LIST", "id3 "...)."""
    return all(0x20 <= b <= 0x7E for b in cid)


def _header(f: BinaryIO, pos: int, file_size: int) -> tuple[bytes, int] | None:
    """The (id, declared size) of a chunk header at `pos`, or None if its id is not printable
    or fewer than 8 bytes are left."""
    if pos + 8 > file_size:
        return None
    f.seek(pos)
    cid, size = struct.unpack("<4sI", _read(f, 8, "chunk header"))
    return (cid, size) if _printable(cid) else None


def inspect_wav_stream(
    f: BinaryIO,
    *,
    max_duration_s: float,
    max_bytes: int | None = None,
    require_mono: bool = True,
) -> WavInfo:
    """Validate the seekable binary stream `f` (any position) and describe its audio.

    Reads the container the way players do (libsndfile, ffmpeg): declared sizes are hints.
    A data chunk whose size is 0, 0xFFFFFFFF or runs past the end of the file holds the rest
    of the file, in whole frames; the RIFF size is only used to ignore bytes after the RIFF
    chunk; an odd-sized chunk whose pad byte was forgotten is found again (a chunk id is four
    printable bytes). Raises `WavError` (4xx) and nothing else for any input.
    """
    file_size = f.seek(0, io.SEEK_END)
    if file_size == 0:
        raise WavError("empty_audio", "the file is empty")
    if max_bytes is not None and file_size > max_bytes:
        raise WavError("too_large", f"file is {file_size} bytes, limit is {max_bytes}", 413)

    f.seek(0)
    head = f.read(12)
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        # A RIFF prefix that stops short is a broken WAV, not some other kind of file.
        if len(head) < 12 and head[:4] == b"RIFF":
            raise _invalid("RIFF header is truncated")
        raise WavError("invalid_wav", "not a WAV file", 415)
    (riff_size,) = struct.unpack_from("<I", head, 4)
    # Where the RIFF chunk says it ends; past it, once fmt and data are known, bytes are ignored.
    riff_end = file_size if riff_size in _STREAMING_SIZES else 8 + riff_size

    fmt: bytes | None = None
    data_offset = data_size = -1
    pos, chunks, padded = 12, 0, False
    while pos < file_size:
        complete = fmt is not None and data_offset >= 0
        if complete and pos >= riff_end:
            break  # bytes after the RIFF chunk
        header = _header(f, pos, file_size)
        if header is None and padded:
            # The writer forgot the pad byte after an odd-sized chunk: the header starts one
            # byte earlier (tried only when the spec's position holds no chunk header).
            header = _header(f, pos - 1, file_size)
            if header is not None:
                pos -= 1
        if header is None:
            if complete:
                break  # trailing bytes that are not a chunk: ignored, as players do
            if pos + 8 > file_size:
                raise _invalid(f"chunk header at byte {pos} is truncated")
            raise _invalid(f"no chunk id at byte {pos} (expected four printable characters)")
        cid, size = header
        chunks += 1
        if chunks > MAX_CHUNKS:
            raise _invalid(f"more than {MAX_CHUNKS} chunks")
        body = pos + 8
        if cid == b"data":
            if data_offset >= 0:
                raise _invalid("duplicate data chunk")
            data_offset, data_size = body, size
            if size in _STREAMING_SIZES or body + size > file_size:
                data_size = file_size - body
                break  # the samples run to the end of the file
        elif body + size > file_size:
            if complete:
                break  # a trailing chunk cut short (e.g. LIST): nothing we need is in it
            raise _invalid(f'"{cid.decode("ascii")}" chunk at byte {pos} is truncated')
        elif cid == b"fmt ":
            if fmt is not None:
                raise _invalid("duplicate fmt chunk")
            if size < 16:
                raise _invalid("fmt chunk is too short")
            fmt = _read(f, min(size, _FMT_READ), "fmt chunk")
        # Odd-sized chunks are followed by a pad byte (RIFF spec); see above for writers that
        # forget it. Without it on the final chunk, pos == file_size + 1 simply ends the walk.
        padded = bool(size & 1)
        pos = body + size + (size & 1)

    if fmt is None:
        raise _invalid("missing fmt chunk")
    if data_offset < 0:
        raise _invalid("missing data chunk")
    return _check(fmt, data_offset, data_size, max_duration_s, require_mono)


def _check(
    fmt: bytes, data_offset: int, data_size: int, max_duration_s: float, require_mono: bool
) -> WavInfo:
    tag, channels, rate, _byte_rate, block_align, bits = struct.unpack_from("<HHIIHH", fmt)
    if tag == FORMAT_EXTENSIBLE:
        # cbSize(2) validBits(2) channelMask(4) then the sub-format GUID at offset 24.
        if len(fmt) < 40:
            raise _invalid("WAVE_FORMAT_EXTENSIBLE fmt chunk is too short")
        guid = fmt[24:40]
        if guid[2:] != _KSDATAFORMAT_SUFFIX:
            raise WavError("unsupported_format", "unknown extensible sub-format", 415)
        (tag,) = struct.unpack_from("<H", guid)

    if tag == FORMAT_FLOAT:
        if bits != 32:
            raise WavError("unsupported_format", f"{bits}-bit float is not supported", 415)
    elif tag == FORMAT_PCM:
        if bits not in PCM_BITS:
            raise WavError("unsupported_format", f"{bits}-bit PCM is not supported", 415)
    else:
        raise WavError("unsupported_format", f"audio format 0x{tag:04x} is not supported", 415)

    if channels == 0:
        raise _invalid("fmt chunk declares zero channels")
    if require_mono and channels != 1:
        raise WavError("not_mono", f"expected mono audio, got {channels} channels")
    if not MIN_SAMPLE_RATE <= rate <= MAX_SAMPLE_RATE:
        raise WavError(
            "bad_sample_rate",
            f"sample rate {rate} Hz is outside {MIN_SAMPLE_RATE}..{MAX_SAMPLE_RATE}",
        )
    if block_align != channels * bits // 8:
        raise _invalid(f"block align {block_align} does not match {channels}ch x {bits} bits")
    # A partial frame at the end (a cut-off write, a size that ran past the end) is not audio.
    frames = data_size // block_align
    if frames == 0:
        raise WavError("empty_audio", "the recording contains no audio")
    # Compare exact frame counts, not the rounded ms value, so the limit is not off by a frame.
    if frames > max_duration_s * rate:
        raise WavError(
            "too_long", f"recording is {frames / rate:.1f} s, limit is {max_duration_s:g} s", 413
        )
    return WavInfo(
        sample_rate=rate,
        channels=channels,
        bits_per_sample=bits,
        format_tag=tag,
        block_align=block_align,
        data_offset=data_offset,
        data_size=frames * block_align,
        frames=frames,
        duration_ms=frames * 1000 // rate,
    )


def inspect_wav(
    path: Path,
    *,
    max_duration_s: float,
    max_bytes: int | None = None,
    require_mono: bool = True,
) -> WavInfo:
    """Validate the WAV file at `path`. Reads only the chunk headers and the fmt body."""
    # Unbuffered: a buffered reader would pull 8 KB around every seek for nothing.
    with open(path, "rb", buffering=0) as f:
        return inspect_wav_stream(
            f, max_duration_s=max_duration_s, max_bytes=max_bytes, require_mono=require_mono
        )


def inspect_wav_bytes(
    data: bytes,
    *,
    max_duration_s: float,
    max_bytes: int | None = None,
    require_mono: bool = True,
) -> WavInfo:
    """Validate an in-memory WAV (tests, small payloads); same rules as `inspect_wav`."""
    return inspect_wav_stream(
        io.BytesIO(data),
        max_duration_s=max_duration_s,
        max_bytes=max_bytes,
        require_mono=require_mono,
    )


def encode_pcm16_wav(pcm: bytes, sample_rate: int, channels: int = 1) -> bytes:
    """Wrap raw little-endian PCM16 samples in a canonical 44-byte-header WAV."""
    block_align = 2 * channels
    if channels < 1 or len(pcm) % block_align:
        raise ValueError(f"{len(pcm)} bytes is not a whole number of {channels}-channel frames")
    header = struct.pack(
        "<4sI4s4sIHHIIHH4sI",
        b"RIFF", 36 + len(pcm), b"WAVE",
        b"fmt ", 16, FORMAT_PCM, channels, sample_rate, sample_rate * block_align, block_align, 16,
        b"data", len(pcm),
    )
    return header + pcm


__all__ = [
    "WavError",
    "WavInfo",
    "encode_pcm16_wav",
    "inspect_wav",
    "inspect_wav_bytes",
    "inspect_wav_stream",
]
