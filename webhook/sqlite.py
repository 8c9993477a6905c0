"""Webhook policies on SQLite."""

from __future__ import annotations

import sqlite3
from dataclasses import replace

from wharf.db.sqlite import SQLiteDatabase
from wharf.webhook.models import Policy
from wharf.webhook.store import COLUMNS, Conflict, WebhookStore, policy_from_row, policy_values

_NAMES = COLUMNS.split(", ", 1)[1]
_SETS = ", ".join(f"{c} = ?" for c in _NAMES.split(", ") if c not in ("project_id", "project_name"))


def _update_values(policy: Policy) -> tuple[object, ...]:
    return policy_values(policy)[2:]


class SQLiteWebhookStore(WebhookStore):
    def __init__(self, database: SQLiteDatabase) -> None:
        self.database = database

    async def open(self) -> None:
        await self.database.open()

    async def close(self) -> None:
        await self.database.close()

    async def create_policy(self, policy: Policy) -> Policy:
        values = policy_values(policy)

        def write(db: sqlite3.Connection) -> int:
            cursor = db.execute(
                f"INSERT INTO webhook_policies ({_NAMES}) VALUES ({', '.join('?' * len(values))})",
                values,
            )
            assert cursor.lastrowid is not None
            return cursor.lastrowid

        try:
            policy_id = await self.database.write(write)
        except sqlite3.IntegrityError:
            raise Conflict(f"a policy named {policy.name} exists in the project") from None
        return replace(policy, id=policy_id)

    async def get_policy(self, policy_id: int) -> Policy | None:
        row = await self.database.read(
            lambda db: db.execute(
                f"SELECT {COLUMNS} FROM webhook_policies WHERE id = ?", (policy_id,)
            ).fetchone()
        )
        return None if row is None else policy_from_row(row)

    async def policies(self, project_id: int | None = None) -> list[Policy]:
        args: tuple[int, ...] = ()
        if project_id is None:
            sql = f"SELECT {COLUMNS} FROM webhook_policies ORDER BY id"
        else:
            sql = f"SELECT {COLUMNS} FROM webhook_policies WHERE project_id = ? ORDER BY id"
            args = (project_id,)
        rows = await self.database.read(lambda db: db.execute(sql, args).fetchall())
        return [policy_from_row(r) for r in rows]

    async def update_policy(self, policy: Policy) -> bool:
        try:
            count = await self.database.write(
                lambda db: (
                    db.execute(
                        f"UPDATE webhook_policies SET {_SETS} WHERE id = ?",
                        (*_update_values(policy), policy.id),
                    ).rowcount
                )
            )
        except sqlite3.IntegrityError:
            raise Conflict(f"a policy named {policy.name} exists in the project") from None
        return count > 0

    async def delete_policy(self, policy_id: int) -> bool:
        count = await self.database.write(
            lambda db: (
                db.execute("DELETE FROM webhook_policies WHERE id = ?", (policy_id,)).rowcount
            )
        )
        return count > 0

    async def delete_project_policies(self, project_name: str) -> int:
        count: int = await self.database.write(
            lambda db: (
                db.execute(
                    "DELETE FROM webhook_policies WHERE project_name = ?", (project_name,)
                ).rowcount
            )
        )
        return count
