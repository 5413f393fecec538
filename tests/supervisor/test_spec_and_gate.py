"""The worker table and the start/stop rule with hysteresis (pure, no event loop)."""

from __future__ import annotations

from pathlib import Path

import pytest

from rooms.supervisor.gate import Gate
from rooms.supervisor.spec import (
    SEED_TASKS,
    Hysteresis,
    RestartPolicy,
    SpecError,
    TaskSpec,
    load_specs,
)


def test_without_a_file_the_seed_table_applies(tmp_path: Path) -> None:
    specs = {s.name: s for s in load_specs(tmp_path / "missing.yml")}
    assert specs["discovery_probe"].max_ws_clients == 1
    assert specs["analysis_phase"].min_ws_clients == 2
    assert not specs["analysis_phase"].ignore_quiet and specs["noise_metadata"].ignore_quiet
    assert not specs["all_in_stage"].enabled
    assert [s.name for s in load_specs(tmp_path / "missing.yml")] == [s.name for s in SEED_TASKS]


def test_a_file_overrides_task_by_task(tmp_path: Path) -> None:
    path = tmp_path / "tasks.yml"
    path.write_text("tasks:\n  - name: analysis_phase\n    min_ws_clients: 5\n"
                    "    hysteresis: {clients: 2, hold_s: 3}\n"
                    "    restart: {max_restarts: 1}\n")
    specs = {s.name: s for s in load_specs(path)}
    assert specs["analysis_phase"].min_ws_clients == 5
    assert specs["analysis_phase"].hysteresis == Hysteresis(clients=2, hold_s=3)
    assert specs["analysis_phase"].restart.max_restarts == 1
    assert not specs["analysis_phase"].ignore_quiet  # untouched keys keep the seed's value
    assert specs["discovery_probe"].max_ws_clients == 1


@pytest.mark.parametrize(("text", "says"), [
    ("tasks:\n  - name: nope\n", "unknown task 'nope'"),
    ("tasks:\n  - name: topic1_worker\n    min_ws_clients: -1\n", "min_ws_clients"),
    ("tasks:\n  - name: topic1_worker\n    colour: red\n", "colour"),
    ("tasks:\n  - name: topic1_worker\n    min_ws_clients: 4\n    max_ws_clients: 2\n",
     "below min_ws_clients"),
    ("tasks: [\n", "cannot read"),
    ("- just a list\n", "`tasks` list"),
])
def test_a_bad_table_is_refused_in_one_line(tmp_path: Path, text: str, says: str) -> None:
    path = tmp_path / "tasks.yml"
    path.write_text(text)
    with pytest.raises(SpecError) as info:
        load_specs(path)
    assert says in str(info.value) and "\n" not in str(info.value).strip()


def test_backoff_grows_by_factor_up_to_the_cap() -> None:
    policy = RestartPolicy(backoff_initial_s=1, factor=2, backoff_max_s=5)
    assert [policy.delay(n) for n in range(1, 6)] == [1, 2, 4, 5, 5]


def test_limits_quiet_and_enabled() -> None:
    probe = Gate(TaskSpec(name="p", min_ws_clients=0, max_ws_clients=1))
    assert probe.decide(0, quiet=False, now=0) and probe.decide(1, quiet=False, now=0)
    assert not probe.decide(2, quiet=False, now=0)  # max_ws=1: stops when more listen
    analysis = Gate(TaskSpec(name="a", min_ws_clients=2, ignore_quiet=False))
    assert not analysis.decide(1, quiet=False, now=0)
    assert analysis.decide(2, quiet=False, now=0)
    assert not analysis.decide(9, quiet=True, now=0)  # quiet mode stops it at once
    assert not Gate(TaskSpec(name="d", enabled=False)).decide(5, quiet=False, now=0)


def test_hysteresis_holds_a_crossing_and_keeps_a_deadband() -> None:
    gate = Gate(TaskSpec(name="a", min_ws_clients=3, hysteresis=Hysteresis(clients=1, hold_s=5)))
    assert not gate.decide(3, quiet=False, now=0)  # a crossing must last 5 s
    assert gate.next_change_at() == 5
    assert not gate.decide(3, quiet=False, now=4.9)
    assert gate.decide(3, quiet=False, now=5.0)
    # Running: one below the minimum is inside the deadband, so it keeps running.
    assert gate.decide(2, quiet=False, now=6) and gate.next_change_at() is None
    assert gate.decide(1, quiet=False, now=7)  # past the deadband: the hold starts
    assert gate.decide(3, quiet=False, now=8)  # back inside before 5 s: the hold is reset
    assert gate.decide(1, quiet=False, now=9) and gate.decide(1, quiet=False, now=13.9)
    assert not gate.decide(1, quiet=False, now=14)
