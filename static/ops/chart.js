// Small bar charts as inline SVG: the geometry is pure (tested with node --test), `svg`
// draws it with DOM calls (no library, no inline styles: colours are presentation attributes).

/**
 * Horizontal bars for `counts` ({label: n} or [[label, n]]), longest scaled to the plot.
 * Returns {width, height, bars: [{label, value, share, x, y, w, h, labelX, valueX, textY}]}
 * in SVG user units. `share` is value / total (0 when the total is 0).
 */
export function barGeometry(counts, { width = 360, bar = 16, gap = 6, labelW = 84, valueW = 76 } = {}) {
  const entries = Array.isArray(counts) ? counts : Object.entries(counts || {});
  const values = entries.map(([, v]) => Math.max(0, Number(v) || 0));
  const total = values.reduce((a, b) => a + b, 0);
  const max = Math.max(0, ...values);
  const plot = Math.max(1, width - labelW - valueW);
  const bars = entries.map(([label, _], i) => {
    const value = values[i];
    const w = max ? Math.round((value / max) * plot * 10) / 10 : 0;
    const y = i * (bar + gap);
    return { label: String(label), value, share: total ? value / total : 0, x: labelW, y, w, h: bar,
             labelX: labelW - 6, valueX: labelW + w + 6, textY: y + bar * 0.75 };
  });
  const height = entries.length ? entries.length * (bar + gap) - gap : 0;
  return { width, height, bars, total };
}

/** "42 (60%)": a bar's value and its share of all. */
export function barText(b) {
  return b.value ? `${b.value} (${Math.round(b.share * 100)}%)` : "0";
}

const NS = "http://www.w3.org/2000/svg";

/** An `<svg role="img">` of bars; `colourOf(label)` picks each bar's fill. */
export function svg(doc, counts, { title, colourOf = () => "#9fd0ff", ...opts } = {}) {
  const g = barGeometry(counts, opts);
  const root = doc.createElementNS(NS, "svg");
  root.setAttribute("viewBox", `0 0 ${g.width} ${Math.max(g.height, 1)}`);
  root.setAttribute("role", "img");
  const summary = g.bars.map((b) => `${b.label} ${barText(b)}`).join(", ");
  root.setAttribute("aria-label", `${title}: ${summary || "nothing yet"}`);
  root.classList.add("chart");
  for (const b of g.bars) {
    const label = doc.createElementNS(NS, "text");
    label.setAttribute("x", b.labelX);
    label.setAttribute("y", b.textY);
    label.setAttribute("text-anchor", "end");
    label.textContent = b.label;
    const rect = doc.createElementNS(NS, "rect");
    for (const [k, v] of Object.entries({ x: b.x, y: b.y, width: Math.max(b.w, b.value ? 1 : 0), height: b.h, rx: 2 })) {
      rect.setAttribute(k, v);
    }
    rect.setAttribute("fill", colourOf(b.label));
    const value = doc.createElementNS(NS, "text");
    value.setAttribute("x", b.valueX);
    value.setAttribute("y", b.textY);
    value.textContent = barText(b);
    root.append(label, rect, value);
  }
  return root;
}

/** Bar colours: lanes from green (fresh) to brown (worn), moods each their own. */
const PALETTE = ["#9fd0ff", "#b9a3ff", "#7fdcc0", "#ffc58f", "#ff9fb8", "#d6e685", "#c0c0d8"];
const LANE = { fresh: "#7fdc9a", mid: "#e8cf6a", worn: "#c9976b" };
const MOOD = { clear: "#9fd0ff", hushed: "#b9a3ff", suspended: "#7fdcc0", weathered: "#c9976b", gathering: "#ffc58f" };
function hashed(label) {
  let h = 0;
  for (const ch of String(label)) h = (h * 31 + ch.codePointAt(0)) >>> 0;
  return PALETTE[h % PALETTE.length];
}
export const paint = {
  lane: (label) => LANE[label] || hashed(label),
  mood: (label) => MOOD[label] || hashed(label),
  any: hashed,
};
