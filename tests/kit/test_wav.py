"""rooms.kit.wav: hand-rolled RIFF/WAVE validation for kiosk uploads."""

from __future__ import annotations

import io
import struct
from pathlib import Path
from typing import Any, BinaryIO, cast

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from rooms.kit import wav
from rooms.kit.wav import (
    WavError,
    WavInfo,
    encode_pcm16_wav,
    inspect_wav,
    inspect_wav_bytes,
    inspect_wav_stream,
)

LIMIT_S = 60.0
EXT_SUFFIX = bytes.fromhex("000000001000800000aa00389b71")


def chunk(cid: bytes, body: bytes, declared: int | None = None) -> bytes:
    """One RIFF chunk, with the pad byte the spec requires after an odd-sized body."""
    size = len(body) if declared is None else declared
    return struct.pack("<4sI", cid, size) + body + (b"\0" if len(body) % 2 else b"")


def fmt_body(
    tag: int = 1, channels: int = 1, rate: int = 48_000, bits: int = 16,
    block_align: int | None = None,
) -> bytes:
    align = channels * bits // 8 if block_align is None else block_align
    # the byte-rate field is ignored by the reader; wrap it so any generated rate packs
    return struct.pack("<HHIIHH", tag, channels, rate, (rate * align) & 0xFFFFFFFF, align, bits)


def extensible_body(sub_tag: int, channels: int = 1, rate: int = 48_000, bits: int = 16) -> bytes:
    base = fmt_body(0xFFFE, channels, rate, bits)
    guid = struct.pack("<H", sub_tag) + EXT_SUFFIX
    return base + struct.pack("<HHI", 22, bits, 0x4) + guid


def riff(*chunks: bytes, riff_size: int | None = None) -> bytes:
    body = b"WAVE" + b"".join(chunks)
    size = len(body) if riff_size is None else riff_size
    return b"RIFF" + struct.pack("<I", size) + body


def build(fmt: bytes, data: bytes, *, extra: tuple[bytes, ...] = ()) -> bytes:
    return riff(chunk(b"fmt ", fmt), *extra, chunk(b"data", data))


def check(data: bytes, **kwargs: Any) -> WavInfo:
    kwargs.setdefault("max_duration_s", LIMIT_S)
    return inspect_wav_bytes(data, **kwargs)


def reject(data: bytes, code: str, status: int, **kwargs: Any) -> WavError:
    with pytest.raises(WavError) as info:
        check(data, **kwargs)
    assert (info.value.code, info.value.status) == (code, status), str(info.value)
    assert str(info.value)
    return info.value


# --- accepted files ---------------------------------------------------------------------------


def test_mono_16bit_48k_10s_is_accepted_with_exact_frames() -> None:
    pcm = b"\x01\x00" * 480_000
    info = check(encode_pcm16_wav(pcm, 48_000))
    assert info == WavInfo(
        sample_rate=48_000, channels=1, bits_per_sample=16, format_tag=1, block_align=2,
        data_offset=44, data_size=960_000, frames=480_000, duration_ms=10_000,
    )


def test_duration_ms_rounds_down() -> None:
    info = check(encode_pcm16_wav(b"\0\0" * 44_099, 44_100))
    assert info.frames == 44_099
    assert info.duration_ms == 999


def test_24bit_pcm_is_accepted() -> None:
    info = check(build(fmt_body(bits=24), b"\0" * 3 * 100))
    assert (info.bits_per_sample, info.block_align, info.frames) == (24, 3, 100)


def test_32bit_pcm_is_accepted() -> None:
    assert check(build(fmt_body(bits=32), b"\0" * 400)).frames == 100


def test_float32_is_accepted() -> None:
    info = check(build(fmt_body(tag=3, bits=32), struct.pack("<4f", 0.0, 0.5, -0.5, 1.0)))
    assert (info.format_tag, info.bits_per_sample, info.frames) == (3, 32, 4)


def test_extensible_resolves_to_sub_format() -> None:
    info = check(build(extensible_body(1, bits=24), b"\0" * 30))
    assert (info.format_tag, info.frames) == (1, 10)
    assert check(build(extensible_body(3, bits=32), b"\0" * 40)).format_tag == 3


