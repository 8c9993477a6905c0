"""A throwaway PostgreSQL 15 (Debian's ``postgresql-15``)::

    with run_postgres() as pg:
        pg.url                       # postgresql://postgres@127.0.0.1:PORT/postgres
        pg.create_database("t1")     # → its URL
        pg.wharf_env("t1")           # WHARF_DATABASE__URL for a `wharf serve`
        pg.stop(); pg.start()        # a crash (-m immediate) and a restart, same settings

The server runs as the ``postgres`` user (PostgreSQL refuses root) from a data directory
under /tmp that it owns, on a free port below the ephemeral range, with fsync off (a
throwaway: speed over durability), trusting local connections, and is stopped with
``-m immediate`` at the end.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from testbed.ports import free_port

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


def as_postgres(*command: str) -> subprocess.CompletedProcess[str]:
    """Run ``command`` as the postgres user; its completed process (output captured)."""
    return subprocess.run(
        ["runuser", "-u", "postgres", "--", *command], capture_output=True, text=True
    )


@dataclass(frozen=True)
class Postgres:
    host: str
    port: int
    directory: Path
    options: str = ""  # the server's `-o` flags (port and settings), for ``start``

    def dsn(self, database: str = "postgres", host: str | None = None) -> str:
        return f"postgresql://postgres@{host or self.host}:{self.port}/{database}"

    @property
    def url(self) -> str:
        return self.dsn()

    @property
    def data(self) -> Path:
        return self.directory / "data"

    def postmaster_pid(self) -> int | None:
        """The server's process id while it runs (from postmaster.pid)."""
        try:
            return int((self.data / "postmaster.pid").read_text().split()[0])
        except (OSError, IndexError, ValueError):
            return None

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

    def stop(self) -> None:
        """Stop the server at once (as a crash or a failover would), keeping its data."""
        done = as_postgres(
            str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop"
        )
        if done.returncode != 0:
            raise RuntimeError(f"pg_ctl stop failed: {done.stderr}")

    def start(self) -> None:
        """Start it again on the same port with the same settings (after ``stop``)."""
        done = _pg_ctl_start(self.data, self.directory / "log", self.options)
        if done.returncode != 0:
            raise RuntimeError(f"pg_ctl start failed: {done.stderr}")


def _pg_ctl_start(data: Path, log: Path, options: str) -> subprocess.CompletedProcess[str]:
    command = [str(PG_BIN / "pg_ctl"), "-D", str(data), "-l", str(log), "-w", "-t", "30"]
    return as_postgres(*command, "-o", options, "start")


@contextlib.contextmanager
def run_postgres(
    *,
    settings: Mapping[str, str] | None = None,
    listen: Sequence[str] = ("127.0.0.1",),
    trust: Sequence[str] = (),
) -> Iterator[Postgres]:
    """initdb + start a PostgreSQL in a fresh directory under /tmp; stop and remove it after.
    ``settings`` adds ``-c name=value`` server settings; ``listen`` are the addresses it
    listens on (the first is the one ``Postgres.host`` names) and ``trust`` networks
    (CIDR) whose connections it accepts without a password, besides local ones."""
    why = postgres_available()
    if why is not None:
        raise RuntimeError(why)
    directory = Path(tempfile.mkdtemp(prefix="wharf-pg."))
    shutil.chown(directory, "postgres", "postgres")
    os.chmod(directory, 0o755)
    data = directory / "data"
    try:
        done = as_postgres(
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
        if trust:
            with open(data / "pg_hba.conf", "a") as hba:
                hba.writelines(f"host all all {network} trust\n" for network in trust)
        options = {
            "listen_addresses": ",".join(listen),
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
            started = _pg_ctl_start(data, directory / "log", f"-p {port} {flags}")
            if started.returncode == 0:
                break
            time.sleep(0.1)  # the port was taken meanwhile: another one
        else:
            log = (directory / "log").read_text(errors="replace")[-3000:]
            raise RuntimeError(f"PostgreSQL did not start:\n{log}")
        try:
            yield Postgres(listen[0], port, directory, f"-p {port} {flags}")
        finally:
            as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop")
    finally:
        shutil.rmtree(directory, ignore_errors=True)
