// Microphone access and live metering: getUserMedia -> AudioWorklet (worklet.js).
// The worklet sends levels all the time (the meter, the mic check) and sample chunks while
// recording. `stop()` releases the microphone.

export class CaptureError extends Error {
  constructor(code, message) { super(message); this.code = code; }
}

/** Why the microphone cannot be used, as a string-catalog key. */
export function micErrorCode(err) {
  const name = err && err.name;
  if (name === "NotAllowedError" || name === "SecurityError") return "mic_refused";
  if (name === "NotFoundError" || name === "OverconstrainedError") return "mic_missing";
  if (name === "NotReadableError") return "mic_busy";
  return "mic_failed";
}

export async function openCapture({ onLevel = () => {}, onEnded = () => {} } = {}) {
  if (!window.isSecureContext || !navigator.mediaDevices || !navigator.mediaDevices.getUserMedia)
    throw new CaptureError("insecure", "not a secure context");
  let stream;
  try {
    // The kiosk wants the voice as it is: no echo cancelling, noise gate or automatic gain.
    stream = await navigator.mediaDevices.getUserMedia({ audio: {
      channelCount: 1, echoCancellation: false, noiseSuppression: false,
      autoGainControl: false } });
  } catch (err) {
    throw new CaptureError(micErrorCode(err), String(err));
  }
  const ctx = new AudioContext();
  await ctx.audioWorklet.addModule(new URL("./worklet.js", import.meta.url));
  const source = ctx.createMediaStreamSource(stream);
  const node = new AudioWorkletNode(ctx, "rooms-capture", { numberOfInputs: 1,
    numberOfOutputs: 0, channelCount: 1, channelCountMode: "explicit" });
  source.connect(node);
  let chunks = [];
  node.port.onmessage = (e) => {
    if (e.data.type === "chunk") chunks.push(e.data.samples);
    else if (e.data.type === "level") onLevel(e.data);
  };
  const track = stream.getAudioTracks()[0];
  // Unplugged (ended) or muted by the system mid-take: the page decides what to offer.
  track.addEventListener("ended", () => onEnded("ended"));
  track.addEventListener("mute", () => onEnded("muted"));
  if (ctx.state === "suspended") await ctx.resume();
  return {
    rate: ctx.sampleRate,
    start() { chunks = []; node.port.postMessage({ recording: true }); },
    /** Stop recording; the chunks recorded so far. */
    finish() { node.port.postMessage({ recording: false }); const c = chunks; chunks = []; return c; },
    async stop() {
      node.port.onmessage = null;
      stream.getTracks().forEach((t) => t.stop());
      try { await ctx.close(); } catch { /* already closed */ }
    },
  };
}
