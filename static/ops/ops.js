// The steward's dashboard: the operator API for what to show and change, WS /ws/ops for
// everything that moves (node status pushes, steward actions, `surface` pool changes).
// No polling loop: a section is read again only when an event says it changed.
import {
  classify, sortWarnings, colour, workerLine, lifecycleOptions, metadataChanges, errorText,
  actionText, relative, stamp, duration, gb, span, DAYS, validTime,
} from "./format.js";
import { svg, paint } from "./chart.js";
import { keepOpen, wsUrl } from "./live.js";

const config = JSON.parse(document.getElementById("ops-config").textContent);
const $ = (id) => document.getElementById(id);
const PAGE = 20;

// --- small DOM and HTTP helpers ----------------------------------------------------------
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children) if (c !== null && c !== undefined) node.append(c);
  return node;
}

function figures(dl, pairs) {
  dl.replaceChildren(...pairs.map(([k, v]) => el("div", {}, el("dt", { text: k }), el("dd", { text: String(v) }))));
}

/** fetch with the session cookie; {ok, status, body}. Never throws. */
async function api(path, { method = "GET", body } = {}) {
  const init = { method, credentials: "same-origin", headers: { Accept: "application/json" } };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let resp;
  try {
    resp = await fetch(path, init);
  } catch {
    return { ok: false, status: 0, body: null };
  }
  let data = null;
  try { data = await resp.json(); } catch { data = null; }
  if (resp.status === 401) signedOut();
  return { ok: resp.ok, status: resp.status, body: data };
}

/** Write only a change: a live region re-announces text that is set again. */
function setText(node, text) {
  if (node.textContent !== text) node.textContent = text;
}

function say(node, text, bad = false) {
  node.textContent = text;
  node.classList.toggle("bad", bad);
}

function signedOut() {
  say($("notice"), "Your sign-in has ended. Reload the page to sign in again.", true);
}

// --- the node status ---------------------------------------------------------------------
let lastStatus = null;
let workerPrint = "";

function renderStatus(s) {
  lastStatus = s;
  const { level, reasons } = classify(s);
  const badge = $("level");
  badge.className = `badge lvl-${level}`;
  setText(badge, { ready: "Ready", degraded: "Degraded", broken: "Broken" }[level]);
  $("reasons").replaceChildren(...reasons.map((r) => el("li", { text: r })));
  figures($("counts"), [
    ["Playable", s.playable ?? "?"], ["Active", s.active ?? "?"],
    ["Expired", s.expired ?? "?"], ["Removed or revoked", s.revoked ?? "?"],
    ["Listeners", s.live ? s.live.total : "?"],
  ]);
  $("as-of").textContent = `As of ${stamp(s.now)}`;
  const warnings = sortWarnings(s.warnings);
  $("warnings").replaceChildren(...(warnings.length
    ? warnings.map((w) => el("li", { class: `w-${w.level}` },
      el("span", { class: "tag", text: w.level }), ` ${w.message}`))
    : [el("li", { text: "None." })]));

  const live = s.live || { total: 0, topics: {} };
  figures($("listeners"), [["Everyone connected", live.total],
    ...Object.entries(live.topics || {}).filter(([t]) => t !== "ops").sort().map(([t, n]) => [`on ${t}`, n])]);
  $("deps").replaceChildren(...Object.entries(s.components || {}).map(([name, c]) => el("tr", {},
    el("th", { scope: "row", text: name }),
    el("td", { class: c.ok ? "ok" : "down", text: c.ok ? "up" : `down${c.error ? `: ${c.error}` : ""}` }),
    el("td", { text: `${Math.round(c.latency_ms)} ms` }))));

  renderWorkers((s.supervisor || {}).workers || {});
  chart("chart-lanes", s.lanes, "Lanes", paint.lane);
  chart("chart-moods", s.moods, "Moods", paint.mood);

  const disk = s.storage || {};
  $("storage-line").textContent = disk.state === "unknown"
    ? `Disk usage at ${disk.path} cannot be read.`
    : `${gb(disk.free_gb)} free of ${gb(disk.total_gb)} (${disk.free_percent}% free) at ${disk.path}: ${disk.state}.`;
  $("storage-meter").value = disk.used_percent ?? 0;
  const r = s.retention;
  figures($("retention"), r ? [
    ["Raw audio held", r.raw_held], [`Raw expiring within ${r.soon_window_hours} h`, r.raw_expiring_soon],
    ["Next raw expiry", r.next_raw_expiry_at ? relative(r.next_raw_expiry_at) : "none"],
    ["Raw overdue (sweep behind)", r.raw_overdue],
    ["Fossils kept", r.fossil_retained], ["Fossils as residue only", r.fossil_residue_only],
    ["Next fossil expiry", r.next_fossil_expiry_at ? relative(r.next_fossil_expiry_at) : "none"],
  ] : [["Retention", "unknown"]]);
  const j = s.jobs || {};
  figures($("jobs"), j.ok ? [
    ["Runner", j.backend], ["Waiting", j.depth], ["Running", j.running],
    ["Worker heartbeat", j.heartbeat_age_s === null ? "none" : `${span(j.heartbeat_age_s)} ago`],
    ["Failures in the window", j.recent_failures],
  ] : [["Runner", `${j.backend || "?"}: not answering (${j.error || "?"})`]]);
  $("job-failures").replaceChildren(...(j.last_failures || []).map((f) =>
    el("li", {}, el("strong", { text: f.job }), ` ${stamp(f.at)}: `, el("code", { text: f.error }))));

  if (s.operator_state) fillSwitches(s.operator_state);
  followPrints(s);
}

