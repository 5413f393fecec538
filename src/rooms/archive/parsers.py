"""The arguments of `rooms import`, `backup`, `restore` and `archive-day`, apart from the
commands themselves, so that `rooms serve` parses its command line without loading them
(rich, the backup code) into the server."""

from __future__ import annotations

import argparse
from pathlib import Path

COMMANDS = ("import", "backup", "restore", "archive-day")


def add_parsers(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    imp = sub.add_parser("import", help="bulk-import the WAV files of a folder (recursively)")
    imp.add_argument("dir", type=Path)
    imp.add_argument("--consent-mode", required=True, choices=["ROOM", "FOSSIL"],
                     type=str.upper, help="the consent the recordings were given under")
    imp.add_argument("--topic", default="", help="topic_tag for every imported take")
    imp.add_argument("--effect", default="", help="effect_profile (memory color)")
    imp.add_argument("--codes", type=Path, default=None,
                     help="write each imported file's revocation code to this CSV (0600)")
    bak = sub.add_parser("backup", help="database + blobs into one archive with checksums")
    bak.add_argument("file", type=Path)
    res = sub.add_parser("restore", help="verify an archive, then restore it into an empty "
                                         "database and blob store")
    res.add_argument("file", type=Path)
    res.add_argument("--verify-only", action="store_true",
                     help="check the archive against its manifest and stop")
    day = sub.add_parser("archive-day", help="write the close-of-day record (summary and "
                                             "the day's audit trail)")
    day.add_argument("--date", default="", help="YYYY-MM-DD (default: today in TIMEZONE)")
    day.add_argument("--dir", type=Path, default=None,
                     help="where to write it (default: VAR_DIR/archive)")
    day.add_argument("--backup", action="store_true",
                     help="also write rooms-backup-YYYY-MM-DD.tar beside it")
