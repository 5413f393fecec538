// The outbox: a take never lost. Each take (its WAV bytes, form fields and Idempotency-Key)
// is written to a store before the first upload attempt, and leaves it only on a 201 or on
// an answer that says it can never succeed. Pure of the browser: the store, `send`, the
// clock and `sleep` are given, so node --test runs it (the page passes idb-keyval and fetch).

export const BACKOFF_BASE_MS = 1000;
export const BACKOFF_MAX_MS = 15000;

/** Delay before retry number `attempt` (1, 2, ...): doubling from 1 s, at most 15 s, or the
 *  server's Retry-After when it said one. */
export function backoff(attempt, retryAfterS = null) {
  if (retryAfterS !== null && Number.isFinite(retryAfterS) && retryAfterS > 0)
    return Math.min(retryAfterS * 1000, 10 * BACKOFF_MAX_MS);
  return Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** Math.max(0, attempt - 1));
}

/** What an answer means for a queued take:
 *  "done" (201), "permanent" (a 4xx that will never succeed: bad WAV, bad consent, too long),
 *  "retry" (no answer, 5xx, 408, 409 while the first is in flight, 425, 429, 503 paused). */
export function classify(status) {
  if (status === 201 || status === 200) return "done";
  if (status === null || status === undefined || status === 0) return "retry";
  if ([408, 409, 425, 429].includes(status)) return "retry";
  if (status >= 400 && status < 500) return "permanent";
  return "retry";
}

const PREFIX = "outbox:";

/** Build the outbox. `store`: {get, set, del, keys} (idb-keyval's shape), `send(entry)` ->
 *  {status, body, retryAfterS} or throws on a network failure, `sleep(ms)` -> Promise. */
export function createOutbox({ store, send, sleep, now = () => Date.now(),
                               onEvent = () => {} }) {
  let running = null;

  async function pending() {
    const keys = (await store.keys()).filter((k) => String(k).startsWith(PREFIX));
    const entries = [];
    for (const k of keys) {
      const e = await store.get(k);
      if (e) entries.push(e);
    }
    return entries.sort((a, b) => a.createdAt - b.createdAt);
  }

  /** Queue a take; resolves once it is stored (before any upload attempt). */
  async function put({ key, wav, fields }) {
    const entry = { key, wav, fields, createdAt: now(), attempts: 0 };
    await store.set(PREFIX + key, entry);
    onEvent({ type: "queued", key });
    return entry;
  }

  /** Try one entry until it is done or permanently refused. Returns {status, body, outcome}. */
  async function deliver(entry) {
    for (;;) {
      let answer = null;
      try {
        answer = await send(entry);
      } catch (err) {
        answer = { status: null, body: null, error: String(err) };
      }
      const outcome = classify(answer.status);
      if (outcome !== "retry") {
        await store.del(PREFIX + entry.key);
        onEvent({ type: outcome, key: entry.key, status: answer.status, body: answer.body });
        return { ...answer, outcome };
      }
      entry.attempts += 1;
      await store.set(PREFIX + entry.key, entry);
      const wait = backoff(entry.attempts, answer.retryAfterS ?? null);
      onEvent({ type: "retrying", key: entry.key, status: answer.status,
                attempts: entry.attempts, waitMs: wait });
      await sleep(wait);
    }
  }

  /** Send everything queued, oldest first, one at a time; a second call while running
   *  joins the first. */
  function flush() {
    if (!running) {
      running = (async () => {
        try {
          const results = [];
          for (let entries = await pending(); entries.length; entries = await pending()) {
            results.push(await deliver(entries[0]));
          }
          return results;
        } finally {
          running = null;
        }
      })();
    }
    return running;
  }

  return { put, flush, pending, deliver };
}

/** A store in memory, with idb-keyval's shape (for tests and browsers without IndexedDB). */
export function memoryStore() {
  const map = new Map();
  return {
    get: async (k) => map.get(k),
    set: async (k, v) => { map.set(k, v); },
    del: async (k) => { map.delete(k); },
    keys: async () => Array.from(map.keys()),
  };
}
