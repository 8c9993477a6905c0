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

This module must not import ``wharf.auth`` or ``wharf.registry``: the schemas to apply are
handed in by whoever builds the database (``wharf.registry.wiring``).
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from wharf.db.migrate import Schema, migrate

T = TypeVar("T")

BUSY_TIMEOUT = 30.0
READERS = 4


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
        self._writer: ThreadPoolExecutor | None = None
        self._reader_pool: ThreadPoolExecutor | None = None
        self._write_conn: sqlite3.Connection | None = None  # touched by the writer thread only
        self._reader_conns: list[sqlite3.Connection] = []
        self._local = threading.local()

    @property
    def is_open(self) -> bool:
        return self._writer is not None

    async def open(self) -> None:
        """Start the threads and bring the schema up to date (first caller only)."""
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self._users == 0:
                await self._start()
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

    async def migrate(self) -> list[tuple[str, int]]:
        """Apply pending migrations now (``open`` does it too); what was applied."""
        return await self.write_raw(lambda db: migrate(db, self.schemas, sqlite_statement))

    async def read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """``fn(conn)`` on a read-only connection in a reader thread, in one read
        transaction (one snapshot). ``fn`` must return materialised results, not cursors."""
        pool = self._reader_pool
        if pool is None:
            raise RuntimeError(f"database {self.path} is not open")
        return await asyncio.get_running_loop().run_in_executor(pool, self._run_read, fn)

    async def write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """``fn(conn)`` in the writer thread inside BEGIN IMMEDIATE ... COMMIT; rolled back
        when it raises. Writes run one at a time, in the order submitted. A write cancelled
        before it started is dropped; once started it runs to its end."""
        return await self.write_raw(lambda db: _transaction(db, fn))

    async def write_raw(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """``fn(conn)`` in the writer thread with no transaction around it (``fn`` manages
        its own, e.g. the migration runner, VACUUM)."""
        writer = self._writer
        if writer is None:
            raise RuntimeError(f"database {self.path} is not open")
        return await asyncio.get_running_loop().run_in_executor(writer, self._run_write, fn)

    # --- threads -------------------------------------------------------------
    async def _start(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="wharf-db-writer")
        try:
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(self._writer, self._open_writer)
            await self.migrate()
        except BaseException:
            await asyncio.to_thread(self._stop)
            raise
        self._reader_pool = ThreadPoolExecutor(self._readers, thread_name_prefix="wharf-db-reader")

    def _open_writer(self) -> None:
        db = connect(self.path, busy_timeout=self._busy_timeout)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        self._write_conn = db

    def _run_write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        db = self._write_conn
        if db is None:
            raise RuntimeError(f"database {self.path} is not open")
        return fn(db)

    def _run_read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            db = connect(self.path, busy_timeout=self._busy_timeout)
            db.execute("PRAGMA query_only=1")
            self._local.db = db
            self._reader_conns.append(db)  # list.append is atomic; closed in _stop
        db.execute("BEGIN")
        try:
            return fn(db)
        finally:
            db.execute("COMMIT")

    def _stop(self) -> None:
        """Blocking: drain the queued writes, then close every connection."""
        if self._reader_pool is not None:
            self._reader_pool.shutdown(wait=True)
            self._reader_pool = None
        if self._writer is not None:
            self._writer.shutdown(wait=True)
            self._writer = None
        if self._write_conn is not None:
            self._write_conn.close()
            self._write_conn = None
        for db in self._reader_conns:
            db.close()
        self._reader_conns.clear()
        self._local = threading.local()


def _transaction(db: sqlite3.Connection, fn: Callable[[sqlite3.Connection], T]) -> T:
    db.execute("BEGIN IMMEDIATE")
    try:
        result = fn(db)
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
    return result
