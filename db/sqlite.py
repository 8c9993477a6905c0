"""What the SQLite stores share: the connection set-up and the write transaction.

The metadata store (``wharf.registry.metadata.sqlite``) and the auth store
(``wharf.auth.sqlite_store``) each hold their own connection to the same file. This
module must not import ``wharf.auth``: auth builds on the metadata layer, not the reverse.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def connect(path: Path, *, wal: bool = False) -> sqlite3.Connection:
    """An autocommit connection (transactions are explicit, see ``SQLiteDatabase._write``)
    with foreign keys on and a 30 s busy timeout. ``wal`` (the metadata store) also puts
    the file in WAL mode and this connection on synchronous=NORMAL."""
    db = sqlite3.connect(path, isolation_level=None, timeout=30, check_same_thread=False)
    if wal:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
    db.execute("PRAGMA foreign_keys=ON")
    db.execute("PRAGMA busy_timeout=30000")
    return db


class SQLiteDatabase:
    """A store on a SQLite file: its path and connection; subclasses open it (``connect``)."""

    _label = "database"  # names the store in the "not open" error

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._db: sqlite3.Connection | None = None

    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            raise RuntimeError(f"{self._label} is not open")
        return self._db

    async def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, taking the write lock up front (BEGIN IMMEDIATE)."""
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
