"""Which warnings the node status raises, and how severe, from the parts it has measured."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from rooms.config import Settings
from rooms.ops.status import Archive
from rooms.ops.warnings import collect
from tests.conftest import make_settings

OK_DISK = {"path": "/", "state": "ok", "free_gb": 50.0, "free_percent": 50.0}
OK_JOBS = {"ok": True, "depth": 0, "stale": False, "heartbeat_age_s": 1.0,
           "recent_failures": 0}
CALM = {"intake_paused": False, "playback_paused": False, "quieter_mode": False,
        "maintenance_mode": False}


@pytest.fixture
def conf(tmp_path: Path) -> Settings:
    return make_settings(tmp_path, ops_queue_depth_warning=3, ops_queue_depth_critical=5)


def archive(fresh: int = 5, mid: int = 5, worn: int = 5, **state: bool) -> Archive:
    return Archive({}, {"fresh": fresh, "mid": mid, "worn": worn}, {}, {}, {**CALM, **state})


def warn(s: Settings, **parts: Any) -> dict[str, str]:
    given: dict[str, Any] = {"components": {"database": {"ok": True}}, "archive": archive(),
                             "archive_error": "", "disk": OK_DISK, "jobs": OK_JOBS,
                             "workers": {}}
    given.update(parts)
    return {w["code"]: w["level"] for w in collect(s, **given)}


def test_a_healthy_node_has_no_warnings(conf: Settings) -> None:
    assert warn(conf) == {}


@pytest.mark.parametrize(("depth", "expected"), [
    (2, {}), (3, {"queue_depth_warning": "warning"}), (4, {"queue_depth_warning": "warning"}),
    (5, {"queue_depth_critical": "critical"}), (50, {"queue_depth_critical": "critical"})])
def test_queue_depth(conf: Settings, depth: int, expected: dict[str, str]) -> None:
    assert warn(conf, jobs={**OK_JOBS, "depth": depth}) == expected


def test_job_runner_trouble(conf: Settings) -> None:
    assert warn(conf, jobs={**OK_JOBS, "stale": True, "heartbeat_age_s": None,
                            "recent_failures": 2}) == {"jobs_stale": "warning",
                                                       "job_failures": "warning"}
    assert warn(conf, jobs={"ok": False, "error": "ConnectionError"}) == {
        "jobs_unavailable": "warning"}


def test_a_down_dependency_comes_first_and_is_critical(conf: Settings) -> None:
    warnings = collect(conf, components={"database": {"ok": True},
                                         "storage": {"ok": False, "error": "timed out"}},
                       archive=archive(fresh=0, mid=0, worn=0), archive_error="",
                       disk={**OK_DISK, "state": "warning"}, jobs=OK_JOBS, workers={})
    assert [w["code"] for w in warnings] == ["dependency_down", "empty_pool", "disk_warning"]
    assert warnings[0]["level"] == "critical" and "storage" in warnings[0]["message"]


def test_pool_size_and_balance(conf: Settings) -> None:
    assert warn(conf, archive=archive(0, 0, 0)) == {"empty_pool": "warning"}
    assert warn(conf, archive=archive(1, 2, 2)) == {"pool_low": "warning"}  # 5 < 6
    assert warn(conf, archive=archive(2, 2, 2)) == {}
    assert warn(conf, archive=archive(0, 2, 6)) == {"lane_imbalance": "info"}  # 75% worn
    assert warn(conf, archive=archive(0, 3, 7)) == {}  # 70% is within 0.72
    assert warn(conf, archive=archive(0, 0, 5)) == {"pool_low": "warning"}  # too few to judge


def test_steward_switches_and_crashing_workers(conf: Settings) -> None:
    assert warn(conf, archive=archive(intake_paused=True, playback_paused=True,
                                      maintenance_mode=True)) == {
        "intake_paused": "info", "playback_paused": "info", "maintenance_mode": "info"}
    assert warn(conf, workers={"noise_metadata": {"state": "crashloop"},
                               "topic1_worker": {"state": "running"}}) == {
        "worker_crashloop": "warning"}
    assert warn(conf, archive=None, archive_error="TimeoutError") == {
        "archive_unavailable": "critical"}
    assert warn(conf, disk={"path": "/nope", "state": "unknown"}) == {
        "disk_unavailable": "warning"}
