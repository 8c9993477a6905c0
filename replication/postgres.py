"""Replication's tables on PostgreSQL (one statement per change)."""

from __future__ import annotations

from dataclasses import replace

import asyncpg

from wharf.db.postgres import Connection, PostgresDatabase
from wharf.replication.models import IN_PROGRESS, Execution, Policy, Registry
from wharf.replication.rows import (
    EXECUTION_COLUMNS,
    POLICY_COLUMNS,
    REGISTRY_COLUMNS,
    execution_from_row,
    execution_values,
    policy_from_row,
    policy_values,
    registry_from_row,
    registry_values,
)
from wharf.replication.store import Conflict, ReplicationStore


def _insert(table: str, columns: str) -> str:
    names = [c.strip() for c in columns.split(",")[1:]]
    marks = ", ".join(f"${n}" for n in range(1, len(names) + 1))
    return f"INSERT INTO {table} ({', '.join(names)}) VALUES ({marks}) RETURNING id"


def _update(table: str, columns: str, where: str = "") -> str:
    names = [c.strip() for c in columns.split(",")[1:]]
    sets = ", ".join(f"{name} = ${n}" for n, name in enumerate(names, start=1))
    return f"UPDATE {table} SET {sets} WHERE id = ${len(names) + 1}{where}"


_INSERT = _insert("registries", REGISTRY_COLUMNS)
_UPDATE = _update("registries", REGISTRY_COLUMNS)
_INSERT_POLICY = _insert("replication_policies", POLICY_COLUMNS)
_UPDATE_POLICY = _update("replication_policies", POLICY_COLUMNS)
_INSERT_EXECUTION = _insert("replication_executions", EXECUTION_COLUMNS)
_FINISH_EXECUTION = _update(
    "replication_executions", EXECUTION_COLUMNS, f" AND status = '{IN_PROGRESS}'"
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
                lambda db: db.fetchval(_INSERT, *registry_values(self.sealed(registry)))
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
        return None if row is None else self.opened(registry_from_row(row))

    async def registries(self) -> list[Registry]:
        rows = await self.database.read(
            lambda db: db.fetch(f"SELECT {REGISTRY_COLUMNS} FROM registries ORDER BY id")
        )
        return [self.opened(registry_from_row(r)) for r in rows]

    async def update_registry(self, registry: Registry) -> bool:
        try:
            status = await self.database.read(
                lambda db: db.execute(_UPDATE, *registry_values(self.sealed(registry)), registry.id)
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

    async def plain_secrets(self) -> list[tuple[int, str]]:
        rows = await self.database.read(
            lambda db: db.fetch(
                "SELECT id, access_secret FROM registries "
                "WHERE access_secret <> '' AND substr(access_secret, 1, 3) <> 's1:'"
            )
        )
        return [(int(r[0]), str(r[1])) for r in rows]

    async def replace_secret(self, registry_id: int, old: str, new: str) -> bool:
        status = await self.database.read(
            lambda db: db.execute(
                "UPDATE registries SET access_secret = $1 WHERE id = $2 AND access_secret = $3",
                new,
                registry_id,
                old,
            )
        )
        return _count(status) > 0

    async def claim_schedule(self, policy_id: int, fired: float) -> bool:
        status = await self.database.read(
            lambda db: db.execute(
                "UPDATE replication_policies SET schedule_fired = $1 "
                "WHERE id = $2 AND schedule_fired < $1",
                fired,
                policy_id,
            )
        )
        return _count(status) > 0

    # --- policies -----------------------------------------------------------------------
    async def create_policy(self, policy: Policy) -> Policy:
        try:
            policy_id = await self.database.read(
                lambda db: db.fetchval(_INSERT_POLICY, *policy_values(policy))
            )
        except asyncpg.exceptions.UniqueViolationError:
            raise Conflict(f"a policy named {policy.name} exists") from None
        return replace(policy, id=int(policy_id))

    async def get_policy(self, policy_id: int) -> Policy | None:
        row = await self.database.read(
            lambda db: db.fetchrow(
                f"SELECT {POLICY_COLUMNS} FROM replication_policies WHERE id = $1", policy_id
            )
        )
        return None if row is None else policy_from_row(row)

    async def policies(self) -> list[Policy]:
        rows = await self.database.read(
            lambda db: db.fetch(f"SELECT {POLICY_COLUMNS} FROM replication_policies ORDER BY id")
        )
        return [policy_from_row(r) for r in rows]

    async def update_policy(self, policy: Policy) -> bool:
        try:
            status = await self.database.read(
                lambda db: db.execute(_UPDATE_POLICY, *policy_values(policy), policy.id)
            )
        except asyncpg.exceptions.UniqueViolationError:
            raise Conflict(f"a policy named {policy.name} exists") from None
        return _count(status) > 0

    async def delete_policy(self, policy_id: int) -> bool:
        status = await self.database.read(
            lambda db: db.execute("DELETE FROM replication_policies WHERE id = $1", policy_id)
        )
        return _count(status) > 0

    async def policies_using(self, registry_id: int) -> int:
        count = await self.database.read(
            lambda db: db.fetchval(
                "SELECT count(*) FROM replication_policies "
                "WHERE src_registry_id = $1 OR dest_registry_id = $1",
                registry_id,
            )
        )
        return int(count)

    # --- executions ---------------------------------------------------------------------
    async def create_execution(self, execution: Execution) -> Execution:
        execution_id = await self.database.read(
            lambda db: db.fetchval(_INSERT_EXECUTION, *execution_values(execution))
        )
        return replace(execution, id=int(execution_id))

    async def get_execution(self, execution_id: int) -> Execution | None:
        row = await self.database.read(
            lambda db: db.fetchrow(
                f"SELECT {EXECUTION_COLUMNS} FROM replication_executions WHERE id = $1",
                execution_id,
            )
        )
        return None if row is None else execution_from_row(row)

    async def executions(
        self,
        *,
        policy_id: int | None = None,
        status: str | None = None,
        trigger: str | None = None,
        offset: int = 0,
        limit: int = 100,
    ) -> tuple[list[Execution], int]:
        clauses: list[str] = []
        params: list[object] = []
        for column, value in (
            ("policy_id", policy_id),
            ("status", status),
            ("trigger_kind", trigger),
        ):
            if value is not None:
                params.append(value)
                clauses.append(f"{column} = ${len(params)}")
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        paging = f"LIMIT ${len(params) + 1} OFFSET ${len(params) + 2}"

        async def read(db: Connection) -> tuple[list[Execution], int]:
            rows = await db.fetch(
                f"SELECT {EXECUTION_COLUMNS}, count(*) OVER () FROM replication_executions "
                f"{where} ORDER BY id DESC {paging}",
                *params,
                limit,
                offset,
            )
            if rows:
                return [execution_from_row(r) for r in rows], int(rows[0][-1])
            total = await db.fetchval(
                f"SELECT count(*) FROM replication_executions {where}", *params
            )
            return [], int(total)

        return await self.database.read(read)

    async def in_progress(self, after: int, limit: int) -> list[Execution]:
        rows = await self.database.read(
            lambda db: db.fetch(
                f"SELECT {EXECUTION_COLUMNS} FROM replication_executions "
                "WHERE status = $1 AND id > $2 ORDER BY id LIMIT $3",
                IN_PROGRESS,
                after,
                limit,
            )
        )
        return [execution_from_row(r) for r in rows]

    async def finish_execution(self, execution: Execution) -> bool:
        status = await self.database.read(
            lambda db: db.execute(_FINISH_EXECUTION, *execution_values(execution), execution.id)
        )
        return _count(status) > 0
