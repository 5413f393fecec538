"""compose.yaml, Caddyfile, Dockerfile, .env.example, the systemd unit and the scripts.

The compose file is parsed and checked here (no Docker engine needed); where a compose
client is installed, `docker compose config` / `docker-compose config` validates it too.
"""

from __future__ import annotations

import configparser
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from rooms.config import Settings, load_settings
from rooms.recordings.upload import MULTIPART_OVERHEAD
from tests.production import caddy_binary, docker_shim

ROOT = Path(__file__).resolve().parents[2]
RUNTIME = ("api", "worker")
LONG_RUNNING = ("proxy", "api", "worker", "db", "redis", "s3")
ONE_SHOT = ("migrate", "bucket-init")
# generated, so no literal secret sits in the repository (scripts/secret-scan)
FAKE = {name: secrets.token_hex(20) for name in (
    "POSTGRES_PASSWORD", "S3_ACCESS_KEY", "S3_SECRET_KEY", "SECRET_KEY", "OPS_SHARED_SECRET")}
_VAR = re.compile(r"\$\{([A-Z0-9_]+)(?::([-?])([^}]*))?\}")


def interpolate(text: str, env: dict[str, str]) -> str:
    """Compose's ${NAME}, ${NAME:-default} and ${NAME:?error} (empty counts as unset)."""
    def one(match: re.Match[str]) -> str:
        name, op, arg = match.groups()
        value = env.get(name, "")
        if value:
            return value
        if op == "?":
            raise KeyError(f"{name}: {arg}")
        return arg if op == "-" else ""
    return _VAR.sub(one, text)


def compose(env: dict[str, str] | None = None) -> dict[str, Any]:
    text = interpolate((ROOT / "compose.yaml").read_text(), FAKE if env is None else env)
    data: dict[str, Any] = yaml.safe_load(text)
    return data


def test_compose_refuses_to_start_without_the_secrets() -> None:
    with pytest.raises(KeyError, match="SECRET_KEY"):
        compose({k: v for k, v in FAKE.items() if k != "SECRET_KEY"})


def test_compose_has_every_part_with_healthchecks_and_ordered_start() -> None:
    services = compose()["services"]
    assert set(services) == {*LONG_RUNNING, *ONE_SHOT}
    for name in LONG_RUNNING:
        check = services[name].get("healthcheck")
        assert check and check["test"], f"{name} has no healthcheck"
        assert services[name]["restart"] == "unless-stopped"
    for name in ONE_SHOT:
        assert services[name]["restart"] == "no"
    for name in RUNTIME:
        deps = services[name]["depends_on"]
        assert deps["migrate"]["condition"] == "service_completed_successfully"
        assert deps["bucket-init"]["condition"] == "service_completed_successfully"
        for part in ("db", "redis", "s3"):
            assert deps[part]["condition"] == "service_healthy", (name, part)
    assert services["migrate"]["depends_on"]["db"]["condition"] == "service_healthy"
    assert services["bucket-init"]["depends_on"]["s3"]["condition"] == "service_healthy"
    assert services["proxy"]["depends_on"]["api"]["condition"] == "service_healthy"
    assert services["api"]["command"][:2] == ["rooms", "serve"]
    assert services["worker"]["command"] == ["rooms", "worker"]
    assert services["migrate"]["command"] == ["rooms", "migrate"]
    # `--scale api=N`: no fixed host port and no container name on the api
    assert "ports" not in services["api"] and "container_name" not in services["api"]
    # API_PROCESSES / WORKER_PROCESSES in .env survive every `docker compose up -d`
    assert services["api"]["deploy"]["replicas"] == 1
    assert compose({**FAKE, "API_PROCESSES": "3"})["services"]["api"]["deploy"]["replicas"] == 3
    assert services["worker"]["deploy"]["replicas"] == 1
    assert {p.split(":")[0] for p in services["proxy"]["ports"]} == {"80", "443"}


def test_compose_keeps_state_in_named_volumes() -> None:
    data = compose()
    services, volumes = data["services"], set(data["volumes"])
    mounts = {name: [str(v).split(":")[0] for v in svc.get("volumes", [])]
              for name, svc in services.items()}
    assert "pgdata" in mounts["db"] and "redisdata" in mounts["redis"]
    assert "s3data" in mounts["s3"] and "caddy-data" in mounts["proxy"]
    assert "./Caddyfile" in mounts["proxy"]
    for name, used in mounts.items():
        for volume in used:
            assert volume.startswith(".") or volume in volumes, (name, volume)


