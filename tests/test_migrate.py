"""`wharf migrate` and schema versions across releases, on SQLite and on PostgreSQL:
explicit migration, one migrator at a time (PostgreSQL advisory lock), an additive
migration applied while a server runs, and `wharf serve` refusing a newer schema."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from wharf.db.migrate import Migration, Schema
from wharf.db.postgres import MIGRATION_LOCK, PostgresDatabase
from wharf.registry.metadata import schema as registry_schema
from wharf.registry.wiring import SCHEMAS

from .helpers import WHARF, Client, free_port, run_wharf
from .services import PG_BIN, Postgres

REGISTRY_LAST = len(registry_schema.MIGRATIONS)  # the registry migrations this release has
NEXT = REGISTRY_LAST + 1  # a later release's
EVERYTHING = {
    *(f"registry {v}" for v in range(1, NEXT)),
    "auth 1",
    "auth 2",
    "auth 3",
    "auth 4",
    "jobs 1",
    "jobs 2",
    "replication 1",
    "replication 2",
    "policy 1",
    "webhook 1",
}

# What a later release could add: additive only (a new nullable column and a new table).
NEXT_REGISTRY = Schema(
    "registry",
    (
        *registry_schema.MIGRATIONS,
        Migration(
            NEXT,
            (
                "ALTER TABLE repositories ADD COLUMN star_count INTEGER",
                "CREATE TABLE repository_labels (repo_id INTEGER NOT NULL, label TEXT NOT NULL, "
                "PRIMARY KEY (repo_id, label))",
            ),
        ),
    ),
)
NEXT_SCHEMAS = tuple(NEXT_REGISTRY if s.package == "registry" else s for s in SCHEMAS)


def wharf(*args: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [WHARF, *args],
        env={**os.environ, "WHARF_AUTH__ENABLED": "false", **env},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def children(pid: int) -> list[int]:
    """The pids of a process's children (the server's workers), sorted."""
    found = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return sorted(int(p) for p in found.split())


def serve_refuses(data: Path, env: dict[str, str]) -> str:
    """Start `wharf serve`, expect it to exit at once with status 2; its stderr."""
    done = wharf(
        "serve", "--listen", f"127.0.0.1:{free_port()}", "--data", str(data), "--workers", "1",
        env=env,
    )  # fmt: skip
    assert done.returncode == 2, done.stdout + done.stderr
    return done.stderr


# --- SQLite -------------------------------------------------------------------------------
def test_migrate_then_refuse_a_newer_schema_on_sqlite(tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = wharf("migrate", "--data", str(data), env={})
    assert first.returncode == 0, first.stderr
    assert "applied migrations" in first.stdout
    assert all(m in first.stdout for m in EVERYTHING)
    again = wharf("migrate", "--data", str(data), env={})
    assert again.returncode == 0 and "schema up to date" in again.stdout

    with sqlite3.connect(data / "wharf.db") as db:  # what a newer release would have left
        db.execute("INSERT INTO schema_versions VALUES ('registry', ?, 0)", (NEXT,))
    refused = wharf("migrate", "--data", str(data), env={})
    assert refused.returncode == 2
    assert "newer than this Wharf knows" in refused.stderr and f"registry {NEXT}" in refused.stderr
    assert "newer than this Wharf knows" in serve_refuses(data, {})


# --- PostgreSQL ---------------------------------------------------------------------------
@pytest.mark.services
def test_migrate_with_a_config_file_on_postgres(postgres: Postgres, tmp_path: Path) -> None:
    url = postgres.create_database("migrate_config")
    config = tmp_path / "wharf.yaml"
    config.write_text(f"database:\n  url: {url}\n  pool_max: 2\n")
    first = wharf("migrate", "--config", str(config), env={})
    assert first.returncode == 0, first.stderr
    assert all(m in first.stdout for m in EVERYTHING), first.stdout
    assert "schema up to date" in wharf("migrate", "--config", str(config), env={}).stdout
    tables = postgres.psql("SELECT count(*) FROM schema_versions", "migrate_config")
    assert tables.strip() == str(len(EVERYTHING))


@pytest.mark.services
def test_a_second_migrator_waits_for_the_lock(postgres: Postgres) -> None:
    """A session holds the migration lock; `wharf migrate` says it waits and waits, then
    migrates once the holder is gone."""
    postgres.create_database("migrate_lock")
    holder = subprocess.Popen(
        [
            str(PG_BIN / "psql"),
            "-X",
            "-q",
            postgres.dsn("migrate_lock"),
            "-c",
            f"SELECT pg_advisory_lock({MIGRATION_LOCK}), pg_sleep(120)",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    granted = "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
    try:
        deadline = time.monotonic() + 30
        while postgres.psql(granted, "migrate_lock").strip() != "1":
            assert time.monotonic() < deadline, "the lock holder did not start"
            time.sleep(0.02)
        migrator = subprocess.Popen(
            [WHARF, "migrate"],
            env={**os.environ, **postgres.wharf_env("migrate_lock")},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert migrator.stderr is not None
        said = migrator.stderr.readline()  # blocks until it reports the wait
        assert "another migration holds the lock; waiting" in said
        time.sleep(0.5)
        assert migrator.poll() is None  # still waiting
        assert postgres.psql("SELECT count(*) FROM pg_tables WHERE tablename = 'blobs'",
                             "migrate_lock").strip() == "0"  # fmt: skip
        postgres.psql(
            "SELECT pg_terminate_backend(pid) FROM pg_locks "
            "WHERE locktype = 'advisory' AND granted",
            "migrate_lock",
        )
        out, err = migrator.communicate(timeout=60)
    finally:
        holder.kill()
        holder.wait(30)
    assert migrator.returncode == 0, err
    assert all(m in out for m in EVERYTHING), out


@pytest.mark.services
def test_additive_migration_while_serving_then_old_release_refuses(
    postgres: Postgres, tmp_path: Path
) -> None:
    postgres.create_database("migrate_live")
    env = postgres.wharf_env("migrate_live")
    with run_wharf(tmp_path / "data", workers=2, env=env) as server:
        client = Client(server.url)
        digest, _ = client.push_image("team/app", "v1")

        async def next_release_migrates() -> list[tuple[str, int]]:
            database = PostgresDatabase(postgres.dsn("migrate_live"), schemas=NEXT_SCHEMAS)
            await database.open(migrate=False)
            try:
                return await database.migrate()
            finally:
                await database.close()

        assert asyncio.run(next_release_migrates()) == [("registry", NEXT)]
        # the running (older) release goes on serving reads and writes
        r = client.request("GET", "/v2/team/app/manifests/v1")
        assert r.status_code == 200 and r.headers["Docker-Content-Digest"] == digest
        client.push_image("team/app", "v2")
        client.push_image("team/other", "v1")
        assert client.request("GET", "/v2/team/other/tags/list").json()["tags"] == ["v1"]

        # a worker of the old release that dies now is restarted and serves again (it
        # doesn't refuse the newer schema: only a fresh `wharf serve` does)
        workers = children(server.process.pid)
        assert len(workers) == 2
        os.kill(workers[0], signal.SIGKILL)
        deadline = time.monotonic() + 30
        while (now := children(server.process.pid)) == workers or len(now) != 2:
            assert time.monotonic() < deadline, server.log()[-3000:]
            time.sleep(0.1)
        time.sleep(2.0)  # a worker failing at start would be restarted again by now
        assert children(server.process.pid) == now
        for i in range(8):  # connections spread over both workers (SO_REUSEPORT)
            fresh = Client(server.url)
            assert fresh.request("GET", "/v2/team/app/manifests/v1").status_code == 200
            fresh.push_image("team/app", f"after{i}")
    log = server.log()
    assert log.count("worker exited; restarting") == 1, log[-3000:]
    assert "worker failed" not in log and "SchemaTooNew" not in log

    # a restart of the old release is refused, saying why
    message = serve_refuses(tmp_path / "data", env)
    assert "newer than this Wharf knows" in message and f"registry {NEXT}" in message
