"""`wharf admin …` goes through the same services as the API; a real server sees the result."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import requests

from .helpers import WHARF, run_wharf

# a `wharf admin` process per command, then a server process: seconds each
pytestmark = pytest.mark.slow


def admin(data: Path, *args: str, ok: bool = True) -> str:
    env = {**os.environ, "WHARF_ADMIN_PASSWORD": "Admin-Pass-1"}
    r = subprocess.run(
        [WHARF, "admin", "--data", str(data), *args], capture_output=True, text=True, env=env
    )
    assert (r.returncode == 0) == ok, r.stdout + r.stderr
    return r.stdout


def test_admin_cli_then_server(tmp_path: Path) -> None:
    data = tmp_path / "data"
    admin(data, "create-user", "carol", "--password", "Carol-1234", "--email", "c@x")
    admin(data, "create-user", "carol", "--password", "Carol-1234", ok=False)  # exists
    admin(data, "create-user", "dave", "--password", "short", ok=False)  # weak password
    admin(data, "create-project", "proj")
    admin(data, "add-member", "proj", "carol", "--role", "developer")
    out = admin(data, "create-robot", "proj", "ci", "--actions", "pull,push", "--days", "7")
    name = out.split("name:")[1].split()[0]
    secret = out.split("secret:")[1].split()[0]
    assert name == "robot$proj+ci" and len(secret) == 32
    admin(data, "set-password", "carol", "--password", "Carol-5678")
    with run_wharf(data, auth=True) as server:
        r = requests.get(
            f"{server.url}/api/v2.0/projects/proj/members", auth=("carol", "Carol-5678")
        )
        assert r.status_code == 200 and {m["entity_name"] for m in r.json()} >= {"carol"}
        assert requests.get(f"{server.url}/v2/", auth=("carol", "Carol-1234")).status_code == 401
        assert requests.get(f"{server.url}/v2/", auth=(name, secret)).status_code == 200
        admin(data, "disable-user", "carol")
        assert requests.get(f"{server.url}/v2/", auth=("carol", "Carol-5678")).status_code == 401
        assert (data / "admin-password").exists() is False  # the configured password was used


def test_first_start_generates_an_admin_password(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if "ADMIN_PASSWORD" not in k}
    saved = os.environ.copy()
    os.environ.clear()
    os.environ.update(env)
    try:
        with run_wharf(data, auth=True) as server:
            secret_file = data / "admin-password"
            assert secret_file.stat().st_mode & 0o777 == 0o600
            password = secret_file.read_text().strip()
            assert len(password) >= 16 and password in server.log()  # logged once
            assert requests.get(f"{server.url}/v2/", auth=("admin", password)).status_code == 200
            assert requests.get(f"{server.url}/v2/").status_code == 401
            assert "docker login" in server.log()
    finally:
        os.environ.clear()
        os.environ.update(saved)
