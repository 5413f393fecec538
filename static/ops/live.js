// The dashboard's line to the node: WS /ws/ops (the ops session cookie opens it), opened
// again by itself with growing, jittered waits when it drops. Everything the dashboard shows
// live arrives here; there is no polling loop. A {"op": "ping"} every `pingMs` notices a
// connection that died without a close (a laptop asleep, a proxy gone).

/** Close codes after which trying again cannot help: the session ended or is not allowed. */
export const FINAL_CLOSES = new Set([4401, 4403, 4429]);

/**
 * Wait before reconnect number `attempt` (0-based): "equal jitter" exponential backoff,
 * half fixed and half random, so many dashboards do not knock at the same instant.
 * ms in [ceiling/2, ceiling], ceiling = min(maxMs, baseMs * factor^attempt).
 */
export function backoffMs(attempt, { baseMs = 500, maxMs = 30_000, factor = 2, random = Math.random } = {}) {
  const ceiling = Math.min(maxMs, baseMs * factor ** Math.max(0, attempt));
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}

/** ws(s)://host/path for the page's own origin. */
export function wsUrl(location, path = "/ws/ops") {
  return `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}${path}`;
}

/**
 * Keep a websocket open. Callbacks: onEvent(message object), onState({state, retryInMs,
 * code, reason}) with state one of "connecting", "live", "waiting", "ended".
 * `topics`: extra topics to subscribe to on each (re)connection. Returns {close(), retryNow()}.
 * Timers and the WebSocket constructor are injectable (tests use fakes).
 */
export function keepOpen({
  url, topics = [], onEvent = () => {}, onState = () => {}, WebSocketImpl = globalThis.WebSocket,
  setTimer = setTimeout, clearTimer = clearTimeout, now = () => Date.now(), random = Math.random,
  baseMs = 500, maxMs = 30_000, pingMs = 25_000,
} = {}) {
  let socket = null;
  let attempt = 0;
  let retryTimer = null;
  let pingTimer = null;
  let stopped = false;
  let lastHeard = 0;

  function clearTimers() {
    if (retryTimer !== null) clearTimer(retryTimer);
    if (pingTimer !== null) clearTimer(pingTimer);
    retryTimer = pingTimer = null;
  }

  function schedulePing() {
    if (pingTimer !== null) clearTimer(pingTimer);
    pingTimer = setTimer(() => {
      pingTimer = null;
      if (!socket || socket.readyState !== 1) return;
      if (now() - lastHeard > pingMs * 2) {  // a ping went unanswered: the line is dead
        socket.close(4000, "no answer");
        dropped(4000, "no answer");
        return;
      }
      socket.send(JSON.stringify({ op: "ping" }));
      schedulePing();
    }, pingMs);
  }

  function open() {
    clearTimers();
    if (stopped) return;
    onState({ state: "connecting" });
    let ws;
    try {
      ws = new WebSocketImpl(url);
    } catch (err) {
      dropped(0, String(err));
      return;
    }
    socket = ws;
    ws.onopen = () => {
      lastHeard = now();
      if (topics.length) ws.send(JSON.stringify({ op: "subscribe", topics }));
      schedulePing();
    };
    ws.onmessage = (msg) => {
      if (ws !== socket) return;
      lastHeard = now();
      let data;
      try { data = JSON.parse(msg.data); } catch { return; }
      if (data.op === "subscribed" && data.topics && data.topics.includes("ops")) {
        attempt = 0;  // the server took us: the next drop starts the waits over
        onState({ state: "live" });
      }
      onEvent(data);
    };
    ws.onclose = (ev) => { if (ws === socket) dropped(ev.code, ev.reason); };
    ws.onerror = () => {};  // a close follows
  }

  function dropped(code, reason) {
    socket = null;
    clearTimers();
    if (stopped) return;
    if (FINAL_CLOSES.has(code)) {
      stopped = true;
      onState({ state: "ended", code, reason });
      return;
    }
    const wait = backoffMs(attempt, { baseMs, maxMs, random });
    attempt += 1;
    onState({ state: "waiting", retryInMs: wait, code, reason });
    retryTimer = setTimer(() => { retryTimer = null; open(); }, wait);
  }

  open();
  return {
    close() {
      stopped = true;
      clearTimers();
      if (socket) { const s = socket; socket = null; s.close(1000, "bye"); }
    },
    retryNow() {
      if (stopped || socket) return;
      open();
    },
  };
}
