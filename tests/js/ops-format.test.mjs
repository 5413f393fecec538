// node --test: the dashboard's wording, status at a glance and its colours (static/ops/format.js).
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  span, waitLeft, relative, duration, gb, sortWarnings, classify, colour, reasonText, workerLine,
  lifecycleOptions, metadataChanges, errorText, validTime,
} from "../../static/ops/format.js";

test("spans read as a person says them", () => {
  assert.equal(span(0), "0 s");
  assert.equal(span(45), "45 s");
  assert.equal(span(125), "2 min 5 s");
  assert.equal(span(900), "15 min");
  assert.equal(span(899.6), "15 min");
  assert.equal(span(3900), "1 h 5 min");
  assert.equal(span(7200), "2 h");
  assert.equal(span(-3), "0 s");
  assert.equal(duration(1500), "1.5 s");
  assert.equal(duration(125_000), "2 min 5 s");
  assert.equal(gb(12.345), "12.3 GB");
  assert.equal(gb(null), "?");
});

test("a countdown speaks in minutes, then tens of seconds, then seconds", () => {
  assert.equal(waitLeft(900), "15 min");
  assert.equal(waitLeft(841), "15 min");
  assert.equal(waitLeft(840), "14 min");
  assert.equal(waitLeft(3601), "1 h 1 min");
  assert.equal(waitLeft(60), "1 min");
  assert.equal(waitLeft(51), "1 min");
  assert.equal(waitLeft(50), "50 s");
  assert.equal(waitLeft(41), "50 s");
  assert.equal(waitLeft(40), "40 s");
  assert.equal(waitLeft(9.2), "10 s");
  assert.equal(waitLeft(9), "9 s");
  assert.equal(waitLeft(-1), "0 s");
});

test("times are relative to now, either way", () => {
  const now = Date.parse("2026-11-30T12:00:00Z");
  assert.equal(relative("2026-11-30T11:57:00Z", now), "3 min ago");
  assert.equal(relative("2026-11-30T14:00:00Z", now), "in 2 h");
  assert.equal(relative("2026-11-30T11:59:58Z", now), "just now");
  assert.equal(relative(null, now), "never");
  assert.equal(relative("not a time", now), "unknown");
});

test("warnings: critical first, then warning, then info, the server's order kept within", () => {
  const ws = [{ level: "info", message: "a" }, { level: "warning", message: "b" },
              { level: "critical", message: "c" }, { level: "warning", message: "d" }];
  assert.deepEqual(sortWarnings(ws).map((w) => w.message), ["c", "b", "d", "a"]);
  assert.deepEqual(sortWarnings(undefined), []);
});

test("the node at a glance: broken, degraded or ready", () => {
  const up = { database: { ok: true }, storage: { ok: true } };
  assert.deepEqual(classify({ ok: true, components: up, warnings: [] }), { level: "ready", reasons: [] });
  assert.equal(classify({ ok: true, components: up, warnings: [{ level: "info", message: "paused" }] }).level, "ready");
  const warned = classify({ ok: true, components: up, warnings: [{ level: "warning", message: "pool low" }] });
  assert.deepEqual(warned, { level: "degraded", reasons: ["pool low"] });
  assert.equal(classify({ ok: true, components: up, warnings: [], supervisor: { state: "degraded" } }).level, "degraded");
  const down = classify({ ok: false, components: { ...up, redis: { ok: false } },
                          warnings: [{ level: "critical", message: "redis is not answering" }] });
  assert.equal(down.level, "broken");
  assert.deepEqual(down.reasons, ["redis is down", "redis is not answering"]);
  assert.equal(classify({ ok: false, components: up, warnings: [] }).reasons[0], "the node reports a fault");
  assert.equal(classify(null).level, "broken");
});

test("each level and worker state has a colour; unknown ones are grey", () => {
  assert.equal(colour("ready"), colour("running"));
  assert.equal(colour("broken"), colour("crashloop"));
  assert.notEqual(colour("ready"), colour("degraded"));
  assert.equal(colour("whatever"), colour("unknown"));
});

test("a stopped worker says why", () => {
  assert.equal(reasonText("too_few_listeners"), "too few listeners");
  assert.equal(reasonText("quiet"), "quiet mode");
  assert.equal(reasonText("something_new"), "something new");
  assert.equal(workerLine({ state: "stopped", reason: "disabled" }), "stopped: disabled in its configuration");
  assert.equal(workerLine({ state: "running", reason: null }), "running");
});

test("the lifecycle picker keeps an older custom value, and only changes are sent", () => {
  const memory = ["open", "resolved"];
  assert.deepEqual(lifecycleOptions(memory, "open").map((o) => o.value), ["", "open", "resolved"]);
  const kept = lifecycleOptions(memory, "archived_2024");
  assert.deepEqual(kept.map((o) => o.value), ["", "open", "resolved", "archived_2024"]);
  assert.equal(kept.at(-1).custom, true);
  assert.deepEqual(lifecycleOptions(undefined, ""), [{ value: "", label: "(none)", custom: false }]);
  const take = { topic_tag: "river", lifecycle_status: "archived_2024" };
  assert.deepEqual(metadataChanges(take, { topic_tag: " sea ", lifecycle_status: "archived_2024" }), { topic_tag: "sea" });
  assert.deepEqual(metadataChanges(take, { ...take }), {});
  assert.deepEqual(metadataChanges({ topic_tag: null, lifecycle_status: "" }, { topic_tag: "", lifecycle_status: "open" }),
                   { lifecycle_status: "open" });
});

test("errors: the server's sentence, else a plain one", () => {
  assert.equal(errorText(400, { error: { code: "x", message: "mood_bias: bad" } }), "mood_bias: bad");
  assert.match(errorText(401, null), /sign-in has ended/);
  assert.equal(errorText(0, null), "The node could not be reached.");
  assert.equal(errorText(502, "oops"), "The node answered 502.");
});

test("opening hours are HH:MM", () => {
  for (const ok of ["00:00", "09:30", "23:59", "24:00"]) assert.ok(validTime(ok), ok);
  for (const bad of ["9:30", "24:01", "12:60", "", null, "noon"]) assert.ok(!validTime(bad), String(bad));
});
