// The room's arithmetic, pure (no DOM, no clock, no Web Audio): dayparts and quiet hours in
// the server's TIMEZONE, the pacing factors (a mirror of rooms.playback.composition.pacing),
// the per-take loudness gain (docs/loudness.md) and the wear chain's parameters.
// `comp` is the object of GET /api/v1/room/composition.

/** The local hour (0-23) of `when` (a Date) in IANA zone `zone`. */
export function hourIn(when, zone) {
  const text = new Intl.DateTimeFormat("en-GB", { timeZone: zone, hour: "2-digit", hourCycle: "h23" })
    .format(when);
  return Number.parseInt(text, 10) % 24;
}

/** `start <= hour < end`, wrapping midnight when end <= start (22 -> 6). */
export function inHours(hour, start, end) {
  return start < end ? hour >= start && hour < end : hour >= start || hour < end;
}

/** The daypart in force at `when`, or null when dayparts are off. */
export function daypart(comp, when) {
  const parts = comp.dayparts;
  if (!parts || !parts.enabled) return null;
  const hour = hourIn(when, parts.timezone);
  return parts.items.find((d) => inHours(hour, d.start_hour, d.end_hour)) || null;
}

export function quietHoursActive(comp, when) {
  const q = comp.quiet_hours;
  if (!q || !q.enabled) return false;
  return inHours(hourIn(when, comp.dayparts.timezone), q.start_hour, q.end_hour);
}

/** normal | thin | scarce for a pool of `poolSize` playable takes. */
export function scarcityTier(comp, poolSize) {
  const sc = comp.scarcity;
  if (!sc.enabled) return "normal";
  if (poolSize <= sc.severe_threshold) return "scarce";
  if (poolSize <= sc.low_threshold) return "thin";
  return "normal";
}

/** The archive-gap factor: the first tier whose min_pool_size the pool reaches, else 1. */
export function archiveGap(comp, poolSize) {
  const tier = comp.archive_gap_tiers.find((t) => poolSize >= t.min_pool_size);
  return tier ? tier.multiplier : 1.0;
}

/** The room's factors at one moment: {intensity, movementPreset, scarcity, cueGap, pauseGap,
 *  tone, output, overlapChance, minItemsDelta, maxItemsDelta}. Same order of layers as the
 *  server's `pacing`: intensity x movement preset (gaps) x deployment x scarcity x archive
 *  gap (gaps) x quiet hours x quieter mode; overlap 0 below overlap.min_pool_size. */
export function pacing(comp, when, { poolSize, quieterMode = false }) {
  const part = daypart(comp, when);
  const intensity = part ? part.intensity : comp.intensity.default;
  const preset = part ? part.movement_preset : comp.movement_preset.default;
  const inten = comp.intensity.profiles[intensity];
  const move = comp.movement_preset.presets[preset];
  const dep = comp.deployment;
  const tierCode = scarcityTier(comp, poolSize);
  const tier = comp.scarcity.tiers.find((t) => t.code === tierCode);
  const arch = archiveGap(comp, poolSize);
  let cue = inten.cue_gap * move.gap_multiplier * dep.cue_gap * tier.gap * arch;
  let pause = inten.pause_gap * move.gap_multiplier * dep.pause_gap * tier.pause * arch;
  let tone = inten.tone * dep.tone * tier.tone;
  let output = 1.0;
  let chance = comp.overlap.chance * dep.overlap;
  const layers = [];
  if (quietHoursActive(comp, when)) layers.push(comp.quiet_hours);
  if (quieterMode) layers.push(comp.quieter_mode);
  for (const q of layers) {
    cue *= q.gap_multiplier;
    pause *= q.gap_multiplier;
    tone *= q.tone_multiplier;
    output *= q.output_gain_multiplier;
    chance *= q.overlap_chance_multiplier;
  }
  if (poolSize < comp.overlap.min_pool_size) chance = 0;
  return { intensity, movementPreset: preset, scarcity: tierCode, cueGap: cue, pauseGap: pause,
           tone, output, overlapChance: Math.min(1, chance),
           minItemsDelta: move.min_items_delta, maxItemsDelta: move.max_items_delta };
}

/** Milliseconds to wait after a cue: its gap_ms x the cue (play) or pause factor x `pace`
 *  (1 in a gallery; a test page may set ?pace=0.05). */
