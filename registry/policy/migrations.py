"""The policy tables (immutable tag rules, tag-retention policies, their executions and
per-repository tasks), in SQL both SQLite and PostgreSQL accept; applied by
``wharf.db.migrate``. Projects are referred to by id (auth's) and, for the hot path's
lookups by repository, by name (Harbor's project names never change)."""

from __future__ import annotations

from wharf.db.migrate import Migration, Schema

# Never edit a released migration: add a new one.
MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        (
            """CREATE TABLE immutable_rules (
                id INTEGER PRIMARY KEY,
                project_id INTEGER NOT NULL,
                project TEXT NOT NULL,
                priority INTEGER NOT NULL DEFAULT 0,
                disabled INTEGER NOT NULL DEFAULT 0,
                action TEXT NOT NULL,
                template TEXT NOT NULL,
                params TEXT NOT NULL DEFAULT '{}',
                tag_selectors TEXT NOT NULL,
                scope_selectors TEXT NOT NULL,
                rule_key TEXT NOT NULL,
                created DOUBLE PRECISION NOT NULL,
                UNIQUE (project_id, rule_key)
            )""",
            "CREATE INDEX immutable_rules_by_project ON immutable_rules (project, id)",
            """CREATE TABLE retention_policies (
                id INTEGER PRIMARY KEY,
                project_id INTEGER NOT NULL UNIQUE,
                project TEXT NOT NULL,
                algorithm TEXT NOT NULL,
                rules TEXT NOT NULL,
                trigger_kind TEXT NOT NULL,
                trigger_cron TEXT NOT NULL DEFAULT '',
                created DOUBLE PRECISION NOT NULL,
                updated DOUBLE PRECISION NOT NULL
            )""",
            """CREATE TABLE retention_executions (
                id INTEGER PRIMARY KEY,
                policy_id INTEGER NOT NULL REFERENCES retention_policies(id) ON DELETE CASCADE,
                status TEXT NOT NULL,
                trigger_kind TEXT NOT NULL,
                dry_run INTEGER NOT NULL,
                start_time DOUBLE PRECISION NOT NULL,
                end_time DOUBLE PRECISION
            )""",
            "CREATE INDEX retention_executions_by_policy ON retention_executions (policy_id, id)",
            """CREATE TABLE retention_tasks (
                id INTEGER PRIMARY KEY,
                execution_id INTEGER NOT NULL
                    REFERENCES retention_executions(id) ON DELETE CASCADE,
                repository TEXT NOT NULL,
                job_id INTEGER NOT NULL DEFAULT 0,
                status TEXT NOT NULL,
                total INTEGER NOT NULL DEFAULT 0,
                retained INTEGER NOT NULL DEFAULT 0,
                removed TEXT NOT NULL DEFAULT '[]',
                start_time DOUBLE PRECISION,
                end_time DOUBLE PRECISION,
                UNIQUE (execution_id, repository)
            )""",
        ),
    ),
)

SCHEMA = Schema("policy", MIGRATIONS)
