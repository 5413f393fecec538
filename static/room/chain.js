// Web Audio graphs of the room: the output bus (limiter, master volume), one take's chain
// (loudness gain -> memory color -> wear -> layer gain) and the room-tone bed. Works in an
// AudioContext or an OfflineAudioContext (the page tests render the wear chain offline).

import { build as memoryColor } from "../kiosk/effects.js";
import { dbToGain, driveCurve, takeGainDb, wearParams } from "./policy.js";

/** A fixed pseudo-random noise buffer (the same every time): `seconds` of mono white noise. */
export function noiseBuffer(ctx, seconds = 2, seed = 20241) {
  const len = Math.max(1, Math.round(ctx.sampleRate * seconds));
  const buf = ctx.createBuffer(1, len, ctx.sampleRate);
  const d = buf.getChannelData(0);
  let s = seed >>> 0;
  for (let i = 0; i < len; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    d[i] = (s / 4294967296) * 2 - 1;
  }
  return buf;
}

/** The wear chain for `wear`: {input, output, start(at), stop(at), params}. The hiss source
 *  runs between start and stop (the take's own span). */
export function wearChain(ctx, wear) {
  const p = wearParams(wear);
  const input = ctx.createGain();
  const hp = ctx.createBiquadFilter();
  hp.type = "highpass"; hp.frequency.value = p.highpassHz; hp.Q.value = 0.707;
  const lp = ctx.createBiquadFilter();
  lp.type = "lowpass"; lp.frequency.value = p.lowpassHz; lp.Q.value = p.lowpassQ;
  const shaper = ctx.createWaveShaper();
  shaper.curve = driveCurve(p.drive);
  const dry = ctx.createGain(); dry.gain.value = p.dry;
  const output = ctx.createGain();
  // saturate first, then narrow: the band limits also take the drive's harmonics and the hiss
  input.connect(shaper).connect(hp).connect(lp).connect(dry).connect(output);
  const smear = ctx.createDelay(0.5); smear.delayTime.value = p.smearDelayS;
  const smearGain = ctx.createGain(); smearGain.gain.value = p.smearMix;
  lp.connect(smear).connect(smearGain).connect(output);
  let hiss = null;
  if (p.hiss > 0) {
    hiss = ctx.createBufferSource();
    hiss.buffer = noiseBuffer(ctx, 1.5, 777);
    hiss.loop = true;
    const band = ctx.createBiquadFilter();
    band.type = "bandpass"; band.frequency.value = p.hissBandHz; band.Q.value = 0.6;
    const hissGain = ctx.createGain(); hissGain.gain.value = p.hiss;
    hiss.connect(band).connect(hissGain).connect(hp);
  }
  return {
    input, output, params: p,
    start(at = 0) { if (hiss) hiss.start(at); },
    stop(at = 0) { if (hiss) { try { hiss.stop(at); } catch { /* not started */ } } },
  };
}

/** The output bus: every layer and the tone bed sum into `input`, through one limiter
 *  (the loudness rule's), then the master gain (room volume x pacing output). */
export function outputBus(ctx, rule, destination = ctx.destination) {
  const input = ctx.createGain();
  const limiter = ctx.createDynamicsCompressor();
  const l = rule.limiter;
  limiter.threshold.value = l.threshold_db;
  limiter.knee.value = l.knee_db;
  limiter.ratio.value = l.ratio;
  limiter.attack.value = l.attack_s;
  limiter.release.value = l.release_s;
  const master = ctx.createGain();
  input.connect(limiter).connect(master).connect(destination);
  return {
    input, limiter, master,
    /** Ramp the master gain to `gain` (linear) without a click. */
    setMaster(gain) {
      master.gain.cancelScheduledValues(ctx.currentTime);
      master.gain.setTargetAtTime(gain, ctx.currentTime, Math.max(0.01, rule.volume_ramp_s / 3));
    },
  };
}

/** Play `buffer` once (from `startS` for `lengthS`) through loudness gain, memory color and
 *  wear into `into`. {done: Promise<"ended"|"stopped">, stop(fadeS)}. */
export function playTake(ctx, buffer, { into, effect, wear, lufs, rule, layerGain = 1,
                                        startS = 0, lengthS = null, when = 0 }) {
  const src = ctx.createBufferSource();
  src.buffer = buffer;
  const level = ctx.createGain();
  level.gain.value = dbToGain(takeGainDb(lufs, rule));
  const color = memoryColor(ctx, effect);
  const worn = wearChain(ctx, wear);
  const layer = ctx.createGain();
  layer.gain.value = layerGain;
  src.connect(level).connect(color.input);
  color.output.connect(worn.input);
  worn.output.connect(layer).connect(into);
  let stopped = false;
  const done = new Promise((resolve) => {
    src.onended = () => {
      worn.stop();
      setTimeout(() => layer.disconnect(), 2000); // let the smear's tail ring out
      resolve(stopped ? "stopped" : "ended");
    };
  });
  const at = Math.max(when, ctx.currentTime);
  const length = lengthS === null ? buffer.duration - startS : lengthS;
  src.start(at, startS, Math.max(0, length));
  worn.start(at);
  return {
    done,
    stop(fadeS = 0.08) {
      if (stopped) return;
      stopped = true;
      const now = ctx.currentTime;
      layer.gain.cancelScheduledValues(now);
      layer.gain.setValueAtTime(layer.gain.value, now);
      layer.gain.linearRampToValueAtTime(0, now + fadeS);
      try { src.stop(now + fadeS); } catch { /* already stopped */ }
    },
  };
}

/** The room-tone bed: filtered noise whose low-pass drifts with a slow LFO (or a looped site
 *  ambience buffer). {setLevel(gain), node}; runs until the context closes. */
export function toneBed(ctx, profile, into, { ambience = null, fadeS = 1.25 } = {}) {
  const src = ctx.createBufferSource();
  src.buffer = ambience || noiseBuffer(ctx, 4, 4242);
  src.loop = true;
  const gain = ctx.createGain();
  gain.gain.value = 0;
  if (ambience) {
    src.connect(gain);
  } else {
    const hp = ctx.createBiquadFilter();
    hp.type = "highpass"; hp.frequency.value = profile.highpass_hz;
    const lp = ctx.createBiquadFilter();
    lp.type = "lowpass"; lp.frequency.value = profile.lowpass_hz;
    const lfo = ctx.createOscillator();
    lfo.frequency.value = profile.lfo_hz;
    const depth = ctx.createGain(); depth.gain.value = profile.lfo_depth_hz;
    lfo.connect(depth).connect(lp.frequency);
    lfo.start();
    src.connect(hp).connect(lp).connect(gain);
  }
  gain.connect(into);
  src.start();
  let level = 0;
  return {
    node: gain,
    get level() { return level; },
    setLevel(value) {
      level = value;
      const now = ctx.currentTime;
      gain.gain.cancelScheduledValues(now);
      gain.gain.setTargetAtTime(value, now, Math.max(0.01, fadeS / 3));
    },
  };
}
