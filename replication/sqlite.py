"""Replication's tables on SQLite (one write transaction per change)."""

from __future__ import annotations

import sqlite3
from dataclasses import replace

from wharf.db.sqlite import SQLiteDatabase
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

_SETS = ", ".join(f"{c.strip()} = ?" for c in REGISTRY_COLUMNS.split(",")[1:])
_POLICY_SETS = ", ".join(f"{c.strip()} = ?" for c in POLICY_COLUMNS.split(",")[1:])
_EXECUTION_SETS = ", ".join(f"{c.strip()} = ?" for c in EXECUTION_COLUMNS.split(",")[1:])


def _insert(db: sqlite3.Connection, table: str, columns: str, values: tuple[object, ...]) -> int:
    names = columns.split(", ", 1)[1]
    cursor = db.execute(
        f"INSERT INTO {table} ({names}) VALUES ({', '.join('?' * len(values))})", values
    )
    assert cursor.lastrowid is not None
    return cursor.lastrowid


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
                registry_values(self.sealed(registry)),
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
        return None if row is None else self.opened(registry_from_row(row))

    async def registries(self) -> list[Registry]:
        rows = await self.database.read(
            lambda db: db.execute(
                f"SELECT {REGISTRY_COLUMNS} FROM registries ORDER BY id"
            ).fetchall()
        )
        return [self.opened(registry_from_row(r)) for r in rows]

    async def update_registry(self, registry: Registry) -> bool:
        try:
            count = await self.database.write(
                lambda db: (
                    db.execute(
                        f"UPDATE registries SET {_SETS} WHERE id = ?",
                        (*registry_values(self.sealed(registry)), registry.id),
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

    async def plain_secrets(self) -> list[tuple[int, str]]:
        rows = await self.database.read(
            lambda db: db.execute(
                "SELECT id, access_secret FROM registries "
                "WHERE access_secret <> '' AND substr(access_secret, 1, 3) <> 's1:'"
            ).fetchall()
        )
        return [(int(r[0]), str(r[1])) for r in rows]

    async def replace_secret(self, registry_id: int, old: str, new: str) -> bool:
        count = await self.database.write(
            lambda db: (
                db.execute(
                    "UPDATE registries SET access_secret = ? WHERE id = ? AND access_secret = ?",
                    (new, registry_id, old),
                ).rowcount
            )
        )
        return count > 0

    async def claim_schedule(self, policy_id: int, fired: float) -> bool:
        count = await self.database.write(
            lambda db: (
                db.execute(
                    "UPDATE replication_policies SET schedule_fired = ? "
                    "WHERE id = ? AND schedule_fired < ?",
                    (fired, policy_id, fired),
                ).rowcount
            )
        )
        return count > 0

    # --- policies -----------------------------------------------------------------------
    async def create_policy(self, policy: Policy) -> Policy:
        try:
            policy_id = await self.database.write(
                lambda db: _insert(
                    db, "replication_policies", POLICY_COLUMNS, policy_values(policy)
                )
            )
        except sqlite3.IntegrityError:
            raise Conflict(f"a policy named {policy.name} exists") from None
        return replace(policy, id=policy_id)

    async def get_policy(self, policy_id: int) -> Policy | None:
        row = await self.database.read(
            lambda db: db.execute(
                f"SELECT {POLICY_COLUMNS} FROM replication_policies WHERE id = ?", (policy_id,)
            ).fetchone()
        )
        return None if row is None else policy_from_row(row)

    async def policies(self) -> list[Policy]:
        rows = await self.database.read(
            lambda db: db.execute(
                f"SELECT {POLICY_COLUMNS} FROM replication_policies ORDER BY id"
            ).fetchall()
        )
        return [policy_from_row(r) for r in rows]

    async def update_policy(self, policy: Policy) -> bool:
        try:
            count = await self.database.write(
                lambda db: (
                    db.execute(
                        f"UPDATE replication_policies SET {_POLICY_SETS} WHERE id = ?",
                        (*policy_values(policy), policy.id),
                    ).rowcount
                )
            )
        except sqlite3.IntegrityError:
            raise Conflict(f"a policy named {policy.name} exists") from None
        return count > 0

    async def delete_policy(self, policy_id: int) -> bool:
        count = await self.database.write(
            lambda db: (
                db.execute("DELETE FROM replication_policies WHERE id = ?", (policy_id,)).rowcount
            )
        )
        return count > 0

    async def policies_using(self, registry_id: int) -> int:
        row = await self.database.read(
            lambda db: db.execute(
                "SELECT count(*) FROM replication_policies "
                "WHERE src_registry_id = ? OR dest_registry_id = ?",
                (registry_id, registry_id),
            ).fetchone()
        )
        return int(row[0])

    # --- executions ---------------------------------------------------------------------
    async def create_execution(self, execution: Execution) -> Execution:
        execution_id = await self.database.write(
            lambda db: _insert(
                db, "replication_executions", EXECUTION_COLUMNS, execution_values(execution)
            )
        )
        return replace(execution, id=execution_id)

    async def get_execution(self, execution_id: int) -> Execution | None:
        row = await self.database.read(
            lambda db: db.execute(
                f"SELECT {EXECUTION_COLUMNS} FROM replication_executions WHERE id = ?",
                (execution_id,),
            ).fetchone()
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
                clauses.append(f"{column} = ?")
                params.append(value)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""

        def read(db: sqlite3.Connection) -> tuple[list[Execution], int]:
            total = db.execute(
                f"SELECT count(*) FROM replication_executions {where}", params
            ).fetchone()[0]
            rows = db.execute(
                f"SELECT {EXECUTION_COLUMNS} FROM replication_executions {where} "
                f"ORDER BY id DESC LIMIT ? OFFSET ?",
                (*params, limit, offset),
            ).fetchall()
            return [execution_from_row(r) for r in rows], int(total)

        return await self.database.read(read, snapshot=True)

    async def in_progress(self, after: int, limit: int) -> list[Execution]:
        rows = await self.database.read(
            lambda db: db.execute(
                f"SELECT {EXECUTION_COLUMNS} FROM replication_executions "
                "WHERE status = ? AND id > ? ORDER BY id LIMIT ?",
                (IN_PROGRESS, after, limit),
            ).fetchall()
        )
        return [execution_from_row(r) for r in rows]

    async def finish_execution(self, execution: Execution) -> bool:
        count = await self.database.write(
            lambda db: (
                db.execute(
                    f"UPDATE replication_executions SET {_EXECUTION_SETS} "
                    f"WHERE id = ? AND status = ?",
                    (*execution_values(execution), execution.id, IN_PROGRESS),
                ).rowcount
            )
        )
        return count > 0