def test_every_rooms_service_gets_a_valid_production_configuration() -> None:
    services = compose()["services"]
    for name in (*RUNTIME, *ONE_SHOT):
        env = {k: str(v) for k, v in services[name]["environment"].items()}
        for key in ("DATABASE_URL", "REDIS_URL", "BLOB_STORE_URL", "S3_ENDPOINT_URL",
                    "S3_ACCESS_KEY", "S3_SECRET_KEY", "SECRET_KEY", "OPS_SHARED_SECRET",
                    "TRUSTED_PROXIES", "VAR_DIR"):
            assert env.get(key), f"{name} lacks {key}"
        settings = load_settings(**{k.lower(): v for k, v in env.items()})
        assert not settings.embedded
        assert settings.resolved_blob_store_url == "s3://rooms"
        # Caddy's address on the compose network is believed, a visitor's is not
        assert any(net.version == 4 and net.prefixlen <= 16
                   for net in settings.trusted_proxy_networks())
    s3 = services["s3"]
    assert s3["command"][0] == "mini" and "seaweedfs" in s3["image"]
    identities = compose()["configs"]["s3-identities"]["content"]
    assert FAKE["S3_ACCESS_KEY"] in identities and FAKE["S3_SECRET_KEY"] in identities


def test_the_body_limit_matches_the_apps_upload_limit() -> None:
    expected = Settings.model_fields["ingest_max_upload_bytes"].default + MULTIPART_OVERHEAD
    caddyfile = (ROOT / "Caddyfile").read_text()
    assert f"max_size {{$ROOMS_MAX_REQUEST_BYTES:{expected}}}" in caddyfile
    proxy_env = compose()["services"]["proxy"]["environment"]
    assert int(proxy_env["ROOMS_MAX_REQUEST_BYTES"]) == expected
    assert f"ROOMS_MAX_REQUEST_BYTES={expected}\n" in (ROOT / ".env.example").read_text()


@pytest.mark.parametrize("site, tls, upstream", [
    ("memory.example.com", "auto", "dynamic"),
    ("192.168.1.20", "internal", "dynamic"),
    ("http://127.0.0.1:8080", "off", "static"),
])
def test_the_caddyfile_is_valid_for_each_kind_of_site(site: str, tls: str,
                                                      upstream: str) -> None:
    caddy = caddy_binary()
    if caddy is None:
        pytest.skip("caddy is not installed (apt-get install caddy)")
    env = {**os.environ, "ROOMS_SITE": site, "ROOMS_TLS": tls, "ROOMS_UPSTREAM": upstream,
           "ROOMS_UPSTREAMS": "127.0.0.1:8001 127.0.0.1:8002"}
    result = subprocess.run([caddy, "validate", "--config", str(ROOT / "Caddyfile"),
                             "--adapter", "caddyfile"], env=env, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]
    # what compose's proxy gets: the site, its certificate issuer, the loopback health site
    env.update(ROOMS_PROXY_HEALTH="on", ROOMS_PROXY_HEALTH_PORT="8081")
    adapted = subprocess.run([caddy, "adapt", "--config", str(ROOT / "Caddyfile"),
                              "--adapter", "caddyfile"], env=env, capture_output=True,
                             text=True, timeout=60, check=True).stdout
    config = json.loads(adapted)
    servers = config["apps"]["http"]["servers"]
    listens = {addr for server in servers.values() for addr in server["listen"]}
    assert "127.0.0.1:8081" in listens
    hosts = {h for server in servers.values() for route in server.get("routes", [])
             for match in route.get("match", []) for h in match.get("host", [])}
    assert site.removeprefix("http://").split(":")[0] in hosts
    issuers = [i["module"] for policy in config["apps"].get("tls", {}).get(
        "automation", {}).get("policies", []) for i in policy.get("issuers", [])]
    if tls == "internal":
        assert issuers == ["internal"], issuers
    else:
        assert "internal" not in issuers, issuers  # auto: ACME (Let's Encrypt / ZeroSSL)


