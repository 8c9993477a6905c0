"""deploy/ is consistent and valid: the compose file's services, the Wharf configuration
every replica loads (validated by `load_settings` with each replica's environment), the
nginx upstreams, the systemd units and the GC timer and cron line (commands parsed by
Wharf's own command line)."""

from __future__ import annotations

import configparser
import re
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from wharf.jobs.cron import Cron
from wharf.registry.cli.main import build_parser
from wharf.registry.config import load_settings

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"


def _compose() -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    return doc


def _replicas(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: service
        for name, service in compose["services"].items()
        if service.get("command", [None])[0] == "serve"
    }


def _unit(name: str) -> configparser.RawConfigParser:
    parser = configparser.RawConfigParser(strict=False)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string((DEPLOY / name).read_text())
    return parser


def _wharf_args(command: str) -> Any:
    """A `/opt/wharf/bin/wharf ...` command line, parsed by Wharf's own parser."""
    argv = shlex.split(command)
    assert argv[0].endswith("/wharf"), command
    return build_parser().parse_args(argv[1:])


def test_compose_has_the_ha_topology_and_every_replica_config_validates() -> None:
    compose = _compose()
    services = compose["services"]
    assert {"postgres", "redis", "s3", "nginx", "migrate"} <= set(services)
    replicas = _replicas(compose)
    assert len(replicas) == 2
    names = set()
    for service in replicas.values():
        mounts = dict(v.split(":")[:2] for v in service["volumes"])
        config_in_container = service["command"][service["command"].index("--config") + 1]
        local = {target: source for source, target in mounts.items()}[config_in_container]
        settings = load_settings(DEPLOY / local, environ=service["environment"])
        names.add(settings.replica)
        assert settings.database_url.startswith("postgresql://")
        assert settings.redis.url is not None and settings.storage.driver == "s3"
        assert settings.auth.enabled and settings.external_url
        # the hosts the configuration names are services of the file
        for url in (settings.database_url, settings.redis.url, settings.storage.s3.endpoint):  # type: ignore[union-attr]
            host = re.match(r"^\w+://(?:[^@/]*@)?([^:/]+)", str(url))
            assert host and host.group(1) in services, url
        assert service["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        assert "/readyz" in " ".join(service["healthcheck"]["test"])
    assert len(names) == 2, "each replica has a name of its own (the metrics label)"
    # the database password the replicas use is the one PostgreSQL is given
    settings = load_settings(DEPLOY / "wharf.yaml")
    assert services["postgres"]["environment"]["POSTGRES_PASSWORD"] in settings.database_url
    assert services["s3"]["environment"]["AWS_SECRET_ACCESS_KEY"] == settings.storage.s3.secret_key  # type: ignore[union-attr]


def test_nginx_sends_to_every_replica_and_streams_bodies(tmp_path: Path) -> None:
    text = (DEPLOY / "nginx.conf").read_text()
    compose = _compose()
    port = load_settings(DEPLOY / "wharf.yaml").port
    upstreams = set(re.findall(r"^\s*server\s+([\w.-]+:\d+)", text, re.M))
    assert upstreams == {f"{name}:{port}" for name in _replicas(compose)}
    for directive in (
        "proxy_request_buffering off;",
        "proxy_buffering off;",
        "client_max_body_size 0;",
        "proxy_http_version 1.1;",
    ):
        assert directive in text
    published = compose["services"]["nginx"]["ports"][0].split(":")[1]
    assert f"listen {published};" in text
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(nginx).exists():
        pytest.skip("nginx is not installed (bash tests/system-deps.sh)")
    # nginx's own check, with the compose host names resolved to this host
    local = text
    for name in _replicas(compose):
        local = local.replace(f"{name}:", "127.0.0.1:")
    local = local.replace("listen 8080;", "listen 127.0.0.1:8080;")
    config = tmp_path / "nginx.conf"
    config.write_text(f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\n" + local)
    done = subprocess.run(
        [
            nginx,
            "-t",
            "-q",
            "-p",
            str(tmp_path),
            "-e",
            str(tmp_path / "error.log"),
            "-c",
            str(config),
        ],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr


def test_systemd_units_and_gc_schedules_run_real_commands() -> None:
    serve = _unit("wharf.service")
    assert serve["Install"]["WantedBy"] == "multi-user.target"
    args = _wharf_args(serve["Service"]["ExecStart"])
    assert args.command == "serve"
    assert _wharf_args(serve["Service"]["ExecStartPre"]).command == "migrate"
    timer = _unit("wharf-gc.timer")
    assert timer["Timer"]["OnCalendar"] and timer["Install"]["WantedBy"] == "timers.target"
    gc = _unit("wharf-gc.service")  # the timer's unit: same name, .service
    assert gc["Service"]["Type"] == "oneshot"
    from_timer = gc["Service"]["ExecStart"]
    gc_args = _wharf_args(from_timer)
    assert gc_args.command == "gc" and gc_args.config == args.config
    cron_lines = [
        line
        for line in (DEPLOY / "wharf-gc.cron").read_text().splitlines()
        if line and not line.startswith("#") and "=" not in line.split()[0]
    ]
    assert len(cron_lines) == 1
    fields = cron_lines[0].split()
    Cron.parse(" ".join(fields[:5]))  # a valid schedule
    assert fields[5] == serve["Service"]["User"]
    command = " ".join(fields[6:]).split(">>")[0].strip()
    assert command == from_timer
