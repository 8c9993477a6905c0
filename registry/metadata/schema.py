"""Versioned schema migrations, written in SQL both SQLite and PostgreSQL accept."""

from __future__ import annotations

# Each entry is (version, statements). Never edit a released migration: add a new one.
MIGRATIONS: list[tuple[int, list[str]]] = [
    (
        1,
        [
            """CREATE TABLE repositories (
                id INTEGER PRIMARY KEY,
                name TEXT NOT NULL UNIQUE,
                created DOUBLE PRECISION NOT NULL
            )""",
            """CREATE TABLE blobs (
                digest TEXT PRIMARY KEY,
                size BIGINT NOT NULL,
                created DOUBLE PRECISION NOT NULL,
                last_seen DOUBLE PRECISION NOT NULL
            )""",
            """CREATE TABLE repo_blobs (
                repo_id INTEGER NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
                digest TEXT NOT NULL REFERENCES blobs(digest),
                created DOUBLE PRECISION NOT NULL,
                PRIMARY KEY (repo_id, digest)
            )""",
            "CREATE INDEX repo_blobs_by_digest ON repo_blobs (digest)",
            """CREATE TABLE manifests (
                repo_id INTEGER NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
                digest TEXT NOT NULL REFERENCES blobs(digest),
                media_type TEXT NOT NULL,
                size BIGINT NOT NULL,
                artifact_type TEXT,
                subject TEXT,
                annotations BYTEA,
                created DOUBLE PRECISION NOT NULL,
                PRIMARY KEY (repo_id, digest)
            )""",
            "CREATE INDEX manifests_by_subject ON manifests (repo_id, subject)",
            """CREATE TABLE manifest_blobs (
                repo_id INTEGER NOT NULL,
                manifest_digest TEXT NOT NULL,
                blob_digest TEXT NOT NULL,
                PRIMARY KEY (repo_id, manifest_digest, blob_digest),
                FOREIGN KEY (repo_id, manifest_digest)
                    REFERENCES manifests(repo_id, digest) ON DELETE CASCADE
            )""",
            "CREATE INDEX manifest_blobs_by_blob ON manifest_blobs (blob_digest)",
            """CREATE TABLE manifest_children (
                repo_id INTEGER NOT NULL,
                manifest_digest TEXT NOT NULL,
                child_digest TEXT NOT NULL,
                PRIMARY KEY (repo_id, manifest_digest, child_digest),
                FOREIGN KEY (repo_id, manifest_digest)
                    REFERENCES manifests(repo_id, digest) ON DELETE CASCADE
            )""",
            "CREATE INDEX manifest_children_by_child ON manifest_children (repo_id, child_digest)",
            """CREATE TABLE tags (
                repo_id INTEGER NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
                name TEXT NOT NULL,
                digest TEXT NOT NULL,
                updated DOUBLE PRECISION NOT NULL,
                PRIMARY KEY (repo_id, name),
                FOREIGN KEY (repo_id, digest) REFERENCES manifests(repo_id, digest)
                    ON DELETE CASCADE
            )""",
            "CREATE INDEX tags_by_digest ON tags (repo_id, digest)",
            """CREATE TABLE uploads (
                id TEXT PRIMARY KEY,
                repo TEXT NOT NULL,
                "offset" BIGINT NOT NULL,
                hash_algorithm TEXT NOT NULL,
                hash_state BYTEA NOT NULL,
                driver_state TEXT NOT NULL,
                lease_owner TEXT,
                lease_until DOUBLE PRECISION NOT NULL DEFAULT 0,
                created DOUBLE PRECISION NOT NULL,
                updated DOUBLE PRECISION NOT NULL
            )""",
        ],
    ),
    (
        2,
        [
            # Access control (wharf.auth): users, projects, members, robots, audit, keys.
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
        ],
    ),
]
