// node --test: the room's composer (static/room/sequencer.js): movements and scenes by
// daypart and scarcity, density and mood release, the anti-repeat window and its query.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { ARC, RepeatWindow, Sequencer, movementItems, seeded } from "../../static/room/sequencer.js";
import { pacing } from "../../static/room/policy.js";

const COMP = JSON.parse(readFileSync(new URL("./room-composition.json", import.meta.url)));
const at = (hour) => new Date(Date.UTC(2026, 0, 5, hour, 30));
const scenesOf = Object.fromEntries(COMP.scenes.map((s) => [s.code, s]));
const movementsOf = Object.fromEntries(COMP.movements.map((m) => [m.code, m]));

/** Run the sequencer for `n` cues; a list of {movement, scene, cue, pacing}. */
function run({ hour = 14, poolSize = 30, n = 200, seed = 1, quieterMode = false } = {}) {
  const seq = new Sequencer(COMP, { rng: seeded(seed) });
  const out = [];
  for (let i = 0; i < n; i++) {
    const step = seq.next({ when: at(hour), poolSize, quieterMode });
    out.push(step);
    if (step.cue.kind === "play") {
      seq.played({ id: i, density: step.cue.density, mood: step.cue.mood });
    }
  }
  return out;
}

/** The movements in the order they played. */
function movements(steps) {
  const runs = [];
  for (const s of steps) if (runs[runs.length - 1] !== s.movement) runs.push(s.movement);
  return runs;
}

test("movements follow the arc and each scene belongs to its movement", () => {
  const steps = run();
  const order = movements(steps);
  assert.deepEqual(order.slice(0, 8), [...ARC, ...ARC]);
  for (const s of steps) assert.ok(movementsOf[s.movement].scenes.includes(s.scene), s.scene);
});

test("a scene's cues come in order and a scene does not return within the scene history", () => {
  const seq = new Sequencer(COMP, { rng: seeded(3) });
  const scenes = [];
  for (let i = 0; i < 300; i++) {
    const s = seq.next({ when: at(14), poolSize: 30 });
    if (seq.cueIndex === 1) scenes.push({ scene: s.scene, movement: s.movement });
    assert.equal(s.cue.kind, scenesOf[s.scene].cues[seq.cueIndex - 1].kind);
  }
  // within a movement offering 3 scenes, the next scene is never the one just played
  for (let i = 1; i < scenes.length; i++) {
    if (scenes[i].movement === scenes[i - 1].movement) {
      assert.notEqual(scenes[i].scene, scenes[i - 1].scene);
    }
  }
});

test("a daypart's preset sets how many scenes a movement plays", () => {
  const rng = seeded(9);
  const arrival = movementsOf.arrival; // 2-3 items
  const counts = (hour, poolSize = 30) => {
    const p = pacing(COMP, at(hour), { poolSize });
    return new Set(Array.from({ length: 200 }, () => movementItems(arrival, p, rng)));
  };
  assert.deepEqual([...counts(14)].sort(), [2, 3]);      // afternoon: balanced
  assert.deepEqual([...counts(8)].sort(), [3, 4]);       // morning: meditative, +1
  assert.deepEqual([...counts(19)].sort(), [2, 3]);      // evening: balanced preset
  assert.deepEqual([...counts(14, 5)].sort(), [2]);      // a thin pool: one fewer at most
  const gathering = movementsOf.gathering;             // 3-4
  const scarce = pacing(COMP, at(8), { poolSize: 2 });
  assert.equal(movementItems(gathering, scarce, rng), 2);
});

test("gaps are longer in the quiet morning than in the active evening", () => {
  const gap = (hour) => {
    const steps = run({ hour, n: 60 });
    return steps.reduce((sum, s) => sum + s.cue.gap_ms * (s.cue.kind === "pause" ? s.pacing.pauseGap : s.pacing.cueGap), 0);
  };
  assert.ok(gap(8) > 1.3 * gap(19), `${gap(8)} vs ${gap(19)}`);
});

