// node --test: the dashboard's reconnecting websocket (static/ops/live.js), with a fake
// WebSocket and fake timers.
import { test } from "node:test";
import assert from "node:assert/strict";
import { backoffMs, keepOpen, wsUrl, FINAL_CLOSES } from "../../static/ops/live.js";

test("backoff grows by its factor to a ceiling, with jitter in its upper half", () => {
  const lo = (n) => backoffMs(n, { random: () => 0 });
  const hi = (n) => backoffMs(n, { random: () => 1 });
  assert.deepEqual([0, 1, 2, 3].map(hi), [500, 1000, 2000, 4000]);
  assert.deepEqual([0, 1, 2, 3].map(lo), [250, 500, 1000, 2000]);
  assert.equal(hi(20), 30_000);
  assert.equal(lo(20), 15_000);
  assert.equal(hi(-1), 500);
});

test("ws urls follow the page's scheme", () => {
  assert.equal(wsUrl({ protocol: "https:", host: "node.example:8443" }), "wss://node.example:8443/ws/ops");
  assert.equal(wsUrl({ protocol: "http:", host: "127.0.0.1:8000" }), "ws://127.0.0.1:8000/ws/ops");
});

function harness() {
  const sockets = [];
  const timers = new Map();
  let next = 1;
  let clock = 0;
  class FakeSocket {
    constructor(url) { this.url = url; this.sent = []; this.readyState = 0; sockets.push(this); }
    send(text) { this.sent.push(JSON.parse(text)); }
    close(code, reason) { this.readyState = 3; this.closed = { code, reason }; }
    open() { this.readyState = 1; this.onopen(); }
    hear(obj) { this.onmessage({ data: JSON.stringify(obj) }); }
    drop(code, reason = "") { this.readyState = 3; this.onclose({ code, reason }); }
  }
  const states = [];
  const events = [];
  const line = keepOpen({
    url: "ws://x/ws/ops", topics: ["surface"], WebSocketImpl: FakeSocket,
    onEvent: (e) => events.push(e), onState: (s) => states.push(s),
    setTimer: (fn, ms) => { const id = next++; timers.set(id, { fn, ms }); return id; },
    clearTimer: (id) => timers.delete(id), now: () => clock, random: () => 1, baseMs: 100, maxMs: 1000, pingMs: 1000,
  });
  const fire = (ms) => {
    const [id, t] = [...timers.entries()].find(([, v]) => v.ms === ms);
    timers.delete(id);
    t.fn();
  };
  return { sockets, timers, states, events, line, fire, tick: (ms) => { clock += ms; } };
}

test("it subscribes to its topics, is live once the server says so, and passes events on", () => {
  const h = harness();
  assert.equal(h.states.at(-1).state, "connecting");
  h.sockets[0].open();
  assert.deepEqual(h.sockets[0].sent, [{ op: "subscribe", topics: ["surface"] }]);
  h.sockets[0].hear({ op: "subscribed", topics: ["ops"] });
  assert.equal(h.states.at(-1).state, "live");
  h.sockets[0].hear({ topic: "ops", event: "node_status", ok: true });
  assert.equal(h.events.at(-1).event, "node_status");
  h.sockets[0].onmessage({ data: "not json" });  // ignored
  assert.equal(h.events.length, 2);
});

test("a dropped line is opened again after growing waits, which start over once live", () => {
  const h = harness();
  h.sockets[0].drop(1006);
  assert.deepEqual([h.states.at(-1).state, h.states.at(-1).retryInMs], ["waiting", 100]);
  h.fire(100);
  assert.equal(h.sockets.length, 2);
  h.sockets[1].drop(1006);
  assert.equal(h.states.at(-1).retryInMs, 200);
  h.fire(200);
  h.sockets[2].open();
  h.sockets[2].hear({ op: "subscribed", topics: ["ops"] });
  h.sockets[2].drop(1001);
  assert.equal(h.states.at(-1).retryInMs, 100);  // a fresh start
});

test("a refused session is final: no more tries", () => {
  for (const code of FINAL_CLOSES) {
    const h = harness();
    h.sockets[0].drop(code, "no");
    assert.deepEqual(h.states.at(-1), { state: "ended", code, reason: "no" });
    assert.equal(h.timers.size, 0);
  }
});

test("pings keep the line honest; an unanswered one drops it", () => {
  const h = harness();
  h.sockets[0].open();
  h.tick(1000);
  h.fire(1000);
  assert.deepEqual(h.sockets[0].sent.at(-1), { op: "ping" });
  h.sockets[0].hear({ op: "pong" });
  h.tick(1000);
  h.fire(1000);  // heard 1 s ago: fine, ping again
  assert.equal(h.sockets[0].sent.filter((m) => m.op === "ping").length, 2);
  h.tick(2500);
  h.fire(1000);  // nothing for 2.5 s > 2 pings: dead
  assert.equal(h.sockets[0].closed.code, 4000);
  assert.equal(h.states.at(-1).state, "waiting");
});

test("close() stops everything; retryNow() skips the wait", () => {
  const h = harness();
  h.sockets[0].drop(1006);
  h.line.retryNow();
  assert.equal(h.sockets.length, 2);
  assert.equal(h.timers.size, 0);
  h.sockets[1].open();
  h.line.close();
  assert.equal(h.sockets[1].closed.code, 1000);
  assert.equal(h.timers.size, 0);
  h.line.retryNow();
  assert.equal(h.sockets.length, 2);
});