def test_extensible_with_foreign_guid_or_short_body_is_rejected() -> None:
    foreign = extensible_body(1)[:-14] + b"\x21\x07\xd3\x11\x86\x44\xc8\xc1\xca\0\0\0\0\0"
    reject(build(foreign, b"\0\0"), "unsupported_format", 415)
    reject(build(extensible_body(1)[:24], b"\0\0"), "invalid_wav", 400)


def test_stereo_accepted_when_mono_not_required() -> None:
    info = check(encode_pcm16_wav(b"\0" * 400, 16_000, channels=2), require_mono=False)
    assert (info.channels, info.block_align, info.frames) == (2, 4, 100)


def test_extra_list_chunk_before_data_is_skipped() -> None:
    data = build(fmt_body(), b"\0\0" * 10, extra=(chunk(b"LIST", b"INFOISFT\x04\0\0\0rms\0"),))
    info = check(data)
    assert info.frames == 10
    assert data[info.data_offset - 8 : info.data_offset - 4] == b"data"


def test_odd_sized_chunk_pad_byte_is_honoured() -> None:
    odd = chunk(b"junk", b"abc")  # 3-byte body + pad byte
    data = build(fmt_body(), b"\x05\x00" * 8, extra=(odd,))
    info = check(data)
    assert info.data_offset == 12 + 24 + 12 + 8
    assert data[info.data_offset :] == b"\x05\x00" * 8


@pytest.mark.parametrize("body", [b"abc", b"abcdefghi", b"\xff" * 5])
def test_odd_chunk_without_pad_byte_is_recovered(body: bytes) -> None:
    # The writer forgot the pad: the next header starts one byte before the spec's position,
    # which holds no printable chunk id; players look there, so do we.
    unpadded = struct.pack("<4sI", b"junk", len(body)) + body
    data = riff(chunk(b"fmt ", fmt_body()), unpadded, chunk(b"data", b"\x07\x00" * 8))
    info = check(data)
    assert info.frames == 8
    assert data[info.data_offset :] == b"\x07\x00" * 8


def test_odd_data_chunk_without_pad_byte_before_a_trailing_chunk() -> None:
    # 24-bit mono, 3 frames = 9 bytes (odd), then a LIST chunk written with no pad byte.
    pcm = b"\x01\x02\x03" * 3
    data = riff(chunk(b"fmt ", fmt_body(bits=24))) + struct.pack("<4sI", b"data", 9) + pcm
    data += chunk(b"LIST", b"INFO")
    data = data[:4] + struct.pack("<I", len(data) - 8) + data[8:]
    assert check(data).frames == 3


def test_missing_pad_byte_on_final_chunk_is_tolerated() -> None:
    padded = riff(chunk(b"fmt ", fmt_body()), chunk(b"data", b"\0\0"), chunk(b"note", b"x"))
    cut = padded[:-1]  # the writer dropped the pad byte and sized the RIFF to match
    assert check(cut[:4] + struct.pack("<I", len(cut) - 8) + cut[8:]).frames == 1


def test_data_before_fmt_and_trailing_chunks_are_fine() -> None:
    fact = chunk(b"fact", b"\5\0\0\0")
    data = riff(chunk(b"data", b"\0\0" * 5), fact, chunk(b"fmt ", fmt_body()))
    info = check(data)
    assert (info.frames, info.data_offset) == (5, 20)


def test_fmt_chunk_with_cb_size_tail_is_accepted() -> None:
    assert check(build(fmt_body() + b"\0\0", b"\0\0")).frames == 1


def test_streaming_riff_size_placeholders_are_tolerated() -> None:
    good = encode_pcm16_wav(b"\0\0" * 4, 8_000)
    for placeholder in (0, 0xFFFFFFFF):
        assert check(good[:4] + struct.pack("<I", placeholder) + good[8:]).frames == 4


CASES = Path(__file__).parent / "cases"
CASE_FILES = sorted(p.name for p in CASES.glob("*.wav"))


def test_all_five_field_cases_are_present() -> None:
    assert len(CASE_FILES) == 5


@pytest.mark.parametrize("name", CASE_FILES)
def test_field_cases_are_half_a_second(name: str) -> None:
    info = inspect_wav(CASES / name, max_duration_s=LIMIT_S)
    assert (info.sample_rate, info.frames, info.duration_ms) == (16_000, 8_000, 500)
    assert (info.data_offset, info.data_size) == (44, 16_000)