test("a scarce pool skips the gathering movement and prefers scenes with a pause", () => {
  const steps = run({ poolSize: 2 });
  assert.ok(!steps.some((s) => s.movement === "gathering"));
  const withPause = (code) => scenesOf[code].cues.some((c) => c.kind === "pause");
  const scenes = new Set(steps.map((s) => s.scene));
  for (const code of scenes) assert.ok(withPause(code), code);
  const full = new Set(run({ poolSize: 30 }).map((s) => s.movement));
  assert.ok(full.has("gathering"));
  const fullScenes = new Set(run({ poolSize: 30 }).map((s) => s.scene));
  assert.ok([...fullScenes].some((c) => !withPause(c)));
});

test("two dense takes release the density; two clear moods release the mood", () => {
  const seq = new Sequencer(COMP, { rng: seeded(4) });
  const weathering = movementsOf.weathering;
  seq.played({ id: 1, density: "dense", mood: "weathered" });
  seq.played({ id: 2, density: "dense", mood: "weathered" });
  const cue = seq.shape({ kind: "play", lane: "worn", density: "dense", mood: "weathered", gap_ms: 2500 }, weathering);
  assert.equal(cue.density, weathering.dense_release_density);
  const seq2 = new Sequencer(COMP, { rng: seeded(4) });
  const arrival = movementsOf.arrival;
  seq2.played({ id: 1, density: "light", mood: "clear" });
  seq2.played({ id: 2, density: "medium", mood: "clear" });
  const clear = seq2.shape({ kind: "play", lane: "fresh", density: "medium", mood: "clear", gap_ms: 950 }, arrival);
  assert.equal(clear.mood, arrival.clear_release_mood);
  assert.deepEqual(seq2.recentDensities(), ["light", "medium"]);
});

class MemoryStorage {
  constructor() { this.items = new Map(); }
  getItem(k) { return this.items.has(k) ? this.items.get(k) : null; }
  setItem(k, v) { this.items.set(k, String(v)); }
}

test("the anti-repeat window keeps the last N ids, survives a reload, and builds the query", () => {
  const storage = new MemoryStorage();
  const w = new RepeatWindow({ storage, size: 3 });
  for (const id of [1, 2, 3, 4]) w.add(id);
  assert.deepEqual(w.ids(), [2, 3, 4]);
  w.add(3);
  assert.deepEqual(w.ids(), [2, 4, 3]);
  const again = new RepeatWindow({ storage, size: 3 });   // a reload
  assert.deepEqual(again.ids(), [2, 4, 3]);
  const smaller = new RepeatWindow({ storage, size: 2 });
  assert.deepEqual(smaller.ids(), [4, 3]);
  storage.setItem("rooms-room-window-v1", "not json");
  assert.deepEqual(new RepeatWindow({ storage, size: 3 }).ids(), []);
  const none = new RepeatWindow({ storage: null, size: 0 });
  none.add(5);
  assert.deepEqual(none.ids(), []);
  const q = new URLSearchParams(RepeatWindow.query(
    { lane: "fresh", density: "light", mood: "clear" }, again, ["dense", "light"]));
  assert.equal(q.get("exclude_ids"), "2,4,3");
  assert.equal(q.get("recent_densities"), "dense,light");
  assert.equal(q.get("lane"), "fresh");
  const bare = new URLSearchParams(RepeatWindow.query({ lane: "any" }, none, []));
  assert.equal(bare.get("density"), "any");
  assert.equal(bare.has("exclude_ids"), false);
});

test("a room choosing through the window never repeats a take inside it", () => {
  const pool = [1, 2, 3, 4, 5, 6, 7];
  const w = new RepeatWindow({ size: 4 });
  const rng = seeded(11);
  const played = [];
  for (let i = 0; i < 100; i++) {
    const allowed = pool.filter((id) => !w.has(id)); // what the server does with exclude_ids
    const id = allowed[Math.floor(rng() * allowed.length)];
    w.add(id);
    played.push(id);
  }
  for (let i = 0; i < played.length; i++) {
    assert.ok(!played.slice(Math.max(0, i - 4), i).includes(played[i]), `repeat at ${i}`);
  }
});
