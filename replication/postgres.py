"""Replication's tables on PostgreSQL (one statement per change)."""

from __future__ import annotations

from dataclasses import replace

import asyncpg

from wharf.db.postgres import PostgresDatabase
from wharf.replication.models import Registry
from wharf.replication.rows import REGISTRY_COLUMNS, registry_from_row, registry_values
from wharf.replication.store import Conflict, ReplicationStore

_NAMES = [c.strip() for c in REGISTRY_COLUMNS.split(",")[1:]]
_INSERT = (
    f"INSERT INTO registries ({', '.join(_NAMES)}) "
    f"VALUES ({', '.join(f'${n}' for n in range(1, len(_NAMES) + 1))}) RETURNING id"
)
_UPDATE = (
    "UPDATE registries SET "
    + ", ".join(f"{name} = ${n}" for n, name in enumerate(_NAMES, start=1))
    + f" WHERE id = ${len(_NAMES) + 1}"
)


def _count(status: str) -> int:
    return int(status.rsplit(" ", 1)[-1]) if status and status[-1].isdigit() else 0


class PostgresReplicationStore(ReplicationStore):
    def __init__(self, database: PostgresDatabase) -> None:
        self.database = database

    async def open(self) -> None:
        await self.database.open()

    async def close(self) -> None:
        await self.database.close()

    async def create_registry(self, registry: Registry) -> Registry:
        try:
            registry_id = await self.database.read(
                lambda db: db.fetchval(_INSERT, *registry_values(registry))
            )
        except asyncpg.exceptions.UniqueViolationError:
            raise Conflict(f"a registry named {registry.name} exists") from None
        return replace(registry, id=int(registry_id))

    async def get_registry(self, registry_id: int) -> Registry | None:
        row = await self.database.read(
            lambda db: db.fetchrow(
                f"SELECT {REGISTRY_COLUMNS} FROM registries WHERE id = $1", registry_id
            )
        )
        return None if row is None else registry_from_row(row)

    async def registries(self) -> list[Registry]:
        rows = await self.database.read(
            lambda db: db.fetch(f"SELECT {REGISTRY_COLUMNS} FROM registries ORDER BY id")
        )
        return [registry_from_row(r) for r in rows]

    async def update_registry(self, registry: Registry) -> bool:
        try:
            status = await self.database.read(
                lambda db: db.execute(_UPDATE, *registry_values(registry), registry.id)
            )
        except asyncpg.exceptions.UniqueViolationError:
            raise Conflict(f"a registry named {registry.name} exists") from None
        return _count(status) > 0

    async def set_registry_status(self, registry_id: int, status: str) -> bool:
        done = await self.database.read(
            lambda db: db.execute(
                "UPDATE registries SET status = $1 WHERE id = $2", status, registry_id
            )
        )
        return _count(done) > 0

    async def delete_registry(self, registry_id: int) -> bool:
        done = await self.database.read(
            lambda db: db.execute("DELETE FROM registries WHERE id = $1", registry_id)
        )
        return _count(done) > 0
