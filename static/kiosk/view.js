// The thin view: the only kiosk module that touches the DOM. It shows a state, fills in
// strings, moves the meter and announces changes to screen readers.

const $ = (id) => document.getElementById(id);

/** Fill every [data-s] element and [data-s-label] aria-label from `strings`. */
export function applyStrings(strings) {
  document.documentElement.lang = strings.lang;
  for (const el of document.querySelectorAll("[data-s]")) {
    const text = strings[el.dataset.s];
    if (text !== undefined) el.textContent = text;
  }
  for (const el of document.querySelectorAll("[data-s-label]")) {
    el.setAttribute("aria-label", strings[el.dataset.sLabel] || "");
  }
  document.title = `${strings.title} · rooms`;
}

/** Show the section of `state`, hide the others, put the focus on its first control. */
export function show(state, { focus = true } = {}) {
  const root = $("kiosk");
  root.dataset.state = state;
  let section = null;
  for (const el of root.querySelectorAll("section[data-for]")) {
    const on = el.dataset.for === state;
    el.hidden = !on;
    if (on) section = el;
  }
  if (focus && section) {
    const visible = (sel) => Array.from(section.querySelectorAll(sel))
      .find((el) => !el.disabled && el.getClientRects().length > 0);
    const target = visible("button.primary") || visible("button, input") || visible("h1, p");
    if (target) {
      if (!target.matches("button, input")) target.tabIndex = -1;
      target.focus({ preventScroll: true });
    }
  }
}

export function text(id, value) { $(id).textContent = value; }
export function hidden(id, value) { $(id).hidden = value; }
export function disabled(id, value) { $(id).disabled = value; }

/** Tell a screen reader (the assertive live region). */
export function announce(value) {
  const el = $("announce");
  el.textContent = "";
  // a fresh node text each time, so the same words are announced again
  setTimeout(() => { el.textContent = value; }, 30);
}

export function notice(value) {
  const el = $("notice");
  el.textContent = value || "";
  el.classList.toggle("on", Boolean(value));
}

/** The level meters: `rms` linear 0..1, shown on a -60..0 dBFS scale. */
export function meter(rms) {
  const db = rms > 0 ? 20 * Math.log10(rms) : -60;
  const pct = Math.round(Math.max(0, Math.min(100, ((db + 60) / 60) * 100)));
  for (const el of document.querySelectorAll(".meter")) {
    el.firstElementChild.style.width = `${pct}%`;
    el.setAttribute("aria-valuenow", String(pct));
  }
}

/** The memory-color radios from the /api/v1/effects catalog. */
export function colors(catalog, language, selected, onChange) {
  const box = $("colors");
  for (const el of box.querySelectorAll("label")) el.remove();
  for (const effect of catalog) {
    const label = document.createElement("label");
    const input = document.createElement("input");
    input.type = "radio";
    input.name = "color";
    input.value = effect.code;
    input.checked = effect.code === selected;
    input.addEventListener("change", () => onChange(effect.code));
    const name = (language === "es_mx_ca" && effect.label_es_mx_ca) || effect.label;
    label.append(input, ` ${name}`);
    box.append(label);
  }
}

export function consentValue() {
  const checked = document.querySelector("input[name=consent]:checked");
  return checked ? checked.value : null;
}

export function chooseConsent(index) {
  const inputs = document.querySelectorAll("input[name=consent]");
  if (inputs[index]) { inputs[index].checked = true; inputs[index].focus(); }
  return consentValue();
}

export function clearConsent() {
  for (const el of document.querySelectorAll("input[name=consent]")) el.checked = false;
}

/** The steward's display settings: large text / high contrast, reduced motion. */
export function prefs({ accessibility_mode, force_reduced_motion }) {
  const html = document.documentElement;
  html.classList.toggle("large-high-contrast", accessibility_mode === "large_high_contrast");
  html.classList.toggle("reduce-motion", Boolean(force_reduced_motion));
}

export function onClick(id, handler) { $(id).addEventListener("click", handler); }
