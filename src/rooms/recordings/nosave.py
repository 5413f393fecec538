"""NOSAVE play-once: one listening window, for one client, then the take is gone.

The first GET of a take's play URL claims it (EPHEMERAL -> REVOKED, one UPDATE, so exactly
one request wins) and opens a window of NOSAVE_LISTEN_WINDOW_S for the client that sent it
(its client id, else its IP; see `kit.clients.client_id`). Inside the window that client's
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

from rooms.config import Settings
from rooms.errors import Gone
from rooms.logging import get_logger
from rooms.models import ArtifactStatus, utcnow
from rooms.recordings import repository
from rooms.resources import Resources
from rooms.uow import unit_of_work

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
    if state is not None and state.status == ArtifactStatus.EPHEMERAL:
        until = now + timedelta(seconds=res.settings.nosave_listen_window_s)
        async with unit_of_work(res) as uow:
            await uow.begin_write()
            key = await repository.claim_nosave(uow.session, artifact_id, listener=me,
                                                now=now, until=until)
        if key is not None:
            log.info("nosave.window_opened", artifact_id=artifact_id,
                     window_s=res.settings.nosave_listen_window_s)
            return key
        async with res.sessions() as session:  # another request won the claim: whose?
            state = await repository.nosave_state(session, artifact_id)
    if state is None or not state.blob_key:
        raise _gone()
    open_ = state.ends_at is not None and state.ends_at > now
    if open_ and state.status == ArtifactStatus.REVOKED and state.listener == me:
        return state.blob_key
    if not open_:  # closed, and nobody has deleted the blob yet: now
        await dispose(res, artifact_id, due_by=now)
    raise _gone()


async def dispose(res: Resources, artifact_id: int, *, due_by: datetime | None = None) -> bool:
    """Delete a NOSAVE take's blob (with `due_by`: only if its time is up by then), then
    mark the row; True if this call deleted it. The blob goes first and outside the write
    slot: a storage failure changes nothing, and the take is found again."""
    async with res.sessions() as session:
        state = await repository.nosave_state(session, artifact_id)
    if state is None or not state.blob_key:
        return False
    if due_by is not None and (state.ends_at is None or state.ends_at > due_by):
        return False
    await res.blobs.delete(state.blob_key)
    async with unit_of_work(res) as uow:
        await uow.begin_write()
        await repository.blob_deleted(uow.session, artifact_id, state.blob_key)
    log.info("nosave.blob_deleted", artifact_id=artifact_id)
    return True
