"""The embedded metadata store on the process's ``SQLiteDatabase`` (one SQLite file in WAL
mode, shared with the auth store and with the other worker processes).

Every method is one ``database.read`` or one ``database.write`` call: its queries run
together in a database thread (one hop off the event loop) and in one transaction.
"""

from __future__ import annotations

import sqlite3
import time

from wharf.db.sqlite import SQLiteDatabase
from wharf.registry.metadata.base import (
    ArtifactInfo,
    ManifestRecord,
    MetadataStore,
    ProjectUnknown,
    PutManifestResult,
    RepositoryInfo,
    UploadSession,
)

_MANIFEST_COLUMNS = "m.digest, m.media_type, m.size, m.artifact_type, m.subject, m.annotations"
_SESSION_COLUMNS = 'id, repo, "offset", hash_algorithm, hash_state, driver_state, created, updated'
LAST_SEEN_REFRESH = 60.0  # refreshing every hit would make every read a write


def _record(row: tuple[str, str, int, str | None, str | None, bytes | None]) -> ManifestRecord:
    return ManifestRecord(row[0], row[1], row[2], row[3], row[4], row[5])


def _session(row: tuple[object, ...]) -> UploadSession:
    return UploadSession(*row)  # type: ignore[arg-type]


def prefix_successor(prefix: str) -> str | None:
    """The smallest string greater than every string starting with ``prefix`` (None: no
    upper bound, for the empty prefix)."""
    if not prefix:
        return None
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


def _repo_id(db: sqlite3.Connection, repo: str) -> int | None:
    row = db.execute("SELECT id FROM repositories WHERE name = ?", (repo,)).fetchone()
    return None if row is None else int(row[0])


