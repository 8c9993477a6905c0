"""Replication's tables, in SQL both SQLite and PostgreSQL accept; applied by
``wharf.db.migrate``."""

from __future__ import annotations

from wharf.db.migrate import Migration, Schema

# Never edit a released migration: add a new one.
MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        (
            """CREATE TABLE registries (
                id INTEGER PRIMARY KEY,
                name TEXT NOT NULL UNIQUE,
                description TEXT NOT NULL DEFAULT '',
                type TEXT NOT NULL,
                url TEXT NOT NULL,
                credential_type TEXT NOT NULL DEFAULT '',
                access_key TEXT NOT NULL DEFAULT '',
                access_secret TEXT NOT NULL DEFAULT '',
                insecure INTEGER NOT NULL DEFAULT 0,
                ca_certificate TEXT NOT NULL DEFAULT '',
                status TEXT NOT NULL DEFAULT '',
                created DOUBLE PRECISION NOT NULL,
                updated DOUBLE PRECISION NOT NULL
            )""",
        ),
    ),
)

SCHEMA = Schema("replication", MIGRATIONS)