// Sections without events of their own are read again when a push shows they moved:
// devices when connections or device warnings change, the review queue and the archive
// when the archive's counts change (a held take is not announced on `surface`).
let devicePrint = null;
let archivePrint = null;

function followPrints(s) {
  const devices = JSON.stringify([s.live && s.live.topics,
    (s.warnings || []).filter((w) => w.code === "device_gone").map((w) => w.message)]);
  if (devicePrint !== null && devices !== devicePrint && !$("devices").hidden) loadDevices();
  devicePrint = devices;
  const archive = JSON.stringify(s.artifacts);
  if (archivePrint !== null && archive !== archivePrint) {
    if (!$("moderation").hidden) loadModeration();
    loadTakes(false, { quiet: true });
  }
  archivePrint = archive;
}

function chart(id, counts, title, colourOf) {
  const box = $(id);
  box.replaceChildren(counts ? svg(document, counts, { title, colourOf }) : el("p", { text: "Unknown." }));
}

// --- workers and the crash ring ----------------------------------------------------------
function renderWorkers(workers) {
  // Rows are updated in place: a push every few seconds must not take the keyboard focus
  // off a Restart button.
  const rows = Object.entries(workers).sort(([a], [b]) => a.localeCompare(b));
  const body = $("workers");
  const byName = new Map([...body.querySelectorAll("tr[data-worker]")].map((tr) => [tr.dataset.worker, tr]));
  for (const [name, tr] of byName) if (!(name in workers)) tr.remove();
  for (const [name, w] of rows) {
    let tr = byName.get(name);
    if (!tr) {
      tr = el("tr", { "data-worker": name }, el("th", { scope: "row", text: name }),
        el("td", { class: "state" }), el("td", { class: "restarts" }), el("td", { class: "beat" }),
        el("td", { class: "error" }),
        el("td", {}, el("button", { type: "button", class: "small", "aria-label": `Restart ${name}`,
          text: "Restart", onclick: () => restart(name) })));
    }
    tr.querySelector(".state").replaceChildren(
      el("span", { class: `dot st-${w.state}`, "aria-hidden": "true" }), ` ${workerLine(w)}`);
    tr.querySelector(".restarts").textContent = String(w.restarts);
    tr.querySelector(".beat").textContent = w.last_heartbeat_s_ago === null || w.last_heartbeat_s_ago === undefined
      ? "–" : `${span(w.last_heartbeat_s_ago)} ago`;
    tr.querySelector(".error").replaceChildren(w.last_error ? el("code", { text: w.last_error }) : "–");
    body.append(tr);  // in name order (moving a node keeps its focus)
  }
  // Read the crash ring again only when a worker's story moved (not on every push).
  const print = JSON.stringify(rows.map(([n, w]) => [n, w.state, w.restarts, w.last_error]));
  if (print !== workerPrint) {
    workerPrint = print;
    loadCrashes();
  }
}

