// The string catalogs (one per language) and filling in {name} values. Pure.
import en from "./strings/en.js";
import es_mx_ca from "./strings/es_mx_ca.js";

export const CATALOGS = { en, es_mx_ca };

/** The catalog for `code`, English for anything unknown. */
export function catalog(code) {
  return CATALOGS[code] || en;
}

/** `text` with each {name} replaced by values[name]. */
export function fill(text, values = {}) {
  return String(text).replace(/\{(\w+)\}/g, (m, k) => (k in values ? String(values[k]) : m));
}

/** Seconds as the catalog says them: "45 s", "2 min 0 s". */
export function duration(strings, seconds) {
  const s = Math.max(0, Math.round(seconds));
  return s < 60 ? fill(strings.seconds, { n: s })
    : fill(strings.minutes, { m: Math.floor(s / 60), s: s % 60 });
}
