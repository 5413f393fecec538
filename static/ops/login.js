// The /ops/ sign-in form: posts the secret to POST /ops/login (JSON answer), then opens the
// dashboard; says plainly when the secret is wrong and, during a lockout, how long is left.
import { waitLeft } from "./format.js";

const form = document.getElementById("login-form");
const input = document.getElementById("secret");
const button = document.getElementById("login-submit");
const result = document.getElementById("login-result");
const config = JSON.parse(document.getElementById("ops-login-config").textContent);

let lockTimer = null;

function lockedMessage(seconds) {
  return `Too many failed sign-ins from this browser. Try again in ${waitLeft(seconds)}.`;
}

/** Refuse sign-in for `seconds`, counting down once a second, then invite another try. */
function lockFor(seconds) {
  const until = Date.now() + seconds * 1000;
  button.disabled = true;
  if (lockTimer !== null) clearInterval(lockTimer);
  const tick = () => {
    const left = Math.ceil((until - Date.now()) / 1000);
    if (left <= 0) {
      clearInterval(lockTimer);
      lockTimer = null;
      button.disabled = false;
      result.textContent = "You can try again now.";
      return;
    }
    const text = lockedMessage(left);
    if (result.textContent !== text) result.textContent = text;  // a live region: no chatter
  };
  tick();
  lockTimer = setInterval(tick, 1000);
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  if (!form.reportValidity()) return;
  button.disabled = true;
  result.textContent = "Signing in…";
  let resp;
  try {
    resp = await fetch("/ops/login", {
      method: "POST", credentials: "same-origin",
      headers: { Accept: "application/json" },
      body: new URLSearchParams({ secret: input.value }),
    });
  } catch {
    button.disabled = false;
    result.textContent = "The node could not be reached. Try again.";
    return;
  }
  if (resp.ok) {
    result.textContent = "Signed in. Opening the dashboard…";
    location.assign("/ops/");
    return;
  }
  let body = null;
  try { body = await resp.json(); } catch { body = null; }
  input.value = "";
  input.focus();
  if (resp.status === 429) {
    const after = Number(resp.headers.get("Retry-After"));
    lockFor(Number.isFinite(after) && after > 0 ? after : 60);
    return;
  }
  button.disabled = false;
  if (body && body.error && body.error.code === "ops_bad_secret") {
    result.textContent = "That is not the steward secret.";
  } else {
    result.textContent = (body && body.error && body.error.message) || `Sign-in failed (${resp.status}).`;
  }
});

if (config.lockedS > 0) lockFor(config.lockedS);
