"""The auth tables (users, projects, members, robots, audit events, token signing keys), in
SQL both SQLite and PostgreSQL accept; applied by ``wharf.db.migrate``."""

from __future__ import annotations

from wharf.db.migrate import Migration, Schema

# Never edit a released migration: add a new one.
MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        (
            """CREATE TABLE users (
                id INTEGER PRIMARY KEY,
                username TEXT NOT NULL UNIQUE,
                email TEXT NOT NULL DEFAULT '',
                realname TEXT NOT NULL DEFAULT '',
                password_hash TEXT NOT NULL,
                sysadmin INTEGER NOT NULL DEFAULT 0,
                enabled INTEGER NOT NULL DEFAULT 1,
                comment TEXT NOT NULL DEFAULT '',
                created DOUBLE PRECISION NOT NULL,
                updated DOUBLE PRECISION NOT NULL
            )""",
            """CREATE TABLE projects (
                id INTEGER PRIMARY KEY,
                name TEXT NOT NULL UNIQUE,
                public INTEGER NOT NULL DEFAULT 0,
                owner_id INTEGER REFERENCES users(id) ON DELETE SET NULL,
                created DOUBLE PRECISION NOT NULL,
                updated DOUBLE PRECISION NOT NULL
            )""",
            """CREATE TABLE project_members (
                id INTEGER PRIMARY KEY,
                project_id INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
                user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
                role_id INTEGER NOT NULL,
                UNIQUE (project_id, user_id)
            )""",
            "CREATE INDEX project_members_by_user ON project_members (user_id)",
            """CREATE TABLE robots (
                id INTEGER PRIMARY KEY,
                name TEXT NOT NULL UNIQUE,
                project TEXT,
                description TEXT NOT NULL DEFAULT '',
                secret_hash TEXT NOT NULL,
                permissions TEXT NOT NULL,
                expires_at DOUBLE PRECISION,
                disabled INTEGER NOT NULL DEFAULT 0,
                creator TEXT NOT NULL DEFAULT '',
                created DOUBLE PRECISION NOT NULL,
                updated DOUBLE PRECISION NOT NULL
            )""",
            "CREATE INDEX robots_by_project ON robots (project)",
            """CREATE TABLE audit_events (
                id INTEGER PRIMARY KEY,
                time DOUBLE PRECISION NOT NULL,
                username TEXT NOT NULL,
                operation TEXT NOT NULL,
                resource_type TEXT NOT NULL,
                resource TEXT NOT NULL,
                project TEXT NOT NULL DEFAULT '',
                client_ip TEXT NOT NULL DEFAULT '',
                result TEXT NOT NULL,
                detail TEXT NOT NULL DEFAULT ''
            )""",
            "CREATE INDEX audit_events_by_time ON audit_events (time)",
            "CREATE INDEX audit_events_by_project ON audit_events (project, time)",
            """CREATE TABLE signing_keys (
                kid TEXT PRIMARY KEY,
                algorithm TEXT NOT NULL,
                private_key TEXT NOT NULL,
                public_key TEXT NOT NULL,
                created DOUBLE PRECISION NOT NULL,
                active INTEGER NOT NULL DEFAULT 1
            )""",
        ),
    ),
    Migration(
        2,
        (
            # Harbor's project metadata besides "public" (auto_scan, severity, …), as JSON
            "ALTER TABLE projects ADD COLUMN metadata TEXT NOT NULL DEFAULT '{}'",
            # the hash of a user's CLI secret (Harbor's setCliSecret, used in OIDC mode)
            "ALTER TABLE users ADD COLUMN cli_secret_hash TEXT NOT NULL DEFAULT ''",
        ),
    ),
)

# Before each package had its own migrations, these tables were version 2 of one sequence
# (registry/metadata/schema.py held both).
SCHEMA = Schema("auth", MIGRATIONS, legacy={2: 1})
