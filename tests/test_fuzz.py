"""schemathesis against /openapi.json, in-process, embedded tier (issue 18 item 7).

Every operation gets generated requests, valid and invalid, once as a stranger and once as
the operator (Bearer OPS_SHARED_SECRET). Each answer must be documented for its operation,
match its schema and content type, and never be a 5xx, except a documented 503 code (the
node refusing work on purpose is not a server error). The run is bounded and derandomised
(`FUZZ_EXAMPLES` per operation and pass), so a red run replays exactly.

Switches that change the node's posture are kept still: a worker restart is left out of the
operator pass, and the steward's controls are put back after every example that posts them.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.generation.modes import GenerationMode
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from rooms.app import create_app
from tests.conftest import make_settings

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "50"))  # ~1 min for the whole run, 2 cores
OPERATOR = {"Authorization": "Bearer ops-test-secret"}
# 503s that say "not now" on purpose; anything else 5xx is a fault.
DOCUMENTED_503 = {"intake_paused", "playback_paused", "ops_not_configured",
                  "database_unavailable", "storage_unavailable", "dependency_unavailable",
                  "workers_silent", "unavailable"}
CHECKS = [status_code_conformance, content_type_conformance, response_headers_conformance,
          response_schema_conformance]
STILL = {"intake_paused": False, "playback_paused": False, "quieter_mode": False,
         "maintenance_mode": False, "mood_bias": ""}
# No shrinking: a failure already prints its curl line, and shrinking one can take minutes.
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))


@pytest.fixture(scope="module")
def fuzz_app(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory
             ) -> Iterator[FastAPI]:
    """One embedded node for the whole run; schemathesis starts its lifespan on first use
    (in its own event loop thread), and it is stopped here."""
    root = tmp_path_factory.mktemp("fuzz")
    db = root / "rooms.db"
    shutil.copyfile(sqlite_template, db)
    app = create_app(make_settings(root, database_url=f"sqlite+aiosqlite:///{db}"))
    try:
        yield app
    finally:
        asgi.shutdown_lifespans()


@pytest.fixture(scope="module")
def api(fuzz_app: FastAPI) -> Any:
    return schemathesis.openapi.from_asgi("/openapi.json", fuzz_app)


# The operations, read from the document at collection time (create_app connects nothing).
OPERATIONS = [(method.upper(), path)
              for path, item in create_app().openapi()["paths"].items() for method in item]
# Posture switches left out of the operator pass (controls are reset instead, below).
LEFT_OUT = {("POST", "/api/v1/operator/workers/{name}/restart")}
# 500s being fixed on another branch (issue 18 item 3), excused in the operator pass for that
# exception only, so the case shows as XPASS once the fix lands and this entry can go.
ELSEWHERE: dict[tuple[str, str], tuple[type[BaseException], str]] = {
    # (an artifact id past 2^63-1 on PATCH …/metadata was one: kit/bounds.py bounds it now)
}


def _no_server_error(response: Any) -> None:
    if response.status_code < 500:
        return
    try:
        code = response.json()["error"]["code"]
    except (ValueError, KeyError, TypeError):
        code = None
    assert response.status_code == 503 and code in DOCUMENTED_503, (
        f"server error {response.status_code}: {response.text[:500]}")


def _exercise(case: Any, headers: dict[str, str] | None = None) -> Any:
    response = case.call(headers=headers)
    _no_server_error(response)
    case.validate_response(response, checks=CHECKS, excluded_checks=[not_a_server_error],
                           headers=headers)
    return response


def _reset_controls(app: FastAPI) -> None:
    with asgi.get_client(app) as client:
        reset = client.post("http://testserver/api/v1/operator/controls", json=STILL,
                            headers=OPERATOR)
        assert reset.status_code == 200, reset.text


PASSES = [(method, path, who) for who in ("stranger", "operator") for method, path in OPERATIONS
          if not (who == "operator" and (method, path) in LEFT_OUT)]


@pytest.mark.parametrize(("method", "path", "who"), PASSES,
                         ids=[f"{m} {p}-{who}" for m, p, who in PASSES])
def test_fuzz(api: Any, fuzz_app: FastAPI, method: str, path: str, who: str,
              request: pytest.FixtureRequest) -> None:
    if who == "operator" and (method, path) in ELSEWHERE:
        raises, reason = ELSEWHERE[(method, path)]
        request.applymarker(pytest.mark.xfail(raises=raises, strict=False, reason=reason))
    headers = OPERATOR if who == "operator" else None
    operation = api[path][method]
    cases = st.one_of(operation.as_strategy(generation_mode=GenerationMode.POSITIVE),
                      operation.as_strategy(generation_mode=GenerationMode.NEGATIVE))
    resets = who == "operator" and (method, path) == ("POST", "/api/v1/operator/controls")

    @FUZZ
    @given(case=cases)
    def run(case: Any) -> None:
        try:
            _exercise(case, headers)
        finally:
            if resets:
                _reset_controls(fuzz_app)

    run()
