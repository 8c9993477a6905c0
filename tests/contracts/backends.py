"""The store backends the contract suites run against. A backend opens a metadata store
and an auth store on one database (as a worker process does), and supplies the few
test hooks the interfaces don't expose. A new backend is one more entry in ``BACKENDS``
and one more factory here.

PostgreSQL: one throwaway server per session (``tests.services.run_postgres``, the
``postgres`` fixture) and one migrated database, every table emptied before each test."""

from __future__ import annotations

import asyncio
import multiprocessing
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from tests.contracts.lockholder import hold_sqlite_write_lock
from tests.services import PG_BIN, Postgres
from wharf.auth.postgres_store import PostgresAuthStore
from wharf.auth.sqlite_store import SQLiteAuthStore
from wharf.auth.store import AuthStore
from wharf.jobs.postgres import PostgresJobStore
from wharf.jobs.sqlite import SQLiteJobStore
from wharf.jobs.store import JobStore
from wharf.registry.metadata.base import MetadataStore
from wharf.registry.metadata.postgres import PostgresStore
from wharf.registry.metadata.sqlite import SQLiteStore
from wharf.registry.wiring import postgres_database, sqlite_database
from wharf.replication.postgres import PostgresReplicationStore
from wharf.replication.sqlite import SQLiteReplicationStore
from wharf.replication.store import ReplicationStore

BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.services)]


@dataclass
class Stores:
    metadata: MetadataStore
    auth: AuthStore
    jobs: JobStore
    replication: ReplicationStore
    # backend hooks for what the interfaces don't expose
    blob_last_seen: Callable[[str], Awaitable[float]]
    set_blob_last_seen: Callable[[str, float], Awaitable[None]]
    # one statement of SQL both dialects accept, as a process of another release would
    execute: Callable[[str], Awaitable[None]]


@dataclass(frozen=True)
class Backend:
    name: str
    # open both stores on one database; the flag is the metadata store's require_projects
    stores: Callable[..., AbstractAsyncContextManager[Stores]]
    # while inside, another process holds the database's write lock
    write_locked_elsewhere: Callable[[float], Any]
    # where other processes find the database: a SQLite file's path or a PostgreSQL URL
    location: str = ""


def sqlite_backend(tmp_path: Path) -> Backend:
    path = tmp_path / "wharf.db"

    @asynccontextmanager
    async def stores(require_projects: bool = False) -> AsyncIterator[Stores]:
        database = sqlite_database(path)
        metadata = SQLiteStore(database, require_projects=require_projects)
        auth = SQLiteAuthStore(database)
        jobs = SQLiteJobStore(database)
        replication = SQLiteReplicationStore(database)
        await metadata.open()
        await auth.open()
        await jobs.open()
        await replication.open()

        async def last_seen(digest: str) -> float:
            row = await database.read(
                lambda db: db.execute(
                    "SELECT last_seen FROM blobs WHERE digest = ?", (digest,)
                ).fetchone()
            )
            return float(row[0])

        async def set_last_seen(digest: str, when: float) -> None:
            await database.write(
                lambda db: db.execute(
                    "UPDATE blobs SET last_seen = ? WHERE digest = ?", (when, digest)
                )
            )

        async def execute(sql: str) -> None:
            await database.write(lambda db: db.execute(sql))

        try:
            yield Stores(metadata, auth, jobs, replication, last_seen, set_last_seen, execute)
        finally:
            await replication.close()
            await jobs.close()
            await auth.close()
            await metadata.close()

    @contextmanager
    def write_locked_elsewhere(seconds: float) -> Iterator[None]:
        context = multiprocessing.get_context("spawn")
        ready = context.Event()
        child = context.Process(
            target=hold_sqlite_write_lock, args=(str(path), seconds, ready), daemon=True
        )
        child.start()
        try:
            if not ready.wait(30):
                raise RuntimeError("the lock-holding process did not start")
            yield
        finally:
            child.join(30)
            assert child.exitcode == 0

    return Backend("sqlite", stores, write_locked_elsewhere, str(path))


def postgres_backend(pg: Postgres, database: str) -> Backend:
    url = pg.dsn(database)

    @asynccontextmanager
    async def stores(require_projects: bool = False) -> AsyncIterator[Stores]:
        database = postgres_database(url, pool_min=1, pool_max=4)
        metadata = PostgresStore(database, require_projects=require_projects)
        auth = PostgresAuthStore(database)
        jobs = PostgresJobStore(database)
        replication = PostgresReplicationStore(database)
        await metadata.open()
        await auth.open()
        await jobs.open()
        await replication.open()

        async def last_seen(digest: str) -> float:
            return float(
                await database.read(
                    lambda db: db.fetchval("SELECT last_seen FROM blobs WHERE digest = $1", digest)
                )
            )

        async def set_last_seen(digest: str, when: float) -> None:
            await database.read(
                lambda db: db.execute(
                    "UPDATE blobs SET last_seen = $1 WHERE digest = $2", when, digest
                )
            )

        async def execute(sql: str) -> None:
            await database.read(lambda db: db.execute(sql))

        try:
            yield Stores(metadata, auth, jobs, replication, last_seen, set_last_seen, execute)
        finally:
            await replication.close()
            await jobs.close()
            await auth.close()
            await metadata.close()

    @contextmanager
    def write_locked_elsewhere(seconds: float) -> Iterator[None]:
        """Another session (psql) holds the written tables in EXCLUSIVE mode: writes to
        them wait, plain reads don't."""
        sql = (
            f"BEGIN; LOCK TABLE blobs, users IN EXCLUSIVE MODE; SELECT pg_sleep({seconds}); COMMIT;"
        )
        holder = subprocess.Popen(
            [str(PG_BIN / "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", url, "-c", sql],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            deadline = time.monotonic() + 30
            while "2" not in pg.psql(
                "SELECT count(*) FROM pg_locks WHERE mode = 'ExclusiveLock' AND granted "
                "AND relation IN ('blobs'::regclass, 'users'::regclass)",
                database,
            ):
                if holder.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the lock-holding session did not start")
                time.sleep(0.02)
            yield
        finally:
            assert holder.wait(30) == 0

    return Backend("postgres", stores, write_locked_elsewhere, url)


# every table but the migration record emptied, in one round trip (foreign-key triggers
# off for this session, so the order doesn't matter; DELETE beats TRUNCATE on tiny tables)
_EMPTY = (
    "SET session_replication_role = replica; DO $$ DECLARE t text; BEGIN "
    "FOR t IN SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
    "AND tablename <> 'schema_versions' LOOP EXECUTE 'DELETE FROM ' || quote_ident(t); "
    "END LOOP; END $$"
)


async def _empty(url: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(_EMPTY)
    finally:
        await conn.close()


def _sqlite_factory(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    return sqlite_backend(tmp_path)


def _postgres_factory(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    pg: Postgres = request.getfixturevalue("postgres")
    database: str = request.getfixturevalue("postgres_contracts")
    asyncio.run(_empty(pg.dsn(database)))
    return postgres_backend(pg, database)


FACTORIES: dict[str, Callable[[pytest.FixtureRequest, Path], Backend]] = {
    "sqlite": _sqlite_factory,
    "postgres": _postgres_factory,
}
