"""The high-availability topology: one database, one Redis, one shared blob store,
`wharf serve` replicas (one worker each) and HAProxy round-robin in front, checking each
replica's /readyz. Started by ``tests/test_ha.py`` and by ``python -m bench.ha``.

    with run_topology(Options(database="postgresql", storage="s3")) as topo:
        topo.lb.url, topo.replicas, topo.replica("b").kill(), topo.cut(); topo.restore()

- database: a SQLite file shared by the replicas on this host (WAL, with the storage
  directory in NFS-safe mode) or a throwaway PostgreSQL (``testbed.postgres``);
- storage: one directory with ``storage.filesystem.nfs_safe`` or S3 on SeaweedFS
  (``testbed.s3``, 5 MiB parts so multipart uploads show with small blobs);
- the last replica can be *isolated* so a test can cut it off from PostgreSQL and Redis
  alone: in a network namespace of its own (``testbed.netns``: its front link serves
  clients and the load balancer, its back link reaches the services and can be taken
  down) or, where namespaces can't be made, through a TCP link stand-in in this process
  (``CuttableLink``) that black-holes on ``cut``.

Each replica has a data directory of its own (its run/ files: metrics, pid state) and
shares the database, the storage, Redis and the signing keys (in the database), so a token
one issues is accepted by all. HAProxy sends to replicas whose /readyz answers 200; when
none does (a shared dependency down), it falls back to all of them (backup servers without
checks), so clients get the registry's own 503 body rather than the LB's.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from testbed.netns import Namespace, netns_unavailable, network_namespace
from testbed.ports import free_port
from testbed.postgres import Postgres, run_postgres
from testbed.redis import RedisServer, start_redis, stop_redis
from testbed.s3 import S3Endpoint, run_seaweedfs

HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"
WHARF = str(Path(sys.executable).parent / "wharf")
ADMIN = ("admin", "Topology-Admin-1")


def http_status(url: str, timeout: float = 2.0) -> int | None:
    """The status of a GET of ``url``, None when nothing answered."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except (OSError, urllib.error.URLError):
        return None


def http_json(url: str, timeout: float = 10.0) -> tuple[int, dict[str, object]]:
    """Status and JSON body of a GET of ``url``."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return int(response.status), json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


class CuttableLink:
    """A TCP port forwarding to ``target`` (a unix socket path or a ``(host, port)``) that
    a test can cut: live connections are dropped and new ones accepted but never answered
    (a network path that black-holes), until ``restore``. The stand-in for a network
    namespace where none can be made."""

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
    host: str = "127.0.0.1"  # the address it listens on (its namespace's, if isolated)
    netns: Namespace | None = None
    workers: int = 1
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.data_dir.parent / f"replica-{self.name}.log"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def start(self, timeout: float = 60) -> None:
        """Start `wharf serve` on this replica's address; wait until it is alive."""
        self.launch()
        self.wait_alive(timeout)

    def launch(self) -> None:
        """Start `wharf serve` on this replica's address (``wait_alive`` waits for it)."""
        assert self.process is None or self.process.poll() is not None, "already running"
        command = [WHARF, "serve", "--listen", f"{self.host}:{self.port}"]
        command += ["--data", str(self.data_dir), "--workers", str(self.workers)]
        if self.netns is not None:
            command = self.netns.command(command)
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **self.env}
            )

    def wait_alive(self, timeout: float = 60) -> None:
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"replica {self.name} exited at start:\n{self.log()[-3000:]}")
            if http_status(f"{self.url}/healthz", timeout=1) == 200:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"replica {self.name} did not start:\n{self.log()[-3000:]}")
            time.sleep(0.05)

    def kill(self, sig: int = signal.SIGKILL) -> None:
        self.signal(sig)
        self.wait_stopped()

    def signal(self, sig: int) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)

    def wait_stopped(self, timeout: float = 30) -> None:
        if self.process is not None:
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def stop_replicas(replicas: list[Replica]) -> None:
    """SIGTERM to all (a graceful shutdown each), then wait for all."""
    for replica in replicas:
        replica.signal(signal.SIGTERM)
    for replica in replicas:
        replica.wait_stopped()


