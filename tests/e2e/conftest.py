"""Fixtures for the end-to-end tests: one Wharf server, client config, a private dockerd.

On a failing e2e test the report gets a section with the Wharf requests of that test
that were answered with an error (and any non-access log lines, e.g. tracebacks), so the
request that broke a client is visible next to the client's own error.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers import Server, run_wharf

from .clients import run

_SERVER: Server | None = None
_LOG_OFFSET = pytest.StashKey[int]()


@pytest.fixture(scope="session")
def e2e_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The Wharf server all e2e tests talk to (2 workers, plain http on 127.0.0.1)."""
    global _SERVER
    data = tmp_path_factory.mktemp("e2e-wharf") / "data"
    with run_wharf(data, workers=2) as server:
        _SERVER = server
        try:
            yield server
        finally:
            _SERVER = None


@pytest.fixture(scope="session")
def registry(e2e_server: Server) -> str:
    """host:port of the Wharf server, as clients write it in image references."""
    return e2e_server.url.split("://", 1)[1]


@pytest.fixture(scope="session")
def client_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Environment that keeps the clients off the host's registries and credentials."""
    base = tmp_path_factory.mktemp("client-config")
    registries_conf = base / "registries.conf"
    registries_conf.write_text("")
    (base / "auth.json").write_text("{}")
    (base / "docker").mkdir()
    (base / "tmp").mkdir()
    return {
        "CONTAINERS_REGISTRIES_CONF": str(registries_conf),
        "REGISTRY_AUTH_FILE": str(base / "auth.json"),
        "DOCKER_CONFIG": str(base / "docker"),
        "TMPDIR": str(base / "tmp"),
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
    }


@pytest.fixture(autouse=True)
def _mark_wharf_log(request: pytest.FixtureRequest, e2e_server: Server) -> None:
    try:
        offset = e2e_server.log_path.stat().st_size
    except OSError:
        offset = 0
    request.node.stash[_LOG_OFFSET] = offset


def _interesting(line: str) -> bool:
    try:
        entry = json.loads(line)
    except ValueError:
        return bool(line.strip())  # tracebacks, plain prints
    if not isinstance(entry, dict):
        return True
    if entry.get("level") not in (None, "info", "debug"):
        return True
    status = entry.get("status")
    if entry.get("method") == "HEAD" and status == 404:
        return False  # existence probes before uploads: normal
    # TLS probes of clients that try https first show up as `UNKNOWN / 400`: noise.
    return isinstance(status, int) and status >= 400 and entry.get("method") != "UNKNOWN"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if report.when != "call" or not report.failed or _SERVER is None:
        return
    offset = item.stash.get(_LOG_OFFSET, 0)
    try:
        with open(_SERVER.log_path, errors="replace") as f:
            f.seek(offset)
            lines = f.read().splitlines()
    except OSError as exc:
        report.sections.append(("wharf log", f"unreadable: {exc}"))
        return
    picked = [line for line in lines if _interesting(line)]
    text = "\n".join(picked[-60:]) or "(no error responses or warnings logged during this test)"
    report.sections.append((f"wharf log: errors during this test ({_SERVER.log_path})", text))


# --------------------------------------------------------------------------- dockerd


def docker_cli() -> str:
    """The docker CLI to test with: $E2E_DOCKER_CLI (not WHARF_*: Wharf rejects unknown ones),
    else Debian's (comes with the docker.io daemon, what CI installs), else `docker` on PATH."""
    chosen = os.environ.get("E2E_DOCKER_CLI")
    if chosen:
        return chosen
    if Path("/usr/bin/docker").exists():
        return "/usr/bin/docker"
    return shutil.which("docker") or "docker"


