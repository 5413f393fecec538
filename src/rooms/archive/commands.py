"""The command-line side of `rooms import`, `backup`, `restore` and `archive-day`: progress
bars and summaries (rich) around the functions of this package. Exit codes: 0 done;
1 `import` refused some files (listed); 2 bad arguments; 3 an archive refused (nothing
changed)."""

from __future__ import annotations

import argparse
import asyncio
import csv
import os
import sys
from datetime import date, datetime
from pathlib import Path

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from rooms.archive import backup as archive
from rooms.archive import day as closing
from rooms.archive import importer
from rooms.archive.context import cli_resources
from rooms.config import Settings
from rooms.instance import ensure_secrets

EXIT_REFUSED_FILES = 1
EXIT_USAGE = 2
EXIT_ARCHIVE = 3


def _console() -> Console:
    return Console(stderr=True)


class _Bar(archive.Progress):
    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.task: object = None

    def start(self, label: str, total: int) -> None:
        if self.task is not None:
            self.progress.update(self.task, visible=False)  # type: ignore[arg-type]
        self.task = self.progress.add_task(label, total=total or 1)

    def advance(self, amount: int) -> None:
        if self.task is not None:
            self.progress.advance(self.task, amount)  # type: ignore[arg-type]


def _progress(console: Console) -> Progress:
    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeRemainingColumn(), console=console, transient=False,
                    disable=not console.is_terminal)


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Run one of this package's commands; returns the exit code."""
    from rooms.db import migrate

    console = _console()
    if args.command == "restore":  # verified before anything (secrets included) is written
        return _restore(args, settings, console)
    settings = ensure_secrets(settings)
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    migrate(settings.resolved_database_url)
    if args.command == "import":
        return asyncio.run(_import(args, settings, console))
    if args.command == "backup":
        return asyncio.run(_backup(args.file, settings, console))
    return asyncio.run(_day(args, settings, console))


async def _import(args: argparse.Namespace, settings: Settings, console: Console) -> int:
    root: Path = await asyncio.to_thread(args.dir.resolve)
    if not await asyncio.to_thread(root.is_dir):
        console.print(f"rooms: {root} is not a folder")
        return EXIT_USAGE
    files, ignored = await asyncio.to_thread(importer.find_wavs, root)
    async with cli_resources(settings) as res:
        with _progress(console) as progress:
            task = progress.add_task("import", total=len(files) or 1)
            report = await importer.import_dir(
                res, root, consent_mode=args.consent_mode, topic_tag=args.topic,
                effect_profile=args.effect, files=files,
                on_file=lambda _: progress.advance(task))
    report.ignored = ignored
    table = Table(title=f"rooms import {root}")
    for column in ("file", "result", "reason"):
        table.add_column(column)
    for o in report.outcomes:
        if o.status != "imported":
            table.add_row(str(o.path.relative_to(root)), o.status,
                          f"{o.code}: {o.reason}" if o.status == "refused" else o.reason)
    if table.row_count:
        console.print(table)
    console.print(f"imported {report.count('imported')}, skipped {report.count('skipped')} "
                  f"(already imported or duplicates), refused {report.count('refused')}, "
                  f"ignored {report.ignored} (not .wav)")
    if args.codes is not None:
        _write_codes(args.codes, root, report)
        console.print(f"revocation codes: {args.codes}")
    return EXIT_REFUSED_FILES if report.count("refused") else 0


def _write_codes(path: Path, root: Path, report: importer.Report) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "a", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        for o in report.outcomes:
            if o.status == "imported":
                writer.writerow([o.path.relative_to(root).as_posix(), o.artifact_id,
                                 o.revocation_code])


async def _backup(file: Path, settings: Settings, console: Console) -> int:
    async with cli_resources(settings) as res:
        with _progress(console) as progress:
            report = await archive.backup(res, file, progress=_Bar(progress))
    rows = sum(report.tables.values())
    console.print(f"backup written: {report.path} ({rows} rows, {report.blobs} blobs, "
                  f"{report.blob_bytes / 1e6:.1f} MB of audio and images; database dumped "
                  f"as portable JSON rows)")
    if report.nosave_withheld:
        console.print(f"{report.nosave_withheld} NOSAVE take(s) left out (never backed up)")
    if report.missing_blobs:
        console.print(f"{len(report.missing_blobs)} blob(s) were removed while the backup "
                      f"ran (revoked or expired meanwhile); restore keeps them removed")
    return 0


def _restore(args: argparse.Namespace, settings: Settings, console: Console) -> int:
    from rooms.db import migrate

    file: Path = args.file
    try:
        with _progress(console) as progress:
            verified = archive.verify(file, _Bar(progress))
    except archive.ArchiveError as exc:
        console.print(f"rooms: restore refused: {exc}. Nothing was changed.")
        return EXIT_ARCHIVE
    members = len(verified.manifest["members"])
    console.print(f"archive verified: {members} members, SHA-256 all match "
                  f"(made {verified.manifest.get('created_at')})")
    if args.verify_only:
        return 0
    settings = ensure_secrets(settings)
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    migrate(settings.resolved_database_url)
    return asyncio.run(_restore_verified(file, verified, settings, console))


async def _restore_verified(file: Path, verified: archive.Verified, settings: Settings,
                            console: Console) -> int:
    async with cli_resources(settings) as res:
        try:
            with _progress(console) as progress:
                report = await archive.restore(res, file, progress=_Bar(progress),
                                               verified=verified)
        except archive.ArchiveError as exc:
            console.print(f"rooms: restore refused: {exc}.")
            return EXIT_ARCHIVE
    rows = sum(report.tables.values())
    console.print(f"restored {rows} rows and {report.blobs_written} blobs (each read back "
                  f"and checked)")
    if report.reapplied:
        told = ", ".join(f"{n} {kind}" for kind, n in sorted(report.reapplied.items()))
        console.print(f"kept removed since the backup (revocation ledger): {told}")
    if report.withheld_expired:
        console.print(f"{report.withheld_expired} blob(s) past their retention not restored")
    return 0


async def _day(args: argparse.Namespace, settings: Settings, console: Console) -> int:
    try:
        day = (date.fromisoformat(args.date) if args.date
               else datetime.now(settings.zone()).date())
    except ValueError:
        console.print(f"rooms: --date must be YYYY-MM-DD, not {args.date!r}")
        return EXIT_USAGE
    folder: Path = args.dir or settings.var_dir / "archive"
    async with cli_resources(settings) as res:
        record = await closing.summary(res, day)
        path = closing.write(folder, day, record)
        console.print(f"close-of-day record: {path} ({len(record['actions'])} actions, "
                      f"{sum(record['takes']['added'].values())} takes added)")
        if args.backup:
            with _progress(console) as progress:
                report = await archive.backup(res, folder / f"rooms-backup-{day}.tar",
                                              progress=_Bar(progress))
            console.print(f"backup written: {report.path}")
    return 0


def main_exit(code: int) -> None:
    if code:
        sys.exit(code)
