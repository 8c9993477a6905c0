"""The webhook policies' table, in SQL both SQLite and PostgreSQL accept; applied by
``wharf.db.migrate``. Deliveries are jobs of ``wharf.jobs`` (their group names the
policy), so they need no table of their own."""

from __future__ import annotations

from wharf.db.migrate import Migration, Schema

# Never edit a released migration: add a new one.
MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        (
            """CREATE TABLE webhook_policies (
                id INTEGER PRIMARY KEY,
                project_id INTEGER NOT NULL,
                project_name TEXT NOT NULL,
                name TEXT NOT NULL,
                description TEXT NOT NULL DEFAULT '',
                targets TEXT NOT NULL,
                event_types TEXT NOT NULL,
                creator TEXT NOT NULL DEFAULT '',
                enabled INTEGER NOT NULL DEFAULT 1,
                created DOUBLE PRECISION NOT NULL,
                updated DOUBLE PRECISION NOT NULL,
                UNIQUE (project_id, name)
            )""",
            "CREATE INDEX webhook_policies_by_project ON webhook_policies (project_name)",
        ),
    ),
)

SCHEMA = Schema("webhook", MIGRATIONS)
