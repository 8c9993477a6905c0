"""A throwaway Redis: ``start_redis(directory)`` runs a private ``redis-server`` (a unix
socket, optionally also a TCP address; no persistence) in the foreground as our child;
``stop_redis`` kills it (SIGKILL by default, as a crash would) and ``restart_redis`` starts
it again on the same socket and address."""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

REDIS_SERVER = shutil.which("redis-server")


@dataclass
class RedisServer:
    directory: Path
    tcp: tuple[str, int] | None = None  # also listening there (else the socket only)
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def socket(self) -> Path:
        return self.directory / "redis.sock"

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    @property
    def tcp_url(self) -> str:
        assert self.tcp is not None, "this Redis listens on its socket only"
        return f"redis://{self.tcp[0]}:{self.tcp[1]}/0"

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


def start_redis(directory: Path, tcp: tuple[str, int] | None = None) -> RedisServer:
    """A private redis-server listening on ``directory/redis.sock`` (and on ``tcp``)."""
    directory.mkdir(parents=True, exist_ok=True)
    server = RedisServer(directory, tcp)
    restart_redis(server)
    return server


def restart_redis(server: RedisServer) -> None:
    if REDIS_SERVER is None:
        raise RuntimeError("redis-server is not installed (bash tests/system-deps.sh)")
    assert server.process is None or server.process.poll() is not None, "still running"
    server.socket.unlink(missing_ok=True)
    address = ["--port", "0"]
    if server.tcp is not None:
        address = ["--bind", server.tcp[0], "--port", str(server.tcp[1]), "--protected-mode", "no"]
    with open(server.log, "ab") as log:
        server.process = subprocess.Popen(
            [
                REDIS_SERVER,
                *address,
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
