"""Replication's tables on SQLite (one write transaction per change)."""

from __future__ import annotations

import sqlite3
from dataclasses import replace

from wharf.db.sqlite import SQLiteDatabase
from wharf.replication.models import Registry
from wharf.replication.rows import REGISTRY_COLUMNS, registry_from_row, registry_values
from wharf.replication.store import Conflict, ReplicationStore

_SETS = ", ".join(f"{c.strip()} = ?" for c in REGISTRY_COLUMNS.split(",")[1:])


class SQLiteReplicationStore(ReplicationStore):
    def __init__(self, database: SQLiteDatabase) -> None:
        self.database = database

    async def open(self) -> None:
        await self.database.open()

    async def close(self) -> None:
        await self.database.close()

    async def create_registry(self, registry: Registry) -> Registry:
        columns = REGISTRY_COLUMNS.split(", ", 1)[1]

        def write(db: sqlite3.Connection) -> int:
            cursor = db.execute(
                f"INSERT INTO registries ({columns}) VALUES ({', '.join('?' * 12)})",
                registry_values(registry),
            )
            assert cursor.lastrowid is not None
            return cursor.lastrowid

        try:
            registry_id = await self.database.write(write)
        except sqlite3.IntegrityError:
            raise Conflict(f"a registry named {registry.name} exists") from None
        return replace(registry, id=registry_id)

    async def get_registry(self, registry_id: int) -> Registry | None:
        row = await self.database.read(
            lambda db: db.execute(
                f"SELECT {REGISTRY_COLUMNS} FROM registries WHERE id = ?", (registry_id,)
            ).fetchone()
        )
        return None if row is None else registry_from_row(row)

    async def registries(self) -> list[Registry]:
        rows = await self.database.read(
            lambda db: db.execute(
                f"SELECT {REGISTRY_COLUMNS} FROM registries ORDER BY id"
            ).fetchall()
        )
        return [registry_from_row(r) for r in rows]

    async def update_registry(self, registry: Registry) -> bool:
        try:
            count = await self.database.write(
                lambda db: (
                    db.execute(
                        f"UPDATE registries SET {_SETS} WHERE id = ?",
                        (*registry_values(registry), registry.id),
                    ).rowcount
                )
            )
        except sqlite3.IntegrityError:
            raise Conflict(f"a registry named {registry.name} exists") from None
        return count > 0

    async def set_registry_status(self, registry_id: int, status: str) -> bool:
        count = await self.database.write(
            lambda db: (
                db.execute(
                    "UPDATE registries SET status = ? WHERE id = ?", (status, registry_id)
                ).rowcount
            )
        )
        return count > 0

    async def delete_registry(self, registry_id: int) -> bool:
        count = await self.database.write(
            lambda db: db.execute("DELETE FROM registries WHERE id = ?", (registry_id,)).rowcount
        )
        return count > 0
