"""Fan-out under bad peers: a non-reader never delays the others; dead peers are dropped."""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from websockets.asyncio.client import connect

from rooms.live.hub import DIRECT_BELOW, QUEUE_ABOVE
from tests.live.conftest import Client, LiveServer, live_client, serve, until
from tests.live.rawws import OP_TEXT, RawClient

PAD = "x" * 32_000  # big events fill a non-reader's socket buffers in a few hundred


def _events_to_fill_buffers() -> int:
    """Enough events to overflow the kernel's largest send buffer twice over."""
    try:
        wmem_max = int(Path("/proc/sys/net/ipv4/tcp_wmem").read_text().split()[2])
    except (OSError, IndexError, ValueError):
        wmem_max = 4 << 20
    return max(160, 2 * (wmem_max + (1 << 20)) // len(PAD))


async def _raw_subscriber(server: LiveServer, topic: str = "stage") -> RawClient:
    raw = await RawClient.connect(server.port, f"/ws/live?token={server.hub.tokens.mint('live')}")
    await raw.send_json({"op": "subscribe", "topics": [topic]})
    assert await raw.read_frame() == (OP_TEXT, b'{"op":"subscribed","topics":["stage"]}')
    return raw


@pytest.mark.live_settings(live_queue_size=8, live_send_timeout_s=120.0)
async def test_a_client_that_never_reads_does_not_delay_fifty_others(
        live_server: LiveServer) -> None:
    hub = live_server.hub
    slow = await _raw_subscriber(live_server)
    try:
        async with contextlib.AsyncExitStack() as stack:
            readers = [await stack.enter_async_context(live_client(live_server,
                                                                   topics=("stage",)))
                       for _ in range(50)]
            await until(lambda: hub.total == 51)
            events = _events_to_fill_buffers()
            for seq in range(events):
                await hub.publish("stage", {"seq": seq, "pad": PAD})
                for reader in readers:  # each event reaches all 50 well inside the deadline
                    assert (await reader.recv(timeout=5.0))["seq"] == seq
            assert hub.total == 51  # the non-reader is still connected, but far behind
        # When it finally reads: what fitted in the buffers, one notice, the newest events.
        seen: list[dict[str, object]] = []
        while not seen or seen[-1].get("seq") != events - 1:
            opcode, payload = await slow.read_frame(timeout=10.0)
            if opcode == OP_TEXT:
                seen.append(json.loads(payload))
    finally:
        await slow.aclose()
    notices = [m for m in seen if m.get("op") == "lagged"]
    assert len(notices) == 1 and isinstance(notices[0]["dropped"], int)
    assert notices[0]["dropped"] > 0
    after = seen[seen.index(notices[0]) + 1:]
    assert [m["seq"] for m in after] == list(range(events - len(after), events))
    assert len(after) <= 8  # at most one queue's worth survived the overflow


@pytest.mark.live_settings(live_queue_size=100_000, live_send_timeout_s=120.0)
async def test_a_client_whose_socket_fills_midway_still_gets_every_event_in_order(
        live_server: LiveServer) -> None:
    # Early events are written straight from publish; once the socket is full, one send is
    # left waiting and the rest queue behind it. Nothing may be lost, doubled or reordered.
    hub = live_server.hub
    slow = await _raw_subscriber(live_server)
    try:
        events = _events_to_fill_buffers()
        for seq in range(events):
            await hub.publish("stage", {"seq": seq, "pad": PAD})
        seqs: list[object] = []
        while len(seqs) < events:
            opcode, payload = await slow.read_frame(timeout=10.0)
            if opcode == OP_TEXT:
                seqs.append(json.loads(payload).get("seq"))
    finally:
        await slow.aclose()
    assert seqs == list(range(events))


@pytest.mark.live_settings(live_queue_size=8, live_send_timeout_s=0.5)
async def test_a_client_that_stops_reading_is_closed_after_the_send_timeout(
        live_server: LiveServer) -> None:
    hub = live_server.hub
    slow = await _raw_subscriber(live_server)
    try:
        async with live_client(live_server, topics=("stage",)) as reader:
            await until(lambda: hub.total == 2)
            seq = 0
            deadline = asyncio.get_running_loop().time() + 20.0
            while hub.total == 2:
                assert asyncio.get_running_loop().time() < deadline, "non-reader never closed"
                await hub.publish("stage", {"seq": seq, "pad": PAD})
                assert (await reader.recv())["seq"] == seq
                seq += 1
            await hub.publish("stage", {"seq": "after"})
            assert (await reader.recv())["seq"] == "after"
            assert hub.total == 1 and hub.counts()["stage"] == 1
    finally:
        await slow.aclose()


async def test_a_peer_that_stops_answering_pings_is_dropped(app: FastAPI) -> None:
    # Short enough to see quickly, long enough that a loaded machine never drops the live one.
    async with serve(app, ws_ping_interval=0.5, ws_ping_timeout=1.5) as server:
        hub = server.hub
        dead = await _raw_subscriber(server)  # reads nothing more, so never pongs
        try:
            async with live_client(server, topics=("stage",)) as alive:  # pongs by itself
                await until(lambda: hub.total == 1, timeout=15.0, what="the dead peer to go")
                assert hub.counts()["stage"] == 1
                await hub.publish("stage", {"n": 1})
                assert await alive.recv() == {"topic": "stage", "n": 1}
        finally:
            await dead.aclose()


def _server_side_open(server_port: int, client_port: int) -> bool:
    """Whether the server still holds a TCP socket to that client (Linux /proc/net/tcp)."""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                local, remote = line.split()[1:3]
                if (int(local.rsplit(":", 1)[1], 16) == server_port
                        and int(remote.rsplit(":", 1)[1], 16) == client_port):
                    return True
    return False


@pytest.mark.live_settings(live_queue_size=8, live_send_timeout_s=0.5)
async def test_a_client_that_stops_reading_is_really_gone_after_the_grace(
        live_server: LiveServer) -> None:
    hub = live_server.hub
    slow = await _raw_subscriber(live_server)
    mine = slow.writer.get_extra_info("sockname")[1]
    try:
        assert _server_side_open(live_server.port, mine)
        seq = 0
        deadline = asyncio.get_running_loop().time() + 20.0
        while hub.total == 1:
            assert asyncio.get_running_loop().time() < deadline, "non-reader never closed"
            await hub.publish("stage", {"seq": seq, "pad": PAD})
            seq += 1
            await asyncio.sleep(0)
        # the close frame gets its grace, then the transport is aborted, queued bytes and all
        await until(lambda: not _server_side_open(live_server.port, mine), timeout=10.0,
                    what="the server to drop the socket of a peer that reads nothing")
    finally:
        await slow.aclose()


def _socket_tasks() -> tuple[int, int]:
    """(websocket tasks uvicorn runs, tasks of LiveConnection: senders) in this loop."""
    names = [task.get_coro().__qualname__ for task in asyncio.all_tasks()]  # type: ignore[union-attr]
    return (sum(name.endswith(".run_asgi") for name in names),
            sum(name.startswith("LiveConnection.") for name in names))


async def test_an_idle_websocket_holds_one_task_and_a_busy_one_a_sender_only_while_busy(
        live_server: LiveServer) -> None:
    # Memory per idle websocket is mostly what its tasks hold (README "Live fan-out"): one,
    # the server's, reading; events are written from publish, a sender exists only meanwhile.
    hub = live_server.hub
    clients = [await _raw_subscriber(live_server) for _ in range(10)]
    try:
        await until(lambda: hub.total == 10)
        await until(lambda: _socket_tasks() == (10, 0), what="one task per idle websocket")
        await hub.publish("stage", {"seq": 1})
        for raw in clients:
            opcode, payload = await raw.read_frame(timeout=10.0)
            assert opcode == OP_TEXT and json.loads(payload)["seq"] == 1
        await clients[0].send_json({"op": "ping"})  # a reply is written by a sender task
        assert await clients[0].read_frame(timeout=10.0) == (OP_TEXT, b'{"op":"pong"}')
        await until(lambda: _socket_tasks() == (10, 0), what="the sender to end when done")
        # Past saturation events queue and each socket's sender waits for the next one (the
        # thresholds moved so that any write counts as saturation, and none as room to spare)
        hub.queue_above, hub.direct_below = 0.0, 0.0
        await hub.publish("stage", {"seq": 2})  # still written directly: it counts
        await until(lambda: not hub.writing_directly, what="events to go to the queues")
        for seq in (2, 3):
            if seq == 3:
                await hub.publish("stage", {"seq": 3})
            for raw in clients:
                opcode, payload = await raw.read_frame(timeout=10.0)
                assert opcode == OP_TEXT and json.loads(payload)["seq"] == seq
        assert _socket_tasks()[1] > 0
        # ...and once the hub writes directly again, the next event ends them.
        hub.queue_above, hub.direct_below = QUEUE_ABOVE, DIRECT_BELOW
        await until(lambda: hub.writing_directly, what="direct writes to resume")
        await hub.publish("stage", {"seq": 4})
        for raw in clients:
            opcode, payload = await raw.read_frame(timeout=10.0)
            assert opcode == OP_TEXT and json.loads(payload)["seq"] == 4
        await until(lambda: _socket_tasks() == (10, 0), what="the senders to end")
    finally:
        for raw in clients:
            await raw.aclose()


def _frames_written(server: LiveServer) -> int:
    """Events that went to sockets as ready-made frames (`Subscriber.written`)."""
    return sum(sub.written for sub in server.hub._subscribers)


async def _events_of_every_frame_length(server: LiveServer, client: Any) -> None:
    # 7-bit, 16-bit and 64-bit payload lengths (RFC 6455 §5.2), non-ASCII text, and a reply
    # among the events: a strict client decodes each, events in order.
    sizes = [0, 90, 100, 125, 126, 200, 65_535, 65_536, 70_000]
    for seq, size in enumerate(sizes):
        await server.hub.publish("stage", {"seq": seq, "pad": "ä" * (size // 2)})
        if seq == 4:
            await client.send({"op": "ping"})
    seen = [await client.recv() for _ in range(len(sizes) + 1)]
    assert seen.count({"op": "pong"}) == 1 and seen.index({"op": "pong"}) >= 5
    events = [m for m in seen if m != {"op": "pong"}]
    assert [e["seq"] for e in events] == list(range(len(sizes)))
    assert [len(e["pad"]) for e in events] == [size // 2 for size in sizes]
    assert all(set(e["pad"]) <= {"ä"} for e in events)


async def test_events_are_framed_once_and_reach_a_strict_client_intact(
        live_server: LiveServer) -> None:
    async with live_client(live_server, topics=("stage",)) as client:
        await _events_of_every_frame_length(live_server, client)
        assert _frames_written(live_server) >= 8  # written as built, not framed again


async def test_with_permessage_deflate_events_go_through_the_servers_own_framing(
        app: FastAPI) -> None:
    # A compressed connection's frames differ per client: the ready-made frame must not be used.
    async with serve(app, ws_per_message_deflate=True) as server:
        ws = await connect(server.ws_url(token=server.hub.tokens.mint("live")),
                           compression="deflate", open_timeout=10)
        try:
            assert ws.protocol.extensions, "the server did not negotiate permessage-deflate"
            client = Client(ws)
            assert await client.request({"op": "subscribe", "topics": ["stage"]}) == {
                "op": "subscribed", "topics": ["stage"]}
            await _events_of_every_frame_length(server, client)
            assert server.hub.total == 1 and _frames_written(server) == 0
        finally:
            await ws.close()
