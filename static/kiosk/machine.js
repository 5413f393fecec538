// The kiosk's guided state machine, pure: (state, event) -> state. No DOM, no clock.
//
//   idle -start-> arming -ready-> armed -record-> countdown -go-> recording -stop-> review
//   review -submit-> submitting -sent-> complete ; review -again-> arming
//   complete -done-> idle ; any -fail-> error -reset-> idle ; most -reset-> idle
//   review / complete / error / armed time out back to idle (`expired`).

export const STATES = ["idle", "arming", "armed", "countdown", "recording", "review",
                       "submitting", "complete", "error"];

const TABLE = {
  idle: { start: "arming", resume: "submitting" },
  arming: { ready: "armed", fail: "error", reset: "idle" },
  armed: { record: "countdown", fail: "error", reset: "idle", expired: "idle" },
  countdown: { go: "recording", cancel: "armed", fail: "error", reset: "idle" },
  recording: { stop: "review", fail: "error", reset: "idle" },
  review: { submit: "submitting", again: "arming", reset: "idle", expired: "idle",
            fail: "error" },
  submitting: { sent: "complete", rejected: "error", fail: "error" },
  complete: { done: "idle", expired: "idle", resume: "submitting" },
  error: { reset: "idle", again: "arming", expired: "idle" },
};

/** The state after `event`, or null when `event` means nothing in `state`. */
export function next(state, event) {
  const to = (TABLE[state] || {})[event];
  return to === undefined ? null : to;
}

/** The events `state` accepts. */
export function accepts(state) {
  return Object.keys(TABLE[state] || {});
}

/** States left alone for too long go back to idle (an unattended kiosk). */
export const TIMED_STATES = new Set(["armed", "review", "complete", "error"]);

/** Whether a state entered at `enteredAtMs` has waited past `timeoutS` at `nowMs`. */
export function expired(state, enteredAtMs, nowMs, timeoutS) {
  return TIMED_STATES.has(state) && nowMs - enteredAtMs >= timeoutS * 1000;
}

/** A small holder around `next`: {state, send(event) -> bool, enteredAt}. `now` is the
 *  clock (ms), `onChange(to, from, event)` is called after each change. */
export function createMachine({ now, onChange = () => {} , initial = "idle" }) {
  const m = {
    state: initial,
    enteredAt: now(),
    send(event) {
      const to = next(m.state, event);
      if (to === null) return false;
      const from = m.state;
      m.state = to;
      m.enteredAt = now();
      onChange(to, from, event);
      return true;
    },
    tick(timeoutS) {
      return expired(m.state, m.enteredAt, now(), timeoutS) ? m.send("expired") : false;
    },
  };
  return m;
}

/** The longest take the kiosk records, seconds: the server's `kiosk.max_recording_seconds`
 *  (already capped by ingest's maximum), else 120. */
export function maxSeconds(kiosk) {
  const s = Number(kiosk && kiosk.max_recording_seconds);
  return Number.isFinite(s) && s > 0 ? s : 120;
}
