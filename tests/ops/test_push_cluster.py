"""With several api processes, the node status is computed by the stream leader alone
(services tier: two apps on one Redis; see tests/supervisor/test_leader.py)."""

from __future__ import annotations

import time
from contextlib import AsyncExitStack
from pathlib import Path

import pytest

from rooms.access.operator import COOKIE
from rooms.config import Settings
from tests.live.conftest import serve
from tests.ops.conftest import login
from tests.ops.test_push import next_status, operator_socket
from tests.supervisor.test_leader import _open_app, _res

pytestmark = pytest.mark.parametrize("tier", ["services"], indirect=True)


async def test_the_node_status_is_computed_once_for_the_cluster_by_the_leader(
        settings: Settings, tmp_path: Path) -> None:
    push_s = 0.25
    async with AsyncExitStack() as stack:
        app1, _ = await _open_app(settings, tmp_path / "one", stack, ops_status_push_s=push_s)
        app2, c2 = await _open_app(settings, tmp_path / "two", stack, ops_status_push_s=push_s)
        r1 = _res(app1)
        cookie = (await login(c2)).cookies[COOKIE]
        server = await stack.enter_async_context(serve(app2))
        async with operator_socket(server, cookie) as ops:  # on the follower
            assert await ops.recv() == {"op": "subscribed", "topics": ["ops"]}
            started = time.monotonic()
            pushes = [await next_status(ops) for _ in range(6)]
            took = time.monotonic() - started
    # every push was measured by the leader, and one per interval (not one per process)
    assert {p["node"] for p in pushes} == {r1.live.node}
    assert took >= 4 * push_s, took


