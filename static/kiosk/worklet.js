// AudioWorklet processor for capture: forwards each input block (mono) to the page, and a
// level (peak, RMS) about 20 times a second for the meter. Loaded by capture.js.
class RoomsCapture extends AudioWorkletProcessor {
  constructor() {
    super();
    this.recording = false;
    this.peak = 0;
    this.sum = 0;
    this.count = 0;
    this.every = Math.round(sampleRate / 20);
    this.port.onmessage = (e) => { this.recording = Boolean(e.data && e.data.recording); };
  }

  process(inputs) {
    const input = inputs[0];
    if (!input || !input.length) return true;
    const ch = input[0];
    if (this.recording) this.port.postMessage({ type: "chunk", samples: ch.slice(0) });
    for (let i = 0; i < ch.length; i++) {
      const a = Math.abs(ch[i]);
      if (a > this.peak) this.peak = a;
      this.sum += ch[i] * ch[i];
    }
    this.count += ch.length;
    if (this.count >= this.every) {
      this.port.postMessage({ type: "level", peak: this.peak,
                              rms: Math.sqrt(this.sum / this.count) });
      this.peak = 0; this.sum = 0; this.count = 0;
    }
    return true;
  }
}

registerProcessor("rooms-capture", RoomsCapture);
