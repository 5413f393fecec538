"""Property tests of the /ws/live message parser (issue 18 item 7): whatever a client sends,
the answer is a valid request or an `{"op": "error"}` reply, never an exception."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from rooms.live.protocol import (
    ALL_TOPICS,
    MAX_TOPICS_PER_REQUEST,
    OPS,
    TOPICS,
    ClientRequest,
    ProtocolError,
    error_text,
    parse_request,
)

CODES = {"bad_json", "bad_message", "unknown_op", "unknown_topic", "bad_device"}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12)
ops = st.sampled_from([*sorted(OPS), "subscribed", "", "PING"]) | json_values
topics = st.lists(st.sampled_from(ALL_TOPICS) | st.text(max_size=50) | json_values,
                  max_size=MAX_TOPICS_PER_REQUEST + 2) | json_values
requests = st.fixed_dictionaries({}, optional={"op": ops, "topics": topics,
                                               "extra": json_values})
messages = (requests.map(json.dumps) | json_values.map(json.dumps) | st.text()
            | requests.map(lambda r: json.dumps(r)[:-1]))  # cut short


def handle(raw: bytes) -> ClientRequest | dict[str, Any]:
    """What LiveConnection does with one frame: a request, or the error reply it sends."""
    try:
        return parse_request(raw.decode(), TOPICS)
    except UnicodeDecodeError:
        return json.loads(error_text("bad_json", "message is not UTF-8 JSON"))
    except ProtocolError as exc:
        reply = json.loads(error_text(exc.code, exc.message))
        assert reply["error"]["code"] in CODES
        assert reply["error"]["message"].isprintable(), reply
        return dict(reply)


def _valid(result: ClientRequest | dict[str, Any]) -> None:
    if isinstance(result, ClientRequest):
        assert result.op in OPS
        if result.op == "ping":
            assert result.topics == ()
        else:
            assert 0 < len(result.topics) <= MAX_TOPICS_PER_REQUEST
            assert set(result.topics) <= TOPICS
    else:
        assert result["op"] == "error" and set(result["error"]) == {"code", "message"}


@settings(max_examples=400)
@given(messages)
def test_any_text_is_a_request_or_an_error_reply(text: str) -> None:
    _valid(handle(text.encode("utf-8", "surrogatepass")))


@settings(max_examples=200)
@given(st.binary(max_size=256))
def test_any_bytes_are_a_request_or_an_error_reply(raw: bytes) -> None:
    _valid(handle(raw))


@settings(max_examples=200)
@given(st.lists(st.sampled_from(sorted(TOPICS)), min_size=1, max_size=MAX_TOPICS_PER_REQUEST),
       st.sampled_from(["subscribe", "unsubscribe"]))
def test_well_formed_requests_are_understood(names: list[str], op: str) -> None:
    result = handle(json.dumps({"op": op, "topics": names}).encode())
    assert isinstance(result, ClientRequest)
    assert result.op == op and result.topics == tuple(dict.fromkeys(names))