export function cueGapMs(cue, p, pace = 1) {
  const factor = cue.kind === "pause" ? p.pauseGap : p.cueGap;
  return Math.max(0, Math.round(cue.gap_ms * factor * pace));
}

// --- even loudness (docs/loudness.md) --------------------------------------------------------
export const LOUDNESS_DEFAULTS = Object.freeze({
  target_lufs: -23.0, max_boost_db: 18.0, max_cut_db: 24.0, unmeasured_gain_db: 0.0,
  floor_lufs: -70.0,
  limiter: Object.freeze({ threshold_db: -3.0, knee_db: 0.0, ratio: 20.0, attack_s: 0.003,
                           release_s: 0.25 }),
  volume_ramp_s: 0.3,
});

/** The composition's loudness rule, or the defaults while the server does not send one. */
export function loudnessRule(comp) {
  return { ...LOUDNESS_DEFAULTS, ...((comp && comp.loudness) || {}) };
}

/** dB of gain for a take measured at `lufs` (null/undefined/NaN: not measured yet). */
export function takeGainDb(lufs, rule = LOUDNESS_DEFAULTS) {
  if (lufs === null || lufs === undefined || !Number.isFinite(Number(lufs))) {
    return rule.unmeasured_gain_db;
  }
  const want = rule.target_lufs - Number(lufs);
  return Math.max(-rule.max_cut_db, Math.min(rule.max_boost_db, want));
}

export const dbToGain = (db) => 10 ** (db / 20);

/** The master gain after the limiter: room_volume (0..1; missing: 1) x the pacing output. */
export function masterGain(roomVolume, output = 1) {
  const v = roomVolume === null || roomVolume === undefined || !Number.isFinite(Number(roomVolume))
    ? 1 : Math.max(0, Math.min(1, Number(roomVolume)));
  return v * output;
}

// --- the wear chain (docs/room.md, "Wear") ---------------------------------------------------
export const WEAR_BANDWIDTH_FLOOR_HZ = 3400; // the telephone band's top: speech stays intelligible

/** The patina for `wear` (0..1, clamped): a take's bandwidth narrows (low-pass 16 kHz ->
 *  3.4 kHz, high-pass 40 -> 180 Hz), it saturates a little, a short smear (a faint early
 *  echo) and a hiss grow; the dry voice never drops below 0.86 of its level, so at wear 1.0
 *  the voice is worn, never gone into the room tone. Frequencies Hz, delays s, gains linear. */
export function wearParams(wear) {
  const w = Math.max(0, Math.min(1, Number(wear) || 0));
  return {
    wear: w,
    lowpassHz: 16000 * (WEAR_BANDWIDTH_FLOOR_HZ / 16000) ** w,
    lowpassQ: 0.707,
    highpassHz: 40 + 140 * w,
    drive: 1.5 * w,
    dry: 1 - 0.14 * w,
    smearMix: 0.22 * w,
    smearDelayS: 0.028 + 0.02 * w,
    hiss: 0.012 * w,
    hissBandHz: 2600,
  };
}

/** A soft-saturation curve tanh(k·x)/k: unity slope around zero (quiet parts keep their
 *  level), peaks rounded towards 1/k; k = 0 is a straight line. Float32Array of `n` points. */
export function driveCurve(k, n = 1024) {
  const curve = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const x = (i / (n - 1)) * 2 - 1;
    curve[i] = k < 1e-3 ? x : Math.tanh(k * x) / k;
  }
  return curve;
}

/** Where to start a long take (the source slice, REFERENCE §2.4): takes longer than
 *  `maxS` play a `maxS` window whose start moves each `revolutionS` (a stable hash of
 *  id and revolution, quantised to 250 ms). Seconds. */
export function sliceOf(id, durationS, epochS, slice) {
  const maxS = slice ? slice.max_seconds : 45;
  if (!(durationS > maxS)) return { startS: 0, lengthS: durationS };
  const rev = Math.floor(epochS / (slice.revolution_seconds || 300));
  let h = 2166136261;
  for (const ch of `${id}:${rev}:base`) { h ^= ch.charCodeAt(0); h = Math.imul(h, 16777619) >>> 0; }
  const startS = Math.floor(((h / 2 ** 32) * (durationS - maxS)) / 0.25) * 0.25;
  return { startS, lengthS: maxS };
}