async function loadCrashes() {
  const r = await api("/api/v1/operator/workers");
  if (!r.ok) return;
  const crashes = r.body.crashes || [];
  const open = new Set([...$("crashes").querySelectorAll("details[open]")].map((d) => d.dataset.key));
  $("crashes").replaceChildren(...(crashes.length ? crashes.map((c) => el("details", {
    class: "crash", "data-key": `${c.worker}@${c.at}`, open: open.has(`${c.worker}@${c.at}`) },
    el("summary", {}, el("strong", { text: c.worker }), ` ${stamp(c.at)}: `, el("code", { text: c.error })),
    el("pre", { text: c.traceback }))) : [el("p", { text: "None." })]));
}

async function restart(name) {
  say($("workers-result"), `Restarting ${name}…`);
  const r = await api(`/api/v1/operator/workers/${encodeURIComponent(name)}/restart`, { method: "POST" });
  if (!r.ok) return say($("workers-result"), errorText(r.status, r.body), true);
  say($("workers-result"), `${name} restarted: ${workerLine(r.body)}.`);
  if (lastStatus && lastStatus.supervisor) {
    const { worker, ...row } = r.body;
    lastStatus.supervisor.workers[worker] = { ...lastStatus.supervisor.workers[worker], ...row };
    renderWorkers(lastStatus.supervisor.workers);
  }
  loadAudit();
}

// --- controls ----------------------------------------------------------------------------
const SWITCHES = ["intake_paused", "playback_paused", "quieter_mode", "maintenance_mode"];
const KIOSK = ["kiosk_language_code", "kiosk_accessibility_mode", "kiosk_force_reduced_motion",
  "kiosk_max_recording_seconds", "session_theme_title", "session_theme_prompt",
  "deployment_focus_topic", "deployment_focus_status"];
let pendingSwitch = 0;
let kioskDirty = false;

function options(select, entries, keepFirst = true) {
  const first = keepFirst ? [...select.options].slice(0, 1) : [];
  select.replaceChildren(...first, ...entries.map(([v, label]) => el("option", { value: v, text: label })));
}

function fillSwitches(state) {
  if (pendingSwitch) return;  // our own change is on its way; its answer fills them
  const form = $("switches");
  for (const name of SWITCHES) if (name in state) form.elements[name].checked = Boolean(state[name]);
  if ("mood_bias" in state) form.elements.mood_bias.value = state.mood_bias || "";
  if (known.has("room_volume") && typeof state.room_volume === "number") {
    if (document.activeElement !== $("room_volume")) $("room_volume").value = state.room_volume;
    $("room_volume_out").textContent = `${Math.round(state.room_volume * 100)}%`;
  }
}

// The fields the controls API answers with: only these are shown and sent (a node without
// room_volume or the focus fields yet neither shows nor is sent them).
const known = new Set();

function learn(state) {
  for (const k of Object.keys(state)) known.add(k);
  $("focus-fields").hidden = !known.has("deployment_focus_topic");
  $("volume-row").hidden = !known.has("room_volume");
}

