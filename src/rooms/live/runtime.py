"""Process settings for a server that holds thousands of websocket connections.

Call `tune_gc()` once in a serving process, after the app is built and before it serves.
"""

from __future__ import annotations

import gc

# (young, middle, old). CPython 3.11 defaults to (700, 10, 10).
GC_THRESHOLDS = (50_000, 20, 100)


def tune_gc() -> None:
    """Collect less often, and keep everything built at start-up out of full collections.

    Why: each open websocket keeps GC-tracked objects alive for its whole life (~150 when
    this was measured, ~85 now: its task, coroutines, protocol state), and every fan-out allocates
    short-lived ones. With the default thresholds those short-lived objects are promoted to
    the oldest generation within a few events, so full collections run every few seconds;
    at 5,000 connections each one walks ~600,000 objects and stops the event loop for
    0.3-0.7 s, which set the p99 delivery latency (0.8 s instead of ~0.15 s, measured by
    benchmarks/live_fanout.py). Reference counting still frees nearly everything at once;
    only cyclic garbage waits longer.
    """
    gc.collect()
    gc.freeze()  # modules, routes, settings: never garbage, never walked again
    gc.set_threshold(*GC_THRESHOLDS)