@dataclass
class Dockerd:
    root: Path
    host: str
    env: dict[str, str]
    process: subprocess.Popen[bytes]
    log_path: Path
    cli: str

    def docker(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return run([self.cli, *args], env=self.env, timeout=timeout)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid ...; comm may contain spaces, so split after the last ')'.
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid:
            found.append(int(entry.name))
    return found


def _mounts_under(path: Path) -> list[str]:
    prefix = str(path)
    mounts = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            point = line.split()[4].replace("\\040", " ")
            if point == prefix or point.startswith(prefix + "/"):
                mounts.append(point)
    return sorted(mounts, key=len, reverse=True)


def _stop_dockerd(process: subprocess.Popen[bytes], root: Path) -> list[str]:
    """Stop dockerd and its containerd by PID, unmount what they left. Returns problems."""
    problems = []
    children = _children(process.pid)
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            problems.append("dockerd ignored SIGTERM for 30 s; killed")
            process.kill()
            process.wait(10)
    for pid in children:  # containerd (and its shims) started by this dockerd only
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and Path(f"/proc/{pid}").exists():
            time.sleep(0.1)
        if Path(f"/proc/{pid}").exists():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    for point in _mounts_under(root):
        done = subprocess.run(["umount", point], capture_output=True, text=True, timeout=30)
        if done.returncode != 0:
            subprocess.run(["umount", "-l", point], capture_output=True, timeout=30)
        problems.append(f"unmounted leftover mount {point}")
    left = _mounts_under(root)
    if left:
        problems.append(f"mounts still present: {left}")
    return problems


@pytest.fixture(scope="session")
def dockerd(registry: str, client_env: dict[str, str]) -> Iterator[Dockerd]:
    """A private dockerd (Debian docker.io) that treats Wharf as an insecure registry."""
    cli = docker_cli()
    if shutil.which("dockerd") is None or shutil.which(cli) is None:
        pytest.fail(f"dockerd or {cli} not installed: run `bash tests/system-deps.sh`")
    # A short path under /tmp: containerd's unix sockets live under the exec root.
    root = Path(tempfile.mkdtemp(prefix="wharf-e2e-dockerd-", dir="/tmp"))
    sock = root / "docker.sock"
    log_path = root / "dockerd.log"
    command = [
        "dockerd",
        "--data-root",
        str(root / "root"),
        "--exec-root",
        str(root / "exec"),
        "--pidfile",
        str(root / "docker.pid"),
        "-H",
        f"unix://{sock}",
        "--storage-driver",
        "vfs",
        "--iptables=false",
        "--ip6tables=false",
        "--bridge=none",
        "--ip-masq=false",
        "--userland-proxy=false",
        "--insecure-registry",
        registry,
    ]
    env = {**client_env, "DOCKER_HOST": f"unix://{sock}"}
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **client_env},
            start_new_session=True,
        )
    daemon = Dockerd(root, f"unix://{sock}", env, process, log_path, cli)
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                pytest.fail(f"dockerd exited with {process.returncode} at start:\n{daemon.log()}")
            probe = subprocess.run(
                [cli, "version", "--format", "{{.Server.Version}}"],
                env={**os.environ, **env},
                capture_output=True,
                text=True,
                timeout=30,
            )
            if probe.returncode == 0:
                break
            if time.monotonic() > deadline:
                pytest.fail(
                    f"dockerd did not answer within 60 s: {probe.stderr}\n{daemon.log()[-6000:]}"
                )
            time.sleep(0.25)
        yield daemon
    finally:
        problems = _stop_dockerd(process, root)
        shutil.rmtree(root, ignore_errors=True)
        if problems:
            print("dockerd teardown:", "; ".join(problems))


# --------------------------------------------------------------------------- podman / buildah


def _storage_flags(prefix: str) -> Iterator[list[str]]:
    # podman refuses a runroot longer than 50 characters: keep it short, under /tmp.
    base = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    try:
        root, runroot = str(base / "root"), str(base / "run")
        yield ["--storage-driver", "vfs", "--root", root, "--runroot", runroot]
    finally:
        for point in _mounts_under(base):  # vfs mounts nothing; just in case
            subprocess.run(["umount", "-l", point], capture_output=True, timeout=30)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def podman_storage() -> Iterator[list[str]]:
    """Global flags giving podman a private vfs store."""
    yield from _storage_flags("wharf-e2e-podman-")


@pytest.fixture(scope="session")
def buildah_storage() -> Iterator[list[str]]:
    """Global flags giving buildah a private vfs store."""
    yield from _storage_flags("wharf-e2e-buildah-")