function fillKiosk(state) {
  if (kioskDirty) return;  // the steward is typing: keep what they typed
  const form = $("kiosk-form");
  if (known.has("deployment_focus_status") && "deployment_focus_status" in state) {
    const kinds = lifecycleOptions(config.lifecycle[config.deployment], state.deployment_focus_status);
    options($("deployment_focus_status"), kinds.map((o) => [o.value, o.label]), false);
  }
  for (const name of KIOSK) {
    if (!known.has(name) || !(name in state)) continue;
    const input = form.elements[name];
    if (input.type === "checkbox") input.checked = Boolean(state[name]);
    else input.value = state[name] ?? "";
  }
}

function fillControls(state) {
  fillSwitches(state);
  fillKiosk(state);
}

async function loadControls() {
  const r = await api("/api/v1/operator/controls");
  if (!r.ok) return;
  learn(r.body.operator_state);
  fillControls(r.body.operator_state);
}

async function change(fields, result) {
  pendingSwitch += 1;
  const r = await api("/api/v1/operator/controls", { method: "POST", body: fields });
  pendingSwitch -= 1;
  if (!r.ok) {
    say(result, errorText(r.status, r.body), true);
    loadControls();
    return null;
  }
  const changes = r.body.changes || [];
  say(result, changes.length ? changes.map((c) => c.detail).join("; ") : "Nothing changed.");
  learn(r.body.operator_state);
  fillSwitches(r.body.operator_state);
  addActions(r.body.recent_actions || []);
  return r.body;
}

function wireControls() {
  const form = $("switches");
  options(form.elements.mood_bias, config.moods.map((m) => [m, m]));
  for (const name of SWITCHES) {
    form.elements[name].addEventListener("change", (e) => change({ [name]: e.target.checked }, $("controls-result")));
  }
  form.elements.mood_bias.addEventListener("change", (e) => change({ mood_bias: e.target.value }, $("controls-result")));
  const volume = $("room_volume");
  volume.addEventListener("input", () => { $("room_volume_out").textContent = `${Math.round(volume.value * 100)}%`; });
  volume.addEventListener("change", () => change({ room_volume: Number(volume.value) }, $("controls-result")));
  form.addEventListener("submit", (e) => e.preventDefault());

  const kiosk = $("kiosk-form");
  options(kiosk.elements.kiosk_language_code, Object.entries(config.languages));
  options(kiosk.elements.kiosk_accessibility_mode, Object.entries(config.accessibility));
  const [lo, hi] = config.recordingBoundsS;
  Object.assign(kiosk.elements.kiosk_max_recording_seconds, { min: lo, max: hi });
  $("seconds-hint").textContent = `Between ${lo} and ${hi} s; the kiosk never records longer than the node accepts.`;
  kiosk.addEventListener("input", () => { kioskDirty = true; });
  kiosk.addEventListener("submit", async (e) => {
    e.preventDefault();
    const body = {};
    for (const name of KIOSK) {
      const input = kiosk.elements[name];
      if (!input || !known.has(name)) continue;
      if (input.type === "checkbox") body[name] = input.checked;
      else if (input.type === "number") body[name] = input.value === "" ? null : Number(input.value);
      else body[name] = input.value;
    }
    if (body.kiosk_max_recording_seconds === null) delete body.kiosk_max_recording_seconds;
    say($("kiosk-result"), "Saving…");
    const done = await change(body, $("kiosk-result"));
    if (done) {
      kioskDirty = false;
      fillKiosk(done.operator_state);
    }
  });
}

// --- the audit trail ---------------------------------------------------------------------
const audit = new Map();
let auditCursor = null;
let auditPaged = false;

function addActions(rows) {
  for (const row of rows) if (row && row.id !== undefined) audit.set(row.id, row);
  renderAudit();
}

