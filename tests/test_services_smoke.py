"""The services tier works: real PostgreSQL, Redis and S3 answer, and come back after a stop."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aioboto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from tests.services import (
    ExternalServiceError,
    PostgresServer,
    RedisServer,
    S3Server,
    Services,
    services_available,
    start_services,
)

AVAILABLE, MISSING = services_available()
IN_CI = os.environ.get("CI", "").lower() == "true"

pytestmark = [
    pytest.mark.services,
    pytest.mark.skipif(not AVAILABLE and not IN_CI, reason=f"services tier: {MISSING}"),
]


@pytest.fixture(scope="module")  # its own servers: these tests stop and restart them
def smoke_services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    if not AVAILABLE:  # only reached with CI=true, where a missing tier is a failure
        pytest.fail(f"CI=true but the services tier is unavailable: {MISSING}")
    running = start_services(tmp_path_factory.mktemp("services"))
    yield running
    running.stop()


def _require_managed(server: PostgresServer | RedisServer | S3Server) -> None:
    if server.external:
        pytest.skip(f"{server.name} comes from ROOMS_TEST_*; it is not ours to stop")


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


async def _scalar(url: str, sql: str, **params: object) -> Any:
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with engine.connect() as conn:
            return (await conn.execute(text(sql), params)).scalar_one()
    finally:
        await engine.dispose()


def _s3_client(s3: S3Server, secret_key: str | None = None) -> Any:
    return aioboto3.Session().client(
        "s3",
        endpoint_url=s3.endpoint_url,
        region_name=s3.region,
        aws_access_key_id=s3.access_key,
        aws_secret_access_key=secret_key or s3.secret_key,
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )


async def test_postgres_answers_again_after_stop_and_start(smoke_services: Services) -> None:
    postgres = smoke_services.postgres
    _require_managed(postgres)
    assert await _scalar(postgres.url, "SELECT 1") == 1
    port, pid = postgres.port, postgres.pid

    postgres.stop()
    postgres.stop()  # idempotent
    assert postgres.pid is None
    assert not _port_open(port)

    postgres.start()
    assert postgres.port == port
    assert postgres.pid not in (None, pid)
    assert await _scalar(postgres.url, "SELECT 1") == 1


async def test_postgres_creates_databases_from_templates_and_drops_them(
    smoke_services: Services,
) -> None:
    postgres = smoke_services.postgres
    name = f"smoke_{uuid.uuid4().hex[:12]}"
    url = await postgres.create_database(name)
    engine = create_async_engine(url, poolclass=NullPool)
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE marker (x int)"))
        await conn.execute(text("INSERT INTO marker VALUES (7)"))
    await engine.dispose()

    copy_url = await postgres.create_database(f"{name}_copy", template=name)
    assert await _scalar(copy_url, "SELECT x FROM marker") == 7

    for database in (name, f"{name}_copy"):
        await postgres.drop_database(database)
    count = "SELECT count(*) FROM pg_database WHERE datname LIKE :prefix"
    assert await _scalar(postgres.url, count, prefix=f"{name}%") == 0


async def test_redis_pings_again_after_stop_and_start(smoke_services: Services) -> None:
    redis = smoke_services.redis
    _require_managed(redis)
    port = redis.port
    for restart in (False, True):
        if restart:
            redis.stop()
            redis.stop()  # idempotent
            assert not _port_open(port)
            redis.start()
        client = Redis.from_url(redis.url)
        try:
            assert await client.ping() is True
        finally:
            await client.aclose()
    assert redis.port == port


async def test_s3_put_get_list_delete(smoke_services: Services) -> None:
    bucket = f"smoke-{uuid.uuid4().hex[:12]}"
    async with _s3_client(smoke_services.s3) as s3:
        await s3.create_bucket(Bucket=bucket)
        await s3.put_object(Bucket=bucket, Key="takes/a.wav", Body=b"RIFF....")
        response = await s3.get_object(Bucket=bucket, Key="takes/a.wav")
        async with response["Body"] as body:
            assert await body.read() == b"RIFF...."
        listing = await s3.list_objects_v2(Bucket=bucket, Prefix="takes/")
        assert [item["Key"] for item in listing["Contents"]] == ["takes/a.wav"]

        await s3.delete_object(Bucket=bucket, Key="takes/a.wav")
        assert (await s3.list_objects_v2(Bucket=bucket))["KeyCount"] == 0
        await s3.delete_bucket(Bucket=bucket)


async def test_s3_rejects_a_wrong_secret_key(smoke_services: Services) -> None:
    async with _s3_client(smoke_services.s3, secret_key="not-the-secret") as s3:
        with pytest.raises(ClientError) as raised:
            await s3.list_buckets()
    assert raised.value.response["Error"]["Code"] == "SignatureDoesNotMatch"


async def test_s3_keeps_objects_across_stop_and_start(smoke_services: Services) -> None:
    s3_server = smoke_services.s3
    _require_managed(s3_server)
    bucket, port = f"smoke-{uuid.uuid4().hex[:12]}", s3_server.port
    async with _s3_client(s3_server) as s3:
        await s3.create_bucket(Bucket=bucket)
        await s3.put_object(Bucket=bucket, Key="kept", Body=b"still here")

    s3_server.stop()
    s3_server.stop()  # idempotent
    assert not _port_open(port)
    s3_server.start()

    assert s3_server.port == port
    async with _s3_client(s3_server) as s3:
        response = await s3.get_object(Bucket=bucket, Key="kept")
        async with response["Body"] as body:
            assert await body.read() == b"still here"
        await s3.delete_object(Bucket=bucket, Key="kept")
        await s3.delete_bucket(Bucket=bucket)


def test_external_services_refuse_start_and_stop(tmp_path: Path) -> None:
    redis = RedisServer(tmp_path, "redis://127.0.0.1:6390/0")
    assert (redis.external, redis.port, redis.url) == (True, 6390, "redis://127.0.0.1:6390/0")
    with pytest.raises(ExternalServiceError):
        redis.start()
    with pytest.raises(ExternalServiceError):
        redis.stop()
