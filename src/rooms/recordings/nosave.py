"""NOSAVE play-once: one listening window, for one client, then the take is gone.

The first GET of a take's play URL claims it (EPHEMERAL -> REVOKED, one UPDATE, so exactly
one request wins) and opens a window of NOSAVE_LISTEN_WINDOW_S for the client that sent it
(its client id, else its IP; see `throttle.client_id`). Inside the window that client's
GETs, with or without Range, are served, so a browser can probe, buffer and seek; another
client, or any GET after the window, gets 410.

The window lives in the database, so every api process sees the same one: the row's
`expires_at` becomes the window's end and the claim's AccessEvent (context "nosave",
action "listen") carries a keyed hash of the listener (never the client id itself).

The blob is deleted when the window closes: by the first request that finds it closed, and
by the `expire_ephemeral` job, which deletes every NOSAVE blob whose time is up
(level-triggered, so a restart or a crash mid-window loses nothing). `/ephemeral/consume`
deletes it at once.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from rooms.config import Settings
from rooms.errors import Gone
from rooms.logging import get_logger
from rooms.models import utcnow
from rooms.recordings import repository
from rooms.resources import Resources
from rooms.storage import BlobStore

log = get_logger("rooms.recordings.nosave")


@dataclass
class NosaveRuntime:
    """Per-process: the clock the listening windows are read with (tests move it)."""

    clock: Callable[[], datetime] = utcnow


def nosave_runtime(res: Resources) -> NosaveRuntime:
    runtime = res.extras.get("nosave")
    if not isinstance(runtime, NosaveRuntime):
        runtime = res.extras["nosave"] = NosaveRuntime()
    return runtime


def listener_key(settings: Settings, artifact_id: int, client: str) -> str:
    """32 hex chars naming (take, client); the client id itself is not stored."""
    secret = settings.secret_key.get_secret_value().encode()
    mac = hmac.new(secret, f"nosave-listener\0{artifact_id}\0{client}".encode(), hashlib.sha256)
    return mac.hexdigest()[:32]


def _gone() -> Gone:
    return Gone("this take was already played", code="gone")


async def listen(res: Resources, artifact_id: int, client: str) -> str:
    """The blob key `client` may fetch now: claims the take on its first GET, answers 410
    (`Gone`) for anyone else or once the window has closed."""
    now = nosave_runtime(res).clock()
    me = listener_key(res.settings, artifact_id, client)
    async with res.sessions() as session:
        state = await repository.nosave_state(session, artifact_id)
    if state is not None and state.status == "EPHEMERAL":
        until = now + timedelta(seconds=res.settings.nosave_listen_window_s)
        async with res.sessions.begin() as session:
            key = await repository.claim_nosave(session, artifact_id, listener=me, now=now,
                                                until=until)
        if key is not None:
            log.info("nosave.window_opened", artifact_id=artifact_id,
                     window_s=res.settings.nosave_listen_window_s)
            return key
        async with res.sessions() as session:  # another request won the claim: whose?
            state = await repository.nosave_state(session, artifact_id)
    if state is None or not state.blob_key:
        raise _gone()
    open_ = state.ends_at is not None and state.ends_at > now
    if open_ and state.status == "REVOKED" and state.listener == me:
        return state.blob_key
    if not open_:  # closed, and nobody has deleted the blob yet: now
        await dispose(res.sessions, res.blobs, artifact_id, due_by=now)
    raise _gone()


async def dispose(sessions: async_sessionmaker[AsyncSession], blobs: BlobStore,
                  artifact_id: int, *, due_by: datetime | None = None) -> bool:
    """Delete a NOSAVE take's blob (with `due_by`: only if its time is up by then); True if
    this call deleted it. The row is marked in the same transaction, after the delete, so
    a storage failure leaves it to be found again."""
    async with sessions.begin() as session:
        key = await repository.take_nosave_blob(session, artifact_id, due_by=due_by)
        if key is None:
            return False
        await blobs.delete(key)
        await repository.blob_deleted(session, artifact_id)
    log.info("nosave.blob_deleted", artifact_id=artifact_id)
    return True
