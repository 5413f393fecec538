"""Engine, sessions, migrations, and the one database adapter the services write through.

One request (or job) = one unit of work = one transaction. `Database` hides what differs
between the backends, so no service branches on the dialect:

- `read(fn)`: a request's reads in one go (one thread hop on SQLite, `run_sync` elsewhere);
- `write(fn)`: a short write transaction of its own, inside the write slot (SQLite's
  sync writer in one thread hop; PostgreSQL's async engine), for the hottest inserts;
- `insert(table)`: an INSERT that knows `ON CONFLICT DO NOTHING` on either dialect;
- `scan_beats_index`: SQLite's planner hint for queries over mostly-ACTIVE tables;
- `slot`: SQLite's one writer per process, taken by every writer and checked by a guard.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Literal, TypeVar

from sqlalchemy import Connection, Engine, event, text
from sqlalchemy import create_engine as sa_create_engine
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from rooms.assets import asset_dir
from rooms.logging import get_logger

log = get_logger("rooms.db")
T = TypeVar("T")
GuardMode = Literal["off", "log", "raise"]

MIGRATIONS_DIR = asset_dir("migrations")  # shipped inside the package, see rooms.assets


Synchronous = Literal["NORMAL", "FULL", "EXTRA"]


def create_engine(url: str, *, synchronous: Synchronous = "FULL", pool_size: int = 10,
                  max_overflow: int = 20) -> AsyncEngine:
    """Build the async engine; SQLite gets WAL, foreign keys, a busy timeout and the
    `synchronous` level (SQLITE_SYNCHRONOUS; README "Durability").

    On PostgreSQL a process holds at most `pool_size + max_overflow` connections
    (DATABASE_POOL_SIZE, DATABASE_MAX_OVERFLOW; README "Connection budget")."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, connect_args={"timeout": 30})
        event.listen(engine.sync_engine, "connect", _pragmas(synchronous))
        return engine
    return create_async_engine(url, pool_size=pool_size, max_overflow=max_overflow,
                               pool_pre_ping=True,
                               async_creator=_asyncpg_connector(parsed))


CONNECT_TIMEOUT_S = 5.0  # a database that does not answer is 503 within this, not a hang


def _asyncpg_connector(url: Any) -> Callable[[], Any]:
    """asyncpg.connect for `url`, bounded by CONNECT_TIMEOUT_S, where a refused, reset or
    timed-out connection is asyncpg's ConnectionFailureError: SQLAlchemy then raises its
    DBAPIError (503 `database_unavailable`) instead of letting a bare OSError through."""
    import asyncpg  # type: ignore[import-untyped]
    from sqlalchemy.dialects import postgresql

    dialect = postgresql.asyncpg.dialect()  # type: ignore[no-untyped-call]
    cargs, cparams = dialect.create_connect_args(url)  # type: ignore[no-untyped-call]

    async def connect() -> Any:
        try:
            return await asyncpg.connect(*cargs, **{**cparams, "timeout": CONNECT_TIMEOUT_S})
        except (OSError, TimeoutError) as exc:
            raise asyncpg.exceptions.ConnectionFailureError(
                f"cannot reach the database: {type(exc).__name__}") from exc

    return connect


