// The kiosk page: wires the state machine to capture, audio processing, the outbox, the
// server and the view. The page's pacing comes from the server (`data-config`).
import { createMachine, maxSeconds } from "./machine.js";
import * as audio from "./audio.js";
import { openCapture } from "./capture.js";
import { createOutbox } from "./outbox.js";
import { catalog, fill, duration } from "./i18n.js";
import * as effects from "./effects.js";
import * as view from "./view.js";
import { get, set, del, keys, createStore } from "../vendor/idb-keyval/index.js";

const root = document.getElementById("kiosk");
const config = JSON.parse(root.dataset.config);
const MIC_OK_RMS = 10 ** (-50 / 20);   // the mic check hears something above -50 dBFS
const BUDGET_LOW = (b) => b.remaining <= Math.max(1, Math.ceil(b.limit * 0.15));

let kiosk = config.kiosk;
let strings = catalog(kiosk.language);
let surface = { intake_paused: false, ingest_budget: null };
let effectCatalog = [];
let effect = "clear";
let capture = null;
let take = null;          // {samples, rate, durationMs, quiet, wav}
let micPeak = 0;
let timers = [];
let recordTimer = null;
let playing = null;
let audioCtx = null;

const clientId = (() => {
  const key = "rooms-kiosk-client-id";
  let id = localStorage.getItem(key);
  if (!id) { id = `kiosk-${crypto.randomUUID()}`; localStorage.setItem(key, id); }
  return id;
})();

const machine = createMachine({ now: () => performance.now(), onChange: (to) => render(to) });

// --- the outbox: IndexedDB through idb-keyval -------------------------------------------
const idb = createStore("rooms-kiosk", "outbox");
const store = { get: (k) => get(k, idb), set: (k, v) => set(k, v, idb), del: (k) => del(k, idb),
                keys: () => keys(idb) };

async function send(entry) {
  const form = new FormData();
  form.append("file", new Blob([entry.wav], { type: "audio/wav" }), "take.wav");
  for (const [k, v] of Object.entries(entry.fields)) form.append(k, String(v));
  const resp = await fetch("/api/v1/artifacts/audio", {
    method: "POST", body: form,
    headers: { "Idempotency-Key": entry.key, "X-Rooms-Client-Id": clientId } });
  let body = null;
  try { body = await resp.json(); } catch { body = null; }
  const after = Number(resp.headers.get("Retry-After"));
  return { status: resp.status, body, retryAfterS: Number.isFinite(after) && after > 0 ? after : null };
}

const outbox = createOutbox({
  store, send, sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
  onEvent: (e) => {
    if (e.type === "retrying" && machine.state === "submitting") {
      view.text("submitting-text", strings.retrying);
    }
  },
});

// --- rendering ----------------------------------------------------------------------------
function render(state) {
  view.show(state);
  if (state === "idle") idleScreen();
  if (state === "armed") view.text("armed-text", fill(strings.armed, { max: duration(strings, maxSeconds(kiosk)) }));
  if (state === "submitting") view.text("submitting-text", strings.submitting);
  const words = { idle: strings.attract, arming: strings.arming, recording: strings.recording,
                  review: strings.review, submitting: strings.submitting };
  if (words[state]) view.announce(words[state]);
}

function idleScreen() {
  view.text("theme-title", kiosk.theme_title || "");
  view.text("theme-prompt", kiosk.theme_prompt || "");
  const closed = surface.intake_paused || (surface.hours && !surface.hours.intake) ||
    (surface.ingest_budget && surface.ingest_budget.remaining <= 0);
  view.disabled("b-start", Boolean(closed));
}

function applyKiosk() {
  strings = catalog(kiosk.language);
  view.applyStrings(strings);
  view.prefs(kiosk);
  view.colors(effectCatalog, kiosk.language, effect, (code) => { effect = code; });
  notices();
  if (machine.state === "idle") idleScreen();
}

function notices() {
  const b = surface.ingest_budget;
  let words = "";
  if (surface.intake_paused || (surface.hours && !surface.hours.intake)) words = strings.intake_paused;
  else if (b && b.remaining <= 0) words = strings.budget_out;
  else if (b && b.limit > 0 && BUDGET_LOW(b) && b.remaining < b.limit) words = strings.budget_low;
  view.notice(words);
}

