"""`rooms serve` with memory instruments, for `benchmarks/soak.py --trace` (never in production).

Run as `python benchmarks/traced_serve.py serve --port N` (the arguments go to `rooms.cli`).
Nothing here is reachable over HTTP; the soak drives it from outside the process:

- `SOAK_TRACE_DIR` (required): where the files below go.
- `SOAK_TRACE_FRAMES` (default 0 = tracemalloc off): frames kept per allocation. With
  tracing on, SIGUSR1 writes `snapshot-<n>.pickle` (`tracemalloc.Snapshot.dump`, the
  tracer's own allocations filtered out) and then an empty `snapshot-<n>.done`.
- A daemon thread appends one line every `SOAK_TRACE_EVERY_S` (default 5) seconds to
  `samples.txt`: `<monotonic s> <RSS KiB> <tracemalloc current bytes> <tracemalloc's own
  bytes> <RssAnon KiB>` (-1 for the tracer's two when tracing is off). RSS includes
  tracemalloc's own memory and, for a moment, each snapshot's copy: under tracing compare
  the traced heap, not RSS.
- `SOAK_MALLOC_TRIM=1`: glibc `malloc_trim(0)` before each sample, so RSS shows what the
  allocator could give back (the gap between "RSS" and "RSS after a trim" is high-water).
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time
import tracemalloc
from pathlib import Path
from types import FrameType

OUT = Path(os.environ["SOAK_TRACE_DIR"])
FRAMES = int(os.environ.get("SOAK_TRACE_FRAMES", "0"))
EVERY_S = float(os.environ.get("SOAK_TRACE_EVERY_S", "5"))
TRIM = os.environ.get("SOAK_MALLOC_TRIM") == "1"


def rss_kib(field: str = "VmRSS") -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def sampler() -> None:
    libc = ctypes.CDLL("libc.so.6") if TRIM else None
    with (OUT / "samples.txt").open("a", buffering=1) as f:
        while True:
            if libc is not None:
                libc.malloc_trim(0)
            on = tracemalloc.is_tracing()
            traced = tracemalloc.get_traced_memory()[0] if on else -1
            own = tracemalloc.get_tracemalloc_memory() if on else -1
            f.write(f"{time.monotonic():.1f} {rss_kib()} {traced} {own} "
                    f"{rss_kib('RssAnon')}\n")
            time.sleep(EVERY_S)


def dump(signum: int, frame: FrameType | None) -> None:
    """SIGUSR1: write the next numbered snapshot (the event loop waits meanwhile)."""
    n = len(list(OUT.glob("snapshot-*.done")))
    snap = tracemalloc.take_snapshot().filter_traces((
        tracemalloc.Filter(False, tracemalloc.__file__),
        tracemalloc.Filter(False, "<frozen importlib._bootstrap>"),
        tracemalloc.Filter(False, "<frozen importlib._bootstrap_external>"),
    ))
    snap.dump(str(OUT / f"snapshot-{n}.pickle"))
    (OUT / f"snapshot-{n}.done").touch()


def main() -> None:
    if FRAMES > 0:
        tracemalloc.start(FRAMES)
        signal.signal(signal.SIGUSR1, dump)
    threading.Thread(target=sampler, name="soak-sampler", daemon=True).start()
    from rooms.cli import main as cli

    cli(sys.argv[1:])


if __name__ == "__main__":
    main()
