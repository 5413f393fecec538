// The room loop: asks the server for the next take of each cue, plays it through the chain,
// acknowledges audible plays, keeps the room-tone bed, and rides out an unreachable server
// on what it remembers. Decisions: docs/room.md.

import { outputBus, playTake, toneBed } from "./chain.js";
import { cueGapMs, loudnessRule, masterGain, sliceOf } from "./policy.js";
import { RepeatWindow, Sequencer } from "./sequencer.js";

export const MEMORY_TAKES = 12;                 // takes held for an outage...
export const MEMORY_BYTES = 64 * 1024 * 1024;   // ...within this much decoded audio
export const OUTAGE_REPLAY_MS = 30 * 60 * 1000; // replay them for at most this long
const SKIP_MS = 400;                            // after a failed fetch, the next cue comes soon
const STOP_REASONS = new Set(["revoked", "expired", "removed", "essence"]);
const DENSITY_RANK = { light: 0, medium: 1, dense: 2 };

/** Whether opening hours let the room play, from surface/state (`hours.playback`, else
 *  `open`) or a `surface` `hours` event (`playback`, else `open`); null when not said. */
export function playbackOpen(p) {
  const known = (v) => v !== null && v !== undefined;
  if (p.hours && typeof p.hours === "object" && known(p.hours.playback)) return Boolean(p.hours.playback);
  if (p.event === "hours" && known(p.playback)) return Boolean(p.playback);
  if (known(p.open)) return Boolean(p.open);
  return null;
}

export class Room {
  /** comp: the composition; effects: GET /api/v1/effects; ctx: an AudioContext; storage:
   *  localStorage; windowSize, pace: see docs/room.md; onChange(room): view updates;
   *  onStale(): re-read the steward's state (pool/next said paused when we did not know). */
  constructor({ comp, effects, ctx, storage = null, windowSize = null, pace = 1,
                rng = Math.random, onChange = () => {}, onStale = () => {},
                fetcher = (...a) => fetch(...a) }) {
    this.comp = comp;
    this.effects = Object.fromEntries((effects || []).map((e) => [e.code, e]));
    this.ctx = ctx;
    this.rule = loudnessRule(comp);
    this.pace = pace;
    this.rng = rng;
    this.fetch = fetcher;
    this.onChange = onChange;
    this.onStale = onStale;     // the server disagrees with what we know: re-read surface/state
    const size = windowSize ?? (comp.policy && comp.policy.anti_repetition_window_size) ?? 12;
    this.window = new RepeatWindow({ storage, size });
    this.seq = new Sequencer(comp, { rng });
    this.bus = outputBus(ctx, this.rule);
    this.tone = toneBed(ctx, comp.tone.profiles[comp.tone.profile] || comp.tone.profiles.soft_air,
                        this.bus.input, { fadeS: comp.tone.fade_s });
    this.running = false;      // the visitor's Start / Pause
    this.paused = false;       // the steward's playback pause (or maintenance)
    this.quieter = false;
    this.volume = 1;
    this.open = true;          // opening hours: closed, the room rests
    this.online = true;
    this.outageSince = null;
    this.poolSize = 0;
    this.pacing = null;
    this.playing = new Map();  // id -> handle of what sounds now
    this.memory = new Map();   // id -> {artifact, buffer}: recently heard, for an outage
    this.wakers = new Set();
    this.looping = false;
    this.log = [];
    this.reason = null;        // why nothing plays: empty_pool | playback_paused | null
    this.gone = new Set();     // ids revoked or expired while this page runs (never played)
  }

  note(type, detail = {}) {
    this.log.push({ t: Date.now(), type, ...detail });
    if (this.log.length > 500) this.log.shift();
  }

  changed() { try { this.onChange(this); } catch { /* the view never stops the room */ } }

  /** What the room is doing, for the view and the device report. */
  get mode() {
    if (!this.running) return "stopped";
    if (!this.open) return "closed";
    if (this.paused) return "paused";
    if (!this.online) return "offline";
    return this.reason === "empty_pool" ? "waiting" : "playing";
  }

