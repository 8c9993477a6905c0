"""Other registries for the replication tests, started as throwaway processes.

``run_reference_registry``: the reference registry (Debian's ``docker-registry``, CNCF
distribution 2.8) on a free port, anonymous, with HTTP Basic users from an htpasswd file
(``htpasswd -B`` of apache2-utils: distribution only takes bcrypt), or with Docker token
auth whose token service is somewhere else (``TokenAuth``: realm, service, issuer and the
certificate the tokens are signed with)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests

from tests.helpers import free_port

REFERENCE_BIN = Path("/usr/bin/docker-registry")
HTPASSWD_BIN = Path("/usr/bin/htpasswd")


@dataclass(frozen=True)
class TokenAuth:
    realm: str
    service: str
    issuer: str
    certificates: Path  # PEM bundle the token signatures must chain to


@dataclass
class Peer:
    url: str
    directory: Path
    process: subprocess.Popen[bytes]

    def log(self) -> str:
        return (self.directory / "registry.log").read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def htpasswd(path: Path, users: Mapping[str, str]) -> None:
    lines = []
    for user, password in users.items():
        done = subprocess.run(
            [str(HTPASSWD_BIN), "-nbB", "-C", "4", user, password],
            capture_output=True,
            text=True,
            check=True,
        )
        lines.append(done.stdout.strip())
    path.write_text("\n".join(lines) + "\n")


def _config(
    directory: Path,
    port: int,
    users: Mapping[str, str] | None,
    token: TokenAuth | None,
    tls: tuple[Path, Path] | None,
) -> str:
    auth = ""
    if users:
        htpasswd(directory / "htpasswd", users)
        auth = f"""auth:
  htpasswd:
    realm: wharf-test
    path: {directory / "htpasswd"}
"""
    elif token is not None:
        auth = f"""auth:
  token:
    realm: {token.realm}
    service: {token.service}
    issuer: {token.issuer}
    rootcertbundle: {token.certificates}
"""
    tls_section = ""
    if tls is not None:
        tls_section = f"""  tls:
    certificate: {tls[0]}
    key: {tls[1]}
"""
    return f"""version: 0.1
log:
  level: info
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: {directory / "data"}
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:{port}
  secret: wharf-tests-not-secret
{tls_section}{auth}"""


@contextmanager
def run_reference_registry(
    directory: Path,
    *,
    users: Mapping[str, str] | None = None,
    token: TokenAuth | None = None,
    tls: tuple[Path, Path] | None = None,
    port: int | None = None,
) -> Iterator[Peer]:
    """The reference registry on ``port`` (a free one by default) over ``directory``;
    ``tls``: (certificate, key) to serve https."""
    if not REFERENCE_BIN.exists():
        raise RuntimeError("docker-registry is not installed (bash tests/system-deps.sh)")
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "data").mkdir(exist_ok=True)
    port = port or free_port()
    config = directory / "config.yml"
    config.write_text(_config(directory, port, users, token, tls))
    env = {**os.environ, "OTEL_TRACES_EXPORTER": "none"}
    with open(directory / "registry.log", "ab") as log:
        process = subprocess.Popen(
            [str(REFERENCE_BIN), "serve", str(config)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
    scheme = "https" if tls else "http"
    peer = Peer(f"{scheme}://127.0.0.1:{port}", directory, process)
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"docker-registry exited at start:\n{peer.log()[-3000:]}")
            try:
                with warnings.catch_warnings():  # our own throwaway certificate
                    warnings.simplefilter("ignore")
                    answer = requests.get(f"{peer.url}/v2/", timeout=1, verify=False)
                if answer.status_code in (200, 401):
                    break
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"docker-registry did not start:\n{peer.log()[-3000:]}")
            time.sleep(0.05)
        yield peer
    finally:
        peer.stop()
