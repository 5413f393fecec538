"""The /ws/live protocol as a client sees it, over a real uvicorn server (both tiers)."""

from __future__ import annotations

import json
import time

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from websockets.frames import Frame, Opcode

from rooms.live.protocol import text_frame
from tests.live.conftest import LiveServer, live_client, until
from tests.respell import respellings


async def test_token_endpoint_mints_a_no_store_single_purpose_token(
        client: httpx.AsyncClient) -> None:
    response = await client.post("/api/v1/live/token")
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert set(body) == {"token", "expires_in_s", "ws_url"}
    assert body["expires_in_s"] == 60
    assert body["ws_url"] == f"ws://testserver/ws/live?token={body['token']}"


async def test_an_ops_token_needs_the_operator_secret(client: httpx.AsyncClient) -> None:
    refused = await client.post("/api/v1/live/token", json={"purpose": "ops"})
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "ops_auth_required"
    wrong = await client.post("/api/v1/live/token", json={"purpose": "ops"},
                              headers={"Authorization": "Bearer not-it"})
    assert wrong.status_code == 401
    ok = await client.post("/api/v1/live/token", json={"purpose": "ops"},
                           headers={"Authorization": "Bearer ops-test-secret"})
    assert ok.status_code == 200
    assert "/ws/ops?token=" in ok.json()["ws_url"]
    bad = await client.post("/api/v1/live/token", json={"purpose": "admin"})
    assert bad.status_code == 400
    assert bad.json()["error"]["code"] == "invalid_request"


async def test_subscribe_receive_unsubscribe(live_server: LiveServer) -> None:
    hub = live_server.hub
    async with live_client(live_server, topics=("stage", "beacons")) as c:
        await hub.publish("stage", {"event": "scene", "n": 1})
        assert await c.recv() == {"topic": "stage", "event": "scene", "n": 1}
        assert await c.request({"op": "unsubscribe", "topics": ["stage"]}) == {
            "op": "unsubscribed", "topics": ["stage"]}
        await hub.publish("stage", {"n": 2})  # no longer wanted
        await hub.publish("beacons", {"n": 3})
        assert await c.recv() == {"topic": "beacons", "n": 3}


async def test_ping_pong_and_request_errors(live_server: LiveServer) -> None:
    async with live_client(live_server) as c:
        assert await c.request({"op": "ping"}) == {"op": "pong"}
        bad_json = await c.request("{not json")
        assert bad_json["op"] == "error" and bad_json["error"]["code"] == "bad_json"
        unknown_op = await c.request({"op": "dance"})
        assert unknown_op["error"]["code"] == "unknown_op"
        assert "dance" in unknown_op["error"]["message"]
        unknown_topic = await c.request({"op": "subscribe", "topics": ["stage", "secrets"]})
        assert unknown_topic["error"]["code"] == "unknown_topic"
        assert "secrets" in unknown_topic["error"]["message"]
        ops_topic = await c.request({"op": "subscribe", "topics": ["ops"]})
        assert ops_topic["error"]["code"] == "unknown_topic"  # operators only
        not_object = await c.request([1, 2])
        assert not_object["error"]["code"] == "bad_message"
        no_topics = await c.request({"op": "subscribe", "topics": []})
        assert no_topics["error"]["code"] == "bad_message"
        # the refused subscribe joined nothing; the connection still works
        assert live_server.hub.counts()["stage"] == 0
        assert await c.request({"op": "ping"}) == {"op": "pong"}


@pytest.mark.parametrize("text", ["[" * 30_000, "[" * 9 + "]" * 9,
                                  '{"op":"ping","x":' + "{\"a\":" * 10_000 + "1" + "}" * 10_001])
async def test_deep_nesting_is_bad_json_and_the_connection_stays(live_server: LiveServer,
                                                                 text: str) -> None:
    async with live_client(live_server) as c:
        reply = await c.request(text)
        assert reply["op"] == "error" and reply["error"]["code"] == "bad_json"
        assert await c.request({"op": "ping"}) == {"op": "pong"}