@dataclass
class LoadBalancer:
    port: int
    directory: Path
    servers: list[tuple[str, str, int]]  # name, host, port
    check_interval_ms: int = 300
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def admin_socket(self) -> Path:
        return self.directory / "admin.sock"

    def command(self, line: str) -> str:
        """One command of HAProxy's runtime API (e.g. ``disable health replicas/a``)."""
        with socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(10)
            sock.connect(str(self.admin_socket))
            sock.sendall(line.encode() + b"\n")
            answer = b""
            while chunk := sock.recv(65536):
                answer += chunk
        return answer.decode()

    def health_checks(self, enabled: bool) -> None:
        """Stop (or resume) the /readyz checks: the replicas count as up meanwhile."""
        for name, _, _ in self.servers:
            self.command(f"{'enable' if enabled else 'disable'} health replicas/{name}")

    def config(self) -> str:
        lines = [
            "global",
            "    maxconn 4096",
            f"    stats socket {self.admin_socket} mode 600 level admin",
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
        check = f"check inter {self.check_interval_ms}ms fall 2 rise 1"
        for name, host, port in self.servers:
            lines.append(f"    server {name} {host}:{port} {check}")
        for name, host, port in self.servers:
            lines.append(f"    server {name}-any {host}:{port} backup")
        return "\n".join(lines) + "\n"

    def start(self) -> None:
        path = self.directory / "haproxy.cfg"
        path.write_text(self.config())
        with open(self.directory / "haproxy.log", "ab") as log:
            # -db: stay in the foreground, our child (stopped by its pid)
            self.process = subprocess.Popen(
                [HAPROXY, "-db", "-f", str(path)], stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + 10
        while True:
            if self.process.poll() is not None:
                raise RuntimeError((self.directory / "haproxy.log").read_text()[-2000:])
            if http_status(f"{self.url}/healthz", timeout=1) == 200:
                return
            if time.monotonic() > deadline:
                raise RuntimeError("haproxy did not start")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)


Isolation = Literal["netns", "link"]
Address = tuple[str, int]
DatabaseFront = Callable[[Address], contextlib.AbstractContextManager[Address]]


@dataclass(frozen=True)
class Options:
    database: Literal["sqlite", "postgresql"] = "postgresql"
    storage: Literal["filesystem", "s3"] = "filesystem"
    names: tuple[str, ...] = ("a", "b", "c")
    # how the last replica is set apart to be cut off alone; None: like the others
    isolate: Isolation | None = None
    auth: bool = True
    workers: int = 1  # per replica
    check_interval_ms: int = 300  # HAProxy's /readyz checks
    # commits durable before they are acknowledged (tests stop PostgreSQL with
    # `-m immediate` and count on every acknowledged write)
    durable: bool = True
    # the replicas' way to PostgreSQL: given (host, port), a context giving the
    # (host, port) they should use instead (a round-trip counter)
    database_front: DatabaseFront | None = None
    env: Mapping[str, str] = field(default_factory=dict)  # for every replica, last


@dataclass
class Topology:
    options: Options
    database_url: str
    redis: RedisServer
    replicas: list[Replica]
    lb: LoadBalancer
    root: Path
    postgres: Postgres | None = None
    s3: S3Endpoint | None = None
    storage_root: Path | None = None  # filesystem storage
    netns: Namespace | None = None  # the isolated replica's, with isolate="netns"
    link: CuttableLink | None = None  # the isolated replica's, with isolate="link"

    @property
    def database(self) -> str:
        return self.options.database

    @property
    def isolated(self) -> Replica:
        """The replica that ``cut`` cuts off."""
        return self.replicas[-1]

    def replica(self, name: str) -> Replica:
        return next(r for r in self.replicas if r.name == name)

    def cut(self) -> None:
        """Cut the isolated replica off from PostgreSQL and Redis."""
        if self.netns is not None:
            self.netns.cut()
        elif self.link is not None:
            self.link.cut()
        else:
            raise RuntimeError("no replica is isolated (Options.isolate)")

    def restore(self) -> None:
        if self.netns is not None:
            self.netns.restore()
        elif self.link is not None:
            self.link.restore()

    def wait_ready(self, replica: Replica, timeout: float = 20) -> float:
        """Seconds until ``replica`` answers /readyz with 200."""
        started = time.monotonic()
        while True:
            if http_status(f"{replica.url}/readyz") == 200:
                return time.monotonic() - started
            if time.monotonic() - started > timeout:
                raise AssertionError(f"replica {replica.name} not ready in {timeout}s")
            time.sleep(0.05)


def replica_env(
    *,
    name: str,
    database_url: str,
    redis_url: str,
    external_url: str,
    storage: Mapping[str, str],
    auth: bool = True,
) -> dict[str, str]:
    """What every replica shares (the database, storage, Redis, the admin password, the
    public URL) and its own name."""
    return {
        "WHARF_REPLICA_NAME": name,
        "WHARF_DATABASE__URL": database_url,
        "WHARF_DATABASE__ACQUIRE_TIMEOUT": "2",
        "WHARF_DATABASE__COMMAND_TIMEOUT": "5",
        **storage,
        "WHARF_REDIS__URL": redis_url,
        "WHARF_AUTH__ENABLED": "true" if auth else "false",
        "WHARF_AUTH__ADMIN_PASSWORD": ADMIN[1],
        "WHARF_EXTERNAL_URL": external_url,
        "WHARF_LOG__ACCESS_LOG": "false",
    }


@contextlib.contextmanager
def run_topology(options: Options = Options()) -> Iterator[Topology]:
    """Start everything (replicas one by one: the first bootstraps the admin and the
    signing keys); stop and remove everything when the block is left."""
    root = Path(tempfile.mkdtemp(prefix="wharf-ha."))  # short: Redis' unix socket path
    try:
        with contextlib.ExitStack() as stack:
            netns: Namespace | None = None
            if options.isolate == "netns":
                why = netns_unavailable()
                if why is not None:
                    raise RuntimeError(f"no network namespace: {why}")
                netns = stack.enter_context(network_namespace())
            postgres: Postgres | None = None
            (root / "shared").mkdir()
            if options.database == "postgresql":
                listen, trust = ["127.0.0.1"], []
                if netns is not None:  # the isolated replica comes over its back link
                    listen.append(netns.back.outer)
                    trust.append(f"{netns.back.inner}/32")
                settings = {"synchronous_commit": "on"} if options.durable else {}
                postgres = stack.enter_context(
                    run_postgres(settings=settings, listen=listen, trust=trust)
                )
                database_url = postgres.create_database("wharf")
            else:
                database_url = f"sqlite:///{root / 'shared' / 'wharf.db'}"
            tcp = None if netns is None else (netns.back.outer, free_port())
            redis = start_redis(root / "redis", tcp=tcp)
            stack.callback(stop_redis, redis)
            s3: S3Endpoint | None = None
            storage_root: Path | None = None
            if options.storage == "s3":
                s3 = stack.enter_context(run_seaweedfs(root / "s3", graceful=False))
                storage = s3.wharf_env(part_size="5MiB")
            else:
                storage_root = root / "shared" / "storage"
                storage = {
                    "WHARF_STORAGE__FILESYSTEM__ROOT": str(storage_root),
                    "WHARF_STORAGE__FILESYSTEM__NFS_SAFE": "true",
                }
            front_url = database_url
            if postgres is not None and options.database_front is not None:
                host, port = stack.enter_context(
                    options.database_front((postgres.host, postgres.port))
                )
                front_url = postgres.dsn("wharf", host=host).replace(
                    f":{postgres.port}/", f":{port}/"
                )
            link: CuttableLink | None = None
            if options.isolate == "link":
                target: str | tuple[str, int] = str(redis.socket)
                if postgres is not None:
                    target = (postgres.host, postgres.port)
                link = CuttableLink(target)
                stack.callback(link.close)
            lb = LoadBalancer(free_port(), root / "lb", [], options.check_interval_ms)
            lb.directory.mkdir()
            replicas: list[Replica] = []
            stack.callback(stop_replicas, replicas)
            for name in options.names:
                redis_url, db_url, host, namespace = redis.url, front_url, "127.0.0.1", None
                if name == options.names[-1] and netns is not None:
                    assert postgres is None or options.database_front is None
                    redis_url, host, namespace = redis.tcp_url, netns.front.inner, netns
                    if postgres is not None:
                        db_url = postgres.dsn("wharf", host=netns.back.outer)
                elif name == options.names[-1] and link is not None:
                    if postgres is not None:
                        db_url = database_url.replace(f":{postgres.port}/", f":{link.port}/")
                    else:
                        redis_url = f"redis://127.0.0.1:{link.port}/0"
                env = replica_env(
                    name=name,
                    database_url=db_url,
                    redis_url=redis_url,
                    external_url=lb.url,
                    storage=storage,
                    auth=options.auth,
                )
                replica = Replica(
                    name,
                    free_port(),
                    root / name / "data",
                    {**env, **options.env},
                    host=host,
                    netns=namespace,
                    workers=options.workers,
                )
                replica.data_dir.mkdir(parents=True)
                replicas.append(replica)
                replica.launch()
                if len(replicas) == 1:  # the first start bootstraps admin and keys alone
                    replica.wait_alive()
            for replica in replicas[1:]:
                replica.wait_alive()
            lb.servers = [(r.name, r.host, r.port) for r in replicas]
            stack.callback(lb.stop)
            lb.start()
            yield Topology(
                options,
                database_url,
                redis,
                replicas,
                lb,
                root,
                postgres=postgres,
                s3=s3,
                storage_root=storage_root,
                netns=netns,
                link=link,
            )
    finally:
        shutil.rmtree(root, ignore_errors=True)
