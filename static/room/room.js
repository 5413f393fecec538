// The /room/ page: a Start/Pause button, the room loop, the steward live, a quiet visual layer.
// Query: ?autostart=0 (wait for Start), ?window=N (anti-repeat window), ?pace=F (gap scale,
// tests), ?name=NAME (the device report's name).

import { follow } from "./live.js";
import { Room } from "./loop.js";

const $ = (id) => document.getElementById(id);
const config = JSON.parse($("room-config").textContent);
const params = new URLSearchParams(location.search);
const num = (name) => {
  const v = Number.parseFloat(params.get(name) ?? "");
  return Number.isFinite(v) ? v : null;
};
const comp = config.composition;
const name = (params.get("name") || "room").slice(0, 64);
const STREAM_LINES = 6;

const WORDS = {
  stopped: "The room is quiet. Press Start to listen.",
  blocked: "This browser needs a press of Start before it plays sound.",
  playing: "The room is playing.",
  waiting: "The room is waiting for voices.",
  paused: "The steward has paused the room.",
  closed: "The room is resting; it is closed now.",
  offline: "The installation is not answering; the room plays what it remembers.",
};

let room = null;
let live = null;

function render() {
  const main = $("room");
  const mode = room ? room.mode : "stopped";
  const blocked = room && room.running && room.ctx.state !== "running";
  main.dataset.state = mode;
  main.dataset.audio = room ? room.ctx.state : "none";
  main.dataset.now = room ? [...room.playing.keys()].join(",") : "";
  main.dataset.quieter = room && room.quieter ? "1" : "0";
  const text = blocked ? WORDS.blocked : WORDS[mode] || "";
  if ($("status").textContent !== text) $("status").textContent = text;
  const button = $("b-toggle");
  const running = Boolean(room && room.running);
  button.textContent = running && !blocked ? "Pause" : "Start";
  button.setAttribute("aria-pressed", running && !blocked ? "true" : "false");
  if (live) live.report();
}

async function refreshSurface() {
  try {
    const resp = await fetch("/api/v1/surface/state", { cache: "no-store" });
    if (!resp.ok) return;
    const state = await resp.json();
    room.applyPosture(state);
    if (Number.isFinite(state.pool_size)) room.poolSize = state.pool_size;
  } catch { /* the server is away: keep what we know */ }
}

// --- the visual layer ---------------------------------------------------------------------------
async function refreshFossils() {
  const fv = comp.fossil_visuals || {};
  if (!fv.enabled) return;
  try {
    const resp = await fetch("/api/v1/surface/fossils", { cache: "no-store" });
    if (!resp.ok) return;
    const { items } = await resp.json();
    const list = $("fossils");
    list.replaceChildren(...items.slice(0, fv.max_items || 12).map((item) => {
      const li = document.createElement("li");
      const img = document.createElement("img");
      img.src = item.image_url;
      img.alt = `Spectrogram of a voice kept on ${new Date(item.created_at).toLocaleDateString()}`;
      img.loading = "lazy";
      li.append(img);
      return li;
    }));
    $("fossil-layer").hidden = items.length === 0;
  } catch { /* keep the last images */ }
}

function streamLine(msg) {
  if (msg.topic === "noise_metadata" && msg.event === "noise_meta" && msg.text) {
    return { kind: "noise", text: msg.text };
  }
  if (msg.topic === "topic1" && msg.event === "summary") {
    return { kind: "topic1", text: `${msg.live} alive · ${msg.creates} born · ${msg.deletes} gone` };
  }
  if (msg.topic === "beacons" && msg.state) {
    const hint = (msg.tokens_hint || []).join(" ");
    return { kind: "beacon", text: `${msg.state}${hint ? ` · ${hint}` : ""}` };
  }
  return null;
}

function showStream(msg) {
  const line = streamLine(msg);
  if (!line) return;
  const li = document.createElement("li");
  li.className = line.kind;
  li.textContent = line.text;
  const list = $("streams");
  list.prepend(li);
  while (list.children.length > STREAM_LINES) list.lastElementChild.remove();
  $("stream-layer").hidden = false;
}

// --- start ------------------------------------------------------------------------------------
async function effectsCatalog() {
  try {
    const resp = await fetch("/api/v1/effects");
    if (resp.ok) return await resp.json();
  } catch { /* plays without memory colors */ }
  return config.effects || [];
}

async function main() {
  const AudioCtx = window.AudioContext || window.webkitAudioContext;
  const ctx = new AudioCtx({ latencyHint: "playback" });
  let storage = null;
  try { storage = window.localStorage; } catch { /* private mode: the window lives in memory */ }
  room = new Room({ comp, effects: await effectsCatalog(), ctx, storage,
                    windowSize: num("window"), pace: num("pace") ?? 1, onChange: render,
                    onStale: () => refreshSurface() });
  window.rooms = { room }; // for a person (or a test) at the console
  ctx.addEventListener("statechange", () => { render(); room.wake(); });
  $("b-toggle").addEventListener("click", () => {
    if (room.running && ctx.state === "running") room.pause();
    else room.start();
  });
  live = follow({
    name,
    device: () => ({ playing: room.isPlaying, audio: ctx.state, mode: room.mode }),
    onOpen: refreshSurface,
    onEvent: (msg) => {
      if (msg.topic === "surface" && (msg.event === "posture" || msg.event === "hours")) {
        room.applyPosture(msg);
      } else if (msg.topic === "surface" && msg.event === "pool") {
        room.poolChanged(msg.change, msg.artifact_id);
        if (msg.change === "added" || msg.change === "essence") refreshFossils();
      } else {
        showStream(msg);
      }
    },
  });
  await refreshSurface();
  refreshFossils();
  setInterval(refreshFossils, (comp.fossil_visuals && comp.fossil_visuals.refresh_ms) || 18000);
  if (params.get("autostart") !== "0") await room.start();
  render();
  $("room").dataset.ready = "1";
}

main();
