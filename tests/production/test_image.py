"""The image and the compose services, run for real without a Docker engine (services tier).

No Docker engine runs here, so the image is emulated as closely as a test can: the build
stage's COPY lines stage a build context, its `pip wheel` line builds the wheel there, and
the wheel is installed (non-editable) into a fresh venv outside the checkout. Then the command
lines are read FROM compose.yaml and the Dockerfile, never copied into this file, and run
against the session's PostgreSQL, Redis and SeaweedFS with the environment compose gives each
service (only the addresses of `db`, `redis` and `s3` and VAR_DIR are replaced):
`migrate`'s command migrates an empty database, `bucket-init`'s creates the bucket, `api`'s
(= the image's CMD) serves, and its healthcheck and the image's HEALTHCHECK go from failing
to passing; `worker`'s healthcheck fails until the worker's command has written its
heartbeat; the `db`, `s3` and `proxy` healthchecks (pg_isready, wget) pass against the real
servers, the last through Caddy running the project's Caddyfile with the proxy's env
(dynamic upstreams by DNS, the loopback health site).

What stays unverified here: the base images themselves (python:3.11-slim, postgres, redis,
caddy, seaweedfs are not pulled), busybox's wget (GNU wget runs the same argv), and the
engine's own behaviour (volumes, DNS of `--scale api=N`, health states).

Speed: like tests/test_wheel.py, the venv gets its dependencies from the interpreter running
the tests (a `.pth` line) instead of PyPI; the image installs the same requirements.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import sysconfig
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import yaml
from redis.asyncio import Redis

from tests.conftest import unavailable
from tests.process import Proc, free_port, spawn
from tests.production import caddy_binary, docker_shim
from tests.production.test_deploy_files import FAKE, interpolate

pytestmark = [pytest.mark.timeout(120)]

ROOT = Path(__file__).resolve().parents[2]
IMAGE_ROOT = "/var/lib/rooms"  # the image's WORKDIR and VAR_DIR
API_PORT = "8000"
PROXY_HEALTH_PORT = "8081"
IGNORED = shutil.ignore_patterns("__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache")


# -- the Dockerfile ------------------------------------------------------------------------

def dockerfile_stages() -> list[list[tuple[str, str]]]:
    """The Dockerfile's instructions per stage, as (INSTRUCTION, arguments), lines joined."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    stages: list[list[tuple[str, str]]] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        op, _, rest = line.partition(" ")
        if op.upper() == "FROM":
            stages.append([])
        stages[-1].append((op.upper(), rest.strip()))
    return stages


def exec_form(args: str) -> list[str]:
    """The JSON argv of `CMD [...]` / `HEALTHCHECK [options] CMD [...]`."""
    argv: list[str] = json.loads(args[args.index("["):])
    return argv


