"""Where the templates, static files and migrations are found: inside the package.

They live at the top of the repository (`templates/`, `static/`, `migrations/`, the design's
layout). A wheel carries them as `rooms/_assets/<name>`, mapped there at build time by
hatchling's `force-include` (pyproject.toml). In a checkout (editable install, or
`PYTHONPATH=src`) `src/rooms/_assets/<name>` are relative symlinks to those same directories,
so one lookup through `importlib.resources` serves an installed wheel and a checkout alike, and
an edit to a template shows without a reinstall.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path
from typing import Literal

AssetDir = Literal["templates", "static", "migrations"]


def asset_dir(name: AssetDir) -> Path:
    """The directory `name` shipped with the package. Raises RuntimeError if it is missing
    (a wheel built without its assets) or not on a file system (a zip import)."""
    resource = files("rooms") / "_assets" / name
    if not isinstance(resource, Path) or not resource.is_dir():
        raise RuntimeError(f"rooms is installed without its {name}/ directory "
                           f"(looked for {resource}); rebuild the wheel")
    return resource
