"""Webhook policies on PostgreSQL."""

from __future__ import annotations

from dataclasses import replace

import asyncpg

from wharf.db.postgres import PostgresDatabase
from wharf.webhook.models import Policy
from wharf.webhook.store import COLUMNS, Conflict, WebhookStore, policy_from_row, policy_values

_NAMES = COLUMNS.split(", ")[1:]
_INSERT = (
    f"INSERT INTO webhook_policies ({', '.join(_NAMES)}) "
    f"VALUES ({', '.join(f'${n}' for n in range(1, len(_NAMES) + 1))}) RETURNING id"
)
_UPDATED = [c for c in _NAMES if c not in ("project_id", "project_name")]
_UPDATE = (
    "UPDATE webhook_policies SET "
    + ", ".join(f"{c} = ${n}" for n, c in enumerate(_UPDATED, start=1))
    + f" WHERE id = ${len(_UPDATED) + 1}"
)


class PostgresWebhookStore(WebhookStore):
    def __init__(self, database: PostgresDatabase) -> None:
        self.database = database

    async def open(self) -> None:
        await self.database.open()

    async def close(self) -> None:
        await self.database.close()

    async def create_policy(self, policy: Policy) -> Policy:
        try:
            policy_id = await self.database.write(
                lambda db: db.fetchval(_INSERT, *policy_values(policy))
            )
        except asyncpg.exceptions.UniqueViolationError:
            raise Conflict(f"a policy named {policy.name} exists in the project") from None
        return replace(policy, id=int(policy_id))

    async def get_policy(self, policy_id: int) -> Policy | None:
        row = await self.database.read(
            lambda db: db.fetchrow(
                f"SELECT {COLUMNS} FROM webhook_policies WHERE id = $1", policy_id
            )
        )
        return None if row is None else policy_from_row(row)

    async def policies(self, project_id: int | None = None) -> list[Policy]:
        if project_id is None:
            rows = await self.database.read(
                lambda db: db.fetch(f"SELECT {COLUMNS} FROM webhook_policies ORDER BY id")
            )
        else:
            rows = await self.database.read(
                lambda db: db.fetch(
                    f"SELECT {COLUMNS} FROM webhook_policies WHERE project_id = $1 ORDER BY id",
                    project_id,
                )
            )
        return [policy_from_row(r) for r in rows]

    async def update_policy(self, policy: Policy) -> bool:
        try:
            status = await self.database.write(
                lambda db: db.execute(_UPDATE, *policy_values(policy)[2:], policy.id)
            )
        except asyncpg.exceptions.UniqueViolationError:
            raise Conflict(f"a policy named {policy.name} exists in the project") from None
        return str(status).endswith(" 1")

    async def delete_policy(self, policy_id: int) -> bool:
        status = await self.database.write(
            lambda db: db.execute("DELETE FROM webhook_policies WHERE id = $1", policy_id)
        )
        return str(status).endswith(" 1")

    async def delete_project_policies(self, project_name: str) -> int:
        status = await self.database.write(
            lambda db: db.execute(
                "DELETE FROM webhook_policies WHERE project_name = $1", project_name
            )
        )
        return int(str(status).rsplit(" ", 1)[-1])