function renderAudit() {
  const rows = [...audit.values()].sort((a, b) => b.id - a.id);
  $("audit").replaceChildren(...(rows.length ? rows.map((a) => el("li", { "data-action": a.action },
    el("time", { datetime: a.created_at || "", text: stamp(a.created_at) }), " ",
    el("strong", { text: a.action }), ` ${actionText(a)} `, el("span", { class: "who", text: `(${a.actor})` })))
    : [el("li", { text: "No actions yet." })]));
  $("audit-more").hidden = auditCursor === null;
}

async function loadAudit(older = false) {
  const q = new URLSearchParams({ limit: PAGE });
  if (older && auditCursor !== null) q.set("cursor", auditCursor);
  const r = await api(`/api/v1/operator/actions?${q}`);
  if (!r.ok) return;
  if (older || !auditPaged) auditCursor = r.body.next_cursor;
  if (older) auditPaged = true;
  addActions(r.body.items);
}

// --- the archive -------------------------------------------------------------------------
let takes = [];
let takesCursor = null;
let draft = null;  // {id, topic_tag, lifecycle_status}: the open metadata editor
let removing = null;

function takeRow(t) {
  const cells = el("tr", { "data-take": t.id },
    el("th", { scope: "row", text: `#${t.id}` }),
    el("td", { text: stamp(t.created_at) }),
    el("td", { text: duration(t.duration_ms) }),
    el("td", { text: t.consent_mode }),
    el("td", { text: `${t.lane} · ${t.density} · ${t.mood}` }),
    el("td", { text: String(t.play_count) }),
    el("td", { class: "topic", text: t.topic_tag || "–" }),
    el("td", { class: "lifecycle", text: `${t.lifecycle_status || "–"}${t.playable ? "" : " (not playable)"}` }),
    el("td", { class: "actions" },
      el("button", { type: "button", class: "small secondary", "aria-label": `Edit take ${t.id}`, text: "Edit",
        onclick: () => { draft = { id: t.id, topic_tag: t.topic_tag, lifecycle_status: t.lifecycle_status }; renderTakes(); $(`topic-${t.id}`).focus(); } }),
      t.status === "ACTIVE" ? el("button", { type: "button", class: "small danger", "aria-label": `Remove take ${t.id}`,
        text: "Remove", onclick: () => askRemove(t) }) : null));
  return cells;
}

function editorRow(t) {
  const choices = lifecycleOptions(config.lifecycle[t.deployment_kind] || [], t.lifecycle_status);
  const topic = el("input", { id: `topic-${t.id}`, type: "text", maxlength: 64, value: draft.topic_tag || "" });
  topic.addEventListener("input", () => { draft.topic_tag = topic.value; });
  const status = el("select", { id: `lifecycle-${t.id}` },
    ...choices.map((o) => el("option", { value: o.value, text: o.label })));
  status.value = draft.lifecycle_status || "";
  status.addEventListener("change", () => { draft.lifecycle_status = status.value; });
  const result = el("p", { class: "result", role: "status", id: `edit-result-${t.id}` });
  const form = el("form", { class: "editor", "aria-label": `Metadata of take ${t.id}` },
    el("label", { for: topic.id, text: "Topic tag" }), topic,
    el("label", { for: status.id, text: `Lifecycle status (${t.deployment_kind})` }), status,
    el("button", { type: "submit", class: "small", text: "Save" }),
    el("button", { type: "button", class: "small secondary", text: "Cancel", onclick: () => closeEditor() }),
    result);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const fields = metadataChanges(t, draft);
    if (!Object.keys(fields).length) return closeEditor();
    say(result, "Saving…");
    const r = await api(`/api/v1/operator/artifacts/${t.id}/metadata`, { method: "PATCH", body: fields });
    if (!r.ok) return say(result, errorText(r.status, r.body), true);
    takes = takes.map((x) => (x.id === t.id ? r.body.artifact : x));
    closeEditor();
    say($("archive-result"), `Take #${t.id} saved: ${r.body.changed.join(", ") || "no change"}.`);
    loadAudit();
  });
  return el("tr", { class: "editing" }, el("td", { colspan: 9 }, form));
}