# --- rejected files ---------------------------------------------------------------------------


def test_stereo_is_not_mono() -> None:
    reject(encode_pcm16_wav(b"\0" * 400, 48_000, channels=2), "not_mono", 400)


def test_8bit_pcm_is_unsupported() -> None:
    reject(build(fmt_body(bits=8), b"\x80" * 100), "unsupported_format", 415)


def test_float64_is_unsupported() -> None:
    reject(build(fmt_body(tag=3, bits=64), b"\0" * 80), "unsupported_format", 415)


def test_other_codecs_are_unsupported() -> None:
    # 0x0055 is MPEG layer 3 inside a WAV container.
    reject(build(fmt_body(tag=0x55), b"\0\0"), "unsupported_format", 415)


def test_text_file_is_not_a_wav(tmp_path: Path) -> None:
    path = tmp_path / "take.wav"
    path.write_text("hello, this is definitely a recording\n")
    with pytest.raises(WavError) as info:
        inspect_wav(path, max_duration_s=LIMIT_S)
    assert (info.value.code, info.value.status, str(info.value)) == (
        "invalid_wav", 415, "not a WAV file",
    )


@pytest.mark.parametrize("blob", [b"RIFX\0\0\0\0WAVE", b"RIFF\0\0\0\0AVI LIST", b"\0" * 64])
def test_non_riff_wave_is_415(blob: bytes) -> None:
    reject(blob, "invalid_wav", 415)


@pytest.mark.parametrize("cut", [4, 11, 16, 20, 30, 43])
@pytest.mark.parametrize("riff_size", ["as-written", "matches-cut", "streaming"])
def test_truncated_header_is_400(cut: int, riff_size: str) -> None:
    data = encode_pcm16_wav(b"\0\0" * 10, 48_000)[:cut]
    if cut >= 8 and riff_size != "as-written":
        # Make the RIFF size agree so the truncation itself is what gets caught.
        size = len(data) - 8 if riff_size == "matches-cut" else 0xFFFFFFFF
        data = data[:4] + struct.pack("<I", size) + data[8:]
        err = reject(data, "invalid_wav", 400)
        assert "truncated" in str(err)
    else:
        reject(data, "invalid_wav", 400)


def test_empty_file_is_empty_audio() -> None:
    err = reject(b"", "empty_audio", 400)
    assert str(err) == "the file is empty"


@pytest.mark.parametrize(("cut", "frames"), [(100, 950), (101, 949), (1999, 0)])
def test_data_running_past_the_end_is_read_to_the_end_in_whole_frames(
    cut: int, frames: int
) -> None:
    full = encode_pcm16_wav(b"\0\0" * 1000, 48_000)
    data = full[:-cut]
    if frames == 0:
        reject(data, "empty_audio", 400)  # not one whole frame left
        return
    info = check(data)
    assert (info.frames, info.data_size, info.data_offset) == (frames, frames * 2, 44)


