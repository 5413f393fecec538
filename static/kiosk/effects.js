// Review playback through the chosen memory color: one Web Audio graph per topology of the
// /api/v1/effects catalog (REFERENCE §2.5). `play(ctx, buffer, effect)` -> Promise (ended).

const db = (x) => 10 ** (x / 20);

function biquad(ctx, type, p) {
  const f = ctx.createBiquadFilter();
  f.type = type;
  f.frequency.value = p.hz;
  if (p.q !== undefined) f.Q.value = p.q;
  if (p.gain_db !== undefined) f.gain.value = p.gain_db;
  return f;
}

function chain(nodes) {
  for (let i = 0; i < nodes.length - 1; i++) nodes[i].connect(nodes[i + 1]);
  return { input: nodes[0], output: nodes[nodes.length - 1] };
}

function driveCurve(amount) {
  const n = 1024, curve = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const x = (i / (n - 1)) * 2 - 1;
    curve[i] = Math.tanh(amount * x / 4) / Math.tanh(amount / 4);
  }
  return curve;
}

function impulse(ctx, seconds, decay) {
  const len = Math.max(1, Math.round(ctx.sampleRate * seconds));
  const buf = ctx.createBuffer(2, len, ctx.sampleRate);
  for (let c = 0; c < 2; c++) {
    const d = buf.getChannelData(c);
    // a fixed pseudo-random sequence: the same room every time
    let seed = 12345 + c;
    for (let i = 0; i < len; i++) {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      d[i] = ((seed / 0x7fffffff) * 2 - 1) * (1 - i / len) ** decay;
    }
  }
  return buf;
}

/** The effect's graph: {input, output} nodes. Unknown topologies pass the sound through. */
export function build(ctx, effect) {
  const dsp = (effect && effect.dsp) || {};
  const out = ctx.createGain();
  out.gain.value = dsp.output_gain ?? 1;
  const topology = (effect && effect.topology && effect.topology[0]) || "";
  if (topology === "presence_lift") {
    return chain([biquad(ctx, "highpass", dsp.highpass), biquad(ctx, "peaking", dsp.presence),
                  biquad(ctx, "highshelf", dsp.air), out]);
  }
  if (topology === "warm_body") {
    const c = dsp.compressor, comp = ctx.createDynamicsCompressor();
    comp.threshold.value = c.threshold_db; comp.knee.value = c.knee_db;
    comp.ratio.value = c.ratio; comp.attack.value = c.attack_s; comp.release.value = c.release_s;
    return chain([biquad(ctx, "lowshelf", dsp.lowshelf), biquad(ctx, "lowpass", dsp.lowpass),
                  biquad(ctx, "highshelf", dsp.highshelf), comp, out]);
  }
  if (topology === "radio_narrowband") {
    const shaper = ctx.createWaveShaper();
    shaper.curve = driveCurve(dsp.drive);
    return chain([biquad(ctx, "highpass", dsp.highpass), biquad(ctx, "lowpass", dsp.lowpass),
                  biquad(ctx, "peaking", dsp.mid), shaper, out]);
  }
  if (topology === "dream_diffuse") {
    const input = biquad(ctx, "lowpass", dsp.lowpass);
    const dry = ctx.createGain(); dry.gain.value = dsp.dry;
    const send = ctx.createGain(); send.gain.value = dsp.wet_source;
    const delay = ctx.createDelay(2); delay.delayTime.value = dsp.delay.seconds;
    const fb = ctx.createGain(); fb.gain.value = dsp.delay.feedback;
    const verb = ctx.createConvolver(); verb.buffer = impulse(ctx, dsp.impulse.seconds, dsp.impulse.decay);
    const wet = ctx.createGain(); wet.gain.value = dsp.wet;
    input.connect(dry).connect(out);
    input.connect(send).connect(delay).connect(verb).connect(wet).connect(out);
    delay.connect(fb).connect(delay);
    return { input, output: out };
  }
  return { input: out, output: out };
}

/** Play `buffer` once through `effect`; resolves when it ends. {done, stop}. */
export function play(ctx, buffer, effect) {
  const src = ctx.createBufferSource();
  src.buffer = buffer;
  const graph = build(ctx, effect);
  src.connect(graph.input);
  graph.output.connect(ctx.destination);
  const done = new Promise((resolve) => { src.onended = resolve; });
  src.start();
  return { done, stop() { try { src.stop(); } catch { /* not started */ } } };
}

/** An AudioBuffer from mono Float32 samples. */
export function toBuffer(ctx, samples, rate) {
  const buf = ctx.createBuffer(1, samples.length, rate);
  buf.copyToChannel(samples, 0);
  return buf;
}
