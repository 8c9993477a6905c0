"""The high-availability test topology: one database, one Redis, one shared blob store,
three `wharf serve` replicas (one worker each) and HAProxy round-robin in front, checking
each replica's /readyz.

The database is a parameter: a SQLite file shared by the replicas on this host (WAL, with
`storage.filesystem.nfs_safe`), and PostgreSQL once its store implements the whole store
contract (``DATABASES`` holds "postgresql" only when ``PostgresStore`` is not abstract:
`wharf serve` cannot start on it before that). Blobs live in one NFS-safe directory.

Each replica has a data directory of its own (its run/ files: metrics, pid state) and
shares the database, the storage root, Redis and the signing keys (in the database), so a
token one issues is accepted by all. HAProxy sends to replicas whose /readyz answers 200;
when none does (a shared dependency down), it falls back to all of them (backup servers
without checks), so clients get the registry's own 503 body rather than the LB's.
"""

from __future__ import annotations

import contextlib
import inspect
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from wharf.registry.metadata.postgres import PostgresStore

from .helpers import WHARF, free_port
from .services import (
    PG_BIN,
    Postgres,
    RedisServer,
    _as_postgres,
    run_postgres,
    start_redis,
    stop_redis,
)

HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"
ADMIN = ("admin", "Topology-Admin-1")
# PostgreSQL joins once its store is complete (a colleague's GC methods); see the module doc
DATABASES = ["sqlite"] + ([] if inspect.isabstract(PostgresStore) else ["postgresql"])

needs_haproxy = pytest.mark.skipif(
    not os.path.exists(HAPROXY), reason="haproxy is not installed (bash tests/system-deps.sh)"
)


class CuttableLink:
    """A TCP port forwarding to ``target`` (a unix socket path or a ``(host, port)``) that
    a test can cut: live connections are dropped and new ones accepted but never answered
    (a network path that black-holes), until ``restore``. One replica reaches a shared
    service through it, to be cut off alone."""

    def __init__(self, target: str | tuple[str, int]) -> None:
        self.target = target
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", free_port()))
        self._listener.listen(64)
        self.port: int = self._listener.getsockname()[1]
        self.cut_off = False
        self._live: list[socket.socket] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True, name="link").start()

    def cut(self) -> None:
        with self._lock:
            self.cut_off = True
            for sock in self._live:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            self._live.clear()

    def restore(self) -> None:
        with self._lock:
            self.cut_off = False

    def close(self) -> None:
        self.cut()
        self._listener.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                self._live.append(client)
                if self.cut_off:
                    continue  # held open, never answered
            try:
                if isinstance(self.target, str):
                    upstream = socket.socket(socket.AF_UNIX)
                else:
                    upstream = socket.socket()
                upstream.connect(self.target)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._live.append(upstream)
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=_pipe, args=(src, dst), daemon=True).start()


def _pipe(src: socket.socket, dst: socket.socket) -> None:
    try:
        while data := src.recv(65536):
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for sock in (src, dst):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


@dataclass
class Replica:
    name: str
    port: int
    data_dir: Path
    env: dict[str, str]
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.data_dir.parent / f"replica-{self.name}.log"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def start(self, timeout: float = 30) -> None:
        """Start `wharf serve` (one worker) on this replica's port; wait until it is alive."""
        assert self.process is None or self.process.poll() is not None, "already running"
        command = [WHARF, "serve", "--listen", f"127.0.0.1:{self.port}"]
        command += ["--data", str(self.data_dir), "--workers", "1"]
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **self.env}
            )
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"replica {self.name} exited at start:\n{self.log()[-3000:]}")
            with contextlib.suppress(requests.ConnectionError):
                if requests.get(f"{self.url}/healthz", timeout=1).ok:
                    return
            if time.monotonic() > deadline:
                raise RuntimeError(f"replica {self.name} did not start:\n{self.log()[-3000:]}")
            time.sleep(0.05)

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@dataclass
class LoadBalancer:
    port: int
    directory: Path
    servers: list[tuple[str, int]]
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def config(self) -> str:
        lines = [
            "global",
            "    maxconn 1024",
            "defaults",
            "    mode http",
            "    timeout connect 2s",
            "    timeout client 60s",
            "    timeout server 60s",
            "    timeout http-request 60s",
            "    option forwardfor",
            "    option http-server-close",
            "    retries 2",
            "    option redispatch",
            "frontend registry",
            f"    bind 127.0.0.1:{self.port}",
            "    default_backend replicas",
            "backend replicas",
            "    balance roundrobin",
            "    option httpchk GET /readyz",
            "    http-check expect status 200",
            # every replica not ready (a shared dependency down): send to all anyway
            "    option allbackups",
        ]
        for name, port in self.servers:
            lines.append(f"    server {name} 127.0.0.1:{port} check inter 300ms fall 2 rise 1")
        for name, port in self.servers:
            lines.append(f"    server {name}-any 127.0.0.1:{port} backup")
        return "\n".join(lines) + "\n"

    def start(self) -> None:
        path = self.directory / "haproxy.cfg"
        path.write_text(self.config())
        log = open(self.directory / "haproxy.log", "ab")  # noqa: SIM115 - the child's
        with log:
            # -db: stay in the foreground, our child (stopped by its pid)
            self.process = subprocess.Popen(
                [HAPROXY, "-db", "-f", str(path)], stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + 10
        while True:
            if self.process.poll() is not None:
                raise RuntimeError((self.directory / "haproxy.log").read_text()[-2000:])
            with contextlib.suppress(requests.ConnectionError):
                if requests.get(f"{self.url}/healthz", timeout=1).ok:
                    return
            if time.monotonic() > deadline:
                raise RuntimeError("haproxy did not start")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)


