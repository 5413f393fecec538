// node --test: the outbox that never loses a take (static/kiosk/outbox.js).
import { test } from "node:test";
import assert from "node:assert/strict";
import { backoff, classify, createOutbox, memoryStore } from "../../static/kiosk/outbox.js";

function harness(answers) {
  const store = memoryStore();
  const sent = [];
  const waits = [];
  const events = [];
  const outbox = createOutbox({
    store,
    now: (() => { let t = 0; return () => ++t; })(),
    sleep: async (ms) => { waits.push(ms); },
    onEvent: (e) => events.push(e),
    send: async (entry) => {
      // what the server would see: the take is already in the store
      assert.ok(await store.get(`outbox:${entry.key}`), "sent before it was stored");
      sent.push(entry.key);
      const a = answers.shift();
      if (a instanceof Error) throw a;
      return a;
    },
  });
  return { store, sent, waits, events, outbox };
}

test("backoff doubles from 1 s up to 15 s, or follows Retry-After", () => {
  assert.deepEqual([1, 2, 3, 4, 5, 6, 10].map((n) => backoff(n)),
                   [1000, 2000, 4000, 8000, 15000, 15000, 15000]);
  assert.equal(backoff(1, 30), 30000);
  assert.equal(backoff(1, 0), 1000);
});

test("only a 201 or a hopeless 4xx takes a take out of the outbox", () => {
  assert.equal(classify(201), "done");
  for (const s of [400, 403, 404, 413, 415, 422]) assert.equal(classify(s), "permanent", s);
  for (const s of [null, 0, 408, 409, 425, 429, 500, 502, 503, 504]) assert.equal(classify(s), "retry", s);
});

test("a dropped network and a restarting server: retried with the same key until 201", async () => {
  const h = harness([new Error("network down"), { status: 502 }, { status: 503, retryAfterS: 7 },
                     { status: 201, body: { revocation_token: "ABCDEFGHJK" } }]);
  await h.outbox.put({ key: "k1", wav: new Uint8Array([1, 2]), fields: { consent_mode: "ROOM" } });
  const [result] = await h.outbox.flush();
  assert.equal(result.outcome, "done");
  assert.equal(result.body.revocation_token, "ABCDEFGHJK");
  assert.deepEqual(h.sent, ["k1", "k1", "k1", "k1"]);
  assert.deepEqual(h.waits, [1000, 2000, 7000]);
  assert.deepEqual(await h.outbox.pending(), []);
  assert.deepEqual(h.events.map((e) => e.type), ["queued", "retrying", "retrying", "retrying", "done"]);
});

test("a take survives a reload: a new outbox on the same store sends it", async () => {
  const h = harness([]);
  await h.outbox.put({ key: "k2", wav: new Uint8Array([9]), fields: {} });
  const sent = [];
  const reloaded = createOutbox({ store: h.store, sleep: async () => {},
    send: async (e) => { sent.push([e.key, Array.from(e.wav)]); return { status: 201, body: {} }; } });
  assert.equal((await reloaded.pending()).length, 1);
  await reloaded.flush();
  assert.deepEqual(sent, [["k2", [9]]]);
  assert.deepEqual(await reloaded.pending(), []);
});

test("a permanent refusal leaves the outbox and is reported; the next take still goes", async () => {
  const h = harness([{ status: 415, body: { error: { code: "invalid_wav" } } }, { status: 201, body: {} }]);
  await h.outbox.put({ key: "bad", wav: new Uint8Array(), fields: {} });
  await h.outbox.put({ key: "good", wav: new Uint8Array([1]), fields: {} });
  const results = await h.outbox.flush();
  assert.deepEqual(results.map((r) => r.outcome), ["permanent", "done"]);
  assert.equal(results[0].body.error.code, "invalid_wav");
  assert.deepEqual(await h.outbox.pending(), []);
});

test("a second flush while one runs joins it (one upload at a time)", async () => {
  const h = harness([{ status: 201, body: {} }]);
  await h.outbox.put({ key: "k3", wav: new Uint8Array([1]), fields: {} });
  const [a, b] = await Promise.all([h.outbox.flush(), h.outbox.flush()]);
  assert.equal(a, b);
  assert.deepEqual(h.sent, ["k3"]);
});
