// node --test: the room's pure arithmetic (static/room/policy.js): dayparts in the server's
// zone, the pacing factors (pinned to rooms.playback.composition.pacing), cue gaps, the
// loudness gain rule (docs/loudness.md) and the wear chain's parameters (docs/room.md).
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import * as policy from "../../static/room/policy.js";

// composition.build() of the default settings with TIMEZONE=UTC
// (tests/web/test_room_page.py checks it is still what the server builds)
const COMP = JSON.parse(readFileSync(new URL("./room-composition.json", import.meta.url)));
const copy = () => JSON.parse(JSON.stringify(COMP));
const at = (hour) => new Date(Date.UTC(2026, 0, 5, hour, 30));
const close = (a, b, what) => assert.ok(Math.abs(a - b) < 1e-9, `${what}: ${a} != ${b}`);

test("dayparts follow the composition's zone, wrapping midnight", () => {
  const parts = [6, 11, 12, 16, 17, 21, 22, 2, 5].map((h) => policy.daypart(COMP, at(h)).code);
  assert.deepEqual(parts, ["morning", "morning", "afternoon", "afternoon", "evening", "evening",
                           "night", "night", "night"]);
  const mx = copy();
  mx.dayparts.timezone = "America/Mexico_City"; // UTC-6 in January
  assert.equal(policy.daypart(mx, at(14)).code, "morning");  // 08:30 there
  assert.equal(policy.daypart(mx, at(3)).code, "evening");   // 21:30 there
  const off = copy();
  off.dayparts.enabled = false;
  assert.equal(policy.daypart(off, at(9)), null);
  assert.equal(policy.pacing(off, at(9), { poolSize: 30 }).intensity, "balanced");
});

test("pacing multiplies the layers as the server does", () => {
  // the four cases of composition.pacing printed by Python for this composition
  const quiet = copy();
  quiet.quiet_hours.enabled = true;
  const cases = [
    [COMP, 9, 30, false, { intensity: "quiet", movementPreset: "meditative", scarcity: "normal",
      cueGap: 1.2876159999999999, pauseGap: 1.40184, tone: 1.15, output: 1, overlapChance: 0.1 }],
    [COMP, 14, 2, false, { intensity: "balanced", scarcity: "scarce", cueGap: 2.124,
      pauseGap: 2.4779999999999998, tone: 1.45, output: 1, overlapChance: 0 }],
    [COMP, 19, 50, true, { intensity: "active", scarcity: "normal", cueGap: 0.7353759999999999,
      pauseGap: 0.6995039999999999, tone: 0.6624, output: 0.74, overlapChance: 0.045 }],
    [quiet, 23, 5, true, { intensity: "quiet", scarcity: "thin", cueGap: 3.3005226815999995,
      pauseGap: 4.125653352, tone: 0.775008, output: 0.5327999999999999, overlapChance: 0 }],
  ];
  for (const [comp, hour, poolSize, quieterMode, want] of cases) {
    const got = policy.pacing(comp, at(hour), { poolSize, quieterMode });
    for (const [k, v] of Object.entries(want)) {
      if (typeof v === "number") close(got[k], v, `${hour}h ${k}`);
      else assert.equal(got[k], v, `${hour}h ${k}`);
    }
  }
});

test("scarcity and archive-gap tiers by pool size", () => {
  assert.deepEqual([0, 3, 4, 6, 7, 100].map((n) => policy.scarcityTier(COMP, n)),
                   ["scarce", "scarce", "thin", "thin", "normal", "normal"]);
  assert.deepEqual([0, 1, 8, 12, 24, 40].map((n) => policy.archiveGap(COMP, n)),
                   [1, 1.18, 1.05, 0.96, 0.88, 0.76]);
});

test("a cue's gap: play cues by the cue factor, pauses by the pause factor, times the pace", () => {
  const p = { cueGap: 1.5, pauseGap: 2 };
  assert.equal(policy.cueGapMs({ kind: "play", gap_ms: 1000 }, p), 1500);
  assert.equal(policy.cueGapMs({ kind: "pause", gap_ms: 1000 }, p), 2000);
  assert.equal(policy.cueGapMs({ kind: "pause", gap_ms: 1000 }, p, 0.05), 100);
  // a scarce evening pool waits longer than a full one between the same cues
  const cue = { kind: "play", gap_ms: 1600 };
  const scarce = policy.cueGapMs(cue, policy.pacing(COMP, at(19), { poolSize: 2 }));
  const full = policy.cueGapMs(cue, policy.pacing(COMP, at(19), { poolSize: 60 }));
  assert.ok(scarce > 2 * full, `${scarce} vs ${full}`);
});

