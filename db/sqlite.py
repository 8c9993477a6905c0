"""One SQLite file per process, shared by the metadata and auth stores, with no SQLite
call on the event loop.

``SQLiteDatabase`` owns one writer thread with the only write connection of the process:
a write transaction is a function ``fn(conn) -> T`` queued to it and awaited, run inside
BEGIN IMMEDIATE ... COMMIT (ROLLBACK when ``fn`` raises). Reads run on a few read-only
connections from a small thread pool; WAL lets them proceed while another process holds
the write lock. Waiting on that lock (the busy timeout) happens in the writer thread, so a
slow writer elsewhere delays this process's writes, never its event loop.

A store does each of its methods in one ``read`` or one ``write`` call (one thread hop),
and a function given to ``write`` may touch any store's tables: that is how one
transaction spans the registry and the auth tables.

Group commit: the write functions that are queued together when the writer thread wakes
up (concurrent requests) run in one transaction, each inside a savepoint of its own. A
function that raises is rolled back to its savepoint alone and gets its error; the others
commit together, and each caller learns its outcome only after that COMMIT. When the
group's transaction fails after BEGIN (COMMIT fails, or SQLite rolled it back by itself:
disk full, I/O error) nothing of it was written, and each function runs again in a
transaction of its own, as without grouping (store functions only touch the database, so
running one again is safe: PostgreSQL's ``write`` reruns them too). When BEGIN itself
fails (the lock not had within the busy timeout) every function gets that error. So each
``write`` keeps its own all-or-nothing outcome, and the lock is taken and the WAL
appended once per group rather than once per write.

This module must not import ``wharf.auth`` or ``wharf.registry``: the schemas to apply are
handed in by whoever builds the database (``wharf.registry.wiring``).
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from wharf.db.migrate import Schema, migrate
from wharf.db.threads import ConnectionThreads, Fn

T = TypeVar("T")

BUSY_TIMEOUT = 30.0
READERS = 2  # hot reads are index lookups of microseconds: more threads only fight for the GIL


def connect(path: Path, *, busy_timeout: float = BUSY_TIMEOUT) -> sqlite3.Connection:
    """An autocommit connection (transactions are explicit) with foreign keys on."""
    db = sqlite3.connect(path, isolation_level=None, timeout=busy_timeout, check_same_thread=False)
    db.execute("PRAGMA foreign_keys=ON")
    db.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")
    return db


def sqlite_statement(statement: str) -> str:
    """A migration statement (SQL PostgreSQL accepts too) in SQLite's dialect."""
    return statement.replace("BYTEA", "BLOB")


