// node --test: the room loop's reading of the opening hours (static/room/loop.js).
import { test } from "node:test";
import assert from "node:assert/strict";
import { playbackOpen } from "../../static/room/loop.js";

test("opening hours: the playback aspect decides, else `open`, else nothing is said", () => {
  // GET /api/v1/surface/state
  assert.equal(playbackOpen({ open: true, hours: { intake: true, playback: false } }), false);
  assert.equal(playbackOpen({ open: false, hours: { playback: true } }), true);
  assert.equal(playbackOpen({ open: false }), false);
  // the `surface` `hours` event
  assert.equal(playbackOpen({ event: "hours", open: true, intake: true, playback: false }), false);
  assert.equal(playbackOpen({ event: "hours", open: true, playback: true }), true);
  // a posture event says nothing about the hours
  assert.equal(playbackOpen({ event: "posture", playback_paused: false }), null);
  assert.equal(playbackOpen({ open: null }), null);
});
