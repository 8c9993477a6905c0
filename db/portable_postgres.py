"""The PostgreSQL side of ``wharf.db.portable`` (asyncpg: loaded only when PostgreSQL
is configured)."""

from __future__ import annotations

from typing import Any

import asyncpg

from wharf.db.portable import Integrity, PortableSQL, Row, numbered
from wharf.db.postgres import Connection, PostgresDatabase

_INTEGRITY = (
    asyncpg.exceptions.UniqueViolationError,
    asyncpg.exceptions.ForeignKeyViolationError,
)


class PostgresPortable(PortableSQL):
    def __init__(self, database: PostgresDatabase) -> None:
        self.database = database

    async def open(self) -> None:
        await self.database.open()

    async def close(self) -> None:
        await self.database.close()

    async def fetch(self, query: str, *args: Any) -> list[Row]:
        statement = numbered(query)

        async def run(conn: Connection) -> list[Row]:
            return [tuple(r) for r in await conn.fetch(statement, *args)]

        return await self.database.read(run)

    async def execute(self, query: str, *args: Any) -> int:
        statement = numbered(query)

        async def run(conn: Connection) -> int:
            status = await conn.execute(statement, *args)
            last = status.rsplit(" ", 1)[-1]
            return int(last) if last.isdigit() else 0

        try:
            return await self.database.read(run)
        except _INTEGRITY as exc:
            raise Integrity(str(exc)) from None

    async def insert(self, query: str, *args: Any) -> int:
        statement = numbered(query) + " RETURNING id"

        async def run(conn: Connection) -> int:
            return int(await conn.fetchval(statement, *args))

        try:
            return await self.database.read(run)
        except _INTEGRITY as exc:
            raise Integrity(str(exc)) from None
