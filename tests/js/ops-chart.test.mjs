// node --test: bar chart geometry of the dashboard (static/ops/chart.js).
import { test } from "node:test";
import assert from "node:assert/strict";
import { barGeometry, barText, paint } from "../../static/ops/chart.js";

test("the longest bar fills the plot; the others scale to it; shares add up", () => {
  const g = barGeometry({ fresh: 6, mid: 3, worn: 0 }, { width: 300, labelW: 80, valueW: 70, bar: 10, gap: 5 });
  assert.equal(g.total, 9);
  assert.equal(g.height, 3 * 10 + 2 * 5);
  const [fresh, mid, worn] = g.bars;
  assert.equal(fresh.w, 150);
  assert.equal(mid.w, 75);
  assert.equal(worn.w, 0);
  assert.deepEqual(g.bars.map((b) => b.y), [0, 15, 30]);
  assert.ok(Math.abs(g.bars.reduce((a, b) => a + b.share, 0) - 1) < 1e-9);
  assert.equal(fresh.x, 80);
  assert.equal(fresh.valueX, 80 + 150 + 6);
  assert.equal(barText(fresh), "6 (67%)");
  assert.equal(barText(worn), "0");
});

test("nothing yet: zero bars of zero width, no division by zero", () => {
  const g = barGeometry({ clear: 0, hushed: 0 });
  assert.deepEqual(g.bars.map((b) => [b.w, b.share]), [[0, 0], [0, 0]]);
  assert.equal(barGeometry({}).height, 0);
  assert.equal(barGeometry(null).bars.length, 0);
});

test("pairs keep their order; junk counts are zero", () => {
  const g = barGeometry([["b", 2], ["a", "x"], ["c", -4]]);
  assert.deepEqual(g.bars.map((b) => [b.label, b.value]), [["b", 2], ["a", 0], ["c", 0]]);
});

test("colours: lanes and moods fixed, other labels stable", () => {
  assert.notEqual(paint.lane("fresh"), paint.lane("worn"));
  assert.equal(paint.any("warm_hiss"), paint.any("warm_hiss"));
  assert.match(paint.mood("gathering"), /^#[0-9a-f]{6}$/);
});