function fail(code, values = {}) {
  stopTimers();
  releaseMic();
  view.text("error-text", fill(strings[code] || strings.failed, values));
  if (!machine.send("fail")) machine.send("rejected");
}

function stopTimers() {
  timers.forEach(clearTimeout);
  timers = [];
  if (recordTimer) { clearInterval(recordTimer); recordTimer = null; }
}

function releaseMic() {
  if (capture) { const c = capture; capture = null; c.stop(); }
}

function reset() {
  stopTimers();
  releaseMic();
  if (playing) { playing.stop(); playing = null; }
  take = null;
  view.clearConsent();
  if (machine.state !== "idle") machine.send("reset") || machine.send("done") || machine.send("expired");
}

// --- the flow -----------------------------------------------------------------------------
async function start() {
  if (machine.state === "idle" && document.getElementById("b-start").disabled) return;
  if (machine.state === "error") { if (!machine.send("again")) return; }
  else if (machine.state === "review") { if (!machine.send("again")) return; }
  else if (!machine.send("start")) return;
  take = null;
  releaseMic();
  keepAwake();
  if (!window.isSecureContext) { fail("insecure"); return; }
  micPeak = 0;
  try {
    capture = await openCapture({
      onLevel: (lvl) => { micPeak = Math.max(micPeak, lvl.rms); view.meter(lvl.rms); },
      onEnded: micLost,
    });
  } catch (err) {
    fail(err.code || "mic_failed");
    return;
  }
  if (machine.state !== "arming") { releaseMic(); return; }
  timers.push(setTimeout(() => {
    if (machine.state !== "arming") return;
    view.text("mic-result", micPeak >= MIC_OK_RMS ? strings.mic_ok : strings.mic_faint);
    machine.send("ready");
  }, config.micCheckS * 1000));
}

function record() {
  if (!capture || !machine.send("record")) return;
  let left = config.countdownS;
  const step = () => {
    if (machine.state !== "countdown") return;
    if (left <= 0) { go(); return; }
    const n = Math.ceil(left);
    view.text("countdown-text", String(n));
    view.announce(fill(strings.countdown, { n }));
    const wait = Math.min(1, left);
    left -= wait;
    timers.push(setTimeout(step, wait * 1000));
  };
  step();
}

function go() {
  if (!machine.send("go")) return;
  capture.start();
  const began = performance.now();
  const max = maxSeconds(kiosk);
  const tick = () => {
    const t = (performance.now() - began) / 1000;
    view.text("elapsed", fill(strings.elapsed, { t: duration(strings, t), max: duration(strings, max) }));
    if (t >= max) stop("too_long");
  };
  tick();
  recordTimer = setInterval(tick, 250);
}

function stop(reason = null) {
  if (machine.state !== "recording" || !capture) return;
  stopTimers();
  const rate = capture.rate;
  const chunks = capture.finish();
  releaseMic();
  const raw = audio.concat(chunks);
  if (raw.length < rate * 0.2) { fail(reason === "mic_lost" ? "mic_lost" : "failed"); return; }
  const prepared = audio.prepareTake(raw, rate);
  take = { ...prepared, wav: audio.encodeWav(prepared.samples, rate) };
  machine.send("stop");
  view.hidden("quiet", !take.quiet);
  // why it stopped, when it was not the visitor: the maximum length, or the microphone
  const why = reason && strings[reason];
  view.text("review-note", why ? fill(why, { max: duration(strings, maxSeconds(kiosk)) }) : "");
  updateSubmit();
  if (take.quiet) view.announce(strings.quiet);
}

function micLost() {
  if (machine.state === "recording") stop("mic_lost");
  else if (["arming", "armed", "countdown"].includes(machine.state)) fail("mic_lost");
}

function ctx() {
  if (!audioCtx || audioCtx.state === "closed") audioCtx = new AudioContext();
  return audioCtx;
}

async function playBack() {
  if (machine.state !== "review" || !take) return;
  if (playing) { playing.stop(); playing = null; }
  const c = ctx();
  if (c.state === "suspended") await c.resume();
  const chosen = effectCatalog.find((e) => e.code === effect);
  playing = effects.play(c, effects.toBuffer(c, take.samples, take.rate), chosen);
  view.text("review-note", strings.playing);
  await playing.done;
  if (machine.state === "review") view.text("review-note", "");
}

