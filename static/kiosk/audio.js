// Browser-side audio processing, pure: Float32Array samples in, data out. No DOM, no clock.
// Samples are mono floats in [-1, 1] at `rate` Hz.

// Kept around the voice, about 0.3 s in all: more before it, so no first syllable's onset is
// cut, less after it (the -45 dBFS threshold already follows a word's decay).
export const TRIM_LEAD_S = 0.2;
export const TRIM_TAIL_S = 0.1;
export const FRAME_S = 0.02;            // analysis window
export const VOICE_THRESHOLD_DB = -45;  // a frame this loud (RMS, dBFS) counts as voice...
export const VOICE_OVER_FLOOR_DB = 12;  // ...and must stand this far above the noise floor
export const QUIET_PEAK_DB = -30;       // a take whose loudest frame is below this is "quiet"
export const TARGET_PEAK = 0.89;        // -1 dBFS after normalising
export const MAX_GAIN = 20;             // +26 dB at most: a near-silent take is not blown up
export const FADE_S = 0.015;

export const toDb = (x) => (x > 0 ? 20 * Math.log10(x) : -Infinity);

/** Concatenate Float32Array chunks into one Float32Array. */
export function concat(chunks) {
  let n = 0;
  for (const c of chunks) n += c.length;
  const out = new Float32Array(n);
  let at = 0;
  for (const c of chunks) { out.set(c, at); at += c.length; }
  return out;
}

/** RMS of each FRAME_S window: Float32Array of per-frame RMS (linear). */
export function frameRms(samples, rate, frameS = FRAME_S) {
  const size = Math.max(1, Math.round(rate * frameS));
  const frames = new Float32Array(Math.ceil(samples.length / size));
  for (let f = 0; f < frames.length; f++) {
    let sum = 0;
    const end = Math.min(samples.length, (f + 1) * size);
    for (let i = f * size; i < end; i++) sum += samples[i] * samples[i];
    frames[f] = Math.sqrt(sum / Math.max(1, end - f * size));
  }
  return { frames, size };
}

/** The voice threshold (linear RMS): above the absolute floor and well above the quietest
 *  tenth of the take (the room's noise). */
function threshold(frames) {
  const sorted = Array.from(frames).sort((a, b) => a - b);
  const floor = sorted[Math.floor(sorted.length * 0.1)] || 0;
  const fromFloor = floor * 10 ** (VOICE_OVER_FLOOR_DB / 20);
  return Math.max(10 ** (VOICE_THRESHOLD_DB / 20), fromFloor);
}

/** Where the voice is: {start, end} sample indexes with `leadS` kept before it and `tailS`
 *  after it, or null when no frame is loud enough. */
export function voiceBounds(samples, rate, leadS = TRIM_LEAD_S, tailS = TRIM_TAIL_S) {
  if (!samples.length) return null;
  const { frames, size } = frameRms(samples, rate);
  const limit = threshold(frames);
  let first = -1, last = -1;
  for (let f = 0; f < frames.length; f++) {
    if (frames[f] >= limit) { if (first < 0) first = f; last = f; }
  }
  if (first < 0) return null;
  return { start: Math.max(0, first * size - Math.round(leadS * rate)),
           end: Math.min(samples.length, (last + 1) * size + Math.round(tailS * rate)) };
}

/** The take without its leading and trailing silence (a margin kept); unchanged when no
 *  voice is found (a quiet take is the visitor's call, not ours). */
export function trimSilence(samples, rate, leadS = TRIM_LEAD_S, tailS = TRIM_TAIL_S) {
  const b = voiceBounds(samples, rate, leadS, tailS);
  return b ? samples.slice(b.start, b.end) : samples.slice();
}

/** {peak, peakDb, rms, rmsDb, quiet}: quiet when even the loudest part is faint. */
export function analyse(samples, rate) {
  let peak = 0, sum = 0;
  for (let i = 0; i < samples.length; i++) {
    const a = Math.abs(samples[i]);
    if (a > peak) peak = a;
    sum += samples[i] * samples[i];
  }
  const rms = Math.sqrt(sum / Math.max(1, samples.length));
  const { frames } = frameRms(samples, rate);
  const loudest = frames.reduce((m, x) => Math.max(m, x), 0);
  return { peak, peakDb: toDb(peak), rms, rmsDb: toDb(rms),
           quiet: samples.length === 0 || toDb(loudest) < QUIET_PEAK_DB };
}

/** A copy scaled so its peak is `target` (gain capped at MAX_GAIN). */
export function normalisePeak(samples, target = TARGET_PEAK) {
  let peak = 0;
  for (let i = 0; i < samples.length; i++) peak = Math.max(peak, Math.abs(samples[i]));
  const out = new Float32Array(samples.length);
  if (peak === 0) return out;
  const gain = Math.min(MAX_GAIN, target / peak);
  for (let i = 0; i < samples.length; i++) out[i] = samples[i] * gain;
  return out;
}

/** A copy with short linear fades in and out (no click at either end). */
export function fade(samples, rate, fadeS = FADE_S) {
  const out = samples.slice();
  const n = Math.min(Math.round(fadeS * rate), Math.floor(out.length / 2));
  for (let i = 0; i < n; i++) {
    const g = i / n;
    out[i] *= g;
    out[out.length - 1 - i] *= g;
  }
  return out;
}

/** 16-bit PCM mono RIFF/WAVE bytes (Uint8Array) at `rate`. */
export function encodeWav(samples, rate) {
  const bytes = new Uint8Array(44 + samples.length * 2);
  const view = new DataView(bytes.buffer);
  const text = (at, s) => { for (let i = 0; i < s.length; i++) bytes[at + i] = s.charCodeAt(i); };
  text(0, "RIFF"); view.setUint32(4, 36 + samples.length * 2, true); text(8, "WAVE");
  text(12, "fmt "); view.setUint32(16, 16, true); view.setUint16(20, 1, true);
  view.setUint16(22, 1, true); view.setUint32(24, rate, true);
  view.setUint32(28, rate * 2, true); view.setUint16(32, 2, true); view.setUint16(34, 16, true);
  text(36, "data"); view.setUint32(40, samples.length * 2, true);
  for (let i = 0; i < samples.length; i++) {
    const s = Math.max(-1, Math.min(1, samples[i]));
    view.setInt16(44 + i * 2, s < 0 ? Math.round(s * 0x8000) : Math.round(s * 0x7fff), true);
  }
  return bytes;
}

/** Decode what encodeWav wrote: {rate, samples}. Throws on anything else. */
export function decodeWav(bytes) {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const tag = (at) => String.fromCharCode(...bytes.subarray(at, at + 4));
  if (tag(0) !== "RIFF" || tag(8) !== "WAVE" || view.getUint16(34, true) !== 16)
    throw new Error("not a 16-bit WAV");
  const rate = view.getUint32(24, true);
  const n = view.getUint32(40, true) / 2;
  const samples = new Float32Array(n);
  for (let i = 0; i < n; i++) samples[i] = view.getInt16(44 + i * 2, true) / 0x8000;
  return { rate, samples };
}

/** The whole chain for a finished take: trim, analyse, normalise, fade.
 *  Returns {samples, rate, durationMs, quiet, analysis}. */
export function prepareTake(samples, rate) {
  const trimmed = trimSilence(samples, rate);
  const analysis = analyse(trimmed, rate);
  const out = fade(normalisePeak(trimmed), rate);
  return { samples: out, rate, durationMs: Math.round((out.length / rate) * 1000),
           quiet: analysis.quiet, analysis };
}