function closeEditor() {
  draft = null;
  renderTakes();
  if (takesStale) loadTakes();
}

function renderTakes() {
  const rows = [];
  for (const t of takes) {
    rows.push(takeRow(t));
    if (draft && draft.id === t.id) rows.push(editorRow(t));
  }
  $("takes").replaceChildren(...(rows.length ? rows : [el("tr", {}, el("td", { colspan: 9, text: "No takes." }))]));
  $("takes-more").hidden = takesCursor === null;
}

let takesStale = false;

async function loadTakes(more = false, { quiet = false } = {}) {
  if (quiet && draft) { takesStale = true; return; }  // not under the steward's typing
  takesStale = false;
  const q = new URLSearchParams({ limit: PAGE });
  const status = $("archive-status").value;
  if (status) q.set("status", status);
  if (more && takesCursor !== null) q.set("cursor", takesCursor);
  const r = await api(`/api/v1/operator/artifacts?${q}`);
  if (!r.ok) return say($("archive-result"), errorText(r.status, r.body), true);
  takes = more ? [...takes, ...r.body.items] : r.body.items;
  takesCursor = r.body.next_cursor;
  if (draft && !takes.some((t) => t.id === draft.id)) draft = null;
  renderTakes();
}

function askRemove(t) {
  removing = t;
  $("remove-text").textContent = `Take #${t.id} (${duration(t.duration_ms)}, recorded ${stamp(t.created_at)}) ` +
    "leaves the room for good: its audio and anything made from it are deleted, and it will not play again.";
  $("remove-dialog").showModal();
}

async function removeTake(t) {
  say($("archive-result"), `Removing take #${t.id}…`);
  const r = await api(`/api/v1/operator/artifacts/${t.id}/remove`, { method: "POST" });
  if (!r.ok) return say($("archive-result"), errorText(r.status, r.body), true);
  takes = takes.filter((x) => x.id !== t.id);
  renderTakes();
  say($("archive-result"), `Take #${t.id} removed from circulation.`);
  loadAudit();
  loadTakes();
}

async function loadGallery(more = false) {
  const q = new URLSearchParams({ limit: 12 });
  if (more && galleryCursor !== null) q.set("cursor", galleryCursor);
  const r = await api(`/api/v1/derivatives/spectrograms?${q}`);
  if (!r.ok) return;
  galleryCursor = r.body.next_cursor ?? null;
  const items = r.body.items.map((d) => el("li", {},
    el("img", { src: d.image_url, alt: `Spectrogram of take ${d.artifact_id}`, loading: "lazy", width: 240, height: 120 }),
    el("span", { text: `#${d.artifact_id} · ${stamp(d.created_at)}` })));
  if (more) $("gallery").append(...items);
  else $("gallery").replaceChildren(...(items.length ? items : [el("li", { text: "No spectrograms yet." })]));
  $("gallery-more").hidden = galleryCursor === null;
}
let galleryCursor = null;

async function loadSummary() {
  const r = await api("/api/v1/operator/artifact-summary");
  $("summary-link").hidden = !r.ok;
  const colours = r.ok && r.body ? r.body.memory_colors : null;
  const counts = colours && (colours.counts || colours);
  if (counts && typeof counts === "object" && Object.keys(counts).length) {
    $("colors-box").hidden = false;
    chart("chart-colors", counts, "Memory colors", paint.any);
  }
}

function wireArchive() {
  $("archive-status").addEventListener("change", () => { draft = null; loadTakes(); });
  $("takes-more").addEventListener("click", () => loadTakes(true));
  $("gallery-more").addEventListener("click", () => loadGallery(true));
  $("audit-more").addEventListener("click", () => loadAudit(true));
  $("remove-dialog").addEventListener("close", () => {
    const t = removing;
    removing = null;
    if (t && $("remove-dialog").returnValue === "remove") removeTake(t);
  });
}

