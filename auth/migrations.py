"""The auth tables (users, projects, members, robots, audit events, token signing keys), in
SQL both SQLite and PostgreSQL accept; applied by ``wharf.db.migrate``."""

from __future__ import annotations

from wharf.db.migrate import Migration, Schema

# the tables migration 2 adds on both databases
_GROUP_TABLES = (
    """CREATE TABLE user_groups (
        id INTEGER PRIMARY KEY,
        group_name TEXT NOT NULL,
        group_type INTEGER NOT NULL,
        group_key TEXT NOT NULL,
        ldap_group_dn TEXT NOT NULL DEFAULT '',
        created DOUBLE PRECISION NOT NULL,
        updated DOUBLE PRECISION NOT NULL,
        UNIQUE (group_type, group_key)
    )""",
    """CREATE TABLE user_group_members (
        user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        group_id INTEGER NOT NULL REFERENCES user_groups(id) ON DELETE CASCADE,
        PRIMARY KEY (user_id, group_id)
    )""",
    "CREATE INDEX user_group_members_by_group ON user_group_members (group_id)",
    """CREATE TABLE oidc_users (
        user_id INTEGER NOT NULL PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
        subject TEXT NOT NULL,
        issuer TEXT NOT NULL,
        secret TEXT NOT NULL,
        token TEXT NOT NULL,
        checked DOUBLE PRECISION NOT NULL DEFAULT 0,
        created DOUBLE PRECISION NOT NULL,
        updated DOUBLE PRECISION NOT NULL,
        UNIQUE (issuer, subject)
    )""",
    """CREATE TABLE configurations (
        name TEXT PRIMARY KEY,
        value TEXT NOT NULL,
        updated DOUBLE PRECISION NOT NULL
    )""",
)

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
        ),
    ),
    # External authentication (LDAP, OIDC): where each user comes from, user groups and
    # their project roles, the groups each user was last seen in, OIDC users' CLI secrets
    # and provider tokens, and the settings changed through /api/v2.0/configurations.
    Migration(
        3,
        (
            "ALTER TABLE users ADD COLUMN auth_source TEXT NOT NULL DEFAULT 'db'",
            "ALTER TABLE users ADD COLUMN external_id TEXT",
            "ALTER TABLE users ADD COLUMN group_admin INTEGER NOT NULL DEFAULT 0",
            "ALTER TABLE users ADD COLUMN external_checked DOUBLE PRECISION NOT NULL DEFAULT 0",
            "CREATE UNIQUE INDEX users_by_external ON users (auth_source, external_id)",
            *_GROUP_TABLES,
            # project_members.user_id becomes optional (a row is a user's or a group's):
            # SQLite can only rebuild the table, the ids (member ids of the API) kept
            """CREATE TABLE project_members_v2 (
                id INTEGER PRIMARY KEY,
                project_id INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
                user_id INTEGER REFERENCES users(id) ON DELETE CASCADE,
                role_id INTEGER NOT NULL,
                group_id INTEGER REFERENCES user_groups(id) ON DELETE CASCADE,
                UNIQUE (project_id, user_id),
                UNIQUE (project_id, group_id),
                CHECK ((user_id IS NULL) <> (group_id IS NULL))
            )""",
            "INSERT INTO project_members_v2 (id, project_id, user_id, role_id) "
            "SELECT id, project_id, user_id, role_id FROM project_members",
            "DROP TABLE project_members",
            "ALTER TABLE project_members_v2 RENAME TO project_members",
            "CREATE INDEX project_members_by_user ON project_members (user_id)",
            "CREATE INDEX project_members_by_group ON project_members (group_id)",
        ),
        postgres=(
            "ALTER TABLE users ADD COLUMN auth_source TEXT NOT NULL DEFAULT 'db'",
            "ALTER TABLE users ADD COLUMN external_id TEXT",
            "ALTER TABLE users ADD COLUMN group_admin INTEGER NOT NULL DEFAULT 0",
            "ALTER TABLE users ADD COLUMN external_checked DOUBLE PRECISION NOT NULL DEFAULT 0",
            "CREATE UNIQUE INDEX users_by_external ON users (auth_source, external_id)",
            *_GROUP_TABLES,
            "ALTER TABLE project_members ALTER COLUMN user_id DROP NOT NULL",
            "ALTER TABLE project_members ADD COLUMN group_id INTEGER "
            "REFERENCES user_groups(id) ON DELETE CASCADE",
            "ALTER TABLE project_members ADD CONSTRAINT project_members_group_unique "
            "UNIQUE (project_id, group_id)",
            "ALTER TABLE project_members ADD CONSTRAINT project_members_one_entity "
            "CHECK ((user_id IS NULL) <> (group_id IS NULL))",
            "CREATE INDEX project_members_by_group ON project_members (group_id)",
        ),
    ),
    # Proxy-cache projects (Harbor's ``registry_id``): the remote registry a project
    # mirrors. No foreign key: the registries table is replication's, migrated later; the
    # registry service refuses to delete a registry a project still names.
    Migration(4, ("ALTER TABLE projects ADD COLUMN registry_id INTEGER",)),
)

# Before each package had its own migrations, these tables were version 2 of one sequence
# (registry/metadata/schema.py held both).
SCHEMA = Schema("auth", MIGRATIONS, legacy={2: 1})
