// node --test: the kiosk's string catalogs (static/kiosk/i18n.js, strings/*.js).
import { test } from "node:test";
import assert from "node:assert/strict";
import { CATALOGS, catalog, fill, duration } from "../../static/kiosk/i18n.js";

test("every catalog says everything English says, and names its consent text", () => {
  const keys = Object.keys(CATALOGS.en).sort();
  for (const [code, strings] of Object.entries(CATALOGS)) {
    assert.deepEqual(Object.keys(strings).sort(), keys, code);
    for (const [k, v] of Object.entries(strings)) assert.ok(String(v).trim(), `${code}.${k} empty`);
    assert.ok(strings.consent_version.endsWith(code), code);
  }
  assert.deepEqual(Object.keys(CATALOGS).sort(), ["en", "es_mx_ca"]);
});

test("unknown languages fall back to English; values are filled in", () => {
  assert.equal(catalog("fr"), CATALOGS.en);
  assert.equal(catalog("es_mx_ca").start, "Empezar");
  assert.equal(fill("up to {max}, {x}", { max: "2 min" }), "up to 2 min, {x}");
  assert.equal(duration(CATALOGS.en, 45), "45 s");
  assert.equal(duration(CATALOGS.en, 120), "2 min 0 s");
});
