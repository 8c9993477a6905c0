"""Shared test helpers: run a real Wharf server process, push content over HTTP."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import requests

REPO_ROOT = Path(__file__).resolve().parent.parent
WHARF = str(Path(sys.executable).parent / "wharf")

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"


def free_port() -> int:
    """A free TCP port below the ephemeral range (those can be taken by outgoing sockets)."""
    for _ in range(200):
        port = 20000 + int.from_bytes(os.urandom(2), "big") % 10000
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port")


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass
class Server:
    url: str
    data_dir: Path
    process: subprocess.Popen[bytes]
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        return self.process.wait(timeout)


@contextmanager
def run_wharf(
    data_dir: Path,
    *,
    workers: int = 1,
    env: dict[str, str] | None = None,
    args: list[str] | None = None,
    scheme: str = "http",
    auth: bool = False,
) -> Iterator[Server]:
    """Start `wharf serve` on a free port; access control is off unless ``auth``."""
    port = free_port()
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = data_dir.parent / f"wharf-{port}.log"
    full_env = {**os.environ, "WHARF_AUTH__ENABLED": "true" if auth else "false", **(env or {})}
    command = [
        WHARF,
        "serve",
        "--listen",
        f"127.0.0.1:{port}",
        "--data",
        str(data_dir),
        "--workers",
        str(workers),
        *(args or []),
    ]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=full_env)
    server = Server(f"{scheme}://127.0.0.1:{port}", data_dir, process, log_path, env or {})
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"wharf exited at start:\n{server.log()}")
            try:
                if requests.get(f"{server.url}/healthz", timeout=1, verify=False).ok:
                    break
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"wharf did not become healthy:\n{server.log()}")
            time.sleep(0.05)
        yield server
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


class Client:
    """A thin raw-HTTP client for tests."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")
        self.http = requests.Session()

    def request(self, method: str, path: str, **kwargs: object) -> requests.Response:
        target = path if path.startswith("http") else self.url + path
        return self.http.request(method, target, allow_redirects=False, **kwargs)  # type: ignore[arg-type]

    def push_blob(self, repo: str, data: bytes) -> str:
        digest = sha256(data)
        r = self.request("POST", f"/v2/{repo}/blobs/uploads/", params={"digest": digest}, data=data)
        assert r.status_code == 201, r.text
        return digest

    def push_manifest(
        self, repo: str, reference: str, manifest: dict[str, object], media_type: str = OCI_MANIFEST
    ) -> tuple[str, requests.Response]:
        body = json.dumps(manifest).encode()
        r = self.request(
            "PUT",
            f"/v2/{repo}/manifests/{reference}",
            data=body,
            headers={"Content-Type": media_type},
        )
        return sha256(body), r

    def push_image(
        self, repo: str, tag: str | None, layers: int = 2, extra: dict[str, object] | None = None
    ) -> tuple[str, dict[str, object]]:
        config = json.dumps({"architecture": "amd64", "os": "linux", "n": os.urandom(4).hex()})
        config_digest = self.push_blob(repo, config.encode())
        layer_descs = []
        for _ in range(layers):
            data = os.urandom(1024)
            layer_descs.append(
                {"mediaType": OCI_LAYER, "digest": self.push_blob(repo, data), "size": len(data)}
            )
        manifest: dict[str, object] = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": len(config)},
            "layers": layer_descs,
            **(extra or {}),
        }
        body = json.dumps(manifest).encode()
        digest = sha256(body)
        r = self.request(
            "PUT",
            f"/v2/{repo}/manifests/{tag or digest}",
            data=body,
            headers={"Content-Type": OCI_MANIFEST},
        )
        assert r.status_code == 201, r.text
        return digest, manifest
