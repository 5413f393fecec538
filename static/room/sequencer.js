// The room's composer, pure: which movement, scene and cue come next, and the anti-repeat
// window. No DOM, no clock (times are passed in), randomness from an injectable `rng()`.
// `comp` is GET /api/v1/room/composition. Decisions: docs/room.md, "Sequencer".

import { pacing } from "./policy.js";

/** The long-form arc: movements follow in this order, then start again. */
export const ARC = ["arrival", "gathering", "weathering", "release"];
export const WINDOW_KEY = "rooms-room-window-v1";

/** A seeded PRNG (mulberry32): () -> [0, 1). */
export function seeded(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const pick = (items, rng) => items[Math.min(items.length - 1, Math.floor(rng() * items.length))];
const count = (list, value) => list.filter((x) => x === value).length;

/** How many scenes a movement plays: its min..max items shifted by the movement preset's
 *  deltas; a thin pool plays one fewer at most, a scarce one at most two (never below 1). */
export function movementItems(movement, p, rng) {
  let lo = movement.min_items + p.minItemsDelta;
  let hi = movement.max_items + p.maxItemsDelta;
  if (p.scarcity === "thin") hi -= 1;
  if (p.scarcity === "scarce") hi = Math.min(hi, 2);
  hi = Math.max(1, hi);
  lo = Math.max(1, Math.min(lo, hi));
  return lo + Math.floor(rng() * (hi - lo + 1));
}

export class Sequencer {
  /** `comp`: the composition; `rng`: () -> [0, 1). */
  constructor(comp, { rng = Math.random } = {}) {
    this.comp = comp;
    this.rng = rng;
    this.arcIndex = -1;
    this.movement = null;
    this.scenesLeft = 0;
    this.scene = null;
    this.cueIndex = 0;
    const h = (comp.policy && comp.policy.history) || { density: 4, scene: 3, loop: 6 };
    this.limits = h;
    this.history = { density: [], mood: [], scene: [], loop: [] };
  }

  /** The next movement of the arc. A scarce pool skips `gathering` (the densest, busiest
   *  movement): with three takes or fewer the room breathes instead of crowding them. */
  nextMovement(p) {
    const byCode = Object.fromEntries(this.comp.movements.map((m) => [m.code, m]));
    for (let tries = 0; tries < ARC.length; tries++) {
      this.arcIndex = (this.arcIndex + 1) % ARC.length;
      const code = ARC[this.arcIndex];
      if (p.scarcity === "scarce" && code === "gathering") continue;
      if (byCode[code]) return byCode[code];
    }
    return this.comp.movements[0];
  }

  /** A scene of `movement`: one not among the last `history.scene` scenes when possible; a
   *  thin or scarce pool prefers scenes that hold a pause (room tone between voices). */
  nextScene(movement, p) {
    const scenes = this.comp.scenes.filter((s) => movement.scenes.includes(s.code));
    let choices = scenes.filter((s) => !this.history.scene.includes(s.code));
    if (!choices.length) choices = scenes.filter((s) => s.code !== (this.scene && this.scene.code));
    if (!choices.length) choices = scenes;
    if (p.scarcity !== "normal") {
      const paced = choices.filter((s) => s.cues.some((c) => c.kind === "pause"));
      if (paced.length) choices = paced;
    }
    return pick(choices, this.rng);
  }

  /** The play cue as the room asks for it: a density run is released (two dense in the
   *  recent densities: the movement's dense_release_density; two light: its
   *  light_recovery_density), a mood run likewise (two `clear`: clear_release_mood; after
   *  a dense take: dense_after_mood). */
  shape(cue, movement) {
    const seqPolicy = (this.comp.policy && this.comp.policy.sequencer) || {};
    const weathered = seqPolicy.weathered_release_threshold ?? 2;
    const clearRun = seqPolicy.clear_release_threshold ?? 2;
    const recent = this.history.density.slice(-3);
    let { density, mood } = cue;
    if (count(recent, "dense") >= weathered && density === "dense") {
      density = movement.dense_release_density;
    } else if (count(recent, "light") >= 2 && density === "light") {
      density = movement.light_recovery_density;
    }
    const moods = this.history.mood.slice(-clearRun);
    if (mood === "clear" && moods.length >= clearRun && moods.every((m) => m === "clear")) {
      mood = movement.clear_release_mood;
    } else if (recent.length && recent[recent.length - 1] === "dense" && mood === "weathered"
               && density === "dense") {
      mood = movement.dense_after_mood;
    }
    return { ...cue, density, mood };
  }

  /** The next cue: {movement, scene, cue, pacing}. `when`: a Date; `poolSize`: the last
   *  pool size the server said; `quieterMode`: the steward's switch. */
  next({ when, poolSize, quieterMode = false }) {
    const p = pacing(this.comp, when, { poolSize, quieterMode });
    if (!this.scene || this.cueIndex >= this.scene.cues.length) {
      if (!this.movement || this.scenesLeft <= 0) {
        this.movement = this.nextMovement(p);
        this.scenesLeft = movementItems(this.movement, p, this.rng);
      }
      this.scene = this.nextScene(this.movement, p);
      this.scenesLeft -= 1;
      this.cueIndex = 0;
      this.remember("scene", this.scene.code);
    }
    const raw = this.scene.cues[this.cueIndex++];
    const cue = raw.kind === "play" ? this.shape(raw, this.movement) : { ...raw };
    cue.gap_ms = Math.round(cue.gap_ms * (this.movement.gap_multiplier || 1));
    return { movement: this.movement.code, scene: this.scene.code, cue, pacing: p };
  }

  remember(kind, value) {
    const list = this.history[kind];
    list.push(value);
    const limit = kind === "mood" ? this.limits.density : this.limits[kind] || 4;
    while (list.length > limit) list.shift();
  }

  /** A take was played: its density and mood feed the next choices. */
  played(artifact) {
    if (artifact.density) this.remember("density", artifact.density);
    if (artifact.mood) this.remember("mood", artifact.mood);
    this.remember("loop", artifact.id);
  }

  /** The densities of the last takes, oldest first (sent as `recent_densities`). */
  recentDensities() {
    return this.history.density.slice();
  }
}

/** The anti-repetition window: the ids of the last `size` takes chosen, oldest first, kept in
 *  `storage` (localStorage on the page; any {getItem, setItem}) so a reload remembers them. */
export class RepeatWindow {
  constructor({ storage = null, size = 12, key = WINDOW_KEY } = {}) {
    this.storage = storage;
    this.size = Math.max(0, Math.min(50, Math.floor(size)));
    this.key = key;
    this.list = [];
    try {
      const held = storage && JSON.parse(storage.getItem(key) || "[]");
      if (Array.isArray(held)) this.list = held.filter((x) => Number.isInteger(x)).slice(-this.size);
    } catch { /* a bad stored value starts an empty window */ }
    if (this.size === 0) this.list = [];
  }

  ids() { return this.list.slice(); }

  has(id) { return this.list.includes(id); }

  /** Remember `id` as the newest; the oldest falls out past `size`. */
  add(id) {
    if (this.size === 0) return;
    this.list = this.list.filter((x) => x !== id);
    this.list.push(id);
    while (this.list.length > this.size) this.list.shift();
    this.save();
  }

  save() {
    try { if (this.storage) this.storage.setItem(this.key, JSON.stringify(this.list)); }
    catch { /* storage full or refused: the window lives in memory */ }
  }

  /** The pool/next query for a cue: lane, density, mood, exclude_ids, recent_densities. */
  static query(cue, window, densities) {
    const q = new URLSearchParams();
    for (const k of ["lane", "density", "mood"]) q.set(k, cue[k] || "any");
    const ids = window.ids();
    if (ids.length) q.set("exclude_ids", ids.join(","));
    if (densities && densities.length) q.set("recent_densities", densities.slice(-6).join(","));
    return q.toString();
  }
}
