// node --test: the kiosk's state machine (static/kiosk/machine.js).
import { test } from "node:test";
import assert from "node:assert/strict";
import { next, accepts, expired, createMachine, maxSeconds, STATES } from "../../static/kiosk/machine.js";

test("the guided path from idle to complete and back", () => {
  const path = [["start", "arming"], ["ready", "armed"], ["record", "countdown"],
                ["go", "recording"], ["stop", "review"], ["submit", "submitting"],
                ["sent", "complete"], ["done", "idle"]];
  let state = "idle";
  for (const [event, to] of path) {
    state = next(state, event);
    assert.equal(state, to, `after ${event}`);
  }
});

test("events that mean nothing in a state change nothing", () => {
  assert.equal(next("idle", "stop"), null);
  assert.equal(next("recording", "submit"), null);
  assert.equal(next("submitting", "reset"), null, "a take being sent is never abandoned");
  assert.equal(next("nowhere", "start"), null);
  for (const s of STATES) assert.ok(accepts(s).length > 0, s);
});

test("record again, errors, and resuming a take saved before a reload", () => {
  assert.equal(next("review", "again"), "arming");
  assert.equal(next("countdown", "cancel"), "armed");
  assert.equal(next("arming", "fail"), "error");
  assert.equal(next("submitting", "rejected"), "error");
  assert.equal(next("error", "reset"), "idle");
  assert.equal(next("idle", "resume"), "submitting");
});

test("review, armed, complete and error time out; recording never does", () => {
  assert.equal(expired("review", 0, 89_999, 90), false);
  assert.equal(expired("review", 0, 90_000, 90), true);
  assert.equal(expired("recording", 0, 1e9, 90), false);
  assert.equal(expired("submitting", 0, 1e9, 90), false);
  let now = 0;
  const seen = [];
  const m = createMachine({ now: () => now, onChange: (to, from, ev) => seen.push([from, ev, to]) });
  assert.equal(m.send("start"), true);
  assert.equal(m.send("start"), false);
  m.send("ready");
  now = 10_000;
  assert.equal(m.tick(30), false);
  now = 40_000;
  assert.equal(m.tick(30), true);
  assert.equal(m.state, "idle");
  assert.deepEqual(seen.at(-1), ["armed", "expired", "idle"]);
});

test("the longest take comes from the server, else 120 s", () => {
  assert.equal(maxSeconds({ max_recording_seconds: 45 }), 45);
  assert.equal(maxSeconds({}), 120);
  assert.equal(maxSeconds(null), 120);
});
