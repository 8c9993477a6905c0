"""Throwaway services for integration tests, started from Debian packages.

PostgreSQL (Debian's ``postgresql-15``)::

    with run_postgres(tmp_path) as pg:
        pg.url                       # postgresql://postgres@127.0.0.1:PORT/postgres
        pg.create_database("t1")     # → its URL
        pg.wharf_env("t1")           # WHARF_DATABASE__URL for run_wharf(env=…)

The server runs as the ``postgres`` user (PostgreSQL refuses root) from a data directory
under /tmp that it owns, on a free port below the ephemeral range, with fsync off (a
throwaway: speed over durability), and is stopped with ``-m immediate`` at the end.

Redis: `start_redis(directory)` runs a private `redis-server` (unix socket only, no
persistence) in the foreground as our child; `stop_redis` kills it (SIGKILL by default, as a
crash would) and `restart_redis` starts it again on the same socket.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.helpers import free_port

PG_BIN = Path("/usr/lib/postgresql/15/bin")


def postgres_available() -> str | None:
    """Why PostgreSQL can't run here, or None when it can."""
    if not (PG_BIN / "pg_ctl").exists():
        return "postgresql-15 is not installed (bash tests/system-deps.sh)"
    if shutil.which("runuser") is None:
        return "runuser is missing"
    try:
        subprocess.run(["id", "postgres"], check=True, capture_output=True)
    except subprocess.CalledProcessError:
        return "there is no postgres user"
    return None


@dataclass(frozen=True)
class Postgres:
    host: str
    port: int
    directory: Path

    def dsn(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@{self.host}:{self.port}/{database}"

    @property
    def url(self) -> str:
        return self.dsn()

    def psql(self, sql: str, database: str = "postgres") -> str:
        """Run SQL through psql (as the postgres user); its output."""
        result = subprocess.run(
            [
                str(PG_BIN / "psql"),
                "-X",
                "-q",
                "-At",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                self.host,
                "-p",
                str(self.port),
                "-U",
                "postgres",
                "-d",
                database,
                "-c",
                sql,
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        return result.stdout

    def create_database(self, name: str) -> str:
        self.psql(f'CREATE DATABASE "{name}"')
        return self.dsn(name)

    def drop_database(self, name: str) -> None:
        self.psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def wharf_env(self, database: str = "postgres", **extra: str) -> dict[str, str]:
        env = {"WHARF_DATABASE__URL": self.dsn(database)}
        env.update({f"WHARF_DATABASE__{k.upper()}": v for k, v in extra.items()})
        return env


def _as_postgres(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["runuser", "-u", "postgres", "--", *command], capture_output=True, text=True
    )


@contextlib.contextmanager
def run_postgres(*, settings: dict[str, str] | None = None) -> Iterator[Postgres]:
    """initdb + start a PostgreSQL in a fresh directory under /tmp; stop and remove it after.
    ``settings`` adds ``-c name=value`` server settings."""
    why = postgres_available()
    if why is not None:
        raise RuntimeError(why)
    directory = Path(tempfile.mkdtemp(prefix="wharf-pg."))
    shutil.chown(directory, "postgres", "postgres")
    os.chmod(directory, 0o755)
    data = directory / "data"
    try:
        done = _as_postgres(
            str(PG_BIN / "initdb"),
            "-D",
            str(data),
            "-U",
            "postgres",
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
            "--no-sync",
        )
        if done.returncode != 0:
            raise RuntimeError(f"initdb failed:\n{done.stdout}\n{done.stderr}")
        options = {
            "listen_addresses": "127.0.0.1",
            "unix_socket_directories": str(directory),
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "max_connections": "200",
            **(settings or {}),
        }
        flags = " ".join(f"-c {k}={v}" for k, v in options.items())
        for _attempt in range(5):
            port = free_port()
            started = _as_postgres(
                str(PG_BIN / "pg_ctl"),
                "-D",
                str(data),
                "-l",
                str(directory / "log"),
                "-w",
                "-t",
                "30",
                "-o",
                f"-p {port} {flags}",
                "start",
            )
            if started.returncode == 0:
                break
            time.sleep(0.1)  # the port was taken meanwhile: another one
        else:
            log = (directory / "log").read_text(errors="replace")[-3000:]
            raise RuntimeError(f"PostgreSQL did not start:\n{log}")
        try:
            yield Postgres("127.0.0.1", port, directory)
        finally:
            _as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop")
    finally:
        shutil.rmtree(directory, ignore_errors=True)


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