function updateSubmit() {
  view.disabled("b-submit", !(machine.state === "review" && take && view.consentValue()));
}

async function submit() {
  const mode = view.consentValue();
  if (machine.state !== "review" || !take || !mode) return;
  if (playing) { playing.stop(); playing = null; }
  if (mode === "NOSAVE") { await submitNosave(); return; }
  const fields = { consent_mode: mode, effect_profile: effect, duration_ms: take.durationMs,
                   consent_version: strings.consent_version, consent_language: kiosk.language };
  await outbox.put({ key: crypto.randomUUID(), wav: take.wav, fields });
  take = null;
  machine.send("submit");
  await deliverAll();
}

async function deliverAll() {
  const results = await outbox.flush();
  const last = results[results.length - 1];
  if (!last || machine.state !== "submitting") return;
  if (last.outcome === "done") receipt(last.body);
  else fail("rejected", { message: (last.body && last.body.error && last.body.error.message) || last.status });
  refreshSurface();
}

function receipt(body) {
  view.text("complete-text", strings.complete);
  view.text("code", body.revocation_token);
  view.text("receipt-where", fill(strings.receipt_where, { url: config.revokeUrl }));
  document.getElementById("qr").setAttribute("aria-label", fill(strings.receipt_qr, { url: config.revokeUrl }));
  view.hidden("receipt", false);
  machine.send("sent");
  view.announce(`${strings.complete} ${strings.receipt_code} ${body.revocation_token.split("").join(" ")}`);
}

async function submitNosave() {
  const form = new FormData();
  form.append("file", new Blob([take.wav], { type: "audio/wav" }), "take.wav");
  form.append("effect_profile", effect);
  form.append("consent_version", strings.consent_version);
  form.append("consent_language", kiosk.language);
  const chosen = effectCatalog.find((e) => e.code === effect);
  machine.send("submit");
  let body;
  try {
    const resp = await fetch("/api/v1/ephemeral/audio", {
      method: "POST", body: form, headers: { "X-Rooms-Client-Id": clientId } });
    body = await resp.json();
    if (resp.status !== 201) {
      fail("rejected", { message: (body.error && body.error.message) || resp.status });
      return;
    }
  } catch {
    fail("rejected", { message: strings.retrying });
    return;
  }
  take = null;
  view.text("complete-text", strings.nosave_playing);
  view.hidden("receipt", true);
  machine.send("sent");
  try {
    // The first GET claims the take; it plays once from this copy in memory, then is gone.
    const resp = await fetch(body.play_url, { headers: { "X-Rooms-Client-Id": clientId } });
    const bytes = await resp.arrayBuffer();
    const c = ctx();
    if (c.state === "suspended") await c.resume();
    const buffer = await c.decodeAudioData(bytes);
    playing = effects.play(c, buffer, chosen);
    await playing.done;
    playing = null;
  } finally {
    if (machine.state === "complete") {
      view.text("complete-text", strings.nosave_done);
      view.announce(strings.nosave_done);
    }
  }
}

// --- the server's posture, live -------------------------------------------------------------
async function refreshSurface() {
  try {
    const resp = await fetch("/api/v1/surface/state", { headers: { "X-Rooms-Client-Id": clientId } });
    if (!resp.ok) return;
    surface = await resp.json();
    kiosk = surface.kiosk;
    applyKiosk();
  } catch { /* the server is away: keep what we know */ }
}

// The kiosk reports itself to the steward's dashboard (kind, name, microphone state).
const DEVICE_REPORT_MS = 20000;
async function microphoneState() {
  try {
    const p = await navigator.permissions.query({ name: "microphone" });
    return p.state; // granted | prompt | denied
  } catch { return "unknown"; }
}

async function reportDevice(ws) {
  if (ws.readyState !== WebSocket.OPEN) return;
  const status = { microphone: await microphoneState(), state: machine.state, online: navigator.onLine };
  ws.send(JSON.stringify({ op: "device", kind: "kiosk", name: `kiosk ${clientId}`.slice(0, 64), status }));
}

