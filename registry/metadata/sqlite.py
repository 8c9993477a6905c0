"""The embedded metadata store: one SQLite file in WAL mode.

Queries run inline on the event loop: they are indexed lookups of microseconds, and
a thread hop would cost more than the query. Several worker processes share the
file; SQLite's own locking serialises writers (busy timeout, short transactions).
"""

from __future__ import annotations

import sqlite3
import time

from wharf.db.sqlite import SQLiteDatabase, connect
from wharf.registry.metadata.base import (
    ArtifactInfo,
    ManifestRecord,
    MetadataStore,
    PutManifestResult,
    RepositoryInfo,
    UploadSession,
)
from wharf.registry.metadata.schema import MIGRATIONS

_MANIFEST_COLUMNS = "m.digest, m.media_type, m.size, m.artifact_type, m.subject, m.annotations"


def _record(row: tuple[str, str, int, str | None, str | None, bytes | None]) -> ManifestRecord:
    return ManifestRecord(row[0], row[1], row[2], row[3], row[4], row[5])


def _session(row: tuple[object, ...]) -> UploadSession:
    return UploadSession(*row)  # type: ignore[arg-type]


_SESSION_COLUMNS = 'id, repo, "offset", hash_algorithm, hash_state, driver_state, created, updated'


class SQLiteStore(SQLiteDatabase, MetadataStore):
    _label = "metadata store"

    async def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = connect(self.path, wal=True)
        self.migrate()

    def migrate(self) -> None:
        with self._write() as db:
            db.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations "
                "(version INTEGER PRIMARY KEY, applied DOUBLE PRECISION NOT NULL)"
            )
            done = {v for (v,) in db.execute("SELECT version FROM schema_migrations")}
            for version, statements in MIGRATIONS:
                if version in done:
                    continue
                for statement in statements:
                    db.execute(statement.replace("BYTEA", "BLOB"))
                db.execute(
                    "INSERT INTO schema_migrations (version, applied) VALUES (?, ?)",
                    (version, time.time()),
                )

    async def ping(self) -> None:
        self.db.execute("SELECT 1").fetchone()

    def _repo_id(self, repo: str) -> int | None:
        row = self.db.execute("SELECT id FROM repositories WHERE name = ?", (repo,)).fetchone()
        return None if row is None else int(row[0])

    @staticmethod
    def _ensure_repo(db: sqlite3.Connection, repo: str) -> int:
        row = db.execute("SELECT id FROM repositories WHERE name = ?", (repo,)).fetchone()
        if row is not None:
            return int(row[0])
        cur = db.execute(
            "INSERT INTO repositories (name, created) VALUES (?, ?)", (repo, time.time())
        )
        assert cur.lastrowid is not None
        return cur.lastrowid

    # --- repositories --------------------------------------------------------
    async def repo_exists(self, repo: str) -> bool:
        return self._repo_id(repo) is not None

    async def list_repos(self, last: str | None, limit: int | None) -> list[str]:
        rows = self.db.execute(
            "SELECT name FROM repositories WHERE name > ? ORDER BY name LIMIT ?",
            (last or "", -1 if limit is None else limit),
        )
        return [name for (name,) in rows]

    # --- blobs ---------------------------------------------------------------
    async def repo_blob_size(self, repo: str, digest: str) -> int | None:
        row = self.db.execute(
            "SELECT b.size, b.last_seen FROM blobs b JOIN repo_blobs rb ON rb.digest = b.digest "
            "JOIN repositories r ON r.id = rb.repo_id WHERE r.name = ? AND b.digest = ?",
            (repo, digest),
        ).fetchone()
        if row is None:
            return None
        now = time.time()
        if now - row[1] > 60:  # refreshing every hit would make every read a write
            with self._write() as db:
                db.execute("UPDATE blobs SET last_seen = ? WHERE digest = ?", (now, digest))
        return int(row[0])

    async def blob_size(self, digest: str) -> int | None:
        row = self.db.execute("SELECT size FROM blobs WHERE digest = ?", (digest,)).fetchone()
        return None if row is None else int(row[0])

    async def repos_with_blob(self, digest: str, limit: int = 100) -> list[str]:
        rows = self.db.execute(
            "SELECT r.name FROM repo_blobs rb JOIN repositories r ON r.id = rb.repo_id "
            "WHERE rb.digest = ? ORDER BY r.name LIMIT ?",
            (digest, limit),
        )
        return [name for (name,) in rows]

    async def add_blob(self, repo: str, digest: str, size: int) -> None:
        now = time.time()
        with self._write() as db:
            db.execute(
                "INSERT INTO blobs (digest, size, created, last_seen) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (digest) DO UPDATE SET last_seen = excluded.last_seen",
                (digest, size, now, now),
            )
            repo_id = self._ensure_repo(db, repo)
            db.execute(
                "INSERT INTO repo_blobs (repo_id, digest, created) VALUES (?, ?, ?) "
                "ON CONFLICT DO NOTHING",
                (repo_id, digest, now),
            )

    async def link_blob(self, repo: str, digest: str) -> bool:
        now = time.time()
        with self._write() as db:
            cur = db.execute("UPDATE blobs SET last_seen = ? WHERE digest = ?", (now, digest))
            if cur.rowcount == 0:
                return False
            repo_id = self._ensure_repo(db, repo)
            db.execute(
                "INSERT INTO repo_blobs (repo_id, digest, created) VALUES (?, ?, ?) "
                "ON CONFLICT DO NOTHING",
                (repo_id, digest, now),
            )
        return True

    async def unlink_blob(self, repo: str, digest: str) -> bool:
        with self._write() as db:
            cur = db.execute(
                "DELETE FROM repo_blobs WHERE digest = ? AND repo_id = "
                "(SELECT id FROM repositories WHERE name = ?)",
                (digest, repo),
            )
            return cur.rowcount > 0

    # --- uploads -------------------------------------------------------------
    async def create_upload(self, session: UploadSession) -> None:
        with self._write() as db:
            db.execute(
                f"INSERT INTO uploads ({_SESSION_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    session.id,
                    session.repo,
                    session.offset,
                    session.hash_algorithm,
                    session.hash_state,
                    session.driver_state,
                    session.created,
                    session.updated,
                ),
            )

    async def get_upload(self, upload_id: str) -> UploadSession | None:
        row = self.db.execute(
            f"SELECT {_SESSION_COLUMNS} FROM uploads WHERE id = ?", (upload_id,)
        ).fetchone()
        return None if row is None else _session(row)

    async def claim_upload(
        self,
        upload_id: str,
        owner: str,
        until: float,
        now: float,
        replace: str | None = None,
    ) -> bool:
        with self._write() as db:
            cur = db.execute(
                "UPDATE uploads SET lease_owner = ?, lease_until = ? "
                "WHERE id = ? AND (lease_owner IS NULL OR lease_owner = ? OR lease_until < ? "
                "OR lease_owner = ?)",
                (owner, until, upload_id, owner, now, replace),
            )
            return cur.rowcount > 0

    async def upload_lease_owner(self, upload_id: str) -> str | None:
        row = self.db.execute(
            "SELECT lease_owner FROM uploads WHERE id = ?", (upload_id,)
        ).fetchone()
        return None if row is None else row[0]

    async def release_upload(
        self, session: UploadSession, owner: str, previous_offset: int
    ) -> bool:
        with self._write() as db:
            cur = db.execute(
                'UPDATE uploads SET "offset" = ?, hash_state = ?, driver_state = ?, updated = ?, '
                "lease_owner = NULL, lease_until = 0 "
                'WHERE id = ? AND lease_owner = ? AND "offset" = ?',
                (
                    session.offset,
                    session.hash_state,
                    session.driver_state,
                    session.updated,
                    session.id,
                    owner,
                    previous_offset,
                ),
            )
            return cur.rowcount > 0

    async def delete_upload(self, upload_id: str) -> bool:
        with self._write() as db:
            return db.execute("DELETE FROM uploads WHERE id = ?", (upload_id,)).rowcount > 0

    async def list_uploads(self, updated_before: float) -> list[UploadSession]:
        rows = self.db.execute(
            f"SELECT {_SESSION_COLUMNS} FROM uploads WHERE updated < ?", (updated_before,)
        )
        return [_session(row) for row in rows]

    # --- manifests and tags --------------------------------------------------
    async def put_manifest(
        self,
        repo: str,
        record: ManifestRecord,
        blobs: list[str],
        children: list[str],
        tag: str | None,
    ) -> PutManifestResult:
        now = time.time()
        with self._write() as db:
            found = db.execute("SELECT id FROM repositories WHERE name = ?", (repo,)).fetchone()
            known = -1 if found is None else int(found[0])
            wanted_blobs = sorted(set(blobs))
            wanted_children = sorted(set(children))
            missing_blobs = [
                d
                for d in wanted_blobs
                if db.execute(
                    "SELECT 1 FROM repo_blobs WHERE repo_id = ? AND digest = ?", (known, d)
                ).fetchone()
                is None
            ]
            missing_children = [
                d
                for d in wanted_children
                if db.execute(
                    "SELECT 1 FROM manifests WHERE repo_id = ? AND digest = ?", (known, d)
                ).fetchone()
                is None
            ]
            if missing_blobs or missing_children:
                return PutManifestResult(missing_blobs, missing_children)  # nothing written yet
            repo_id = self._ensure_repo(db, repo)
            if wanted_blobs:
                db.executemany(
                    "UPDATE blobs SET last_seen = ? WHERE digest = ?",
                    [(now, d) for d in wanted_blobs],
                )
            db.execute(
                "INSERT INTO blobs (digest, size, created, last_seen) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (digest) DO UPDATE SET last_seen = excluded.last_seen",
                (record.digest, record.size, now, now),
            )
            inserted = db.execute(
                "INSERT INTO manifests (repo_id, digest, media_type, size, artifact_type, "
                "subject, annotations, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT DO NOTHING",
                (
                    repo_id,
                    record.digest,
                    record.media_type,
                    record.size,
                    record.artifact_type,
                    record.subject,
                    record.annotations,
                    now,
                ),
            ).rowcount
            if inserted:
                db.executemany(
                    "INSERT INTO manifest_blobs (repo_id, manifest_digest, blob_digest) "
                    "VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                    [(repo_id, record.digest, d) for d in wanted_blobs],
                )
                db.executemany(
                    "INSERT INTO manifest_children (repo_id, manifest_digest, child_digest) "
                    "VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                    [(repo_id, record.digest, d) for d in wanted_children],
                )
            if tag is not None:
                db.execute(
                    "INSERT INTO tags (repo_id, name, digest, updated) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT (repo_id, name) DO UPDATE SET digest = excluded.digest, "
                    "updated = excluded.updated",
                    (repo_id, tag, record.digest, now),
                )
        return PutManifestResult([], [])

    async def get_manifest(self, repo: str, digest: str) -> ManifestRecord | None:
        row = self.db.execute(
            f"SELECT {_MANIFEST_COLUMNS} FROM manifests m JOIN repositories r ON r.id = m.repo_id "
            "WHERE r.name = ? AND m.digest = ?",
            (repo, digest),
        ).fetchone()
        return None if row is None else _record(row)

    async def resolve_tag(self, repo: str, tag: str) -> ManifestRecord | None:
        row = self.db.execute(
            f"SELECT {_MANIFEST_COLUMNS} FROM tags t JOIN repositories r ON r.id = t.repo_id "
            "JOIN manifests m ON m.repo_id = t.repo_id AND m.digest = t.digest "
            "WHERE r.name = ? AND t.name = ?",
            (repo, tag),
        ).fetchone()
        return None if row is None else _record(row)

    async def delete_manifest(self, repo: str, digest: str) -> bool:
        with self._write() as db:
            cur = db.execute(
                "DELETE FROM manifests WHERE digest = ? AND repo_id = "
                "(SELECT id FROM repositories WHERE name = ?)",
                (digest, repo),
            )
            return cur.rowcount > 0

    async def delete_tag(self, repo: str, tag: str) -> bool:
        with self._write() as db:
            cur = db.execute(
                "DELETE FROM tags WHERE name = ? AND repo_id = "
                "(SELECT id FROM repositories WHERE name = ?)",
                (tag, repo),
            )
            return cur.rowcount > 0

    async def list_tags(self, repo: str, last: str | None, limit: int | None) -> list[str] | None:
        repo_id = self._repo_id(repo)
        if repo_id is None:
            return None
        rows = self.db.execute(
            "SELECT name FROM tags WHERE repo_id = ? AND name > ? ORDER BY name LIMIT ?",
            (repo_id, last or "", -1 if limit is None else limit),
        )
        return [name for (name,) in rows]

    async def referrers(
        self, repo: str, subject: str, artifact_type: str | None
    ) -> list[ManifestRecord]:
        query = (
            f"SELECT {_MANIFEST_COLUMNS} FROM manifests m JOIN repositories r ON r.id = m.repo_id "
            "WHERE r.name = ? AND m.subject = ?"
        )
        params: tuple[str, ...] = (repo, subject)
        if artifact_type is not None:
            query += " AND m.artifact_type = ?"
            params += (artifact_type,)
        rows = self.db.execute(query + " ORDER BY m.created, m.digest", params)
        return [_record(row) for row in rows]

    # --- management queries (Harbor-style REST API) ------------------------------
    async def repositories_under(self, prefix: str) -> list[RepositoryInfo]:
        like = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        rows = self.db.execute(
            "SELECT r.name, r.created, "
            "COALESCE((SELECT MAX(m.created) FROM manifests m WHERE m.repo_id = r.id), r.created), "
            "(SELECT COUNT(*) FROM manifests m WHERE m.repo_id = r.id) "
            "FROM repositories r WHERE r.name LIKE ? ESCAPE '\\' ORDER BY r.name",
            (like,),
        )
        return [
            RepositoryInfo(name, created, updated, count) for name, created, updated, count in rows
        ]

    async def artifacts(self, repo: str) -> list[ArtifactInfo] | None:
        repo_id = self._repo_id(repo)
        if repo_id is None:
            return None
        rows = self.db.execute(
            f"SELECT {_MANIFEST_COLUMNS}, m.created FROM manifests m WHERE m.repo_id = ? "
            "ORDER BY m.created DESC, m.digest",
            (repo_id,),
        ).fetchall()
        tags: dict[str, list[tuple[str, float]]] = {}
        for name, digest, updated in self.db.execute(
            "SELECT name, digest, updated FROM tags WHERE repo_id = ? ORDER BY name", (repo_id,)
        ):
            tags.setdefault(digest, []).append((name, updated))
        return [ArtifactInfo(_record(row[:6]), row[6], tags.get(row[0], [])) for row in rows]

    async def delete_repository(self, repo: str) -> bool:
        with self._write() as db:
            return db.execute("DELETE FROM repositories WHERE name = ?", (repo,)).rowcount > 0
