"""One small query interface over both databases, for stores whose statements are plain
enough to be written once: ``?`` placeholders (turned into ``$1, $2, ...`` for
PostgreSQL), rows as tuples. The policy stores (immutable tag rules, tag retention) use
it; the hot-path stores keep their hand-written per-dialect code. The PostgreSQL side is
``portable_postgres`` (asyncpg loads only when PostgreSQL is configured)."""

from __future__ import annotations

import re
import sqlite3
from abc import ABC, abstractmethod
from typing import Any

from wharf.db.sqlite import SQLiteDatabase

Row = tuple[Any, ...]
_MARK = re.compile(r"\?")


def numbered(query: str) -> str:
    """``?`` placeholders as PostgreSQL's ``$n`` (the statements hold no literal ``?``)."""
    count = 0

    def mark(_: re.Match[str]) -> str:
        nonlocal count
        count += 1
        return f"${count}"

    return _MARK.sub(mark, query)


class Integrity(Exception):
    """A uniqueness or reference constraint refused the write."""


class PortableSQL(ABC):
    @abstractmethod
    async def open(self) -> None: ...

    @abstractmethod
    async def close(self) -> None: ...

    @abstractmethod
    async def fetch(self, query: str, *args: Any) -> list[Row]: ...

    @abstractmethod
    async def execute(self, query: str, *args: Any) -> int:
        """Run one statement in its own transaction; the rows it changed."""

    @abstractmethod
    async def insert(self, query: str, *args: Any) -> int:
        """Run one INSERT into a table with an ``id`` key; the new row's id."""


class SQLitePortable(PortableSQL):
    def __init__(self, database: SQLiteDatabase) -> None:
        self.database = database

    async def open(self) -> None:
        await self.database.open()

    async def close(self) -> None:
        await self.database.close()

    async def fetch(self, query: str, *args: Any) -> list[Row]:
        rows = await self.database.read(lambda db: db.execute(query, args).fetchall())
        return [tuple(r) for r in rows]

    async def execute(self, query: str, *args: Any) -> int:
        try:
            return await self.database.write(lambda db: db.execute(query, args).rowcount)
        except sqlite3.IntegrityError as exc:
            raise Integrity(str(exc)) from None

    async def insert(self, query: str, *args: Any) -> int:
        def write(db: sqlite3.Connection) -> int:
            cursor = db.execute(query, args)
            assert cursor.lastrowid is not None
            return cursor.lastrowid

        try:
            return await self.database.write(write)
        except sqlite3.IntegrityError as exc:
            raise Integrity(str(exc)) from None
