"""Secrets kept out of the repository: the tree is clean against the baseline, a planted
secret is caught, and the scheduled workflow (which cannot run here) scans what it says."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "secret-scan"


def test_the_tree_has_no_secret_outside_the_baseline() -> None:
    run = subprocess.run([sys.executable, str(SCRIPT)], cwd=ROOT, capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "0 finding(s) outside the baseline" in run.stdout


def test_a_planted_secret_is_found(tmp_path: Path) -> None:
    sys.path.insert(0, str(SCRIPT.parent))
    try:
        import importlib.machinery
        import importlib.util

        loader = importlib.machinery.SourceFileLoader("secret_scan", str(SCRIPT))
        spec = importlib.util.spec_from_loader("secret_scan", loader)
        assert spec is not None
        module = importlib.util.module_from_spec(spec)
        loader.exec_module(module)
    finally:
        sys.path.remove(str(SCRIPT.parent))
    leaked = tmp_path / "settings.py"
    # assembled here, so that this file itself holds no secret-looking line
    value = "wJalrXUtnFEMI/K7MDENG" + "/bPxRfiCYzEXAMPLEKEY9"
    leaked.write_text(f'aws_secret_access_key = "{value}"\n')
    found = module._scan(["settings.py"], tmp_path)
    assert found and module._report(found, module._allowed(), "planted") == 1


def test_the_workflow_scans_on_push_and_the_history_daily_at_0120_utc() -> None:
    flow = yaml.safe_load((ROOT / ".github" / "workflows" / "secret-scan.yml").read_text())
    triggers = flow[True] if True in flow else flow["on"]  # YAML 1.1 reads `on` as true
    assert "push" in triggers
    assert triggers["schedule"] == [{"cron": "20 1 * * *"}]
    tree, history = flow["jobs"]["tree"], flow["jobs"]["history"]
    runs = [[s.get("run", "") for s in job["steps"]] for job in (tree, history)]
    assert "python scripts/secret-scan" in runs[0]
    assert "python scripts/secret-scan --history" in runs[1]
    checkout = next(s for s in history["steps"] if "checkout" in s.get("uses", ""))
    assert checkout["with"]["fetch-depth"] == 0  # the whole history, not one commit