class SQLiteStore(MetadataStore):
    """``require_projects`` (access control on): a repository is only created inside an
    existing project, checked against the auth tables in the same transaction."""

    def __init__(self, database: SQLiteDatabase, *, require_projects: bool = False) -> None:
        self.database = database
        self.require_projects = require_projects

    async def open(self) -> None:
        await self.database.open()  # the first opener migrates the schema

    async def close(self) -> None:
        await self.database.close()

    async def ping(self) -> None:
        await self.database.read(lambda db: db.execute("SELECT 1").fetchone())

    def _ensure_repo(self, db: sqlite3.Connection, repo: str) -> int:
        """The repository's id, creating its row (inside the caller's write transaction)."""
        found = _repo_id(db, repo)
        if found is not None:
            return found
        if self.require_projects:
            project = repo.split("/", 1)[0]
            if db.execute("SELECT 1 FROM projects WHERE name = ?", (project,)).fetchone() is None:
                raise ProjectUnknown(project)
        cur = db.execute(
            "INSERT INTO repositories (name, created) VALUES (?, ?)", (repo, time.time())
        )
        assert cur.lastrowid is not None
        return cur.lastrowid

    # --- repositories --------------------------------------------------------
    async def repo_exists(self, repo: str) -> bool:
        return await self.database.read(lambda db: _repo_id(db, repo) is not None)

    async def list_repos(self, last: str | None, limit: int | None) -> list[str]:
        def query(db: sqlite3.Connection) -> list[str]:
            rows = db.execute(
                "SELECT name FROM repositories WHERE name > ? ORDER BY name LIMIT ?",
                (last or "", -1 if limit is None else limit),
            )
            return [name for (name,) in rows]

        return await self.database.read(query)

    # --- blobs ---------------------------------------------------------------
    async def repo_blob_size(self, repo: str, digest: str) -> int | None:
        def query(db: sqlite3.Connection) -> tuple[int, float] | None:
            row = db.execute(
                "SELECT b.size, b.last_seen FROM blobs b "
                "JOIN repo_blobs rb ON rb.digest = b.digest "
                "JOIN repositories r ON r.id = rb.repo_id WHERE r.name = ? AND b.digest = ?",
                (repo, digest),
            ).fetchone()
            return None if row is None else (int(row[0]), float(row[1]))

        found = await self.database.read(query)
        if found is None:
            return None
        now = time.time()
        if now - found[1] > LAST_SEEN_REFRESH:  # a second hop, at most once a minute per blob
            await self.database.write(
                lambda db: db.execute(
                    "UPDATE blobs SET last_seen = ? WHERE digest = ?", (now, digest)
                )
            )
        return found[0]

    async def blob_size(self, digest: str) -> int | None:
        def query(db: sqlite3.Connection) -> int | None:
            row = db.execute("SELECT size FROM blobs WHERE digest = ?", (digest,)).fetchone()
            return None if row is None else int(row[0])

        return await self.database.read(query)

    async def repos_with_blob(self, digest: str, limit: int = 100) -> list[str]:
        def query(db: sqlite3.Connection) -> list[str]:
            rows = db.execute(
                "SELECT r.name FROM repo_blobs rb JOIN repositories r ON r.id = rb.repo_id "
                "WHERE rb.digest = ? ORDER BY r.name LIMIT ?",
                (digest, limit),
            )
            return [name for (name,) in rows]

        return await self.database.read(query)

    async def add_blob(self, repo: str, digest: str, size: int) -> None:
        now = time.time()

        def change(db: sqlite3.Connection) -> None:
            repo_id = self._ensure_repo(db, repo)
            db.execute(
                "INSERT INTO blobs (digest, size, created, last_seen) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (digest) DO UPDATE SET last_seen = excluded.last_seen",
                (digest, size, now, now),
            )
            db.execute(
                "INSERT INTO repo_blobs (repo_id, digest, created) VALUES (?, ?, ?) "
                "ON CONFLICT DO NOTHING",
                (repo_id, digest, now),
            )

        await self.database.write(change)

    async def link_blob(self, repo: str, digest: str) -> bool:
        now = time.time()

        def change(db: sqlite3.Connection) -> bool:
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

        return await self.database.write(change)

    async def unlink_blob(self, repo: str, digest: str) -> bool:
        def change(db: sqlite3.Connection) -> bool:
            cur = db.execute(
                "DELETE FROM repo_blobs WHERE digest = ? AND repo_id = "
                "(SELECT id FROM repositories WHERE name = ?)",
                (digest, repo),
            )
            return cur.rowcount > 0

        return await self.database.write(change)

    # --- uploads -------------------------------------------------------------
    async def create_upload(self, session: UploadSession) -> None:
        row = (
            session.id,
            session.repo,
            session.offset,
            session.hash_algorithm,
            session.hash_state,
            session.driver_state,
            session.created,
            session.updated,
        )
        await self.database.write(
            lambda db: db.execute(
                f"INSERT INTO uploads ({_SESSION_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", row
            )
        )

    async def get_upload(self, upload_id: str) -> UploadSession | None:
        def query(db: sqlite3.Connection) -> UploadSession | None:
            row = db.execute(
                f"SELECT {_SESSION_COLUMNS} FROM uploads WHERE id = ?", (upload_id,)
            ).fetchone()
            return None if row is None else _session(row)

        return await self.database.read(query)

    async def claim_upload(
        self,
        upload_id: str,
        owner: str,
        until: float,
        now: float,
        replace: str | None = None,
    ) -> bool:
        def change(db: sqlite3.Connection) -> bool:
            cur = db.execute(
                "UPDATE uploads SET lease_owner = ?, lease_until = ? "
                "WHERE id = ? AND (lease_owner IS NULL OR lease_owner = ? OR lease_until < ? "
                "OR lease_owner = ?)",
                (owner, until, upload_id, owner, now, replace),
            )
            return cur.rowcount > 0

        return await self.database.write(change)

    async def upload_lease_owner(self, upload_id: str) -> str | None:
        def query(db: sqlite3.Connection) -> str | None:
            row = db.execute(
                "SELECT lease_owner FROM uploads WHERE id = ?", (upload_id,)
            ).fetchone()
            return None if row is None else row[0]

        return await self.database.read(query)

    async def release_upload(
        self, session: UploadSession, owner: str, previous_offset: int
    ) -> bool:
        args = (
            session.offset,
            session.hash_state,
            session.driver_state,
            session.updated,
            session.id,
            owner,
            previous_offset,
        )

        def change(db: sqlite3.Connection) -> bool:
            cur = db.execute(
                'UPDATE uploads SET "offset" = ?, hash_state = ?, driver_state = ?, updated = ?, '
                "lease_owner = NULL, lease_until = 0 "
                'WHERE id = ? AND lease_owner = ? AND "offset" = ?',
                args,
            )
            return cur.rowcount > 0

        return await self.database.write(change)

    async def delete_upload(self, upload_id: str) -> bool:
        return await self.database.write(
            lambda db: db.execute("DELETE FROM uploads WHERE id = ?", (upload_id,)).rowcount > 0
        )

    async def list_uploads(self, updated_before: float) -> list[UploadSession]:
        def query(db: sqlite3.Connection) -> list[UploadSession]:
            rows = db.execute(
                f"SELECT {_SESSION_COLUMNS} FROM uploads WHERE updated < ?", (updated_before,)
            )
            return [_session(row) for row in rows]

        return await self.database.read(query)

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
        wanted_blobs = sorted(set(blobs))
        wanted_children = sorted(set(children))

        def change(db: sqlite3.Connection) -> PutManifestResult:
            found = _repo_id(db, repo)
            known = -1 if found is None else found
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
            self._insert_manifest(db, repo_id, record, wanted_blobs, wanted_children, now)
            if tag is not None:
                db.execute(
                    "INSERT INTO tags (repo_id, name, digest, updated) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT (repo_id, name) DO UPDATE SET digest = excluded.digest, "
                    "updated = excluded.updated",
                    (repo_id, tag, record.digest, now),
                )
            return PutManifestResult([], [])

        return await self.database.write(change)

    @staticmethod
    def _insert_manifest(
        db: sqlite3.Connection,
        repo_id: int,
        record: ManifestRecord,
        blobs: list[str],
        children: list[str],
        now: float,
    ) -> None:
        if blobs:
            db.executemany(
                "UPDATE blobs SET last_seen = ? WHERE digest = ?", [(now, d) for d in blobs]
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
                [(repo_id, record.digest, d) for d in blobs],
            )
            db.executemany(
                "INSERT INTO manifest_children (repo_id, manifest_digest, child_digest) "
                "VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                [(repo_id, record.digest, d) for d in children],
            )

    async def get_manifest(self, repo: str, digest: str) -> ManifestRecord | None:
        def query(db: sqlite3.Connection) -> ManifestRecord | None:
            row = db.execute(
                f"SELECT {_MANIFEST_COLUMNS} FROM manifests m "
                "JOIN repositories r ON r.id = m.repo_id WHERE r.name = ? AND m.digest = ?",
                (repo, digest),
            ).fetchone()
            return None if row is None else _record(row)

        return await self.database.read(query)

    async def resolve_tag(self, repo: str, tag: str) -> ManifestRecord | None:
        def query(db: sqlite3.Connection) -> ManifestRecord | None:
            row = db.execute(
                f"SELECT {_MANIFEST_COLUMNS} FROM tags t JOIN repositories r ON r.id = t.repo_id "
                "JOIN manifests m ON m.repo_id = t.repo_id AND m.digest = t.digest "
                "WHERE r.name = ? AND t.name = ?",
                (repo, tag),
            ).fetchone()
            return None if row is None else _record(row)

        return await self.database.read(query)

    async def delete_manifest(self, repo: str, digest: str) -> bool:
        def change(db: sqlite3.Connection) -> bool:
            cur = db.execute(
                "DELETE FROM manifests WHERE digest = ? AND repo_id = "
                "(SELECT id FROM repositories WHERE name = ?)",
                (digest, repo),
            )
            return cur.rowcount > 0

        return await self.database.write(change)

    async def delete_tag(self, repo: str, tag: str) -> bool:
        def change(db: sqlite3.Connection) -> bool:
            cur = db.execute(
                "DELETE FROM tags WHERE name = ? AND repo_id = "
                "(SELECT id FROM repositories WHERE name = ?)",
                (tag, repo),
            )
            return cur.rowcount > 0

        return await self.database.write(change)

    async def list_tags(self, repo: str, last: str | None, limit: int | None) -> list[str] | None:
        def query(db: sqlite3.Connection) -> list[str] | None:
            repo_id = _repo_id(db, repo)
            if repo_id is None:
                return None
            rows = db.execute(
                "SELECT name FROM tags WHERE repo_id = ? AND name > ? ORDER BY name LIMIT ?",
                (repo_id, last or "", -1 if limit is None else limit),
            )
            return [name for (name,) in rows]

        return await self.database.read(query, snapshot=True)

    async def referrers(
        self, repo: str, subject: str, artifact_type: str | None
    ) -> list[ManifestRecord]:
        sql = (
            f"SELECT {_MANIFEST_COLUMNS} FROM manifests m JOIN repositories r ON r.id = m.repo_id "
            "WHERE r.name = ? AND m.subject = ?"
        )
        params: tuple[str, ...] = (repo, subject)
        if artifact_type is not None:
            sql += " AND m.artifact_type = ?"
            params += (artifact_type,)

        def query(db: sqlite3.Connection) -> list[ManifestRecord]:
            rows = db.execute(sql + " ORDER BY m.created, m.digest", params)
            return [_record(row) for row in rows]

        return await self.database.read(query)

    # --- management queries (Harbor-style REST API) ------------------------------
    async def repositories_under(self, prefix: str) -> list[RepositoryInfo]:
        # a range on the name index; LIKE would also match other letter cases
        low, high = prefix, prefix_successor(prefix)

        def query(db: sqlite3.Connection) -> list[RepositoryInfo]:
            rows = db.execute(
                "SELECT r.name, r.created, COALESCE((SELECT MAX(m.created) FROM manifests m "
                "WHERE m.repo_id = r.id), r.created), "
                "(SELECT COUNT(*) FROM manifests m WHERE m.repo_id = r.id) "
                "FROM repositories r WHERE r.name >= ? AND (? IS NULL OR r.name < ?) "
                "ORDER BY r.name",
                (low, high, high),
            )
            return [RepositoryInfo(name, created, upd, count) for name, created, upd, count in rows]

        return await self.database.read(query)

    async def artifacts(self, repo: str) -> list[ArtifactInfo] | None:
        def query(db: sqlite3.Connection) -> list[ArtifactInfo] | None:
            repo_id = _repo_id(db, repo)
            if repo_id is None:
                return None
            rows = db.execute(
                f"SELECT {_MANIFEST_COLUMNS}, m.created FROM manifests m WHERE m.repo_id = ? "
                "ORDER BY m.created DESC, m.digest",
                (repo_id,),
            ).fetchall()
            tags: dict[str, list[tuple[str, float]]] = {}
            for name, digest, updated in db.execute(
                "SELECT name, digest, updated FROM tags WHERE repo_id = ? ORDER BY name",
                (repo_id,),
            ):
                tags.setdefault(digest, []).append((name, updated))
            return [ArtifactInfo(_record(row[:6]), row[6], tags.get(row[0], [])) for row in rows]

        return await self.database.read(query, snapshot=True)

    async def delete_repository(self, repo: str) -> bool:
        return await self.database.write(
            lambda db: db.execute("DELETE FROM repositories WHERE name = ?", (repo,)).rowcount > 0
        )