def test_the_image_installs_the_wheel_and_runs_unprivileged() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert "pip wheel" in text and re.search(r"pip install [^\n]*\.whl", text)
    assert " -e " not in text and "--editable" not in text
    users = re.findall(r"^USER (\S+)", text, re.M)
    assert users and users[-1] not in ("root", "0")
    assert re.search(r"^HEALTHCHECK", text, re.M)
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert ".env" in ignored and "var" in ignored


def test_env_example_lists_every_setting_and_is_current() -> None:
    text = (ROOT / ".env.example").read_text()
    names = set(re.findall(r"^#? ?([A-Z][A-Z0-9_]*)[=:]", text, re.M))
    missing = sorted(n.upper() for n in Settings.model_fields if n.upper() not in names)
    assert not missing, f".env.example lacks {missing}: run scripts/env_example.py"
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "env_example.py"),
                             "--check"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    for name in FAKE:  # the secrets compose requires are there, uncommented and empty
        assert re.search(rf"^{name}=$", text, re.M), name


def test_the_systemd_unit_restarts_on_crash_and_logs_to_journald() -> None:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read(ROOT / "deploy" / "rooms.service")
    service = unit["Service"]
    assert service["ExecStart"].split()[1:3] == ["serve", "--host"]
    assert service["Restart"] in ("on-failure", "always")
    assert service["StandardOutput"] == service["StandardError"] == "journal"
    assert service["User"] != "root"
    assert unit["Install"]["WantedBy"] == "multi-user.target"


def test_first_boot_fills_in_secrets_once(tmp_path: Path) -> None:
    (tmp_path / "scripts").mkdir()
    shutil.copy(ROOT / "scripts" / "first_boot.sh", tmp_path / "scripts")
    shutil.copy(ROOT / ".env.example", tmp_path)
    run = [str(tmp_path / "scripts" / "first_boot.sh"), "--lan-host", "rooms.lan"]
    subprocess.run(run, check=True, capture_output=True, timeout=60)
    env = tmp_path / ".env"
    first = env.read_text()
    assert (env.stat().st_mode & 0o777) == 0o600
    values = dict(re.findall(r"^([A-Z0-9_]+)=(.*)$", first, re.M))
    for name in FAKE:
        assert len(values[name]) >= 16, name
    assert values["ROOMS_SITE"] == "rooms.lan" and values["ROOMS_TLS"] == "internal"
    assert load_settings(secret_key=values["SECRET_KEY"]).secret_key.get_secret_value()
    # a second run changes nothing; with --deploy it starts the stack (a `docker` stand-in:
    # no Docker engine can run here, tests/production/docker_shim.py)
    docker_shim.install(tmp_path / "bin")
    log = tmp_path / "docker.log"
    path = {"PATH": f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}",
            "DOCKER_SHIM_LOG": str(log)}
    subprocess.run([run[0], "--deploy"], check=True, capture_output=True, timeout=60,
                   env={**os.environ, **path})
    assert env.read_text() == first
    assert docker_shim.calls(log) == [["compose", "version"], ["compose", "up", "-d", "--build"]]


def test_the_scripts_pass_shellcheck() -> None:
    shellcheck = shutil.which("shellcheck")
    if shellcheck is None:
        pytest.skip("shellcheck is not installed (apt-get install shellcheck)")
    scripts = [str(ROOT / "scripts" / s) for s in ("first_boot.sh", "update.sh")]
    result = subprocess.run([shellcheck, *scripts], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout


def _compose_client() -> list[str] | None:
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "compose", "version"], capture_output=True,
                                 timeout=30).returncode == 0:
        return [docker, "compose"]
    legacy = shutil.which("docker-compose")
    return [legacy] if legacy else None


def test_a_compose_client_accepts_the_file(tmp_path: Path) -> None:
    client = _compose_client()
    if client is None:
        pytest.skip("no compose client (docker compose / docker-compose) is installed; "
                    "the file is still checked by the parse tests above")
    env_file = tmp_path / ".env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in FAKE.items()))
    result = subprocess.run([*client, "--project-directory", str(ROOT), "--env-file",
                             str(env_file), "-f", str(ROOT / "compose.yaml"), "config",
                             "--quiet"], capture_output=True, text=True, timeout=120,
                            env={**os.environ, **FAKE})
    assert result.returncode == 0, result.stderr[-2000:]