  get isPlaying() { return this.playing.size > 0; }

  /** The visitor started it, the steward has not paused it, the hours let it play. */
  get canPlay() { return this.running && !this.paused && this.open; }

  /** The output can be heard: the context runs and the master gain is above zero. */
  audible() {
    const out = this.pacing ? this.pacing.output : 1;
    return this.ctx.state === "running" && masterGain(this.volume, out) > 0;
  }

  // --- the visitor's button -------------------------------------------------------------------
  async start() {
    try { await this.ctx.resume(); } catch { /* the browser wants a gesture: Start gives it */ }
    this.running = true;
    this.applyMaster();
    this.note("start");
    this.changed();
    this.wake();
    if (!this.looping) this.run();
  }

  pause() {
    this.running = false;
    this.stopAll("visitor");
    this.tone.setLevel(0);
    this.note("pause");
    this.changed();
    this.wake();
  }

  // --- the steward, live ------------------------------------------------------------------------
  /** A posture (surface/state, a `surface` posture or hours event): pause, quieter mode,
   *  volume, opening hours. Fields a message does not carry stay as they were. */
  applyPosture(p) {
    if (!p) return;
    const could = this.canPlay;
    const paused = Boolean(p.playback_paused || p.maintenance_mode);
    if ("quieter_mode" in p) this.quieter = Boolean(p.quieter_mode);
    if ("room_volume" in p && p.room_volume !== null) this.volume = Number(p.room_volume);
    const open = playbackOpen(p);
    if (open !== null) this.open = open;
    if ("playback_paused" in p) this.paused = paused;
    if (this.paused || !this.open) {
      this.stopAll(this.paused ? "paused" : "closed");
      this.tone.setLevel(0);
    }
    this.applyMaster();
    this.note("posture", { paused: this.paused, quieter: this.quieter, volume: this.volume,
                           open: this.open });
    this.changed();
    if (could !== this.canPlay) this.wake(); // a volume or quieter change keeps the gaps
  }

  applyMaster() {
    const out = this.pacing ? this.pacing.output : 1;
    this.bus.setMaster(this.running ? masterGain(this.volume, out) : 0);
  }

  /** A `surface` pool event: a revoked, expired or removed take stops and is forgotten; a new
   *  take wakes a room waiting on an empty pool. */
  poolChanged(change, id) {
    if (STOP_REASONS.has(change)) {
      this.memory.delete(id);
      if (change !== "essence") {
        this.gone.add(id);
        if (this.gone.size > 1000) this.gone.delete(this.gone.values().next().value);
      }
      const handle = this.playing.get(id);
      if (handle) {
        handle.stop(0.05);
        this.note("stopped", { id, why: change });
      }
    } else if (change === "added") {
      this.poolSize += 1;
      if (this.reason === "empty_pool") this.wake();
    }
    this.changed();
  }

  // --- time -------------------------------------------------------------------------------------
  wake() {
    const all = [...this.wakers];
    this.wakers.clear();
    for (const w of all) w();
  }

  /** Wait `ms`, or less if something wakes the room (a switch, a new take). */
  sleep(ms) {
    return new Promise((resolve) => {
      const done = () => { clearTimeout(timer); this.wakers.delete(done); resolve(); };
      const timer = setTimeout(done, ms);
      this.wakers.add(done);
    });
  }

  stopAll(why) {
    for (const [id, handle] of this.playing) {
      handle.stop(0.05);
      this.note("stopped", { id, why });
    }
  }

  setTone(kind) {
    const gains = this.comp.tone.gains;
    const factor = (this.pacing ? this.pacing.tone : 1);
    this.tone.setLevel((gains[kind] ?? gains.idle) * factor);
  }