test("the gain rule: to the target, capped, 0 dB until measured, master under room_volume", () => {
  const rule = policy.loudnessRule(COMP); // the server's rule (docs/loudness.md)
  assert.equal(rule.target_lufs, -23);
  assert.deepEqual(policy.loudnessRule({}), policy.loudnessRule(COMP)); // defaults if absent
  assert.equal(policy.takeGainDb(-29, rule), 6);
  assert.equal(policy.takeGainDb(-17, rule), -6);
  assert.equal(policy.takeGainDb(-60, rule), 18);   // a whisper is lifted at most +18 dB
  assert.equal(policy.takeGainDb(0, rule), -23);
  assert.equal(policy.takeGainDb(5, rule), -24);    // at most -24 dB
  assert.equal(policy.takeGainDb(null, rule), 0);
  assert.equal(policy.takeGainDb(undefined, rule), 0);
  const louder = policy.loudnessRule({ loudness: { target_lufs: -18 } });
  assert.equal(policy.takeGainDb(-29, louder), 11);
  assert.equal(louder.limiter.ratio, 20);
  close(policy.dbToGain(-6), 0.501187233627, "dB");
  assert.equal(policy.masterGain(undefined), 1);
  assert.equal(policy.masterGain(null, 0.74), 0.74);
  assert.equal(policy.masterGain(0.5, 0.74), 0.37);
  assert.equal(policy.masterGain(0), 0);
  assert.equal(policy.masterGain(3), 1);
});

test("the wear chain narrows and roughens with wear, and keeps the voice at 1.0", () => {
  const fresh = policy.wearParams(0), worn = policy.wearParams(1), half = policy.wearParams(0.5);
  assert.equal(fresh.lowpassHz, 16000);
  close(worn.lowpassHz, policy.WEAR_BANDWIDTH_FLOOR_HZ, "floor");
  assert.ok(half.lowpassHz < fresh.lowpassHz && half.lowpassHz > worn.lowpassHz);
  assert.ok(worn.highpassHz <= 300, "the voice's fundamental band stays");
  assert.equal(fresh.hiss, 0);
  assert.equal(fresh.smearMix, 0);
  assert.ok(worn.hiss > 0 && worn.hiss < 0.05);
  assert.ok(worn.dry >= 0.85, "never collapses into room tone");
  assert.ok(worn.smearMix < worn.dry / 3);
  assert.deepEqual(policy.wearParams(7), worn);       // clamped
  assert.deepEqual(policy.wearParams(-1), fresh);
  const params = [0, 0.25, 0.5, 0.75, 1].map(policy.wearParams);
  for (let i = 1; i < params.length; i++) {
    assert.ok(params[i].lowpassHz < params[i - 1].lowpassHz);
    assert.ok(params[i].hiss > params[i - 1].hiss);
  }
  assert.deepEqual(Array.from(policy.driveCurve(fresh.drive, 5)), [-1, -0.5, 0, 0.5, 1]);
  const driven = policy.driveCurve(worn.drive, 1025);
  assert.ok(Math.abs((driven[513] - driven[512]) * 512 - 1) < 1e-4, "unity slope at zero"); // quiet parts keep their level
  assert.ok(driven[1024] < 0.7 && driven[1024] > 0.5, "peaks rounded");
});

test("a long take plays a slice that moves each revolution; a short one plays whole", () => {
  const slice = COMP.source_slice;
  assert.deepEqual(policy.sliceOf(3, 10, 1e9, slice), { startS: 0, lengthS: 10 });
  const a = policy.sliceOf(3, 120, 0, slice);
  assert.equal(a.lengthS, slice.max_seconds);
  assert.ok(a.startS >= 0 && a.startS <= 120 - slice.max_seconds && a.startS % 0.25 === 0);
  assert.deepEqual(policy.sliceOf(3, 120, slice.revolution_seconds - 1, slice), a);
  const starts = new Set([0, 1, 2, 3, 4, 5].map(
    (r) => policy.sliceOf(3, 120, r * slice.revolution_seconds, slice).startS));
  assert.ok(starts.size > 1);
});
