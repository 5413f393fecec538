"""A bare websocket client over asyncio streams: it reads only when told to, never pongs.

The `websockets` library answers pings and drains the socket on its own; tests of slow and
dead peers need a client that does neither.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import socket
from typing import Any

OP_TEXT, OP_CLOSE, OP_PING = 0x1, 0x8, 0x9


def client_frame(payload: bytes, opcode: int = OP_TEXT) -> bytes:
    """One masked frame, as a client must send it."""
    mask = os.urandom(4)
    n = len(payload)
    if n < 126:
        head = bytes([0x80 | opcode, 0x80 | n])
    elif n < 65536:
        head = bytes([0x80 | opcode, 0x80 | 126]) + n.to_bytes(2, "big")
    else:
        head = bytes([0x80 | opcode, 0x80 | 127]) + n.to_bytes(8, "big")
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return head + mask + body


class RawClient:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def connect(cls, port: int, path: str, *, rcvbuf: int = 4096) -> RawClient:
        """Handshake on a socket with a small receive buffer (so it fills up fast)."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.setblocking(False)
        try:
            await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
        except BaseException:
            sock.close()
            raise
        reader, writer = await asyncio.open_connection(sock=sock, limit=1024)
        key = base64.b64encode(os.urandom(16)).decode()
        writer.write((f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                      f"Upgrade: websocket\r\nConnection: Upgrade\r\n"
                      f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
        client = cls(reader, writer)
        try:
            status = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        except BaseException:
            await client.aclose()
            raise
        if b" 101 " not in status.split(b"\r\n", 1)[0]:
            await client.aclose()
            raise AssertionError(f"handshake refused: {status[:80]!r}")
        return client

    async def send_json(self, value: Any) -> None:
        self.writer.write(client_frame(json.dumps(value).encode()))
        await self.writer.drain()

    async def read_frame(self, timeout: float = 10.0) -> tuple[int, bytes]:
        async with asyncio.timeout(timeout):
            b0, b1 = await self.reader.readexactly(2)
            n = b1 & 0x7F
            if n == 126:
                n = int.from_bytes(await self.reader.readexactly(2), "big")
            elif n == 127:
                n = int.from_bytes(await self.reader.readexactly(8), "big")
            return b0 & 0x0F, await self.reader.readexactly(n)

    async def read_texts(self, timeout: float = 10.0) -> list[dict[str, Any]]:
        """Every text message until the server closes (pings are skipped, not answered)."""
        out: list[dict[str, Any]] = []
        while True:
            try:
                opcode, payload = await self.read_frame(timeout)
            except (asyncio.IncompleteReadError, ConnectionError):
                return out
            if opcode == OP_CLOSE:
                return out
            if opcode == OP_TEXT:
                out.append(json.loads(payload))

    async def aclose(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError, OSError):  # ConnectionError is an OSError
            await self.writer.wait_closed()