@pytest.mark.parametrize("data_size", [0, 0xFFFFFFFF, 1 << 20])
@pytest.mark.parametrize("riff_size", [0, 0xFFFFFFFF, 36, "file-length"])
def test_placeholder_sizes_mean_to_the_end_of_the_file(
    data_size: int, riff_size: int | str
) -> None:
    pcm = b"\x01\x00" * 123 + b"\x02"  # a partial frame at the end is not audio
    body = chunk(b"fmt ", fmt_body(rate=8_000)) + struct.pack("<4sI", b"data", data_size) + pcm
    size = len(body) + 12 if riff_size == "file-length" else int(riff_size)
    info = check(b"RIFF" + struct.pack("<I", size) + b"WAVE" + body)
    assert (info.frames, info.duration_ms) == (123, 123 * 1000 // 8_000)


def test_lying_riff_size_is_ignored() -> None:
    good = encode_pcm16_wav(b"\0\0" * 4, 8_000)
    for size in (len(good) - 8 + 100, len(good) - 8 - 2, len(good), 4):
        assert check(good[:4] + struct.pack("<I", size) + good[8:]).frames == 4


@pytest.mark.parametrize(
    "tail",
    [b"\0", b"\0" * 7, b"\xde\xad\xbe\xef" * 8, b"ID3\x03\x00\x00\x00\x00\x00\x10",
     chunk(b"LIST", b"x" * 4, 400)],
    ids=["one-byte", "seven-bytes", "binary", "id3-tag", "cut-list-chunk"],
)
def test_bytes_after_the_riff_chunk_are_ignored(tail: bytes) -> None:
    good = encode_pcm16_wav(b"\0\0" * 4, 8_000)
    assert check(good + tail).frames == 4  # RIFF size says where the chunk ends
    streaming = good[:4] + b"\xff\xff\xff\xff" + good[8:]
    assert check(streaming + tail).frames == 4  # and with no RIFF size to go by


def test_error_messages_never_print_raw_bytes_or_contradict() -> None:
    # A chunk header of binary junk before the fmt chunk: the offset is named, not the bytes.
    junk = b"\x00\xff\x1b[2J" + struct.pack("<I", 4) + b"abcd"
    err = reject(riff(junk, chunk(b"fmt ", fmt_body()), chunk(b"data", b"\0\0")),
                 "invalid_wav", 400)
    assert str(err) == "no chunk id at byte 12 (expected four printable characters)"
    assert str(err).isprintable()
    err = reject(riff(chunk(b"LIST", b"x" * 4, 400), chunk(b"fmt ", fmt_body())),
                 "invalid_wav", 400)
    assert str(err) == '"LIST" chunk at byte 12 is truncated'


@pytest.mark.parametrize(
    "data",
    [
        riff(chunk(b"fmt ", fmt_body())),
        riff(chunk(b"data", b"\0\0")),
        riff(chunk(b"fmt ", fmt_body()[:14]), chunk(b"data", b"\0\0")),
        riff(chunk(b"fmt ", fmt_body()), chunk(b"fmt ", fmt_body()), chunk(b"data", b"\0\0")),
        riff(chunk(b"fmt ", fmt_body()), chunk(b"data", b"\0\0"), chunk(b"data", b"\0\0")),
        riff(chunk(b"fmt ", fmt_body(channels=0, block_align=0)), chunk(b"data", b"\0\0")),
        riff(),
    ],
    ids=["no-data", "no-fmt", "short-fmt", "two-fmt", "two-data", "zero-channels", "no-chunks"],
)
def test_broken_chunk_tables_are_invalid(data: bytes) -> None:
    reject(data, "invalid_wav", 400, require_mono=False)


def test_too_many_chunks_is_rejected() -> None:
    junk = tuple(chunk(b"JUNK", b"") for _ in range(wav.MAX_CHUNKS))
    reject(build(fmt_body(), b"\0\0", extra=junk), "invalid_wav", 400)


def test_sample_rate_4000_is_bad() -> None:
    reject(build(fmt_body(rate=4_000), b"\0\0" * 10), "bad_sample_rate", 400)
    reject(build(fmt_body(rate=192_000), b"\0\0" * 10), "bad_sample_rate", 400)
    assert check(build(fmt_body(rate=8_000), b"\0\0")).sample_rate == 8_000
    assert check(build(fmt_body(rate=96_000), b"\0\0")).sample_rate == 96_000


def test_block_align_mismatch_is_invalid() -> None:
    reject(build(fmt_body(block_align=4), b"\0" * 40), "invalid_wav", 400)


def test_data_not_a_whole_number_of_frames_is_rounded_down() -> None:
    info = check(build(fmt_body(bits=24), b"\0" * 10))
    assert (info.frames, info.data_size) == (3, 9)


def test_zero_samples_is_empty_audio() -> None:
    reject(encode_pcm16_wav(b"", 48_000), "empty_audio", 400)


def test_over_long_is_too_long() -> None:
    ok = encode_pcm16_wav(b"\0\0" * 8_000 * 5, 8_000)  # exactly 5 s
    assert check(ok, max_duration_s=5).duration_ms == 5_000
    longer = encode_pcm16_wav(b"\0\0" * (8_000 * 5 + 1), 8_000)
    reject(longer, "too_long", 413, max_duration_s=5)


def test_over_size_is_too_large() -> None:
    data = encode_pcm16_wav(b"\0\0" * 100, 8_000)
    assert check(data, max_bytes=len(data)).frames == 100
    reject(data, "too_large", 413, max_bytes=len(data) - 1)


def test_wav_error_is_rendered_by_the_app_handler() -> None:
    from rooms.errors import RoomsError

    err = WavError("too_long", "nope", 413)
    assert isinstance(err, RoomsError)
    assert (err.code, err.status, err.message, str(err)) == ("too_long", 413, "nope", "nope")


def test_encode_rejects_partial_frames() -> None:
    with pytest.raises(ValueError):
        encode_pcm16_wav(b"\0\0\0", 8_000)
    with pytest.raises(ValueError):
        encode_pcm16_wav(b"\0\0", 8_000, channels=2)


# --- files on disk ----------------------------------------------------------------------------


def test_inspect_wav_on_disk(tmp_path: Path) -> None:
    path = tmp_path / "take.wav"
    path.write_bytes(encode_pcm16_wav(b"\x10\x00" * 22_050, 22_050))
    info = inspect_wav(path, max_duration_s=LIMIT_S, max_bytes=1 << 20)
    assert (info.frames, info.duration_ms, info.data_offset) == (22_050, 1_000, 44)


def test_inspect_wav_on_disk_rejects_oversize_and_stereo(tmp_path: Path) -> None:
    path = tmp_path / "stereo.wav"
    path.write_bytes(encode_pcm16_wav(b"\0" * 4_000, 8_000, channels=2))
    with pytest.raises(WavError) as info:
        inspect_wav(path, max_duration_s=LIMIT_S)
    assert info.value.code == "not_mono"
    with pytest.raises(WavError) as info:
        inspect_wav(path, max_duration_s=LIMIT_S, max_bytes=1_000)
    assert (info.value.code, info.value.status) == ("too_large", 413)


class CountingReader(io.RawIOBase):
    """Wraps a raw file and counts every byte handed to the caller."""

    def __init__(self, raw: BinaryIO) -> None:
        self.raw = raw
        self.bytes_read = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return self.raw.seek(offset, whence)

    def close(self) -> None:
        self.raw.close()
        super().close()

    def read(self, size: int = -1) -> bytes:
        out = self.raw.read(size)
        self.bytes_read += len(out)
        return out


def big_sparse_wav(path: Path, data_size: int) -> None:
    fmt = chunk(b"fmt ", fmt_body(rate=48_000))
    meta = chunk(b"LIST", b"INFO" + b"x" * 101)
    header = riff(fmt, meta, riff_size=4 + len(fmt) + len(meta) + 8 + data_size)
    with path.open("wb") as f:
        f.write(header + struct.pack("<4sI", b"data", data_size))
        f.truncate(f.tell() + data_size)  # sparse: the samples are never written


def test_large_file_reads_only_chunk_headers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "big.wav"
    big_sparse_wav(path, 32 << 20)
    assert path.stat().st_size > 32 << 20

    readers: list[CountingReader] = []

    def counting_open(file: Path, mode: str, buffering: int = -1) -> BinaryIO:
        assert buffering == 0, "buffered reads would pull more than the headers"
        reader = CountingReader(cast(BinaryIO, open(file, mode, buffering=0)))  # noqa: SIM115
        readers.append(reader)
        return cast(BinaryIO, reader)

    # inspect_wav resolves `open` in its module globals first, so this intercepts its file.
    monkeypatch.setattr(wav, "open", counting_open, raising=False)
    info = inspect_wav(path, max_duration_s=3_600)
    assert info.data_size == 32 << 20
    assert info.frames == (32 << 20) // 2
    assert info.duration_ms == (32 << 20) // 2 * 1000 // 48_000
    assert len(readers) == 1
    assert readers[0].closed
    assert readers[0].bytes_read < 4_096


def test_large_stream_reads_only_chunk_headers(tmp_path: Path) -> None:
    path = tmp_path / "big.wav"
    big_sparse_wav(path, 32 << 20)
    with path.open("rb", buffering=0) as raw:
        reader = CountingReader(cast(BinaryIO, raw))
        info = inspect_wav_stream(cast(BinaryIO, reader), max_duration_s=3_600)
    assert info.frames == (32 << 20) // 2
    # 12-byte RIFF header + three 8-byte chunk headers + a 16-byte fmt body.
    assert reader.bytes_read == 12 + 3 * 8 + 16


def test_oversized_fmt_chunk_is_not_read_in_full(tmp_path: Path) -> None:
    # A hostile fmt chunk may declare megabytes; only the fields we use are read.
    fmt = fmt_body() + b"\0" * (8 << 20)
    path = tmp_path / "fat-fmt.wav"
    path.write_bytes(build(fmt, b"\0\0" * 10))
    with path.open("rb", buffering=0) as raw:
        reader = CountingReader(cast(BinaryIO, raw))
        assert inspect_wav_stream(cast(BinaryIO, reader), max_duration_s=LIMIT_S).frames == 10
    assert reader.bytes_read == 12 + 2 * 8 + 40


# --- properties -------------------------------------------------------------------------------

FUZZ = settings(max_examples=300, deadline=None)


def only_wav_errors(data: bytes, **kwargs: Any) -> None:
    try:
        info = check(data, **kwargs)
    except WavError as exc:
        assert exc.status in (400, 413, 415)
        assert exc.code and exc.code == exc.code.lower() and " " not in exc.code
        return
    # Anything accepted must be self-consistent and lie within the input.
    assert info.format_tag in (1, 3)
    assert info.frames > 0
    assert info.frames * info.block_align == info.data_size
    assert info.data_offset + info.data_size <= len(data)
    assert info.duration_ms == info.frames * 1000 // info.sample_rate


@FUZZ
@given(st.binary(max_size=512))
def test_arbitrary_bytes_raise_only_wav_error(data: bytes) -> None:
    only_wav_errors(data)
    only_wav_errors(b"RIFF" + data)
    only_wav_errors(b"RIFF" + struct.pack("<I", len(data) + 4) + b"WAVE" + data)


fmt_bodies = st.one_of(
    st.builds(
        fmt_body,
        tag=st.sampled_from([0, 1, 3, 0x55, 0xFFFE]),
        channels=st.integers(0, 3),
        rate=st.sampled_from([0, 4_000, 8_000, 44_100, 48_000, 96_000, 200_000]),
        bits=st.sampled_from([0, 8, 12, 16, 24, 32, 64]),
        block_align=st.one_of(st.none(), st.integers(0, 0xFFFF)),
    ),
    st.builds(
        extensible_body,
        sub_tag=st.sampled_from([1, 3, 2]),
        channels=st.integers(0, 2),
        bits=st.sampled_from([16, 24, 32, 64]),
    ),
    st.binary(max_size=48),
)

chunks = st.one_of(
    st.builds(lambda body: chunk(b"fmt ", body), fmt_bodies),
    st.builds(
        chunk,
        cid=st.sampled_from([b"data", b"LIST", b"fact", b"cue ", b"JUNK", b"fmt "]),
        body=st.binary(max_size=64),
        declared=st.one_of(st.none(), st.integers(0, 0xFFFFFFFF)),
    ),
    st.binary(min_size=1, max_size=12),  # torn or garbage chunk header
)


@FUZZ
@given(
    st.lists(chunks, max_size=6),
    st.one_of(st.none(), st.sampled_from([0, 0xFFFFFFFF]), st.integers(0, 0xFFFFFFFF)),
    st.booleans(),
    st.one_of(st.none(), st.integers(0, 512)),
)
def test_random_chunk_tables_raise_only_wav_error(
    table: list[bytes], riff_size: int | None, require_mono: bool, max_bytes: int | None
) -> None:
    only_wav_errors(
        riff(*table, riff_size=riff_size),
        require_mono=require_mono,
        max_bytes=max_bytes,
        max_duration_s=0.01,
    )


@FUZZ
@given(
    frames=st.integers(1, 4_000),
    rate=st.integers(8_000, 96_000),
    before=st.lists(st.binary(max_size=9), max_size=3),
    after=st.lists(st.binary(max_size=9), max_size=3),
)
def test_valid_files_with_extra_chunks_round_trip(
    frames: int, rate: int, before: list[bytes], after: list[bytes]
) -> None:
    pcm = b"\x01\x02" * frames
    data = riff(
        *(chunk(b"JUNK", b) for b in before),
        chunk(b"fmt ", fmt_body(rate=rate)),
        chunk(b"data", pcm),
        *(chunk(b"LIST", b) for b in after),
    )
    info = check(data)
    assert (info.sample_rate, info.frames) == (rate, frames)
    assert info.duration_ms == frames * 1000 // rate
    assert data[info.data_offset : info.data_offset + info.data_size] == pcm


PCM_FORMATS = st.sampled_from([(1, 16), (1, 24), (1, 32), (3, 32)])


@st.composite
def wav_layouts(draw: st.DrawFn) -> tuple[bytes, int, int]:
    """(file, whole frames a player finds, sample rate): a valid fmt, a data chunk whose size
    may be a placeholder or run past the end, extra chunks whose pad byte may be missing, any
    RIFF size, bytes after the RIFF chunk."""
    tag, bits = draw(PCM_FORMATS)
    rate = draw(st.integers(8_000, 96_000))
    align = bits // 8
    frames = draw(st.integers(0, 300))
    pcm = draw(st.binary(min_size=frames * align, max_size=frames * align))
    pcm += b"\x55" * draw(st.integers(0, align - 1))  # a partial frame at the end
    data_mode = draw(st.sampled_from(["exact", "zero", "ffffffff", "past-eof"]))
    parts: list[tuple[bytes, bytes, bool]] = []  # (id, body, pad byte written)
    for cid in draw(st.lists(st.sampled_from([b"LIST", b"JUNK", b"bext", b"id3 "]), max_size=3)):
        parts.append((cid, draw(st.binary(max_size=21)), draw(st.booleans())))
    parts.insert(draw(st.integers(0, len(parts))), (b"fmt ", fmt_body(tag, 1, rate, bits), True))
    tail = [(c, draw(st.binary(max_size=9)), draw(st.booleans()))
            for c in draw(st.lists(st.sampled_from([b"LIST", b"cue "]), max_size=2))]
    if data_mode != "exact":
        tail = []  # the data chunk runs to the end of the file: anything after it is samples
    pad_data = draw(st.booleans())

    out = b"WAVE"
    data_offset = -1
    ambiguous = False
    after_unpadded = False
    for cid, body, pad in [*parts, (b"data", pcm, pad_data), *tail]:
        header_at = len(out)
        if cid == b"data":
            declared = {"exact": len(pcm), "zero": 0, "ffffffff": 0xFFFFFFFF,
                        "past-eof": len(pcm) + draw(st.integers(1, 1 << 20))}[data_mode]
            data_offset = header_at + 8 + 8
        else:
            declared = len(body)
        out += struct.pack("<4sI", cid, declared) + body
        if after_unpadded:
            # the spec's position is one byte into this header: if that reads as a chunk id
            # too, the file is ambiguous (a player would misread it the same way)
            ambiguous |= all(0x20 <= b <= 0x7E for b in out[header_at + 1 : header_at + 5])
        after_unpadded = len(body) % 2 == 1 and not pad
        if len(body) % 2 and pad:
            out += b"\0"
    assume(not ambiguous)
    riff_size = draw(st.sampled_from(["exact", 0, 0xFFFFFFFF, "file-length"]))
    size = {"exact": len(out), "file-length": len(out) + 8}.get(riff_size, riff_size)
    junk = b"" if data_mode != "exact" else draw(st.binary(max_size=24).map(
        lambda b: b and b"\x00" + b))  # bytes after the RIFF chunk
    data = b"RIFF" + struct.pack("<I", int(size)) + out + junk
    if data_mode == "exact" and pcm:
        whole = len(pcm) // align
    else:  # a data size of 0 also means "to the end": the rest of the file is the samples
        whole = (len(data) - data_offset) // align
    return data, whole, rate


@FUZZ
@given(wav_layouts())
def test_files_players_read_report_the_whole_frames_present(
    layout: tuple[bytes, int, int]
) -> None:
    data, whole, rate = layout
    if whole == 0:
        reject(data, "empty_audio", 400)
        return
    info = check(data, max_duration_s=3_600)
    assert (info.frames, info.sample_rate) == (whole, rate)
    assert info.duration_ms == whole * 1000 // rate
    assert info.data_offset + info.data_size <= len(data)
