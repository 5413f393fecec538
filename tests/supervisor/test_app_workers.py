"""The real worker table and workers: /health of the app, the discovery probe's pulses."""

from __future__ import annotations

from pathlib import Path

import httpx

from rooms.live.hub import Hub
from rooms.supervisor import Supervisor
from rooms.supervisor.spec import SEED_TASKS
from rooms.supervisor.workers import WORKERS
from tests.conftest import make_settings
from tests.live.conftest import until


async def test_health_lists_every_worker_of_the_table(client: httpx.AsyncClient) -> None:
    response = await client.get("/health")
    assert response.status_code == 200
    workers = response.json()["workers"]
    assert set(workers) == {"discovery_probe", "topic1_worker", "analysis_phase",
                            "noise_metadata", "all_in_stage"}
    assert workers["discovery_probe"]["state"] in ("running", "stopped")
    assert workers["topic1_worker"]["state"] == "running"  # min_ws_clients 0: always
    assert workers["all_in_stage"] == {"state": "disabled", "restarts": 0,
                                        "last_heartbeat_s_ago": None,
                                        "last_error": None,
                                        "reason": "disabled"}
    assert workers["analysis_phase"]["reason"] == "too_few_listeners"
    assert workers["analysis_phase"]["listeners"] == {"count": 0, "min_ws_clients": 2,
                                                     "max_ws_clients": None}


async def test_the_probe_pulses_on_its_topic_while_at_most_one_listens(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, probe_min_interval=0.01, probe_max_interval=0.02,
                             probe_jitter=0)
    async with Hub(settings=settings, redis=None) as hub, \
            Supervisor(settings=settings, hub=hub, specs=SEED_TASKS, workers=WORKERS) as sup, \
            hub.subscribe("discovery_probe") as sub:
        events = sub.events()
        first, second = (await anext(events)).data(), (await anext(events)).data()
        assert first["topic"] == "discovery_probe" and first["event"] == "probe"
        assert len(first["session"]) == 12 and second["session"] == first["session"]
        assert (first["seq"], second["seq"]) == (0, 1)
        async with hub.connection(), hub.connection():  # two listeners: max_ws_clients is 1
            await until(lambda: sup.workers()["discovery_probe"]["state"] == "stopped")
