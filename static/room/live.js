// The room's /ws/live connection: the steward's posture and pool changes (`surface`), the live
// streams for the visual layer, and the device report. Reconnects on its own.

export const TOPICS = ["surface", "noise_metadata", "topic1", "beacons"];
export const DEVICE_REPORT_MS = 20_000;
const MAX_BACKOFF_MS = 4000;

/** Follow /ws/live. `onEvent(msg)` gets each event; `onOpen()` after each (re)subscription;
 *  `device()` returns the device report's status ({playing, audio}). Returns {report()} to
 *  send the report at once (on a change). */
export function follow({ onEvent, onOpen = () => {}, onClose = () => {}, name, device }) {
  let ws = null;
  let attempt = 0;
  let last = "";
  const report = (force = false) => {
    if (!ws || ws.readyState !== WebSocket.OPEN) return;
    const status = device();
    const text = JSON.stringify(status);
    if (!force && text === last) return;
    last = text;
    ws.send(JSON.stringify({ op: "device", kind: "room", name, status }));
  };
  setInterval(() => report(true), DEVICE_REPORT_MS);

  const again = () => {
    attempt = Math.min(attempt + 1, 6);
    setTimeout(connect, Math.min(MAX_BACKOFF_MS, 250 * 2 ** attempt));
  };

  async function connect() {
    try {
      const resp = await fetch("/api/v1/live/token", { method: "POST", cache: "no-store" });
      if (!resp.ok) { again(); return; }
      const { ws_url: url } = await resp.json();
      ws = new WebSocket(url);
    } catch { again(); return; }
    ws.onopen = () => ws.send(JSON.stringify({ op: "subscribe", topics: TOPICS }));
    ws.onmessage = (e) => {
      let msg;
      try { msg = JSON.parse(e.data); } catch { return; }
      if (msg.op === "subscribed") {
        attempt = 0;
        onOpen();
        report(true);
        return;
      }
      if (msg.op === "lagged") { onOpen(); return; } // events were dropped: re-read the state
      if (msg.op) return; // pong, lagged, error (e.g. a server without the device op): ignore
      onEvent(msg);
    };
    ws.onclose = () => { ws = null; onClose(); again(); };
  }
  connect();
  return { report: () => report(false) };
}