  // --- the loop ---------------------------------------------------------------------------------
  async run() {
    this.looping = true;
    try {
      for (;;) {
        try {
          await this.step();
        } catch (exc) { // never stuck: whatever went wrong, the next cue comes
          this.note("error", { message: String(exc && exc.message || exc) });
          await this.sleep(SKIP_MS);
        }
      }
    } finally {
      this.looping = false;
    }
  }

  async step() {
    if (!this.canPlay) {
      await this.sleep(60_000);
      return;
    }
    if (this.ctx.state !== "running") { // the browser holds the sound until a gesture (Start)
      await this.sleep(1000);
      return;
    }
    const { cue, pacing, scene, movement } = this.seq.next({
      when: new Date(), poolSize: this.poolSize, quieterMode: this.quieter });
    this.pacing = pacing;
    this.applyMaster();
    const gap = cueGapMs(cue, pacing, this.pace);
    if (cue.kind === "pause") {
      this.setTone(cue.tone || "sparse");
      this.note("pause-cue", { scene, movement, gap });
      await this.sleep(gap);
      return;
    }
    const got = await this.fetchTake(cue);
    if (got.kind === "none") {
      this.setTone("idle");
      await this.sleep(Math.max(gap, got.reason === "empty_pool" ? 1500 * this.pace : 0));
      return;
    }
    if (got.kind === "skip") {
      await this.sleep(Math.min(gap, SKIP_MS));
      return;
    }
    if (got.kind === "offline") {
      if (!this.canPlay) return;
      this.setTone("sparse");
      const held = this.replayable();
      if (!held) { await this.sleep(Math.max(gap, 1000 * this.pace)); return; }
      await this.playLayers([this.play(held, { ack: false })], gap);
      return;
    }
    if (!this.canPlay || this.gone.has(got.artifact.id)) return; // changed while fetching
    this.setTone("duck");
    const layers = [this.play(got, { ack: true })];
    const extra = this.maybeOverlap(got.artifact, pacing, cue);
    if (extra) layers.push(extra);
    await this.playLayers(layers, gap);
  }

  async playLayers(layers, gap) {
    await Promise.all(layers);
    if (this.canPlay) this.setTone("sparse");
    await this.sleep(gap);
  }

  /** A second, quieter voice now and then (overlap rules): only over a take no denser than
   *  overlap.density_limit, with the pacing's chance, after a short delay. */
  maybeOverlap(artifact, pacing, cue) {
    const o = this.comp.overlap;
    if (!o || (o.max_layers ?? 1) < 2 || !(pacing.overlapChance > 0)) return null;
    const limit = DENSITY_RANK[o.density_limit || "medium"] ?? 1;
    if ((DENSITY_RANK[artifact.density] ?? 2) > limit) return null;
    if (this.rng() >= pacing.overlapChance) return null;
    const delay = o.min_delay_ms + this.rng() * Math.max(0, o.max_delay_ms - o.min_delay_ms);
    return (async () => {
      await this.sleep(delay);
      if (!this.canPlay) return;
      const got = await this.fetchTake({ ...cue, lane: "any", mood: "any" });
      if (got.kind === "take" && this.canPlay && !this.gone.has(got.artifact.id)) await this.play(got, { ack: true, layerGain: o.gain_multiplier });
    })();
  }

  /** Forget the oldest held takes beyond MEMORY_TAKES or MEMORY_BYTES (decoded float32). */
  trimMemory() {
    const bytes = () => [...this.memory.values()].reduce(
      (sum, h) => sum + h.buffer.length * h.buffer.numberOfChannels * 4, 0);
    while (this.memory.size > MEMORY_TAKES || (this.memory.size > 1 && bytes() > MEMORY_BYTES)) {
      this.memory.delete(this.memory.keys().next().value);
    }
  }

  /** A held take to replay while the server is away: the one replayed longest ago; none once
   *  the outage is older than OUTAGE_REPLAY_MS. */
  replayable() {
    if (this.outageSince === null || Date.now() - this.outageSince > OUTAGE_REPLAY_MS) return null;
    if (!this.memory.size) return null;
    const [id, held] = this.memory.entries().next().value;
    this.memory.delete(id); // to the back of the queue
    this.memory.set(id, held);
    return held;
  }

