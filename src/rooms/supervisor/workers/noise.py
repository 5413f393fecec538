"""noise_metadata: the stream you cannot hear, on the `noise_metadata` topic (seed 000).

    {"topic": "noise_metadata", "event": "noise_meta", "session", "mode", "seq", "band",
     "interval_s", "text", "entropy_bits", "char_len", "char_entropy_avg_bits",
     "char_entropy_total_bits", "token_count", "token_entropy_avg_bits",
     "token_entropy_total_bits", "ts"}

One every NOISE_MIN_INTERVAL..NOISE_MAX_INTERVAL seconds; `token_*` are left out in bytes
mode and when NOISE_DISABLE_TOKEN_ENT is set. `entropy_bits` is the configured nominal
NOISE_ENTROPY_BITS, reported as is. A run starts with `noise_start` and, when stopped,
ends with `noise_stop`. `seq` is epoch milliseconds, as upstream.

Each event is a tick of the stream's seeking state machine (rooms.streams.seeking): it is
delivered when a client is subscribed to the topic, and the stream is attached while one
is or while the subscriptions file lists a listener for NOISE_STREAM_ID. Beacons go to the
beacon file and to the `beacons` topic.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from rooms.kit.times import iso_ms
from rooms.streams.files import append_beacon, load_subscriptions
from rooms.streams.noise import NoiseText, band, measure
from rooms.streams.seeking import SeekConfig, Seeker, entropy_profile
from rooms.supervisor.context import WorkerContext

TOPIC = "noise_metadata"
BEACONS = "beacons"


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


async def run(ctx: WorkerContext) -> None:
    s = ctx.settings
    wordset = [w.strip() for w in s.noise_wordset.split(",") if w.strip()]
    maker = NoiseText(s.noise_mode, max_words=s.noise_max_words, wordset=wordset,
                      markov_order=s.noise_markov_order, bigram_dropout=s.noise_bigram_dropout)
    tokens = s.noise_mode != "bytes" and s.noise_disable_token_ent is None
    session = uuid.UUID(int=ctx.rng.getrandbits(128)).hex[:12]
    seeker = Seeker(stream_id=s.noise_stream_id, mode=s.noise_mode,
                    tempo_range_s=(s.noise_min_interval, s.noise_max_interval),
                    config=SeekConfig.from_settings(s))
    beacon_path = s.runtime_path(s.noise_seek_beacon_path)
    subscriptions_path = s.runtime_path(s.noise_seek_subscriptions_path)
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
            listening = ctx.hub.counts().get(TOPIC, 0) > 0
            await ctx.publish(TOPIC, event)
            held = (await asyncio.to_thread(load_subscriptions, subscriptions_path)).get(
                s.noise_stream_id)
            words = [] if s.noise_mode == "bytes" else list(dict.fromkeys(event["text"].split()))
            beacon = seeker.tick(ctx.clock(), delivered=listening, attached=listening or bool(held),
                                 wall=time.time(),
                                 entropy_profile=entropy_profile(event["char_entropy_avg_bits"]),
                                 tokens_hint=words[:3])
            if beacon is not None:
                await asyncio.to_thread(append_beacon, beacon_path, beacon)
                await ctx.publish(BEACONS, beacon)
    finally:  # stopped (fewer listeners, quiet, shutdown): say so; publishing never waits
        await ctx.publish(TOPIC, {"event": "noise_stop", "session": session, "ts": _ts()})
