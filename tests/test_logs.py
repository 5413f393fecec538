"""What a real `rooms serve` writes to its console: no token in any line, and the generated
operator secret's path (never the secret itself when the console is not a terminal), once,
after a start that succeeded."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from websockets.sync.client import connect

from tests.audio import wav16
from tests.process import stop_process

pytestmark = pytest.mark.timeout(120)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _serve(var: Path, log: Path, **env: str) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    environ = {k: v for k, v in os.environ.items()
               if not k.startswith(("DATABASE_", "REDIS_", "SECRET_", "OPS_", "BLOB_"))}
    environ.update({"VAR_DIR": str(var), "LOG_LEVEL": "info", **env})
    with log.open("ab") as out:
        proc = subprocess.Popen([sys.executable, "-m", "rooms.cli", "serve", "--port", str(port)],
                                cwd=var.parent, env=environ, stdout=out,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                return proc, base
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    proc.kill()
    raise AssertionError(f"rooms serve did not come up:\n{log.read_text()[-2000:]}")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    stop_process(proc)


def test_no_token_in_any_log_line_and_the_secret_is_not_printed(tmp_path: Path) -> None:
    var, log = tmp_path / "var", tmp_path / "console.log"
    proc, base = _serve(var, log)
    seen: list[str] = []
    try:
        live = httpx.post(base + "/api/v1/live/token").json()["token"]
        seen.append(live)
        with connect(base.replace("http", "ws") + f"/ws/live?token={live}") as ws:
            ws.send('{"op": "ping"}')
            assert '"pong"' in str(ws.recv(timeout=10))
        take = httpx.post(base + "/api/v1/ephemeral/audio",
                          files={"file": ("t.wav", wav16(0.5), "audio/wav")}).json()
        play = take["play_url"]
        seen.append(play.rsplit("/", 1)[-1])
        assert httpx.get(base + play).status_code == 200
        # a refused request: another client, outside the first one's listening window
        assert httpx.get(base + play, headers={"X-Rooms-Client-Id": "someone-else"}
                         ).status_code == 410
        assert httpx.get(base + "/api/v1/media/raw/" + seen[-1] + "x").status_code == 403
    finally:
        _stop(proc)
    text = log.read_text()
    secret = (var / "ops_shared_secret").read_text().strip()
    assert "WebSocket /ws/live?token=[redacted]" in text  # the handshake line is still there
    for token in seen:
        assert token not in text
    assert secret not in text
    assert f"generated into {var / 'ops_shared_secret'}" in text
    assert text.count("generated into") == 1

    proc, _ = _serve(var, log)  # a second start says nothing more
    _stop(proc)
    assert log.read_text().count("generated into") == 1


def test_a_start_that_fails_prints_no_secret_notice(tmp_path: Path) -> None:
    var, log = tmp_path / "var", tmp_path / "console.log"
    # storage that cannot be opened: start-up fails after the secrets exist
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the blob folder should be")
    with pytest.raises(AssertionError):
        _serve(var, log, BLOB_STORE_URL=f"file://{blocker}/blobs")
    assert (var / "ops_shared_secret").exists()
    assert "generated into" not in log.read_text()
    proc, _ = _serve(var, log)
    _stop(proc)
    assert log.read_text().count("generated into") == 1
