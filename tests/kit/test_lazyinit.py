"""rooms.kit.lazyinit: a package's `__init__` waits for the first name asked of it, and
FastAPI's own models wait for their first use, with nothing behaving differently."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path


def _run(tmp_path: Path, code: str) -> str:
    """`code` in a fresh interpreter with `tmp_path` on sys.path; its stdout."""
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60, check=False,
                          env={"PYTHONPATH": f"{tmp_path}:{':'.join(sys.path)}"})
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def _package(tmp_path: Path) -> None:
    pkg = tmp_path / "heavypkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text(
        "import builtins\nbuiltins.INIT_RAN = True\n"
        "from heavypkg import core, extra\nfrom heavypkg.core import VALUE\n__version__ = '1.0'\n")
    (pkg / "core.py").write_text("from . import helper\nVALUE = helper.HALF * 2\n")
    (pkg / "helper.py").write_text("HALF = 21\n")
    (pkg / "extra.py").write_text("import builtins\nbuiltins.EXTRA_RAN = True\n")


def test_a_submodule_imports_without_the_package_init(tmp_path: Path) -> None:
    _package(tmp_path)
    out = _run(tmp_path, """
        import builtins, sys
        from rooms.kit.lazyinit import defer_init
        assert defer_init("heavypkg") is not None
        from heavypkg.core import VALUE          # `from . import helper` inside works too
        print(VALUE, hasattr(builtins, "INIT_RAN"), "heavypkg.extra" in sys.modules)
    """)
    assert out == "42 False False"


def test_the_first_name_asked_runs_the_real_init(tmp_path: Path) -> None:
    _package(tmp_path)
    out = _run(tmp_path, """
        import builtins
        from rooms.kit.lazyinit import defer_init
        defer_init("heavypkg")
        import heavypkg.core
        import heavypkg
        print(heavypkg.VALUE, heavypkg.__version__, builtins.INIT_RAN, builtins.EXTRA_RAN)
        try:
            heavypkg.missing
        except AttributeError:
            print("missing")
    """)
    assert out.splitlines() == ["42 1.0 True True", "missing"]


def test_an_imported_or_absent_package_is_left_alone(tmp_path: Path) -> None:
    _package(tmp_path)
    out = _run(tmp_path, """
        import heavypkg
        from rooms.kit.lazyinit import defer_init
        print(defer_init("heavypkg"), defer_init("no_such_package_here"))
    """)
    assert out == "None None"


def test_fastapi_models_build_on_first_use_and_rooms_models_at_once(tmp_path: Path) -> None:
    out = _run(tmp_path, """
        from rooms.kit.lazyinit import import_deferring_models
        import_deferring_models("fastapi")
        from fastapi.openapi.models import Contact
        from pydantic import BaseModel

        class Mine(BaseModel):
            name: str

        before = Contact.__pydantic_complete__
        contact = Contact(name="rooms", email="ops@example.org")
        print(before, Contact.__pydantic_complete__, contact.name, Mine.__pydantic_complete__,
              "defer_build" in BaseModel.model_config)
    """)
    assert out == "False True rooms True False"
