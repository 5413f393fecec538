"""The /ws/live wire protocol: topics, client requests, server replies and close codes.

Client -> server: `{"op": "subscribe" | "unsubscribe", "topics": [...]}`, `{"op": "ping"}` and
`{"op": "device", "kind", "name", "status"}` (a kiosk or room page reporting itself,
rooms.live.devices; answered `{"op": "device_seen"}`).
Server -> client: `{"op": "subscribed" | "unsubscribed", "topics": [...]}`, `{"op": "pong"}`,
`{"op": "lagged", "dropped": N}`, `{"op": "error", "error": {"code", "message"}}` and events
`{"topic": NAME, ...payload}`. See docs/live.md for the decisions behind each limit.
"""

from __future__ import annotations

import json
import re
import struct
from dataclasses import dataclass
from typing import Any, Literal, cast

from rooms.live.devices import DeviceError, DeviceReport, parse_report

# Public topics a /ws/live client may subscribe to (CONTRACT §6).
TOPICS: frozenset[str] = frozenset(
    {"noise_metadata", "discovery_probe", "topic1", "stage", "beacons", "commons", "surface"}
)
# Internal topic for operator dashboards: only /ws/ops connections may join it.
OPS_TOPIC = "ops"
OPS_TOPICS: frozenset[str] = TOPICS | {OPS_TOPIC}
ALL_TOPICS: tuple[str, ...] = tuple(sorted(OPS_TOPICS))

# Close codes. 1xxx are RFC 6455; 4xxx are ours, modelled on the HTTP status they mirror.
CLOSE_NORMAL = 1000
CLOSE_GOING_AWAY = 1001  # the server is shutting down
CLOSE_POLICY = 1008  # rate limit exceeded and kept exceeding
CLOSE_TOO_BIG = 1009  # a client message over LIVE_MAX_MESSAGE_BYTES
CLOSE_INTERNAL = 1011
CLOSE_TRY_AGAIN = 1013  # an ops token while Redis, which remembers used tokens, is away
CLOSE_UNAUTHORIZED = 4401  # missing, malformed, tampered, expired or reused token
CLOSE_FORBIDDEN = 4403  # Origin not an allowed host, or outside OPS_ALLOWED_NETWORKS
CLOSE_LOCKED = 4429  # /ws/ops with a bearer secret from a client or IP locked out of sign-in
CLOSE_SLOW = 4408  # the client did not take a message for LIVE_SEND_TIMEOUT_S

Op = Literal["subscribe", "unsubscribe", "ping", "device"]
OPS: frozenset[str] = frozenset({"subscribe", "unsubscribe", "ping", "device"})
MAX_TOPICS_PER_REQUEST = 32
# A request is an object holding a list of strings (depth 2); json.loads recurses once per
# level, and a 64 KB message of `[` would pass the interpreter's recursion limit.
MAX_JSON_DEPTH = 8
_JSON_TOKENS = re.compile(r'[\[\]{}"\\]')


class ProtocolError(Exception):
    """A client message the server answers with `{"op": "error"}` (and keeps the connection)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class ClientRequest:
    op: Op
    topics: tuple[str, ...] = ()
    device: DeviceReport | None = None


def dumps(value: Any) -> str:
    """Compact JSON, the one serializer for everything the server sends."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def nests_deeper(text: str, limit: int) -> bool:
    """True when the arrays and objects in JSON `text` nest more than `limit` deep.

    One scan, without parsing: brackets inside strings do not count. Linear in len(text).
    """
    if text.count("[") + text.count("{") <= limit:
        return False
    depth, in_string, skip_before = 0, False, -1
    for match in _JSON_TOKENS.finditer(text):
        at = match.start()
        if at < skip_before:  # the character after a backslash, inside a string
            continue
        char = text[at]
        if in_string:
            if char == "\\":
                skip_before = at + 2
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > limit:
                return True
        elif char in "]}":
            depth -= 1
    return False


def parse_request(text: str, allowed_topics: frozenset[str]) -> ClientRequest:
    """Parse one client message; raise ProtocolError naming what is wrong with it."""
    if nests_deeper(text, MAX_JSON_DEPTH):
        raise ProtocolError("bad_json", f"message nests deeper than {MAX_JSON_DEPTH} levels")
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        raise ProtocolError("bad_json", "message is not valid JSON") from None
    if not isinstance(data, dict):
        raise ProtocolError("bad_message", "message must be a JSON object with an \"op\"")
    op = data.get("op")
    if not isinstance(op, str) or op not in OPS:
        shown = op if isinstance(op, str) and len(op) <= 40 else type(op).__name__
        raise ProtocolError("unknown_op", f"unknown op {shown!r}; expected one of "
                                          f"{', '.join(sorted(OPS))}")
    if op == "ping":
        return ClientRequest("ping")
    if op == "device":
        try:
            return ClientRequest("device", device=parse_report(data))
        except DeviceError as exc:
            raise ProtocolError("bad_device", str(exc)) from None
    topics = data.get("topics")
    if (not isinstance(topics, list) or not topics or len(topics) > MAX_TOPICS_PER_REQUEST
            or not all(isinstance(t, str) for t in topics)):
        raise ProtocolError("bad_message", f"{op} needs \"topics\": a non-empty list of up to "
                                           f"{MAX_TOPICS_PER_REQUEST} topic names")
    unknown = [t for t in topics if t not in allowed_topics]
    if unknown:
        shown = ", ".join(repr(t[:40]) for t in unknown[:3])
        raise ProtocolError("unknown_topic", f"unknown topic {shown}; topics are "
                                             f"{', '.join(sorted(allowed_topics))}")
    return ClientRequest(cast(Op, op), tuple(dict.fromkeys(topics)))


def error_text(code: str, message: str) -> str:
    return dumps({"op": "error", "error": {"code": code, "message": message}})


def topics_text(op: Literal["subscribed", "unsubscribed"], topics: tuple[str, ...]) -> str:
    return dumps({"op": op, "topics": list(topics)})


def lagged_text(dropped: int) -> str:
    return f'{{"op":"lagged","dropped":{dropped:d}}}'


def event_text(topic: str, event: dict[str, Any]) -> str:
    """`{"topic": NAME, ...payload}` with the topic first; a payload "topic" key cannot win."""
    payload: dict[str, Any] = {"topic": topic}
    payload.update(event)
    payload["topic"] = topic
    return dumps(payload)


def text_frame(text: str) -> bytes:
    """`text` as one unfragmented, unmasked websocket text frame, as a server sends it
    (RFC 6455 §5.2: FIN + opcode 0x1, then a 7-bit, 16-bit or 64-bit payload length).

    A server's frames carry no mask, so with no extension negotiated the bytes are the same
    for every client: an event is framed once and written as is to each (`Event.frame`).
    """
    payload = text.encode()
    size = len(payload)
    if size < 126:
        head = bytes((0x81, size))
    elif size < 1 << 16:
        head = struct.pack("!BBH", 0x81, 126, size)
    else:
        head = struct.pack("!BBQ", 0x81, 127, size)
    return head + payload


PONG_TEXT = dumps({"op": "pong"})
DEVICE_SEEN_TEXT = dumps({"op": "device_seen"})
