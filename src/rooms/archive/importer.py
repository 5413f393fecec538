"""`rooms import DIR`: take in a folder of WAV files as if each had been uploaded.

Every file goes through the upload's own service (`recordings.service.ingest`): the same
validation (refused for the same reasons, with the same codes), the same order of writes,
consent manifest, expiries, announcement and render job. Budgets and the steward's
intake pause do not apply: this is the steward's own bulk action.

Resumable and idempotent through the import ledger (`import_ledger`, models/import_ledger):
each file's content is keyed by an HMAC-SHA256 of its bytes under a key derived from
SECRET_KEY. A content already in the ledger is skipped — also when its take has since been
revoked or expired, so a removed take never comes back through a re-run. The take's
`idempotency_key` is `import:<hmac>` as well, so a run killed between storing a take and
writing its ledger row finds the take on the next run instead of storing it twice.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from rooms.errors import RoomsError
from rooms.logging import get_logger
from rooms.models import Artifact, ImportEntry, StewardAction, StewardActionName
from rooms.recordings import service
from rooms.recordings.upload import ParsedUpload, UploadedFile
from rooms.resources import Resources
from rooms.uow import unit_of_work

log = get_logger("rooms.archive.import")
WAV_SUFFIXES = (".wav", ".wave")
CHUNK = 1024 * 1024
Status = Literal["imported", "skipped", "refused"]


@dataclass(frozen=True, slots=True)
class Outcome:
    """What happened to one file: `imported` (artifact_id, code set), `skipped` (already in
    the ledger: a re-run or a duplicate) or `refused` (`code` and `reason` as the upload
    route would answer)."""

    path: Path
    status: Status
    reason: str = ""
    code: str = ""
    artifact_id: int | None = None
    revocation_code: str = ""


@dataclass(slots=True)
class Report:
    outcomes: list[Outcome] = field(default_factory=list)
    ignored: int = 0  # files that are not .wav (or hidden): not looked at

    def count(self, status: Status) -> int:
        return sum(1 for o in self.outcomes if o.status == status)


def _key(secret: str) -> bytes:
    return hmac.new(secret.encode(), b"rooms.import-ledger.v1", hashlib.sha256).digest()


def digests(secret: str, path: Path) -> tuple[str, str, int]:
    """(content HMAC, SHA-256, size) of the file at `path`, in one read."""
    mac = hmac.new(_key(secret), digestmod=hashlib.sha256)
    sha = hashlib.sha256()
    size = 0
    with path.open("rb") as fh:
        while block := fh.read(CHUNK):
            mac.update(block)
            sha.update(block)
            size += len(block)
    return mac.hexdigest(), sha.hexdigest(), size


def find_wavs(root: Path) -> tuple[list[Path], int]:
    """Every `.wav`/`.wave` file under `root` (recursively, case-insensitive, sorted; hidden
    files and folders skipped), and how many other files were ignored."""
    found: list[Path] = []
    ignored = 0
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if any(part.startswith(".") for part in rel.parts) or not path.is_file():
            ignored += path.is_file()
            continue
        if path.suffix.lower() in WAV_SUFFIXES:
            found.append(path)
        else:
            ignored += 1
    return found, ignored


async def _ledger_hit(res: Resources, content: str) -> tuple[str, int | None] | None:
    """(status of the imported take, its id) when this content was imported before."""
    async with res.sessions() as session:
        row = (await session.execute(
            select(ImportEntry.artifact_id, Artifact.status)
            .join(Artifact, Artifact.id == ImportEntry.artifact_id, isouter=True)
            .where(ImportEntry.content_hmac == content))).first()
        if row is not None:
            return (str(row[1] or "gone"), row[0])
        # stored by a run that died before its ledger row: write the row now
        take = (await session.execute(select(Artifact.id, Artifact.status).where(
            Artifact.idempotency_key == f"import:{content}"))).first()
    if take is None:
        return None
    await _remember(res, content, int(take[0]), "")
    return (str(take[1]), int(take[0]))


async def _remember(res: Resources, content: str, artifact_id: int, name: str) -> None:
    try:
        async with unit_of_work(res) as uow:
            await uow.begin_write()
            uow.session.add(ImportEntry(content_hmac=content, artifact_id=artifact_id,
                                        source_name=name[-255:]))
    except IntegrityError:  # another run wrote it meanwhile: the same fact
        pass


async def import_one(res: Resources, path: Path, *, root: Path, consent_mode: str,
                     topic_tag: str, effect_profile: str,
                     seen: dict[str, Path]) -> Outcome:
    settings = res.settings
    name = path.relative_to(root).as_posix()
    content, sha, size = await asyncio.to_thread(
        digests, settings.secret_key.get_secret_value(), path)
    if content in seen:
        return Outcome(path, "skipped", f"duplicate of {seen[content].relative_to(root)}",
                       code="duplicate")
    hit = await _ledger_hit(res, content)
    if hit is not None:
        status, artifact_id = hit
        seen[content] = path
        note = "" if status == "ACTIVE" else f" (that take is {status.lower()}: not again)"
        return Outcome(path, "skipped", f"already imported{note}", code="already_imported",
                       artifact_id=artifact_id)
    fields = {"consent_mode": consent_mode, "topic_tag": topic_tag,
              "effect_profile": effect_profile}
    upload = ParsedUpload(fields=fields, file=UploadedFile(path, size, sha, path.name,
                                                           "audio/wav"))
    try:
        async with unit_of_work(res) as uow:
            result = await service.ingest(uow, upload, scope=f"import:{content}")
    except RoomsError as exc:
        if exc.status >= 500:  # storage or database away: stop, a re-run goes on from here
            raise
        return Outcome(path, "refused", exc.message, code=exc.code)
    await _remember(res, content, result.artifact.id, name)
    seen[content] = path
    return Outcome(path, "imported", artifact_id=result.artifact.id,
                   revocation_code=result.revocation_code)


async def import_dir(res: Resources, root: Path, *, consent_mode: str, topic_tag: str = "",
                     effect_profile: str = "", on_file: Callable[[Outcome], None] | None = None,
                     files: list[Path] | None = None) -> Report:
    """Import every WAV under `root` (see the module). `on_file` is called after each file
    (a progress bar). Refusals are outcomes, not exceptions; a database or storage outage
    raises (the run can simply be started again)."""
    paths, ignored = (files, 0) if files is not None else find_wavs(root)
    report = Report(ignored=ignored)
    seen: dict[str, Path] = {}
    for path in paths:
        outcome = await import_one(res, path, root=root, consent_mode=consent_mode,
                                   topic_tag=topic_tag, effect_profile=effect_profile,
                                   seen=seen)
        report.outcomes.append(outcome)
        log.info("import.file", file=str(outcome.path.relative_to(root)),
                 status=outcome.status, code=outcome.code)
        if on_file is not None:
            on_file(outcome)
    counts = {s: report.count(s) for s in ("imported", "skipped", "refused")}
    if counts["imported"] or counts["refused"]:
        async with unit_of_work(res) as uow:
            await uow.begin_write()
            uow.session.add(StewardAction(
                action=StewardActionName.IMPORT_COMPLETED, actor="cli:import",
                detail=", ".join(f"{k} {v}" for k, v in counts.items()),
                payload={**counts, "consent_mode": consent_mode, "topic_tag": topic_tag,
                         "artifact_ids": [o.artifact_id for o in report.outcomes
                                          if o.status == "imported"]}))
    return report