def build_context(stage: list[tuple[str, str]], into: Path) -> Path:
    """What the build stage's COPY lines put under its WORKDIR, copied from the checkout."""
    [workdir] = [rest for op, rest in stage if op == "WORKDIR"]
    ctx = into / workdir.strip("/")
    ctx.mkdir(parents=True)
    for op, rest in stage:
        if op != "COPY":
            continue
        *sources, dest = shlex.split(rest)
        assert not any(s.startswith("--") for s in sources), rest
        for source in sources:
            path, target = ROOT / source, ctx / dest
            if path.is_dir():  # Docker copies a directory's contents
                shutil.copytree(path, target, symlinks=True, ignore=IGNORED, dirs_exist_ok=True)
            else:
                target = target / path.name if dest.endswith("/") else target
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, target)
    return ctx


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv holding the wheel built as the Dockerfile builds it; returns its root."""
    stages = dockerfile_stages()
    assert len(stages) == 2, "a build stage and the runtime stage"
    build, runtime = stages
    version = re.fullmatch(r"python:(\d+)\.(\d+)-slim(?: AS \w+)?", build[0][1], re.I)
    assert version and runtime[0][1].startswith(f"python:{version[1]}.{version[2]}-slim")
    assert sys.version_info[:2] == (int(version[1]), int(version[2])), (
        f"the image runs Python {version[1]}.{version[2]}, the tests {sys.version[:4]}: "
        "keep them equal")

    tmp = tmp_path_factory.mktemp("image")
    ctx = build_context(build, tmp / "build")
    wheels = tmp / "wheels"
    [wheel_line] = [rest for op, rest in build if op == "RUN" and rest.startswith("pip wheel")]
    argv = [a.replace("/wheels", str(wheels)) for a in shlex.split(wheel_line)[1:]]
    subprocess.run([sys.executable, "-m", "pip", *argv, "--quiet"], cwd=ctx, check=True,
                   timeout=120)
    [wheel] = wheels.glob("rooms-*.whl")

    [install] = [rest for op, rest in runtime if op == "RUN" and "pip install" in rest]
    assert re.search(r"pip install [^&]*/wheels/rooms-\*\.whl", install), install
    assert "-e " not in install and "--editable" not in install
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True,
                   timeout=60)
    python = venv / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install",
                    "--quiet", "--no-deps", "--no-index", str(wheel)], check=True, timeout=120)
    site = subprocess.run([str(python), "-c",
                           "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          check=True, capture_output=True, text=True,
                          env={"PATH": "/usr/bin:/bin"}).stdout.strip()
    deps = dict.fromkeys([sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]])
    (Path(site) / "zz_rooms_test_deps.pth").write_text("".join(f"{d}\n" for d in deps))
    return venv


# -- compose.yaml ----------------------------------------------------------------------------

def compose_services(s3: Any, bucket: str) -> dict[str, Any]:
    env = {**FAKE, "S3_ACCESS_KEY": s3.access_key, "S3_SECRET_KEY": s3.secret_key,
           "S3_BUCKET": bucket}
    data: dict[str, Any] = yaml.safe_load(interpolate((ROOT / "compose.yaml").read_text(), env))
    services: dict[str, Any] = data["services"]
    return services


def here(service: dict[str, Any], var_dir: Path, services: Any, database_url: str
         ) -> dict[str, str]:
    """A rooms service's compose environment, with this machine's addresses for its parts."""
    env = {k: str(v) for k, v in service["environment"].items()}
    for key, host, value in (("DATABASE_URL", "db", database_url),
                             ("REDIS_URL", "redis", services.redis.url),
                             ("S3_ENDPOINT_URL", "s3", services.s3.endpoint_url)):
        assert urlsplit(env[key]).hostname == host, (key, env[key])
        env[key] = value
    assert env["VAR_DIR"] == IMAGE_ROOT
    env["VAR_DIR"] = str(var_dir)
    return env


def in_image(venv: Path, home: Path, env: dict[str, str]) -> dict[str, str]:
    """The process environment of a container: the venv's programs first, nothing of ours."""
    return {"PATH": f"{venv / 'bin'}{os.pathsep}/usr/bin:/bin", "HOME": str(home),
            "LANG": "C.UTF-8", "PYTHONUNBUFFERED": "1", "PYTHONDONTWRITEBYTECODE": "1", **env}


def check(test: list[str], **replace: str) -> list[str]:
    """A compose healthcheck's argv (`CMD` form), container ports replaced by ours."""
    assert test[0] == "CMD", f"exec form keeps the check free of a shell: {test}"
    return [_replace(arg, replace) for arg in test[1:]]


def _replace(arg: str, replace: dict[str, str]) -> str:
    for old, new in replace.items():
        arg = arg.replace(old, new)
    return arg


def run(argv: list[str], env: dict[str, str], cwd: Path, timeout: float = 60
        ) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


def passes_within(argv: list[str], env: dict[str, str], cwd: Path, seconds: float,
                  proc: Proc) -> None:
    deadline = time.monotonic() + seconds
    while True:
        result = run(argv, env, cwd, timeout=30)
        if result.returncode == 0:
            return
        assert proc.alive(), f"{proc.name} exited:\n{proc.tail()}"
        assert time.monotonic() < deadline, (
            f"{argv} still failing after {seconds:.0f} s: {result.stderr[-500:]}\n{proc.tail()}")
        time.sleep(0.2)


@pytest.fixture
def stopping() -> Iterator[Callable[[Proc], Proc]]:
    procs: list[Proc] = []
    yield lambda proc: procs.append(proc) or proc
    for proc in reversed(procs):
        proc.stop()


def bucket_exists(s3: Any, bucket: str) -> bool:
    client = s3.client()
    try:
        return bucket in {b["Name"] for b in client.list_buckets()["Buckets"]}
    finally:
        client.close()