def _pragmas(synchronous: Synchronous) -> Callable[[Any, Any], None]:
    """The connect hook: WAL, foreign keys, `synchronous`, a 30 s busy timeout.

    In WAL mode FULL fsyncs the log at every commit, so a commit that was answered survives
    a power loss; NORMAL fsyncs only at checkpoints, so the last commits before a power
    loss can vanish (the database stays consistent either way)."""
    if synchronous not in ("NORMAL", "FULL", "EXTRA"):
        raise ValueError(f"bad synchronous level {synchronous!r}")

    def hook(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA synchronous={synchronous}")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    return hook


def create_sqlite_writer(url: str, *, synchronous: Synchronous = "FULL") -> Engine | None:
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
    event.listen(engine, "connect", _pragmas(synchronous))
    return engine


class WriteWithoutSlot(RuntimeError):
    """A write statement ran on SQLite without the process's write slot."""


_HOLDS_SLOT: contextvars.ContextVar[bool] = contextvars.ContextVar("rooms_write_slot",
                                                                   default=False)
_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE")


class WriteSlot:
    """SQLite has one writer at a time; this process's writers queue here, in order.

    Queueing beats letting writers collide inside SQLite's busy handler (which sleeps and
    spikes p99). The holder is marked in a context variable, which `asyncio.to_thread` and
    SQLAlchemy's greenlets carry along, so the guard can tell a write made under the slot
    from one made without it. On PostgreSQL the slot is a no-op.
    """

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._lock = asyncio.Lock()

    @staticmethod
    def held() -> bool:
        return _HOLDS_SLOT.get()

    async def acquire(self) -> contextvars.Token[bool] | None:
        """Take the slot for the calling task; returns what `release` needs."""
        if not self.enabled or _HOLDS_SLOT.get():
            return None
        await self._lock.acquire()
        return _HOLDS_SLOT.set(True)

    def release(self, token: contextvars.Token[bool] | None) -> None:
        if token is None:
            return
        _HOLDS_SLOT.reset(token)
        self._lock.release()

    @asynccontextmanager
    async def hold(self) -> AsyncIterator[None]:
        token = await self.acquire()
        try:
            yield
        finally:
            self.release(token)


def install_write_guard(engine: Engine, mode: GuardMode) -> None:
    """Check every statement on `engine`: a write without the slot is logged or raised."""
    if mode == "off":
        return

    def check(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if _HOLDS_SLOT.get() or not statement.lstrip()[:7].upper().startswith(_WRITES):
            return
        log.error("db.write_without_slot", statement=statement.split("(")[0][:60])
        if mode == "raise":
            raise WriteWithoutSlot(statement[:80])

    event.listen(engine, "before_cursor_execute", check)


class Database:
    """The app's database: engine, sessions, the write slot and the per-dialect fast paths."""

    def __init__(self, url: str, *, guard: GuardMode = "log",
                 synchronous: Synchronous = "FULL", pool_size: int = 10,
                 max_overflow: int = 20) -> None:
        self.url = url
        self.engine = create_engine(url, synchronous=synchronous, pool_size=pool_size,
                                    max_overflow=max_overflow)
        self.sessions = session_factory(self.engine)
        self.dialect = self.engine.dialect.name
        self.is_sqlite = self.dialect == "sqlite"
        self.slot = WriteSlot(enabled=self.is_sqlite)
        self._writer = create_sqlite_writer(url, synchronous=synchronous)
        if self.is_sqlite:
            install_write_guard(self.engine.sync_engine, guard)
            assert self._writer is not None
            install_write_guard(self._writer, guard)

    @property
    def scan_beats_index(self) -> bool:
        """True where a full scan of a mostly-ACTIVE table beats the status index (SQLite:
        100,000 active rows read straight through in ~60 ms, by index ~200 ms); PostgreSQL's
        planner makes that choice itself."""
        return self.is_sqlite

    def insert(self, table: Any) -> Any:
        """An INSERT for `table` (a Table or mapped class) with `.on_conflict_do_nothing()`."""
        return dialect_insert(self.dialect, table)

    async def read(self, fn: Callable[[Connection], T]) -> T:
        """Run `fn(conn)` on a connection of its own: on SQLite in one thread hop (aiosqlite
        would hop threads per statement), elsewhere through `run_sync`."""
        if self._writer is not None:
            writer = self._writer

            def work() -> T:
                with writer.connect() as conn:
                    return fn(conn)
            return await asyncio.to_thread(work)
        async with self.engine.connect() as conn:
            return await conn.run_sync(fn)

    async def write(self, fn: Callable[[Connection], T]) -> T:
        """Run `fn(conn)` in a transaction of its own, committed before this returns, inside
        the write slot: on SQLite in one thread hop on the sync writer, elsewhere on the
        async engine. Raises what `fn` raises (IntegrityError included), rolled back."""
        async with self.slot.hold():
            if self._writer is not None:
                writer = self._writer

                def work() -> T:
                    with writer.begin() as conn:
                        return fn(conn)
                return await asyncio.to_thread(work)
            async with self.engine.begin() as conn:
                return await conn.run_sync(fn)

    async def aclose(self) -> None:
        await self.engine.dispose()
        if self._writer is not None:
            self._writer.dispose()


def dialect_insert(dialect: str, table: Any) -> Any:
    """`Database.insert` by dialect name, for statements built once per dialect. The
    PostgreSQL dialect (~2 MiB) is imported only where it is used."""
    if dialect == "postgresql":
        from sqlalchemy.dialects import postgresql

        return postgresql.insert(table)
    return sqlite.insert(table)


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


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