@dataclass
class Topology:
    database: str  # "sqlite" or "postgresql"
    database_url: str
    redis: RedisServer
    storage_root: Path
    replicas: list[Replica]
    lb: LoadBalancer
    link: CuttableLink  # how replica "c" reaches Redis (and PostgreSQL) alone
    postgres: Postgres | None = None

    def replica(self, name: str) -> Replica:
        return next(r for r in self.replicas if r.name == name)

    def wait_ready(self, replica: Replica, timeout: float = 20) -> float:
        """Seconds until ``replica`` answers /readyz with 200."""
        started = time.monotonic()
        while True:
            with contextlib.suppress(requests.ConnectionError, requests.Timeout):
                if requests.get(f"{replica.url}/readyz", timeout=2).status_code == 200:
                    return time.monotonic() - started
            if time.monotonic() - started > timeout:
                raise AssertionError(f"replica {replica.name} not ready in {timeout}s")
            time.sleep(0.05)


def stop_postgres(pg: Postgres) -> None:
    """Stop the server at once (as a crash or a failover would), keeping its data."""
    data = str(pg.directory / "data")
    done = _as_postgres(str(PG_BIN / "pg_ctl"), "-D", data, "-m", "immediate", "-w", "stop")
    assert done.returncode == 0, done.stderr


def start_postgres(pg: Postgres) -> None:
    """Start it again on the same port (after ``stop_postgres``)."""
    options = f"-p {pg.port} -c listen_addresses=127.0.0.1"
    options += f" -c unix_socket_directories={pg.directory} -c fsync=off -c max_connections=200"
    data = str(pg.directory / "data")
    log = str(pg.directory / "log")
    done = _as_postgres(str(PG_BIN / "pg_ctl"), "-D", data, "-l", log, "-w", "-o", options, "start")
    assert done.returncode == 0, done.stderr


def replica_env(
    *, name: str, database_url: str, storage_root: Path, redis_url: str, external_url: str
) -> dict[str, str]:
    """What every replica shares (the database, storage, Redis, the admin password, the
    public URL) and its own name."""
    return {
        "WHARF_REPLICA_NAME": name,
        "WHARF_DATABASE__URL": database_url,
        "WHARF_DATABASE__ACQUIRE_TIMEOUT": "2",
        "WHARF_DATABASE__COMMAND_TIMEOUT": "5",
        "WHARF_STORAGE__FILESYSTEM__ROOT": str(storage_root),
        "WHARF_STORAGE__FILESYSTEM__NFS_SAFE": "true",
        "WHARF_REDIS__URL": redis_url,
        "WHARF_AUTH__ENABLED": "true",
        "WHARF_AUTH__ADMIN_PASSWORD": ADMIN[1],
        "WHARF_EXTERNAL_URL": external_url,
        "WHARF_LOG__ACCESS_LOG": "false",
    }


@contextlib.contextmanager
def run_topology(database: str, names: tuple[str, ...] = ("a", "b", "c")) -> Iterator[Topology]:
    root = Path(tempfile.mkdtemp(prefix="wharf-ha."))  # short: Redis' unix socket path
    try:
        with contextlib.ExitStack() as stack:
            postgres: Postgres | None = None
            if database == "postgresql":
                # commits durable before they are acknowledged: the tests stop the server
                # with `-m immediate` and count on every acknowledged write
                postgres = stack.enter_context(run_postgres(settings={"synchronous_commit": "on"}))
                database_url = postgres.create_database("wharf")
            else:
                (root / "shared").mkdir()
                database_url = f"sqlite:///{root / 'shared' / 'wharf.db'}"
            redis = start_redis(root / "redis")
            stack.callback(stop_redis, redis)
            storage_root = root / "shared" / "storage"
            lb = LoadBalancer(free_port(), root / "lb", [])
            lb.directory.mkdir()
            # the last replica reaches Redis (and PostgreSQL) through a link a test can cut
            link_target: str | tuple[str, int] = str(redis.socket)
            if postgres is not None:
                link_target = (postgres.host, postgres.port)
            link = CuttableLink(link_target)
            stack.callback(link.close)
            replicas = []
            for name in names:
                redis_url, db_url = redis.url, database_url
                if name == names[-1]:
                    if postgres is not None:
                        db_url = database_url.replace(f":{postgres.port}/", f":{link.port}/")
                    else:
                        redis_url = f"redis://127.0.0.1:{link.port}/0"
                env = replica_env(
                    name=name,
                    database_url=db_url,
                    storage_root=storage_root,
                    redis_url=redis_url,
                    external_url=lb.url,
                )
                replica = Replica(name, free_port(), root / name / "data", env)
                replica.data_dir.mkdir(parents=True)
                stack.callback(replica.kill, signal.SIGTERM)
                replica.start()  # one by one: the first start bootstraps admin and keys
                replicas.append(replica)
            lb.servers = [(r.name, r.port) for r in replicas]
            stack.callback(lb.stop)
            lb.start()
            yield Topology(
                database, database_url, redis, storage_root, replicas, lb, link, postgres
            )
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module", params=DATABASES)
def topology(request: pytest.FixtureRequest) -> Iterator[Topology]:
    with run_topology(request.param) as topo:
        yield topo
        logs = {replica.name: replica.log() for replica in topo.replicas}
    # whatever the tests threw at them, no replica failed on its own account
    for name, log in logs.items():
        errors = [line[:3000] for line in log.splitlines() if '"level":"error"' in line]
        assert not errors, (name, errors)
