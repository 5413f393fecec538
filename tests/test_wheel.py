"""The wheel installs anywhere: built from the checkout, installed into a fresh venv outside
it, `rooms migrate` and `rooms serve` run from another directory and serve the pages.

Speed (the whole test stays well under a minute): the wheel is built without build isolation
(hatchling is a `dev` dependency) and installed with `--no-deps --no-index` into a venv made
`--without-pip` by the test's own pip (`pip --python`). The venv's dependencies come from the
interpreter running the tests, through a `.pth` line naming its site-packages. A plain path in
a `.pth` file is appended to `sys.path` but its own `.pth` files are not run, so the editable
install of rooms living there is invisible; the test checks that `rooms` is imported from the
wheel's copy in the fresh venv, never from the checkout.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import sysconfig
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

CHECKOUT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "--quiet", "--wheel-dir", str(out), str(CHECKOUT)],
                   check=True, timeout=120, cwd=out)
    [built] = out.glob("rooms-*.whl")
    return built


def test_the_wheel_carries_its_assets_inside_the_package(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for name in ("rooms/_assets/templates/revoke.html", "rooms/_assets/static/revoke.js",
                 "rooms/_assets/migrations/env.py", "rooms/_assets/migrations/script.py.mako",
                 "rooms/py.typed"):
        assert name in names, name
    assert any(n.startswith("rooms/_assets/migrations/versions/0001_") for n in names)
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    assert not [n for n in names if n.startswith(("templates/", "static/", "migrations/",
                                                  "src/", "tests/"))]


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True,
                   timeout=60)
    python = root / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet",
                    "--no-deps", "--no-index", str(wheel)], check=True, timeout=120)
    site = Path(subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True, env=_env(root)).stdout.strip())
    deps = dict.fromkeys([sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]])
    (site / "zz_rooms_test_deps.pth").write_text("".join(f"{d}\n" for d in deps))
    return root


def _env(home: Path, **extra: str) -> dict[str, str]:
    """A clean environment: no PYTHONPATH (the tests' own points at the checkout), no settings
    of the test run."""
    return {"PATH": f"{home / 'bin'}{os.pathsep}/usr/bin:/bin", "HOME": str(home),
            "LANG": "C.UTF-8", **extra}


@pytest.fixture
def server(venv: Path, tmp_path: Path) -> Iterator[str]:
    work = tmp_path / "elsewhere"  # cwd outside the checkout, var/ in a temporary directory
    work.mkdir()
    env = _env(venv, VAR_DIR=str(tmp_path / "var"))
    where = subprocess.run([str(venv / "bin" / "python"), "-c",
                            "import rooms.assets as a; print(a.__file__, a.asset_dir('static'))"],
                           check=True, capture_output=True, text=True, cwd=work, env=env)
    module, static = (Path(p).resolve() for p in where.stdout.split())
    assert static.is_relative_to(venv.resolve()) and (static / "revoke.js").is_file(), static
    assert module.is_relative_to(venv.resolve()), module  # the wheel's copy, not the checkout
    assert not module.is_relative_to(CHECKOUT), module

    migrate = subprocess.run([str(venv / "bin" / "rooms"), "migrate"], cwd=work, env=env,
                             capture_output=True, text=True, timeout=60)
    assert migrate.returncode == 0, migrate.stderr
    assert (tmp_path / "var" / "rooms.db").is_file()

    port = _free_port()
    log = (tmp_path / "serve.log").open("w")
    proc = subprocess.Popen([str(venv / "bin" / "rooms"), "serve", "--host", "127.0.0.1",
                             "--port", str(port)], cwd=work, env=env, stdout=log,
                            stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, (tmp_path / "serve.log").read_text()
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, (tmp_path / "serve.log").read_text()
            time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def test_the_installed_wheel_migrates_and_serves_its_pages(server: str) -> None:
    with httpx.Client(base_url=server, timeout=10) as client:
        assert client.get("/healthz").status_code == 200
        page = client.get("/revoke/")
        assert page.status_code == 200
        assert "Remove your recording" in page.text
        assert '<script src="/static/revoke.js"' in page.text
        script = client.get("/static/revoke.js")
        assert script.status_code == 200
        assert "/api/v1/revoke" in script.text
        assert client.get("/static/rooms.css").status_code == 200
