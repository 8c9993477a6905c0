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
            """CREATE TABLE replication_policies (
                id INTEGER PRIMARY KEY,
                name TEXT NOT NULL UNIQUE,
                description TEXT NOT NULL DEFAULT '',
                src_registry_id INTEGER REFERENCES registries(id),
                dest_registry_id INTEGER REFERENCES registries(id),
                dest_namespace TEXT NOT NULL DEFAULT '',
                dest_namespace_replace_count INTEGER NOT NULL DEFAULT -1,
                trigger_type TEXT NOT NULL,
                trigger_cron TEXT NOT NULL DEFAULT '',
                filters TEXT NOT NULL DEFAULT '[]',
                replicate_deletion INTEGER NOT NULL DEFAULT 0,
                override INTEGER NOT NULL DEFAULT 1,
                enabled INTEGER NOT NULL DEFAULT 1,
                speed INTEGER NOT NULL DEFAULT -1,
                copy_by_chunk INTEGER NOT NULL DEFAULT 0,
                single_active_replication INTEGER NOT NULL DEFAULT 0,
                created DOUBLE PRECISION NOT NULL,
                updated DOUBLE PRECISION NOT NULL
            )""",
            """CREATE TABLE replication_executions (
                id INTEGER PRIMARY KEY,
                policy_id INTEGER NOT NULL REFERENCES replication_policies(id) ON DELETE CASCADE,
                trigger_kind TEXT NOT NULL,
                status TEXT NOT NULL,
                status_text TEXT NOT NULL DEFAULT '',
                total INTEGER NOT NULL DEFAULT 0,
                succeed INTEGER NOT NULL DEFAULT 0,
                failed INTEGER NOT NULL DEFAULT 0,
                stopped INTEGER NOT NULL DEFAULT 0,
                in_progress INTEGER NOT NULL DEFAULT 0,
                start_time DOUBLE PRECISION NOT NULL,
                end_time DOUBLE PRECISION
            )""",
            "CREATE INDEX replication_executions_by_policy ON replication_executions "
            "(policy_id, id)",
            "CREATE INDEX replication_executions_running ON replication_executions (status)",
        ),
    ),
    Migration(
        2,
        (
            # the last scheduled firing claimed (epoch seconds): a firing is started once,
            # by the replica whose conditional update wins
            "ALTER TABLE replication_policies ADD COLUMN schedule_fired DOUBLE PRECISION "
            "NOT NULL DEFAULT 0",
        ),
    ),
)

SCHEMA = Schema("replication", MIGRATIONS)