  wentOffline() {
    if (this.online) {
      this.online = false;
      this.outageSince = Date.now();
      this.note("offline");
      this.changed();
    }
  }

  /** Back in touch: forget every held take (one revoked or expired meanwhile must not play
   *  again; the memory refills from the live pool) and carry on. */
  reconnected() {
    if (this.online) return;
    this.online = true;
    this.outageSince = null;
    this.memory.clear();
    this.note("online");
    this.changed();
  }

  /** {kind: "take", artifact, buffer} | {kind: "none", reason} | {kind: "skip"} |
   *  {kind: "offline"}. */
  async fetchTake(cue) {
    const query = RepeatWindow.query(cue, this.window, this.seq.recentDensities());
    let body;
    try {
      const resp = await this.fetch(`/api/v1/pool/next?${query}`, { cache: "no-store" });
      if (resp.status >= 500) { this.wentOffline(); return { kind: "offline" }; }
      if (!resp.ok) return { kind: "skip" };
      body = await resp.json();
    } catch {
      this.wentOffline();
      return { kind: "offline" };
    }
    this.reconnected();
    this.poolSize = Number(body.pool_size) || 0;
    this.reason = body.reason || null;
    if (body.reason === "playback_paused" && !this.paused) {
      this.applyPosture({ playback_paused: true }); // an event we missed (or the hours)...
      this.onStale();                                // ...surface/state says which, and when it ends
    }
    const artifact = body.artifact;
    if (!artifact) { this.changed(); return { kind: "none", reason: body.reason }; }
    this.window.add(artifact.id);
    try {
      const resp = await this.fetch(artifact.audio_url, { cache: "no-store" });
      if (!resp.ok) throw new Error(`audio ${resp.status}`);
      const buffer = await this.ctx.decodeAudioData(await resp.arrayBuffer());
      return { kind: "take", artifact, buffer };
    } catch (exc) { // missing or broken audio: skip to the next cue
      this.note("skip", { id: artifact.id, message: String(exc && exc.message || exc) });
      return { kind: "skip" };
    }
  }

  /** Play one take; resolves when it has ended or was stopped. Acknowledges an audible,
   *  whole play when `ack`; remembers it for an outage. */
  async play({ artifact, buffer }, { ack, layerGain = 1 }) {
    const id = artifact.id;
    const effect = this.effects[artifact.effect_profile] || this.effects.clear || null;
    const slice = sliceOf(id, buffer.duration, Date.now() / 1000, this.comp.source_slice);
    const handle = playTake(this.ctx, buffer, {
      into: this.bus.input, effect, wear: artifact.wear, lufs: artifact.loudness_lufs,
      rule: this.rule, layerGain, startS: slice.startS, lengthS: slice.lengthS });
    this.playing.set(id, handle);
    this.note(ack ? "play" : "replay", { id, wear: artifact.wear });
    this.changed();
    const timeout = new Promise((resolve) => setTimeout(() => resolve("timeout"),
                                                        (slice.lengthS + 5) * 1000));
    const how = await Promise.race([handle.done, timeout]);
    if (how === "timeout") handle.stop(0.05);
    this.playing.delete(id);
    this.seq.played(artifact);
    const heard = how === "ended" && this.audible();
    this.note("ended", { id, how, heard });
    this.changed();
    if (!heard) return;
    if (ack) {
      this.memory.delete(id);
      this.memory.set(id, { artifact, buffer });
      this.trimMemory();
      try {
        const resp = await this.fetch(artifact.playback_ack_url, { method: "POST" });
        this.note("ack", { id, status: resp.status });
        if (resp.status === 410) this.memory.delete(id);
      } catch { this.note("ack-lost", { id }); }
    }
  }
}