async function follow(attempt = 0) {
  const again = () => setTimeout(() => follow(Math.min(attempt + 1, 5)), 1000 * 2 ** attempt);
  try {
    const resp = await fetch("/api/v1/live/token", { method: "POST" });
    if (!resp.ok) { again(); return; }
    const { ws_url: url } = await resp.json();
    const ws = new WebSocket(url);
    let reporting = null;
    ws.onopen = () => {
      attempt = 0;
      ws.send(JSON.stringify({ op: "subscribe", topics: ["surface"] }));
      refreshSurface();
      reportDevice(ws);
      reporting = setInterval(() => reportDevice(ws), DEVICE_REPORT_MS);
    };
    ws.onmessage = (e) => {
      const msg = JSON.parse(e.data);
      if (msg.topic === "surface" && (msg.event === "posture" || msg.event === "hours")) refreshSurface();
    };
    ws.onclose = () => { clearInterval(reporting); again(); };
  } catch { again(); }
}

// --- unattended: wake lock, full screen, timeouts ---------------------------------------
let wakeLock = null;
async function keepAwake({ fullscreen = true } = {}) {
  try {
    // Full screen needs a visitor's gesture (Start); the wake lock does not.
    if (fullscreen && !document.fullscreenElement && document.documentElement.requestFullscreen)
      await document.documentElement.requestFullscreen().catch(() => {});
    if (navigator.wakeLock && !wakeLock) {
      wakeLock = await navigator.wakeLock.request("screen");
      wakeLock.addEventListener("release", () => { wakeLock = null; });
    }
  } catch { /* not allowed here: fine */ }
}

setInterval(() => {
  if (machine.tick(config.reviewTimeoutS)) reset();
}, 1000);

// --- keys and buttons ----------------------------------------------------------------------
view.onClick("b-start", start);
view.onClick("b-record", record);
view.onClick("b-stop", () => stop());
view.onClick("b-play", playBack);
view.onClick("b-again", start);
view.onClick("b-quiet-again", start);
view.onClick("b-quiet-keep", () => { view.hidden("quiet", true); document.getElementById("b-play").focus(); });
view.onClick("b-submit", submit);
view.onClick("b-done", reset);
view.onClick("b-reset", reset);
document.getElementById("consent").addEventListener("change", updateSubmit);

document.addEventListener("keydown", (e) => {
  if (e.altKey || e.ctrlKey || e.metaKey) return;
  const onControl = e.target instanceof HTMLElement && e.target.matches("button, input, a");
  const s = machine.state;
  if (e.key === "Escape") { e.preventDefault(); if (s !== "submitting") reset(); return; }
  if (e.key === " " && !onControl) {
    e.preventDefault();
    if (s === "idle") start(); else if (s === "armed") record(); else if (s === "recording") stop();
    return;
  }
  if (s !== "review") return;
  if (e.key === "p" || e.key === "P") { e.preventDefault(); playBack(); }
  else if (e.key === "r" || e.key === "R") { e.preventDefault(); start(); }
  else if (["1", "2", "3"].includes(e.key)) { e.preventDefault(); view.chooseConsent(Number(e.key) - 1); updateSubmit(); }
  else if (e.key === "Enter" && !(e.target instanceof HTMLButtonElement)) { e.preventDefault(); submit(); }
});
// Any interaction brings the machine back to the present (a fresh review timeout).
document.addEventListener("pointerdown", () => { machine.enteredAt = performance.now(); });
document.addEventListener("keydown", () => { machine.enteredAt = performance.now(); });

// --- start-up ------------------------------------------------------------------------------
async function boot() {
  applyKiosk();
  if (!window.isSecureContext) view.hidden("insecure", false);
  try {
    const resp = await fetch("/api/v1/effects");
    if (resp.ok) effectCatalog = await resp.json();
  } catch { /* the review plays dry */ }
  applyKiosk();
  render("idle");
  keepAwake({ fullscreen: false });
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") keepAwake({ fullscreen: false });
  });
  follow();
  // A take saved here before a reload or a power cut is sent first.
  if ((await outbox.pending()).length && machine.send("resume")) await deliverAll();
  root.dataset.ready = "1";
}

boot();
