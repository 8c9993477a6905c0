"""Throwaway services for integration tests, started from Debian packages.

Redis: `start_redis(directory)` runs a private `redis-server` (unix socket only, no
persistence) in the foreground as our child; `stop_redis` kills it (SIGKILL by default, as a
crash would) and `restart_redis` starts it again on the same socket."""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REDIS_SERVER = shutil.which("redis-server")

needs_redis = pytest.mark.skipif(
    REDIS_SERVER is None, reason="redis-server is not installed (make system-deps)"
)


@dataclass
class RedisServer:
    directory: Path
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def socket(self) -> Path:
        return self.directory / "redis.sock"

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    @property
    def log(self) -> Path:
        return self.directory / "redis.log"


def _wait_ready(server: RedisServer, timeout: float = 10.0) -> None:
    import redis

    deadline = time.monotonic() + timeout
    while True:
        assert server.process is not None
        if server.process.poll() is not None:
            raise RuntimeError(f"redis-server exited:\n{server.log.read_text()[-2000:]}")
        try:
            client = redis.Redis(unix_socket_path=str(server.socket), socket_timeout=1)
            try:
                if client.ping():
                    return
            finally:
                client.close()
        except (redis.ConnectionError, redis.TimeoutError):
            pass
        if time.monotonic() > deadline:
            raise RuntimeError("redis-server did not become ready")
        time.sleep(0.01)


def start_redis(directory: Path) -> RedisServer:
    """A private redis-server listening on ``directory/redis.sock`` only."""
    directory.mkdir(parents=True, exist_ok=True)
    server = RedisServer(directory)
    restart_redis(server)
    return server


def restart_redis(server: RedisServer) -> None:
    assert REDIS_SERVER is not None, "redis-server is not installed"
    assert server.process is None or server.process.poll() is not None, "still running"
    server.socket.unlink(missing_ok=True)
    with open(server.log, "ab") as log:
        server.process = subprocess.Popen(
            [
                REDIS_SERVER,
                "--port",
                "0",
                "--unixsocket",
                str(server.socket),
                "--unixsocketperm",
                "700",
                "--dir",
                str(server.directory),
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    _wait_ready(server)


def stop_redis(server: RedisServer, *, kill: bool = True) -> None:
    """Stop our redis-server (SIGKILL: a crash; else SIGTERM) and wait for it."""
    process = server.process
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
