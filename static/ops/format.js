// Pure helpers of the steward dashboard: wording, times, the node's level at a glance and
// its colour. No DOM here (node --test runs these: tests/js/ops-format.test.mjs).

export const LEVELS = ["ready", "degraded", "broken"];
const WARNING_ORDER = { critical: 0, warning: 1, info: 2 };

/** "45 s", "2 min 5 s", "15 min", "1 h 5 min": a span of `seconds` as a person says it. */
export function span(seconds) {
  const s = Math.max(0, Math.round(Number(seconds) || 0));
  if (s < 60) return `${s} s`;
  if (s < 3600) {
    const m = Math.floor(s / 60), rest = s % 60;
    return rest ? `${m} min ${rest} s` : `${m} min`;
  }
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60);
  return m ? `${h} h ${m} min` : `${h} h`;
}

/**
 * A wait as a countdown says it without chattering: whole minutes rounded up ("15 min")
 * while more than 50 s are left, then tens of seconds ("40 s"), then seconds under 10.
 */
export function waitLeft(seconds) {
  const s = Math.max(0, Math.ceil(Number(seconds) || 0));
  if (s > 50) return span(Math.ceil(s / 60) * 60);
  if (s >= 10) return `${Math.ceil(s / 10) * 10} s`;
  return `${s} s`;
}

/** "just now", "3 min ago", "in 2 h": `iso` against `now` (ms since the epoch). */
export function relative(iso, now = Date.now()) {
  if (!iso) return "never";
  const at = typeof iso === "number" ? iso : Date.parse(iso);
  if (!Number.isFinite(at)) return "unknown";
  const diff = Math.round((now - at) / 1000);
  if (Math.abs(diff) < 5) return "just now";
  return diff > 0 ? `${span(diff)} ago` : `in ${span(-diff)}`;
}

/** "2026-11-30 19:46" in the browser's zone (the steward's laptop); "" for nothing. */
export function stamp(iso) {
  if (!iso) return "";
  const d = new Date(typeof iso === "number" ? iso * 1000 : iso);
  if (Number.isNaN(d.getTime())) return "";
  const p = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ` +
         `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

/** Milliseconds of audio as "1.5 s" or "2 min 3 s". */
export function duration(ms) {
  const s = (Number(ms) || 0) / 1000;
  return s < 60 ? `${Math.round(s * 10) / 10} s` : span(s);
}

/** "12.3 GB"; "?" when unknown. */
export function gb(value) {
  return value === null || value === undefined ? "?" : `${Number(value).toFixed(1)} GB`;
}

/** Warnings, most severe first (critical, warning, info); the server's order kept within. */
export function sortWarnings(warnings) {
  return [...(warnings || [])]
    .map((w, i) => [w, i])
    .sort(([a, i], [b, j]) => ((WARNING_ORDER[a.level] ?? 3) - (WARNING_ORDER[b.level] ?? 3)) || i - j)
    .map(([w]) => w);
}

/**
 * The node at a glance, from GET /api/v1/node/status (or a node_status push):
 * `broken` when a dependency is down or any warning is critical (`ok` false),
 * `degraded` when a warning (not info) stands or a stream worker keeps crashing,
 * else `ready`. Returns {level, reasons: [message]}.
 */
export function classify(status) {
  if (!status) return { level: "broken", reasons: ["no status from the node"] };
  const warnings = status.warnings || [];
  const down = Object.entries(status.components || {}).filter(([, c]) => !c.ok).map(([n]) => `${n} is down`);
  const critical = warnings.filter((w) => w.level === "critical").map((w) => w.message);
  if (status.ok === false || down.length || critical.length) {
    const reasons = [...down, ...critical];
    return { level: "broken", reasons: reasons.length ? reasons : ["the node reports a fault"] };
  }
  const warned = warnings.filter((w) => w.level === "warning").map((w) => w.message);
  if (status.supervisor && status.supervisor.state === "degraded") warned.push("a stream worker keeps crashing");
  if (warned.length) return { level: "degraded", reasons: warned };
  return { level: "ready", reasons: [] };
}

/** The colour of a level or a state (CSS custom property name and a hex fallback for SVG). */
const COLOURS = {
  ready: "#4cc38a", ok: "#4cc38a", running: "#4cc38a", info: "#7fb4ff",
  degraded: "#f2c94c", warning: "#f2c94c", backoff: "#f2c94c", stopped: "#a9a9b3",
  broken: "#ff6b6b", critical: "#ff6b6b", crashloop: "#ff6b6b", disabled: "#a9a9b3",
  unknown: "#a9a9b3",
};
export function colour(level) {
  return COLOURS[level] || COLOURS.unknown;
}

/** Why a worker is not running, in words (the supervisor's `reason`, CONTRACT §4 /health). */
const REASONS = {
  too_few_listeners: "too few listeners",
  too_many_listeners: "too many listeners",
  quiet: "quiet mode",
  closed: "outside opening hours",
  disabled: "disabled in its configuration",
  crashloop: "kept crashing (parked)",
  not_leader: "another process runs it",
};
export function reasonText(reason) {
  if (!reason) return "";
  return REASONS[reason] || String(reason).replaceAll("_", " ");
}

/** One line on a worker's state: "running", "stopped: quiet mode", "backoff". */
export function workerLine(worker) {
  const why = reasonText(worker.reason);
  return why ? `${worker.state}: ${why}` : worker.state;
}

/**
 * The choices of the lifecycle picker: blank, the deployment's suggestions, and the take's
 * own value when it is an older custom one (kept, so an edit does not lose it).
 * Returns [{value, label, custom}].
 */
export function lifecycleOptions(suggested, current) {
  const out = [{ value: "", label: "(none)", custom: false }];
  for (const v of suggested || []) out.push({ value: v, label: v.replaceAll("_", " "), custom: false });
  if (current && !(suggested || []).includes(current)) {
    out.push({ value: current, label: `${current} (custom, kept)`, custom: true });
  }
  return out;
}

/** Only the metadata fields that changed: the server refuses an unchanged custom status. */
export function metadataChanges(before, after) {
  const out = {};
  for (const key of ["topic_tag", "lifecycle_status"]) {
    const was = (before[key] || "").trim();
    const now = (after[key] || "").trim();
    if (was !== now) out[key] = now;
  }
  return out;
}

/** An error answer as one sentence: `{"error": {"message"}}`, else the HTTP status. */
export function errorText(status, body) {
  if (body && body.error && body.error.message) return body.error.message;
  if (status === 401) return "Your sign-in has ended. Reload the page to sign in again.";
  if (status === 403) return "Not allowed from here.";
  if (status === 0) return "The node could not be reached.";
  return `The node answered ${status}.`;
}

/** What a steward action was, in words, from its audit row. */
export function actionText(row) {
  return row.detail || row.action;
}

/** The schedule's days, 0 = Monday (CONTRACT §4 operator schedule). */
export const DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"];

/** "HH:MM" check for the opening-hours editor (00:00–23:59, and 24:00 as a day's end). */
export function validTime(text) {
  const m = /^(\d{2}):(\d{2})$/.exec(text || "");
  if (!m) return false;
  const h = Number(m[1]), mm = Number(m[2]);
  return (h < 24 && mm < 60) || (h === 24 && mm === 0);
}