async def _flush(url: str) -> None:
    redis = Redis.from_url(url)
    try:
        await redis.flushdb()
    finally:
        await redis.aclose()


GIT = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid",
       "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.invalid"}


def update(root: Path, services: dict[str, Any], base: str, var_dir: Path) -> None:
    """update.sh in a clone of a repository holding the deploy files, one commit behind: it
    backs up through the running api's image (a real `rooms backup`), pulls, builds,
    migrates (a real `rooms migrate`), restarts, and finds /readyz at `base`."""
    upstream, node = root / "upstream", root / "node"
    (upstream / "scripts").mkdir(parents=True)
    for name in ("compose.yaml", "Caddyfile", "Dockerfile", "scripts/update.sh"):
        shutil.copy2(ROOT / name, upstream / name)
    env = {"PATH": f"{root / 'bin'}{os.pathsep}/usr/bin:/bin", "HOME": str(root), **GIT,
           "DOCKER_SHIM_LOG": str(root / "docker.log"),
           "DOCKER_SHIM_SERVICES": str(root / "services.json")}
    git = ["git", "-c", "init.defaultBranch=main"]
    for argv in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "one"]):
        subprocess.run([*git, *argv], cwd=upstream, env=env, check=True, timeout=30)
    subprocess.run([*git, "clone", "-q", str(upstream), str(node)], env=env, check=True,
                   timeout=30)
    (upstream / "NEWS").write_text("two\n")
    for argv in (["add", "-A"], ["commit", "-qm", "two"]):
        subprocess.run([*git, *argv], cwd=upstream, env=env, check=True, timeout=30)
    docker_shim.install(root / "bin")
    (root / "services.json").write_text(json.dumps(services))

    done = subprocess.run([str(node / "scripts" / "update.sh"), "--compose", "--skip-tests",
                           "--url", base], cwd=root, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "update: ready" in done.stdout
    assert (node / "NEWS").exists()  # pulled
    [backup] = (var_dir / "backups").glob("rooms-*.tar")
    assert backup.stat().st_size > 0 and backup.name in done.stdout
    made = [argv[:4] for argv in docker_shim.calls(root / "docker.log")]
    assert made == [["compose", "run", "--rm", "--no-deps"], ["compose", "build"],
                    ["compose", "run", "--rm", "migrate"],
                    ["compose", "up", "-d", "--remove-orphans"]], made


def test_the_compose_commands_run_the_installed_image(
        image: Path, services: Any, tmp_path: Path,
        stopping: Callable[[Proc], Proc]) -> None:
    name = f"img_{uuid.uuid4().hex[:12]}"
    bucket = name.replace("_", "-")
    database_url = asyncio.run(services.postgres.create_database(name))  # empty: no template
    asyncio.run(_flush(services.redis.url))
    compose = compose_services(services.s3, bucket)
    runtime = dockerfile_stages()[-1]
    [image_cmd] = [exec_form(rest) for op, rest in runtime if op == "CMD"]
    [image_check] = [exec_form(rest) for op, rest in runtime if op == "HEALTHCHECK"]
    [workdir] = [rest for op, rest in runtime if op == "WORKDIR"]
    assert workdir == IMAGE_ROOT

    def service(what: str, home_name: str | None = None) -> tuple[dict[str, str], Path]:
        home = tmp_path / (home_name or what)
        home.mkdir()
        env = in_image(image, home, here(compose[what], tmp_path / "var", services,
                                         database_url))
        return env, home

    # -- the parts' own healthchecks, against the real servers --------------------------------
    pg = urlsplit(services.postgres.url)
    db_check = check(compose["db"]["healthcheck"]["test"], **{"5432": str(pg.port)})
    assert run(db_check, {"PATH": "/usr/bin:/bin"}, tmp_path).returncode == 0, db_check
    if shutil.which("wget") is None:
        unavailable("wget is missing (apt-get install wget)", "the wget healthchecks")
    s3_check = check(compose["s3"]["healthcheck"]["test"],
                     **{"8333": str(urlsplit(services.s3.endpoint_url).port)})
    assert run(s3_check, {"PATH": "/usr/bin:/bin"}, tmp_path).returncode == 0, s3_check

    # -- migrate: an empty database gets the schema ---------------------------------------------
    env, home = service("migrate")
    migrated = run(compose["migrate"]["command"], env, home)
    assert migrated.returncode == 0, migrated.stderr[-3000:]

    # -- bucket-init: the bucket exists afterwards, and a second run is harmless ---------------
    assert not bucket_exists(services.s3, bucket)
    env, home = service("bucket-init")
    for _ in range(2):
        made = run(compose["bucket-init"]["command"], env, home)
        assert made.returncode == 0 and "bucket ready" in made.stdout, made.stderr[-3000:]
    assert bucket_exists(services.s3, bucket)

    # -- api: the image's CMD is compose's command; both healthchecks fail, then pass -----------
    assert compose["api"]["command"] == image_cmd
    port = str(free_port())
    env, home = service("api")
    api_check = check(compose["api"]["healthcheck"]["test"], **{API_PORT: port})
    image_check = [_replace(a, {API_PORT: port}) for a in image_check]
    assert run(api_check, env, home).returncode != 0  # nothing listens yet
    command = [_replace(a, {API_PORT: port}) for a in compose["api"]["command"]]
    api = stopping(spawn("api", command, home, env, int(port)))
    passes_within(api_check, env, home, 60, api)
    assert run(image_check, env, home).returncode == 0
    # not ready while no worker has sent a heartbeat (update.sh waits for /readyz)
    assert httpx.get(f"{api.base}/readyz", timeout=10).status_code == 503

    # -- worker: its healthcheck fails until the worker has written its first heartbeat --------
    env, home = service("worker")
    worker_check = check(compose["worker"]["healthcheck"]["test"])
    assert run(worker_check, env, home).returncode == 1
    worker = stopping(spawn("worker", compose["worker"]["command"], home, env))
    passes_within(worker_check, env, home, 60, worker)
    ready = httpx.get(f"{api.base}/readyz", timeout=10)
    assert ready.status_code == 200, ready.text

    # -- scripts/update.sh --compose, its docker calls run by the shim -------------------------
    shim = {}
    for what in ("api", "migrate"):
        env, home = service(what, f"{what}-update")
        shim[what] = {"env": env, "cwd": str(home), "command": compose[what]["command"]}
    update(tmp_path / "update", shim, api.base, tmp_path / "var")

    # -- proxy: the Caddyfile with the proxy's environment; its healthcheck passes --------------
    caddy = caddy_binary()
    if caddy is None:
        unavailable("caddy is missing (apt-get install caddy)", "the proxy healthcheck")
        return
    proxy_env = {k: str(v) for k, v in compose["proxy"]["environment"].items()}
    assert proxy_env["ROOMS_UPSTREAM"] == "dynamic" and proxy_env["ROOMS_API_HOST"] == "api"
    assert proxy_env["ROOMS_PROXY_HEALTH"] == "on"
    assert proxy_env["ROOMS_PROXY_HEALTH_PORT"] == PROXY_HEALTH_PORT
    site, health = free_port(), str(free_port())
    proxy_env.update(ROOMS_API_HOST="localhost", ROOMS_API_PORT=port,  # DNS: localhost
                     ROOMS_PROXY_HEALTH_PORT=health,
                     ROOMS_SITE=f"http://127.0.0.1:{site}", ROOMS_TLS="off")  # no :80/:443
    home = tmp_path / "proxy"
    caddy_env = {"PATH": "/usr/bin:/bin", "HOME": str(home), "XDG_DATA_HOME": str(home / "d"),
                 "XDG_CONFIG_HOME": str(home / "c"), **proxy_env}
    proxy = stopping(spawn("proxy", [caddy, "run", "--config", str(ROOT / "Caddyfile"),
                                     "--adapter", "caddyfile"], home, caddy_env, site))
    proxy_check = check(compose["proxy"]["healthcheck"]["test"],
                        **{PROXY_HEALTH_PORT: health})
    passes_within(proxy_check, {"PATH": "/usr/bin:/bin"}, home, 30, proxy)
    assert httpx.get(f"{proxy.base}/readyz", timeout=10).status_code == 200
    # and when no api answers, the proxy's healthcheck says so
    api.stop()
    deadline = time.monotonic() + 30
    while run(proxy_check, {"PATH": "/usr/bin:/bin"}, home).returncode == 0:
        assert time.monotonic() < deadline, "the proxy stayed healthy with its api gone"
        time.sleep(0.2)