// --- sections of routes a node may not have: shown only when they answer -----------------
let schedule = null;

function scheduleRow(day) {
  const idx = $("schedule-rows").children.length;
  const pick = el("select", { name: "day", "aria-label": `Day of row ${idx + 1}` },
    ...DAYS.map((d, i) => el("option", { value: i, text: d })));
  pick.value = String(day.day ?? 0);
  const time = (name, value, label) => el("input", { type: "time", name, value: value || "", required: true, "aria-label": `${label}, row ${idx + 1}` });
  const tick = (name, label) => el("input", { type: "checkbox", name, checked: day[name] !== false, "aria-label": `${label}, row ${idx + 1}` });
  const tr = el("tr", {},
    el("td", {}, pick), el("td", {}, time("open", day.open, "Opens")), el("td", {}, time("close", day.close, "Closes")),
    el("td", {}, tick("intake", "Intake")), el("td", {}, tick("playback", "Playback")), el("td", {}, tick("streams", "Streams")),
    el("td", {}, el("button", { type: "button", class: "small secondary", text: "Remove", "aria-label": `Remove row ${idx + 1}`,
      onclick: () => tr.remove() })));
  return tr;
}

function showOpenness(now) {
  if (!now || typeof now.open !== "boolean") return;
  const parts = ["intake", "playback", "streams"].filter((k) => now[k]);
  const next = now.next_change_at ? ` Next change ${relative(now.next_change_at)} (${stamp(now.next_change_at)}).` : "";
  const text = now.open
    ? `Open now${parts.length < 3 ? ` (${parts.join(", ") || "nothing running"})` : ""}.${next}`
    : `Closed now.${next}`;
  setText($("openness"), text);
}

function renderSchedule() {
  $("schedule-zone").textContent = `Times are in ${schedule.timezone || "the node's time zone"}.`;
  showOpenness(schedule.now);
  $("schedule-rows").replaceChildren();
  for (const day of schedule.weekly || []) $("schedule-rows").append(scheduleRow(day));
}

async function loadSchedule() {
  const r = await api("/api/v1/operator/schedule");
  $("schedule").hidden = !r.ok;
  if (!r.ok) return;
  schedule = r.body;
  renderSchedule();
}

function wireSchedule() {
  $("schedule-add").addEventListener("click", () => $("schedule-rows").append(scheduleRow({ day: 0, open: "10:00", close: "18:00" })));
  $("schedule-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const weekly = [...$("schedule-rows").children].map((tr) => {
      const f = (n) => tr.querySelector(`[name="${n}"]`);
      return { day: Number(f("day").value), open: f("open").value, close: f("close").value,
               intake: f("intake").checked, playback: f("playback").checked, streams: f("streams").checked };
    });
    const bad = weekly.find((d) => !validTime(d.open) || !validTime(d.close));
    if (bad) return say($("schedule-result"), `${DAYS[bad.day]}: times are HH:MM.`, true);
    say($("schedule-result"), "Saving…");
    const r = await api("/api/v1/operator/schedule", { method: "PUT", body: { timezone: schedule.timezone, weekly } });
    if (!r.ok) return say($("schedule-result"), errorText(r.status, r.body), true);
    schedule = r.body;
    renderSchedule();
    say($("schedule-result"), "Opening hours saved.");
    loadAudit();
  });
}

async function loadModeration() {
  const r = await api("/api/v1/operator/moderation");
  $("moderation").hidden = !r.ok;
  if (!r.ok) return;
  const items = r.body.items || [];
  $("moderation-items").replaceChildren(...(items.length ? items.map((m) => el("li", { "data-take": m.id },
    el("p", { text: `Take #${m.id}, ${duration(m.duration_ms)}, ${m.consent_mode}, recorded ${stamp(m.created_at)}` }),
    el("audio", { controls: true, preload: "none", src: m.audio_url, "aria-label": `Take ${m.id}` }),
    el("button", { type: "button", class: "small", text: "Approve", "aria-label": `Approve take ${m.id}`, onclick: () => moderate(m.id, "approve") }),
    el("button", { type: "button", class: "small danger", text: "Reject", "aria-label": `Reject take ${m.id}`, onclick: () => moderate(m.id, "reject") })))
    : [el("li", { text: "Nothing is waiting." })]));
}

