"""Two tiers, same tests: `embedded` (SQLite, file blobs, in-process jobs) always, and
`services` (PostgreSQL, Redis with arq, a real S3 server) whenever they can be started.

With CI=true a tier that cannot run is a failure, not a skip.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from hypothesis import settings as hypothesis_settings
from redis.asyncio import Redis

from rooms.app import create_app
from rooms.config import Settings, load_settings
from rooms.db import migrate

CI = os.environ.get("CI", "").lower() == "true"

# CI runs the same generated inputs every time, so a red run is reproducible, never luck.
hypothesis_settings.register_profile("ci", derandomize=True, database=None)
if CI:
    hypothesis_settings.load_profile("ci")
TEST_SECRET = "test-secret-key-0123456789abcdef0123456789"


def pytest_report_header() -> list[str]:
    return [f"rooms tiers: embedded + services (CI={CI})"]


def unavailable(reason: str, what: str = "services tier") -> None:
    """Skip what cannot run here, with one line saying why; under CI=true, fail instead."""
    message = f"rooms: {what} skipped: {reason}"
    if CI:
        pytest.fail(message + " (CI=true: a skipped tier is a failure)", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated SQLite file; each test gets a copy (no shared DB, no DELETE cleanup)."""
    path = tmp_path_factory.mktemp("sqlite") / "template.db"
    migrate(f"sqlite+aiosqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """PostgreSQL, Redis and S3 for the whole session, stopped by PID at the end."""
    try:
        from tests.services import services_available, start_services
    except ImportError as exc:  # pragma: no cover - only while bootstrapping
        unavailable(f"tests/services.py missing ({exc})")
        raise
    ok, reason = services_available()
    if not ok:
        unavailable(reason)
    root = tmp_path_factory.mktemp("services")
    svc = start_services(root)
    try:
        with ThreadPoolExecutor(1) as pool:  # asyncpg wants a loop of its own here
            pool.submit(asyncio.run, svc.postgres.create_database("rooms_template")).result()
        migrate(svc.postgres.url.rsplit("/", 1)[0] + "/rooms_template")
        yield svc
    finally:
        svc.stop()


@pytest.fixture(params=["embedded", "services"])
def tier(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def backend(tier: str, request: pytest.FixtureRequest) -> Any:
    """The tier's session-wide backing: the SQLite template, or the running services.

    Resolved here, in a sync fixture, because async fixtures cannot request others lazily.
    """
    return request.getfixturevalue("sqlite_template" if tier == "embedded" else "services")


def make_settings(tmp_path: Path, **overrides: Any) -> Settings:
    base: dict[str, Any] = {"var_dir": tmp_path, "secret_key": TEST_SECRET,
                            "ops_shared_secret": "ops-test-secret", "redis_url": "",
                            "blob_store_url": f"file://{tmp_path / 'blobs'}",
                            # no unasked-for node_status events on /ws/ops (tests/ops turns
                            # them on where they are the subject)
                            "ops_status_push_s": 0,
                            # a write on SQLite without the write slot fails the test
                            "db_write_guard": "raise"}
    base.update(overrides)
    return load_settings(**base)


@pytest.fixture
async def settings(tier: str, backend: Any, tmp_path: Path) -> Settings:
    if tier == "embedded":
        db = tmp_path / "rooms.db"
        shutil.copyfile(backend, db)
        return make_settings(tmp_path, database_url=f"sqlite+aiosqlite:///{db}")
    svc = backend
    name = f"t_{uuid.uuid4().hex[:12]}"
    url = await svc.postgres.create_database(name, template="rooms_template")
    redis = Redis.from_url(svc.redis.url)
    try:
        await redis.flushdb()  # a throwaway server: each test starts from an empty Redis
    finally:
        await redis.aclose()
    return make_settings(
        tmp_path, database_url=url, redis_url=svc.redis.url,
        blob_store_url=f"s3://{name.replace('_', '-')}",
        s3_endpoint_url=svc.s3.endpoint_url, s3_access_key=svc.s3.access_key,
        s3_secret_key=svc.s3.secret_key, s3_region=svc.s3.region)


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c
