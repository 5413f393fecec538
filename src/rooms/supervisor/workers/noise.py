"""noise_metadata: the stream you cannot hear, on the `noise_metadata` topic (seed 000).

    {"topic": "noise_metadata", "event": "noise_meta", "session", "mode", "seq", "band",
     "interval_s", "text", "entropy_bits", "char_len", "char_entropy_avg_bits",
     "char_entropy_total_bits", "token_count", "token_entropy_avg_bits",
     "token_entropy_total_bits", "ts"}

One every NOISE_MIN_INTERVAL..NOISE_MAX_INTERVAL seconds; `token_*` are left out in bytes
mode and when NOISE_DISABLE_TOKEN_ENT is set. `entropy_bits` is the configured nominal
NOISE_ENTROPY_BITS, reported as is. A run starts with `noise_start` and, when stopped,
ends with `noise_stop`. `seq` is epoch milliseconds, as upstream.

Each event is a tick of the stream's seeking state machine (rooms.streams.stream and
.seeking): it is delivered when a client is subscribed to the topic, and the stream is
attached while one is or while a listener holds NOISE_STREAM_ID in the seek store (files,
or Redis). Beacons go to the store and to the `beacons` topic, with a `spore` and
`tokens_hint` from the stream's Markov token set (rooms.streams.spores). With `commons:
true` in the worker table it merges into the commons when lonely long enough.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from typing import Any

from rooms.kit.times import iso_ms
from rooms.streams.noise import MARKOV_CORPUS, NoiseText, band, measure
from rooms.streams.seeking import SeekConfig, Seeker, entropy_profile
from rooms.streams.spores import Spores
from rooms.streams.store import make_seek_store
from rooms.streams.stream import Stream
from rooms.supervisor.context import WorkerContext

TOPIC = "noise_metadata"


def _ts() -> str:
    return iso_ms(datetime.now(UTC))


def noise_event(text: str, *, session: str, mode: str, interval_s: float, entropy_bits: int,
                tokens: bool) -> dict[str, Any]:
    m = measure(text)
    event: dict[str, Any] = {
        "event": "noise_meta", "session": session, "mode": mode,
        "seq": int(time.time() * 1000), "band": band(interval_s),
        "interval_s": round(interval_s, 3), "text": text, "entropy_bits": entropy_bits,
        "char_len": m.char_len, "char_entropy_avg_bits": m.char_entropy_avg_bits,
        "char_entropy_total_bits": m.char_entropy_total_bits}
    if tokens:
        event.update(token_count=m.token_count, token_entropy_avg_bits=m.token_entropy_avg_bits,
                     token_entropy_total_bits=m.token_entropy_total_bits)
    event["ts"] = _ts()
    return event


def markov_corpus(wordset: list[str]) -> list[str]:
    """The stream's Markov token set: NOISE_WORDSET in order, or upstream's corpus."""
    return wordset or MARKOV_CORPUS.split()


async def run(ctx: WorkerContext) -> None:
    s = ctx.settings
    wordset = [w.strip() for w in s.noise_wordset.split(",") if w.strip()]
    maker = NoiseText(s.noise_mode, max_words=s.noise_max_words, wordset=wordset,
                      markov_order=s.noise_markov_order, bigram_dropout=s.noise_bigram_dropout)
    spores = Spores(markov_corpus(wordset))
    tokens = s.noise_mode != "bytes" and s.noise_disable_token_ent is None
    session = uuid.UUID(int=ctx.rng.getrandbits(128)).hex[:12]
    seeker = Seeker(stream_id=s.noise_stream_id, mode=s.noise_mode,
                    tempo_range_s=(s.noise_min_interval, s.noise_max_interval),
                    config=SeekConfig.from_settings(s))
    stream = Stream(stream_id=s.noise_stream_id, topic=TOPIC, hub=ctx.hub,
                    store=ctx.seek if ctx.seek is not None else make_seek_store(s, None),
                    seeker=seeker, clock=ctx.clock, commons=ctx.commons)
    await ctx.publish(TOPIC, {"event": "noise_start", "session": session, "mode": s.noise_mode,
                              "entropy_bits": s.noise_entropy_bits, "ts": _ts()})
    try:
        while True:
            ctx.heartbeat()
            interval = ctx.rng.uniform(s.noise_min_interval, s.noise_max_interval)
            await ctx.sleep(interval)
            event = noise_event(maker.make(ctx.rng), session=session, mode=s.noise_mode,
                                interval_s=interval, entropy_bits=s.noise_entropy_bits,
                                tokens=tokens)
            await stream.tick(event,
                              entropy_profile=entropy_profile(event["char_entropy_avg_bits"]),
                              tokens_hint=spores.hint(event["text"]), spore=spores.spore(ctx.rng))
            ctx.heartbeat()
    finally:  # stopped (fewer listeners, quiet, shutdown): say so; publishing never waits
        stream.close()
        await ctx.publish(TOPIC, {"event": "noise_stop", "session": session, "ts": _ts()})