async function moderate(id, verdict) {
  const r = await api(`/api/v1/operator/artifacts/${id}/${verdict}`, { method: "POST" });
  if (!r.ok) return say($("moderation-result"), errorText(r.status, r.body), true);
  say($("moderation-result"), `Take #${id} ${verdict === "approve" ? "approved: it joins the pool" : "rejected and removed"}.`);
  loadModeration();
  loadTakes();
  loadAudit();
}

async function loadDevices() {
  const r = await api("/api/v1/operator/devices");
  $("devices").hidden = !r.ok;
  if (!r.ok) return;
  const items = r.body.items || [];
  $("device-rows").replaceChildren(...(items.length ? items.map((d) => el("tr", { class: d.stale ? "stale" : "" },
    el("td", { text: d.kind }), el("th", { scope: "row", text: d.name }),
    el("td", { text: d.stale ? `${d.status} (not seen lately)` : d.status }),
    el("td", { text: relative(d.last_seen_at) }))) : [el("tr", {}, el("td", { colspan: 4, text: "No devices have reported." }))]));
}

// --- live events -------------------------------------------------------------------------
let poolTimer = null;

function onPoolChange() {
  // A burst of uploads is one re-read, not one per take.
  if (poolTimer !== null) return;
  poolTimer = setTimeout(() => {
    poolTimer = null;
    loadTakes(false, { quiet: true });
    if (!$("moderation").hidden) loadModeration();
    loadSummary();
  }, 300);
}

function onEvent(m) {
  if (m.op === "lagged") return refreshAll();
  if (m.topic === "ops") {
    if (m.event === "node_status") renderStatus(m);
    else if (m.event === "steward_action") {
      if (m.id !== undefined) addActions([m]);
      else loadAudit();  // an announcement without its row: read the trail's head again
    }
    else if (m.event === "devices" || m.event === "device") loadDevices();
    else if (m.event === "moderation") loadModeration();
    else if (m.event === "worker") loadStatus();
  } else if (m.topic === "surface") {
    if (m.event === "posture") fillControls(m);
    else if (m.event === "pool") onPoolChange();
    else if (m.event === "hours") {
      showOpenness(m);
      if (m.changed === "schedule" && !$("schedule").hidden) loadSchedule();
    }
  }
}

let dropped = false;

function onState(s) {
  const conn = $("conn");
  conn.className = `conn conn-${s.state}`;
  $("reconnect").hidden = s.state !== "waiting";
  if (s.state === "live") {
    setText(conn, "Live");
    if (dropped) refreshAll();  // what happened while we were away
    dropped = false;
  } else if (s.state === "connecting") conn.textContent = "Connecting…";
  else if (s.state === "waiting") {
    dropped = true;
    conn.textContent = `Connection lost; trying again in ${span(Math.ceil(s.retryInMs / 1000))}`;
  } else if (s.state === "ended") {
    conn.textContent = "Disconnected";
    signedOut();
  }
}

async function loadStatus() {
  const r = await api("/api/v1/node/status");
  if (r.ok) renderStatus(r.body);
}

function refreshAll() {
  loadStatus();
  loadControls();
  loadAudit();
  loadTakes();
  loadGallery();
  loadSummary();
  loadSchedule();
  loadModeration();
  loadDevices();
}

wireControls();
wireArchive();
wireSchedule();
refreshAll();
const line = keepOpen({ url: wsUrl(location), topics: ["surface"], onEvent, onState });
$("reconnect").addEventListener("click", () => line.retryNow());