def test_nesting_depth_counts_brackets_outside_strings_only() -> None:
    from rooms.live.protocol import MAX_JSON_DEPTH, nests_deeper, parse_request

    assert not nests_deeper('{"op":"ping","pad":"' + "[" * 100 + '"}', MAX_JSON_DEPTH)
    assert not nests_deeper('{"pad":"\\"' + "[" * 100 + '"}', MAX_JSON_DEPTH)  # \" in a string
    assert nests_deeper('{"pad":"\\\\",' + '"b":' + "[" * 9 + "]" * 9 + "}", MAX_JSON_DEPTH)
    assert not nests_deeper("[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH, MAX_JSON_DEPTH)
    assert parse_request('{"op":"ping","pad":"[[[[[[[[[[[[[["}', frozenset()).op == "ping"


async def test_an_oversized_message_is_refused_with_1009(live_server: LiveServer) -> None:
    limit = live_server.hub.settings.live_max_message_bytes
    async with live_client(live_server) as c:
        await c.send('{"op":"ping","pad":"' + "x" * limit + '"}')
        code, reason, seen = await c.closed()
    assert code == 1009
    assert seen[0]["error"]["code"] == "message_too_big"
    assert reason == "message too big"


@pytest.mark.live_settings(live_messages_per_s=2.0)
async def test_rate_limit_warns_then_closes_with_1008(live_server: LiveServer) -> None:
    async with live_client(live_server) as c:
        for _ in range(12):
            await c.send({"op": "ping"})
        code, reason, seen = await c.closed()
    assert code == 1008 and reason == "rate limit exceeded"
    errors = [m for m in seen if m.get("op") == "error"]
    assert [e["error"]["code"] for e in errors] == ["rate_limited"]  # told once
    assert {"op": "pong"} in seen


async def _refusal(server: LiveServer, **kwargs: object) -> tuple[int | None, str]:
    async with live_client(server, **kwargs) as c:  # type: ignore[arg-type]
        code, reason, seen = await c.closed()
    assert seen == []
    return code, reason


async def test_missing_tampered_wrong_purpose_tokens_are_refused(
        live_server: LiveServer) -> None:
    tokens = live_server.hub.tokens
    good = tokens.mint("live")
    body, mac = good.split(".")
    tampered = ("A" if body[0] != "A" else "B") + body[1:] + "." + mac
    for token in ("", "garbage", tampered, tokens.mint("ops")):
        assert await _refusal(live_server, token=token or None,
                              mint=False) == (4401, "invalid token")


async def test_expired_token_is_refused(live_server: LiveServer) -> None:
    tokens = live_server.hub.tokens
    token = tokens.mint("live")
    tokens.clock = lambda: time.time() + tokens.ttl_s + 1
    assert await _refusal(live_server, token=token) == (4401, "token expired")


async def test_a_token_opens_one_connection_only(live_server: LiveServer) -> None:
    token = live_server.hub.tokens.mint("live")
    async with live_client(live_server, token=token) as first:
        assert await first.request({"op": "ping"}) == {"op": "pong"}
    assert await _refusal(live_server, token=token) == (4401, "token already used")


async def test_a_used_token_respelled_opens_nothing(live_server: LiveServer) -> None:
    for purpose, path in (("live", "/ws/live"), ("ops", "/ws/ops")):
        token = live_server.hub.tokens.mint(purpose)  # type: ignore[arg-type]
        async with live_client(live_server, token=token, path=path) as first:
            assert await first.request({"op": "ping"}) in ({"op": "pong"},
                                                            {"op": "subscribed", "topics": ["ops"]})
        for other in respellings(token):
            assert await _refusal(live_server, token=other, path=path) == (
                4401, "invalid token"), other


async def test_a_foreign_browser_origin_is_refused(live_server: LiveServer) -> None:
    assert await _refusal(live_server, origin="https://evil.example") == (
        4403, "origin not allowed")
    same = f"http://127.0.0.1:{live_server.port}"
    async with live_client(live_server, origin=same) as c:
        assert await c.request({"op": "ping"}) == {"op": "pong"}
    async with live_client(live_server, origin="http://localhost:5173") as c:
        assert await c.request({"op": "ping"}) == {"op": "pong"}


async def test_counts_follow_connections_and_metrics_show_them(
        live_server: LiveServer) -> None:
    hub = live_server.hub
    async with live_client(live_server, topics=("stage",)), \
            live_client(live_server, topics=("stage", "surface")):
        await until(lambda: hub.total == 2)
        counts = hub.counts()
        assert counts["stage"] == 2 and counts["surface"] == 1 and counts["beacons"] == 0
        async with httpx.AsyncClient(base_url=live_server.http) as http:
            text = (await http.get("/metrics")).text
        assert "rooms_live_connections 2.0" in text
        assert 'rooms_live_subscribers{topic="stage"} 2.0' in text
    await until(lambda: hub.total == 0 and hub.counts()["stage"] == 0, what="counts to drop")


async def test_ops_socket_takes_the_bearer_secret_or_an_ops_token(
        live_server: LiveServer) -> None:
    hub = live_server.hub
    bearer = {"Authorization": "Bearer ops-test-secret"}
    async with live_client(live_server, path="/ws/ops", headers=bearer, mint=False) as ops:
        assert await ops.recv() == {"op": "subscribed", "topics": ["ops"]}
        await hub.publish("ops", {"event": "steward_action", "actor": "ops"})
        assert await ops.recv() == {"topic": "ops", "event": "steward_action", "actor": "ops"}
        assert hub.total == 0  # an operator dashboard is not a listener
    async with live_client(live_server, path="/ws/ops") as ops:  # minted ops token
        assert await ops.recv() == {"op": "subscribed", "topics": ["ops"]}
    assert await _refusal(live_server, path="/ws/ops",
                          token=hub.tokens.mint("live")) == (4401, "invalid token")
    assert await _refusal(live_server, path="/ws/ops", mint=False,
                          headers={"Authorization": "Bearer nope"}) == (4401, "invalid token")


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(alphabet='[]{}"\\ab', max_size=6),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
        st.text(alphabet='[]{}"\\ab', max_size=4), inner, max_size=3),
    max_leaves=30)


def _depth(value: object) -> int:
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    return 0


@given(value=JSON_VALUES, limit=st.integers(0, 10))
def test_nesting_depth_matches_the_parsed_value(value: object, limit: int) -> None:
    from rooms.live.protocol import nests_deeper

    text = json.dumps(value)
    assert nests_deeper(text, limit) == (_depth(value) > limit)


@given(text=st.text(alphabet='[]{}"\\:,op ingsubcrt0123', max_size=200) | st.text(max_size=50))
def test_any_message_parses_or_is_a_protocol_error(text: str) -> None:
    from rooms.live.protocol import TOPICS, ProtocolError, parse_request

    try:
        parse_request(text, TOPICS)
    except ProtocolError as exc:
        assert exc.code in {"bad_json", "bad_message", "unknown_op", "unknown_topic"}


@pytest.mark.parametrize("size", [0, 1, 125, 126, 127, 65_535, 65_536, 200_000])
def test_an_events_frame_is_the_frame_websockets_itself_would_send(size: int) -> None:
    text = ("é" * size)[:size]  # two bytes each: lengths either side of each boundary
    frame = Frame(Opcode.TEXT, text.encode())
    assert text_frame(text) == frame.serialize(mask=False)
