"""Opening hours: the schedule is validated, audited and announced, and the server keeps it
(uploads 503 `closed`, the room rests, streams stop) across a day boundary and DST."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from fastapi import FastAPI

from rooms import hours
from rooms.live.surface import SURFACE
from rooms.ops import schedule
from tests.helpers import resources
from tests.ops.conftest import SECRET
from tests.playback.conftest import take
from tests.recordings.conftest import upload

BEARER = {"Authorization": f"Bearer {SECRET}"}
HELSINKI = ZoneInfo("Europe/Helsinki")
NEW_YORK = ZoneInfo("America/New_York")


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def windows(*rows: dict[str, Any]) -> tuple[hours.Window, ...]:
    return hours.parse(rows)


# --- the rule ---------------------------------------------------------------------------
def test_an_empty_schedule_is_always_open() -> None:
    found = hours.evaluate((), HELSINKI, at("2026-12-01T03:00:00"))
    assert found.open and found.intake and found.playback and found.streams
    assert found.next_change_at is None


def test_a_night_window_runs_past_midnight_into_the_next_day() -> None:
    # Monday 22:00 to Tuesday 02:00, Helsinki (UTC+2 in December); 2026-11-30 is a Monday
    night = windows({"day": 0, "open": "22:00", "close": "02:00"})
    before = hours.evaluate(night, HELSINKI, at("2026-11-30T19:59:00"))  # Mon 21:59 local
    assert not before.open and before.next_change_at == at("2026-11-30T20:00:00")
    assert before.opens_at["intake"] == at("2026-11-30T20:00:00")
    late = hours.evaluate(night, HELSINKI, at("2026-11-30T23:59:00"))  # Tue 01:59 local
    assert late.open and late.intake
    assert late.next_change_at == at("2026-12-01T00:00:00")  # Tue 02:00 local
    after = hours.evaluate(night, HELSINKI, at("2026-12-01T00:00:00"))
    assert not after.open
    assert after.next_change_at == at("2026-12-07T20:00:00")  # next Monday 22:00


def test_windows_keep_their_wall_clock_hours_across_spring_forward() -> None:
    # Helsinki moves from UTC+2 to UTC+3 on Sunday 2027-03-28 at 03:00 local
    daily = windows(*({"day": d, "open": "10:00", "close": "18:00"} for d in range(7)))
    saturday = hours.evaluate(daily, HELSINKI, at("2027-03-27T16:30:00"))  # Sat 18:30 +2
    assert not saturday.open
    assert saturday.next_change_at == at("2027-03-28T07:00:00")  # Sun 10:00 +3
    sunday = hours.evaluate(daily, HELSINKI, at("2027-03-28T07:00:00"))
    assert sunday.open and sunday.next_change_at == at("2027-03-28T15:00:00")  # 18:00 +3
    # one hour earlier by UTC than the day before: still closed at Sunday 09:59 local
    assert not hours.evaluate(daily, HELSINKI, at("2027-03-28T06:59:00")).open


def test_a_window_over_the_autumn_change_lasts_one_hour_longer() -> None:
    # New York falls back from EDT (-4) to EST (-5) on Sunday 2026-11-01 at 02:00 local
    overnight = windows({"day": 5, "open": "20:00", "close": "06:00"})  # Saturday night
    opened = hours.evaluate(overnight, NEW_YORK, at("2026-11-01T00:00:00"))  # Sat 20:00 EDT
    assert opened.open
    assert opened.next_change_at == at("2026-11-01T11:00:00")  # Sun 06:00 EST: 11 h
    assert not hours.evaluate(overnight, NEW_YORK, at("2026-11-01T11:00:00")).open


def test_each_aspect_follows_the_windows_that_open_it() -> None:
    listening = windows({"day": 0, "open": "09:00", "close": "17:00", "intake": False},
                        {"day": 0, "open": "12:00", "close": "13:00"})
    morning = hours.evaluate(listening, HELSINKI, at("2026-11-30T08:00:00"))  # Mon 10:00
    assert (morning.intake, morning.playback, morning.streams) == (False, True, True)
    assert morning.opens_at["intake"] == at("2026-11-30T10:00:00")  # 12:00 local
    noon = hours.evaluate(listening, HELSINKI, at("2026-11-30T10:30:00"))
    assert noon.intake and noon.next_change_at == at("2026-11-30T11:00:00")


@pytest.mark.parametrize("window", [
    {"day": 7, "open": "10:00", "close": "12:00"},
    {"day": 0, "open": "24:00", "close": "12:00"},
    {"day": 0, "open": "10:00", "close": "10:00"},
    {"day": 0, "open": "9:00", "close": "12:00"},
    {"day": 0, "open": "10:00", "close": "12:00", "extra": True},
])
def test_a_malformed_window_is_refused(window: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        hours.parse([window])


# --- the server keeps it ------------------------------------------------------------------
WEEKDAY_DAYTIME = [{"day": d, "open": "10:00", "close": "18:00"} for d in range(5)]


@pytest.mark.ops_settings(timezone="Europe/Helsinki")
async def test_the_schedule_is_stored_audited_announced_and_enforced(
        app: FastAPI, client: httpx.AsyncClient) -> None:
    res = resources(app)
    clock = hours.state(res)
    clock.clock = lambda: at("2026-11-30T07:00:00")  # Monday 09:00 in Helsinki: closed
    await take(client)  # always open before any schedule
    empty = await client.get("/api/v1/operator/schedule", headers=BEARER)
    assert empty.json()["weekly"] == [] and empty.json()["timezone"] == "Europe/Helsinki"
    async with res.live.subscribe(SURFACE) as sub:
        put = await client.put("/api/v1/operator/schedule", headers=BEARER,
                               json={"timezone": "Europe/Helsinki", "weekly": WEEKDAY_DAYTIME})
        assert put.status_code == 200, put.text
        assert put.json()["changed"] is True and put.json()["now"]["open"] is False
        event = await anext(sub.events())
    announced = event.data()
    assert (announced["event"], announced["open"], announced["changed"]) == (
        "hours", False, "schedule")
    assert announced["next_change_at"] == "2026-11-30T08:00:00Z"
    trail = (await client.get("/api/v1/operator/actions", headers=BEARER)).json()["items"]
    assert trail[0]["action"] == "schedule.updated" and len(trail[0]["payload"]["weekly"]) == 5

    refused = await upload(client)
    assert refused.status_code == 503
    assert refused.json()["error"]["code"] == "closed"
    assert refused.json()["error"]["opens_at"] == "2026-11-30T08:00:00Z"
    rests = (await client.get("/api/v1/pool/next")).json()
    assert rests["artifact"] is None and rests["reason"] == "closed"
    assert rests["pool_size"] == 1
    state = (await client.get("/api/v1/surface/state")).json()
    assert state["open"] is False and state["next_change_at"] == "2026-11-30T08:00:00Z"
    await schedule.keep_once(res, None)
    assert res.streams.open is False

    clock.clock = lambda: at("2026-11-30T08:00:00")  # Monday 10:00: open
    assert (await upload(client)).status_code == 201
    assert (await client.get("/api/v1/pool/next")).json()["artifact"] is not None
    assert (await client.get("/api/v1/surface/state")).json()["open"] is True
    await schedule.keep_once(res, None)
    assert res.streams.open is True

    clock.clock = lambda: at("2026-12-04T16:00:00")  # Friday 18:00: closed for the weekend
    closed = await upload(client)
    assert closed.json()["error"]["opens_at"] == "2026-12-07T08:00:00Z"  # Monday 10:00


@pytest.mark.ops_settings(timezone="Europe/Helsinki")
async def test_the_keeper_announces_a_boundary_to_its_clients(
        app: FastAPI, client: httpx.AsyncClient) -> None:
    res = resources(app)
    state = hours.state(res)
    state.clock = lambda: at("2026-11-30T07:59:00")
    assert (await client.put("/api/v1/operator/schedule", headers=BEARER,
                             json={"weekly": WEEKDAY_DAYTIME})).status_code == 200
    before = await schedule.keep_once(res, None)
    async with res.live.subscribe(SURFACE) as sub:
        state.clock = lambda: at("2026-11-30T08:00:00")
        await schedule.keep_once(res, before)
        event = (await anext(sub.events())).data()
    assert (event["event"], event["changed"], event["open"]) == ("hours", "boundary", True)
    assert event["next_change_at"] == "2026-11-30T16:00:00Z"
    assert res.streams.open is True


async def test_bad_schedules_are_refused_and_change_nothing(client: httpx.AsyncClient) -> None:
    for body in ({"weekly": [{"day": 0, "open": "25:00", "close": "18:00"}]},
                 {"weekly": [{"day": 0, "open": "10:00", "close": "10:00"}]},
                 {"weekly": "always"}, {},
                 {"weekly": [{"day": 0, "open": "10:00", "close": "18:00"}] * 57},
                 {"timezone": "Mars/Olympus", "weekly": []}):
        bad = await client.put("/api/v1/operator/schedule", json=body, headers=BEARER)
        assert bad.status_code == 400, (body, bad.text)
    assert (await client.get("/api/v1/operator/schedule", headers=BEARER)).json()["weekly"] == []
    foreign = await client.put("/api/v1/operator/schedule", json={"weekly": []},
                               headers={**BEARER, "Origin": "https://evil.example"})
    assert foreign.status_code == 403
    assert foreign.json()["error"]["code"] == "ops_origin_forbidden"
