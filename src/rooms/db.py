"""Engine, sessions and migrations. One request = one session = one transaction."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event, text
from sqlalchemy import create_engine as sa_create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from rooms.assets import asset_dir

MIGRATIONS_DIR = asset_dir("migrations")  # shipped inside the package, see rooms.assets


def create_engine(url: str) -> AsyncEngine:
    """Build the async engine; SQLite gets WAL, foreign keys and a busy timeout."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, connect_args={"timeout": 30})
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    return create_async_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


def create_sqlite_writer(url: str) -> Engine | None:
    """A sync engine on the same SQLite file, for hot write paths run in one thread hop.

    aiosqlite hops threads for every statement (~0.3 ms of CPU each); a two-row insert
    and its commit done in one `asyncio.to_thread` call costs a fraction of that.
    PostgreSQL needs none of this: None.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return None
    engine = sa_create_engine(parsed.set(drivername="sqlite+pysqlite"),
                              connect_args={"timeout": 30, "check_same_thread": False})
    event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


async def session_scope(factory: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """Yield a session; commit when the caller finishes cleanly, roll back otherwise."""
    async with factory() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise


async def ping(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))


def _alembic_config(url: str) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    cfg.attributes["configure_logger"] = False
    return cfg


def _off_loop(fn: Callable[[], None]) -> None:
    """Alembic's env runs its own event loop, so never run it on a thread that has one."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        fn()
        return
    with ThreadPoolExecutor(1) as pool:
        pool.submit(fn).result()


def migrate(url: str, revision: str = "head") -> None:
    """Upgrade the database to `revision` (blocking)."""
    from alembic import command

    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database:
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    _off_loop(lambda: command.upgrade(_alembic_config(url), revision))


def downgrade(url: str, revision: str = "base") -> None:
    from alembic import command

    _off_loop(lambda: command.downgrade(_alembic_config(url), revision))


async def migrate_async(url: str, revision: str = "head") -> None:
    await asyncio.to_thread(migrate, url, revision)