class SQLiteDatabase:
    """The process's handle on one SQLite file (WAL). ``open``/``close`` are counted: each
    store opens and closes it, the file and threads go when the last user closes."""

    def __init__(
        self,
        path: str | Path,
        *,
        schemas: Sequence[Schema] = (),
        readers: int = READERS,
        busy_timeout: float = BUSY_TIMEOUT,
    ) -> None:
        self.path = Path(path)
        self.schemas = tuple(schemas)
        self._readers = readers
        self._busy_timeout = busy_timeout
        self._users = 0
        self._lock: asyncio.Lock | None = None
        self._writer: ConnectionThreads | None = None
        self._reader_threads: ConnectionThreads | None = None

    @property
    def is_open(self) -> bool:
        return self._writer is not None

    async def open(self, *, migrate: bool = True, allow_newer: bool = False) -> None:
        """Start the threads and bring the schema up to date (first caller only; without
        ``migrate`` the schema is left alone, for ``wharf migrate`` to call ``migrate``).
        A schema newer than this code raises ``SchemaTooNew`` unless ``allow_newer`` (a
        worker of a server that started on an older schema: migrations are additive)."""
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self._users == 0:
                await self._start(migrate, allow_newer)
            self._users += 1

    async def close(self) -> None:
        """Release one ``open``; the last one waits for queued writes, then closes."""
        if self._lock is None:
            return
        async with self._lock:
            if self._users == 0:
                return
            self._users -= 1
            if self._users == 0:
                await asyncio.to_thread(self._stop)

    async def migrate(self, *, allow_newer: bool = False) -> list[tuple[str, int]]:
        """Apply pending migrations now (``open`` does it too); what was applied."""
        return await self.write_raw(
            lambda db: migrate(db, self.schemas, sqlite_statement, allow_newer=allow_newer)
        )

    async def read(self, fn: Callable[[sqlite3.Connection], T], *, snapshot: bool = False) -> T:
        """``fn(conn)`` on a read-only connection in a reader thread. Each statement sees
        the latest commit; with ``snapshot`` all of ``fn``'s statements see the same one
        (one read transaction). ``fn`` must return materialised results, not cursors."""
        readers = self._reader_threads
        if readers is None:
            raise RuntimeError(f"database {self.path} is not open")
        return await readers.submit(partial(_snapshot, fn) if snapshot else fn)

    async def read_private(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """``fn(conn)`` in one read transaction (one snapshot) on a connection of its own,
        opened read-only (``mode=ro``: SQLite refuses any change to the file), in a thread
        of its own, closed afterwards. ``fn`` may create TEMP tables as scratch space:
        they live in that connection's private temporary database (a temporary file,
        within SQLite's page cache in memory) and vanish with it — no other connection
        sees them. For long analytical reads (a GC dry run) that would otherwise hold
        one of the few shared reader threads."""
        if self._reader_threads is None:
            raise RuntimeError(f"database {self.path} is not open")
        return await asyncio.to_thread(self._private, fn)

    def _private(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        db = sqlite3.connect(
            f"{self.path.resolve().as_uri()}?mode=ro",
            uri=True,
            isolation_level=None,
            timeout=self._busy_timeout,
            check_same_thread=False,
        )
        try:
            db.execute(f"PRAGMA busy_timeout={int(self._busy_timeout * 1000)}")
            db.execute("BEGIN")
            try:
                return fn(db)
            finally:
                db.execute("ROLLBACK")
        finally:
            db.close()

    async def write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """``fn(conn)`` in the writer thread inside BEGIN IMMEDIATE ... COMMIT; rolled back
        when it raises. Writes run one at a time, in the order submitted, possibly several
        in one transaction (see the module's doc: each stays all-or-nothing). A write
        cancelled before it started is dropped; once started it runs to its end."""
        writer = self._writer
        if writer is None:
            raise RuntimeError(f"database {self.path} is not open")
        return await writer.submit(fn, group=True)

    async def write_raw(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """``fn(conn)`` in the writer thread with no transaction around it (``fn`` manages
        its own, e.g. the migration runner, VACUUM)."""
        writer = self._writer
        if writer is None:
            raise RuntimeError(f"database {self.path} is not open")
        return await writer.submit(fn)

    # --- threads -------------------------------------------------------------
    async def _start(self, migrate: bool, allow_newer: bool) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        writer = ConnectionThreads(
            "wharf-db-writer", 1, self._connect_writer, group=_group_transaction
        )
        await asyncio.to_thread(writer.start)
        self._writer = writer
        try:
            if migrate:
                await self.migrate(allow_newer=allow_newer)
            readers = ConnectionThreads("wharf-db-reader", self._readers, self._connect_reader)
            await asyncio.to_thread(readers.start)
        except BaseException:
            await asyncio.to_thread(self._stop)
            raise
        self._reader_threads = readers

    def _connect_writer(self) -> sqlite3.Connection:
        db = connect(self.path, busy_timeout=self._busy_timeout)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        return db

    def _connect_reader(self) -> sqlite3.Connection:
        db = connect(self.path, busy_timeout=self._busy_timeout)
        db.execute("PRAGMA query_only=1")
        return db

    def _stop(self) -> None:
        """Blocking: run the queued reads and writes, then close every connection."""
        if self._reader_threads is not None:
            self._reader_threads.stop()
            self._reader_threads = None
        if self._writer is not None:
            self._writer.stop()
            self._writer = None


def _snapshot(fn: Callable[[sqlite3.Connection], T], db: sqlite3.Connection) -> T:
    db.execute("BEGIN")
    try:
        return fn(db)
    finally:
        db.execute("COMMIT")


def _group_transaction(db: sqlite3.Connection, fns: list[Fn]) -> list[tuple[bool, Any]]:
    """Write functions queued together, in one transaction, each in a savepoint: the
    (succeeded, result or error) of each. See the module's doc for what a failure does."""
    if len(fns) == 1:
        return [_alone(db, fns[0])]
    try:
        db.execute("BEGIN IMMEDIATE")
    except BaseException as exc:  # the lock not had within the busy timeout: the same for all
        return [(False, exc)] * len(fns)
    outcomes: list[tuple[bool, Any]] = []
    try:
        for fn in fns:
            db.execute("SAVEPOINT job")
            try:
                value = fn(db)
            except BaseException as exc:
                if not db.in_transaction:
                    raise  # SQLite rolled the whole transaction back (full disk, I/O error)
                db.execute("ROLLBACK TO job")
                db.execute("RELEASE job")
                outcomes.append((False, exc))
            else:
                db.execute("RELEASE job")
                outcomes.append((True, value))
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        # nothing of the group was written: each function again in its own transaction,
        # so that each gets the outcome it would have had without grouping
        return [_alone(db, fn) for fn in fns]
    return outcomes


def _alone(db: sqlite3.Connection, fn: Fn) -> tuple[bool, Any]:
    try:
        return True, _transaction(fn, db)
    except BaseException as exc:
        return False, exc


def _transaction(fn: Callable[[sqlite3.Connection], T], db: sqlite3.Connection) -> T:
    db.execute("BEGIN IMMEDIATE")
    try:
        result = fn(db)
        db.execute("COMMIT")
    except BaseException:
        # a COMMIT that fails (a deferred constraint, SQLITE_BUSY) leaves the transaction
        # open: roll it back, or the writer connection stays stuck inside it
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
    return result
