"""The store backends the contract suites run against. A backend opens a metadata store
and an auth store on one database (as a worker process does), and supplies the few
test hooks the interfaces don't expose. A new backend (PostgreSQL) is one more entry in
``BACKENDS`` and one more factory here."""

from __future__ import annotations

import multiprocessing
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.contracts.lockholder import hold_sqlite_write_lock
from wharf.auth.sqlite_store import SQLiteAuthStore
from wharf.auth.store import AuthStore
from wharf.registry.metadata.base import MetadataStore
from wharf.registry.metadata.sqlite import SQLiteStore
from wharf.registry.wiring import sqlite_database

BACKENDS = ["sqlite"]


@dataclass
class Stores:
    metadata: MetadataStore
    auth: AuthStore
    # backend hooks for what the interfaces don't expose
    blob_last_seen: Callable[[str], Awaitable[float]]
    set_blob_last_seen: Callable[[str, float], Awaitable[None]]


@dataclass(frozen=True)
class Backend:
    name: str
    # open both stores on one database; the flag is the metadata store's require_projects
    stores: Callable[..., AbstractAsyncContextManager[Stores]]
    # while inside, another process holds the database's write lock
    write_locked_elsewhere: Callable[[float], Any]


def sqlite_backend(tmp_path: Path) -> Backend:
    path = tmp_path / "wharf.db"

    @asynccontextmanager
    async def stores(require_projects: bool = False) -> AsyncIterator[Stores]:
        database = sqlite_database(path)
        metadata = SQLiteStore(database, require_projects=require_projects)
        auth = SQLiteAuthStore(database)
        await metadata.open()
        await auth.open()

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

        try:
            yield Stores(metadata, auth, last_seen, set_last_seen)
        finally:
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

    return Backend("sqlite", stores, write_locked_elsewhere)


FACTORIES: dict[str, Callable[[Path], Backend]] = {"sqlite": sqlite_backend}
