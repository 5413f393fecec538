// node --test: the kiosk's pure audio processing (static/kiosk/audio.js).
import { test } from "node:test";
import assert from "node:assert/strict";
import * as audio from "../../static/kiosk/audio.js";

const RATE = 16000;

/** silence(s), then a 440 Hz tone at `amp` for `toneS`, then silence; a faint noise floor. */
function take({ before = 1, toneS = 1, after = 1, amp = 0.5, noise = 0.0005 } = {}) {
  const n = Math.round((before + toneS + after) * RATE);
  const out = new Float32Array(n);
  let seed = 7;
  for (let i = 0; i < n; i++) {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    const t = i / RATE;
    const voice = t >= before && t < before + toneS ? amp * Math.sin(2 * Math.PI * 440 * t) : 0;
    out[i] = voice + noise * ((seed / 0x7fffffff) * 2 - 1);
  }
  return out;
}

test("trim keeps about 0.3 s around the voice: 0.2 s before it, 0.1 s after", () => {
  const b = audio.voiceBounds(take(), RATE);
  assert.ok(Math.abs(b.start / RATE - 0.8) <= 0.025, `start ${b.start / RATE}`);
  assert.ok(Math.abs(b.end / RATE - 2.1) <= 0.025, `end ${b.end / RATE}`);
  const trimmed = audio.trimSilence(take(), RATE);
  assert.ok(Math.abs(trimmed.length / RATE - 1.3) <= 0.05);
});

test("trim never cuts into the take's edges and leaves a voiceless take whole", () => {
  const edge = audio.voiceBounds(take({ before: 0.1, after: 0.05 }), RATE);
  assert.equal(edge.start, 0);
  assert.equal(edge.end, Math.round(1.15 * RATE));  // the take ends 0.05 s after the voice
  const silent = take({ amp: 0 });
  assert.equal(audio.voiceBounds(silent, RATE), null);
  assert.equal(audio.trimSilence(silent, RATE).length, silent.length);
  assert.equal(audio.voiceBounds(new Float32Array(0), RATE), null);
});

test("a faint take is quiet, a spoken one is not", () => {
  assert.equal(audio.analyse(take({ amp: 0.01 }), RATE).quiet, true);   // -40 dBFS
  assert.equal(audio.analyse(take({ amp: 0.3 }), RATE).quiet, false);
  assert.equal(audio.analyse(new Float32Array(0), RATE).quiet, true);
  const a = audio.analyse(take({ before: 0, after: 0, amp: 0.5, noise: 0 }), RATE);
  assert.ok(Math.abs(a.peak - 0.5) < 1e-3 && Math.abs(a.rmsDb - (20 * Math.log10(0.5 / Math.SQRT2))) < 0.1);
});

test("peak normalisation reaches the target without blowing up near-silence", () => {
  const loud = audio.normalisePeak(take({ amp: 0.25 }));
  const peak = loud.reduce((m, x) => Math.max(m, Math.abs(x)), 0);
  assert.ok(Math.abs(peak - audio.TARGET_PEAK) < 1e-6);
  const faint = audio.normalisePeak(take({ amp: 0.001, noise: 0 }));
  const fpeak = faint.reduce((m, x) => Math.max(m, Math.abs(x)), 0);
  assert.ok(Math.abs(fpeak - 0.001 * audio.MAX_GAIN) < 1e-4);
  assert.deepEqual(Array.from(audio.normalisePeak(new Float32Array(3))), [0, 0, 0]);
});

test("fades start and end at zero and leave the middle alone", () => {
  const x = new Float32Array(RATE).fill(0.5);
  const y = audio.fade(x, RATE);
  assert.equal(y[0], 0);
  assert.equal(y[y.length - 1], 0);
  assert.equal(y[RATE / 2], 0.5);
  assert.equal(x[0], 0.5, "the input is not changed");
  assert.equal(audio.fade(new Float32Array([0.5]), RATE)[0], 0.5);
});

test("the WAV is 16-bit mono PCM at the capture rate and decodes back", () => {
  const samples = new Float32Array([0, 0.5, -0.5, 1, -1, 2, -2]);
  const bytes = audio.encodeWav(samples, 48000);
  const v = new DataView(bytes.buffer);
  const tag = (at) => String.fromCharCode(...bytes.subarray(at, at + 4));
  assert.equal(tag(0), "RIFF"); assert.equal(tag(8), "WAVE"); assert.equal(tag(36), "data");
  assert.equal(v.getUint32(4, true), bytes.length - 8);
  assert.equal(v.getUint16(20, true), 1);     // PCM
  assert.equal(v.getUint16(22, true), 1);     // mono
  assert.equal(v.getUint32(24, true), 48000);
  assert.equal(v.getUint32(28, true), 96000); // bytes per second
  assert.equal(v.getUint16(34, true), 16);
  assert.equal(bytes.length, 44 + 2 * samples.length);
  const ints = Array.from({ length: samples.length }, (_, i) => v.getInt16(44 + 2 * i, true));
  assert.deepEqual(ints, [0, 16384, -16384, 32767, -32768, 32767, -32768]);
  const back = audio.decodeWav(bytes);
  assert.equal(back.rate, 48000);
  assert.ok(Math.abs(back.samples[1] - 0.5) < 1e-4);
});

test("prepareTake trims, normalises and fades, and says how long it is", () => {
  const t = audio.prepareTake(take({ amp: 0.2 }), RATE);
  assert.equal(t.rate, RATE);
  assert.ok(Math.abs(t.durationMs - 1300) <= 50, `${t.durationMs} ms`);
  assert.equal(t.quiet, false);
  const peak = t.samples.reduce((m, x) => Math.max(m, Math.abs(x)), 0);
  assert.ok(peak <= audio.TARGET_PEAK + 1e-6 && peak > 0.85);
  assert.equal(Math.abs(t.samples[0]), 0);
  assert.equal(audio.concat([new Float32Array([1]), new Float32Array([2, 3])]).length, 3);
});
