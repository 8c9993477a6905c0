"""The embedded metadata store on the process's ``SQLiteDatabase`` (one SQLite file in WAL
mode, shared with the auth store and with the other worker processes).

Every method is one ``database.read`` or one ``database.write`` call: its queries run
together in a database thread (one hop off the event loop) and in one transaction.
"""

from __future__ import annotations

import json
import sqlite3
import time

from wharf.db.sqlite import SQLiteDatabase
from wharf.registry.metadata.base import (
    QUOTA_SHARE,
    ArtifactFacts,
    ArtifactRow,
    GCLockLost,
    GCPreview,
    GCRun,
    GCRunQuery,
    GCSchedule,
    Label,
    LabelExists,
    ManifestRecord,
    MetadataStore,
    PinAndQuota,
    ProjectUnknown,
    Pulls,
    PutManifestResult,
    QuotaAsk,
    QuotaCheck,
    QuotaRecord,
    RepositoryInfo,
    TagRow,
    UploadClaim,
    UploadSession,
    grown,
)
from wharf.registry.metadata.rows import (
    GC_LOCK_GONE,
    GC_STOPPED_GONE,
    LABEL_COLUMNS,
    LAST_SEEN_REFRESH,
    LISTED_SQL,
    MANIFEST_COLUMNS,
    SESSION_COLUMNS,
    around_sql,
    cosign_tags_of,
    gc_log_line,
    label_from_row,
    manifest_from_row,
    prefix_successor,
    project_range,
    repository_columns,
    repository_from_row,
    session_from_row,
)

_REPOSITORY_COLUMNS = repository_columns("MAX")
FEW_ARTIFACTS = 32  # up to this many, their tags, children and labels are read one by one


def _repo_id(db: sqlite3.Connection, repo: str) -> int | None:
    row = db.execute("SELECT id FROM repositories WHERE name = ?", (repo,)).fetchone()
    return None if row is None else int(row[0])


def _pin(db: sqlite3.Connection, digest: str, until: float) -> bool:
    """``pin_blob`` inside the caller's write transaction."""
    row = db.execute("SELECT deleting FROM blobs WHERE digest = ?", (digest,)).fetchone()
    if row is not None and row[0] is not None:
        return False
    db.execute(
        "INSERT INTO blob_pins (digest, until) VALUES (?, ?) "
        "ON CONFLICT (digest) DO UPDATE SET until = excluded.until "
        "WHERE blob_pins.until < excluded.until",
        (digest, until),
    )
    return True


# a digest ``b`` (a live blob) is in the project ``low <= name < high``: linked into one of
# its repositories or a manifest there
_IN_PROJECT = (
    "b.deleting IS NULL AND (EXISTS (SELECT 1 FROM repo_blobs rb JOIN repositories r "
    "ON r.id = rb.repo_id WHERE rb.digest = b.digest AND r.name >= ? AND r.name < ?) "
    "OR EXISTS (SELECT 1 FROM manifests m JOIN repositories r ON r.id = m.repo_id "
    "WHERE m.digest = b.digest AND r.name >= ? AND r.name < ?))"
)


def _reserve(db: sqlite3.Connection, project: str, digest: str, size: int, until: float) -> None:
    db.execute(
        "INSERT INTO quota_reservations (project, digest, size, until) "
        "VALUES (?, ?, ?, ?) ON CONFLICT (project, digest) DO UPDATE SET "
        "size = excluded.size, until = excluded.until",
        (project, digest, size, until),
    )


def _admit(db: sqlite3.Connection, ask: QuotaAsk) -> QuotaCheck:
    """``reserve_quota`` inside the caller's write transaction: SQLite has one writer at a
    time (across processes too), so no other admission into the project runs between
    the sums and the insert."""
    project, digest, size, now = ask.project, ask.digest, ask.size, ask.now
    low, high = project_range(project)
    row = db.execute("SELECT hard, bound FROM quotas WHERE project = ?", (project,)).fetchone()
    if row is None or int(row[0]) < 0:
        return QuotaCheck(-1, 0, 0, size, True)
    hard, bound = int(row[0]), row[1]
    if bound is not None and int(bound) + size <= hard * QUOTA_SHARE:
        # far from the limit: admitted on the bound alone, without asking whether the
        # digest is in the project already (it then counts twice in the bound, which
        # only errs on the safe side until the next exact admission resets it)
        db.execute("UPDATE quotas SET bound = bound + ? WHERE project = ?", (size, project))
        _reserve(db, project, digest, size, ask.until)
        return QuotaCheck(hard, int(bound), 0, size, True)
    present = db.execute(
        f"SELECT 1 FROM blobs b WHERE b.digest = ? AND {_IN_PROJECT}",
        (digest, low, high, low, high),
    ).fetchone()
    if present is not None:
        # no room needed now; reserved all the same (it counts only while the digest is
        # out of the project), so an unlink racing this push can't let its link in unseen
        _reserve(db, project, digest, size, ask.until)
        db.execute("UPDATE quotas SET bound = bound + ? WHERE project = ?", (size, project))
        return QuotaCheck(hard, 0, 0, 0, True)
    db.execute(
        "DELETE FROM quota_reservations WHERE project = ? AND until < ? AND digest <> ?",
        (project, now, digest),
    )
    used = _usage(db, low, high)
    reserved = int(
        db.execute(
            "SELECT COALESCE(SUM(q.size), 0) FROM quota_reservations q "
            "WHERE q.project = ? AND q.digest <> ? AND q.until >= ? AND NOT EXISTS "
            f"(SELECT 1 FROM blobs b WHERE b.digest = q.digest AND {_IN_PROJECT})",
            (project, digest, now, low, high, low, high),
        ).fetchone()[0]
    )
    if used + reserved + size > hard:
        db.execute("UPDATE quotas SET bound = ? WHERE project = ?", (used + reserved, project))
        return QuotaCheck(hard, used, reserved, size, False, exact=True)
    db.execute("UPDATE quotas SET bound = ? WHERE project = ?", (used + reserved + size, project))
    _reserve(db, project, digest, size, ask.until)
    return QuotaCheck(hard, used, reserved, size, True, exact=True)


def _consume_reservation(db: sqlite3.Connection, repo: str, digest: str) -> None:
    """The digest is linked into ``repo`` now: its quota reservation has done its work."""
    project, slash, _ = repo.partition("/")
    if slash:
        db.execute(
            "DELETE FROM quota_reservations WHERE project = ? AND digest = ?", (project, digest)
        )


def _usage(db: sqlite3.Connection, low: str, high: str | None) -> int:
    """Bytes of the distinct digests in the project ``low <= name < high`` (its
    repositories found by name, then their links and manifests by their keys)."""
    row = db.execute(
        "SELECT COALESCE(SUM(b.size), 0) FROM blobs b WHERE b.deleting IS NULL AND b.digest IN "
        "(SELECT rb.digest FROM repositories r JOIN repo_blobs rb ON rb.repo_id = r.id "
        "WHERE r.name >= ? AND r.name < ? UNION "
        "SELECT m.digest FROM repositories r JOIN manifests m ON m.repo_id = r.id "
        "WHERE r.name >= ? AND r.name < ?)",
        (low, high, low, high),
    ).fetchone()
    return int(row[0])


def _details(
    db: sqlite3.Connection,
    repo_id: int,
    digest: str | None,
    artifact_id: int | None,
    tags: dict[tuple[int, str], list[TagRow]],
    children: dict[tuple[int, str], list[str]],
    labels: dict[int, list[int]],
) -> bool:
    """Add the tags, index children and labels of one artifact (``digest`` and its
    ``artifact_id``) or of a whole repository (None); False when a tag lacks its row."""
    if digest is None:
        tag_rows = db.execute(
            "SELECT t.digest, ti.id, t.name, t.updated, ti.pull_time FROM tags t "
            "LEFT JOIN tag_info ti ON ti.repo_id = t.repo_id AND ti.name = t.name "
            "WHERE t.repo_id = ? ORDER BY t.name",
            (repo_id,),
        )
        child_rows = db.execute(
            "SELECT manifest_digest, child_digest FROM manifest_children WHERE repo_id = ? "
            "ORDER BY child_digest",
            (repo_id,),
        )
        label_rows = db.execute(
            "SELECT al.artifact_id, al.label_id FROM artifact_labels al "
            "JOIN artifacts a ON a.id = al.artifact_id WHERE a.repo_id = ? ORDER BY al.label_id",
            (repo_id,),
        )
    else:
        tag_rows = db.execute(
            "SELECT t.digest, ti.id, t.name, t.updated, ti.pull_time FROM tags t "
            "LEFT JOIN tag_info ti ON ti.repo_id = t.repo_id AND ti.name = t.name "
            "WHERE t.repo_id = ? AND t.digest = ? ORDER BY t.name",
            (repo_id, digest),
        )
        child_rows = db.execute(
            "SELECT manifest_digest, child_digest FROM manifest_children "
            "WHERE repo_id = ? AND manifest_digest = ? ORDER BY child_digest",
            (repo_id, digest),
        )
        label_rows = db.execute(
            "SELECT artifact_id, label_id FROM artifact_labels WHERE artifact_id = ? "
            "ORDER BY label_id",
            (artifact_id,),
        )
    for tag_digest, tag_id, name, updated, pulled in tag_rows:
        if tag_id is None:
            return False
        tags.setdefault((repo_id, tag_digest), []).append(TagRow(tag_id, name, updated, pulled))
    for parent, child in child_rows:
        children.setdefault((repo_id, parent), []).append(child)
    for labelled, label_id in label_rows:
        labels.setdefault(labelled, []).append(label_id)
    return True


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
                "JOIN repositories r ON r.id = rb.repo_id WHERE r.name = ? AND b.digest = ? "
                "AND b.deleting IS NULL",
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
            row = db.execute(
                "SELECT size FROM blobs WHERE digest = ? AND deleting IS NULL", (digest,)
            ).fetchone()
            return None if row is None else int(row[0])

        return await self.database.read(query)

    async def repos_with_blob(self, digest: str, limit: int = 100) -> list[str]:
        def query(db: sqlite3.Connection) -> list[str]:
            rows = db.execute(
                "SELECT r.name FROM repo_blobs rb JOIN repositories r ON r.id = rb.repo_id "
                "JOIN blobs b ON b.digest = rb.digest "
                "WHERE rb.digest = ? AND b.deleting IS NULL ORDER BY r.name LIMIT ?",
                (digest, limit),
            )
            return [name for (name,) in rows]

        return await self.database.read(query)

    async def add_blob(
        self, repo: str, digest: str, size: int, *, finished_upload: str | None = None
    ) -> None:
        now = time.time()

        def change(db: sqlite3.Connection) -> None:
            if finished_upload is not None:
                db.execute("DELETE FROM uploads WHERE id = ?", (finished_upload,))
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
            _consume_reservation(db, repo, digest)

        await self.database.write(change)

    async def link_blob(self, repo: str, digest: str) -> bool:
        now = time.time()

        def change(db: sqlite3.Connection) -> bool:
            cur = db.execute(
                "UPDATE blobs SET last_seen = ? WHERE digest = ? AND deleting IS NULL",
                (now, digest),
            )
            if cur.rowcount == 0:
                return False
            repo_id = self._ensure_repo(db, repo)
            db.execute(
                "INSERT INTO repo_blobs (repo_id, digest, created) VALUES (?, ?, ?) "
                "ON CONFLICT DO NOTHING",
                (repo_id, digest, now),
            )
            _consume_reservation(db, repo, digest)
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
                f"INSERT INTO uploads ({SESSION_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", row
            )
        )

    async def get_upload(self, upload_id: str) -> UploadSession | None:
        def query(db: sqlite3.Connection) -> UploadSession | None:
            row = db.execute(
                f"SELECT {SESSION_COLUMNS} FROM uploads WHERE id = ?", (upload_id,)
            ).fetchone()
            return None if row is None else session_from_row(row)

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

    async def take_upload(
        self,
        upload_id: str,
        repo: str,
        owner: str,
        until: float,
        now: float,
        *,
        replace: str | None = None,
        pin: tuple[str, float] | None = None,
        quota: QuotaAsk | None = None,
    ) -> UploadClaim:
        def change(db: sqlite3.Connection) -> UploadClaim:
            row = db.execute(
                "UPDATE uploads SET lease_owner = ?, lease_until = ? "
                "WHERE id = ? AND repo = ? AND (lease_owner IS NULL OR lease_owner = ? "
                f"OR lease_until < ? OR lease_owner = ?) RETURNING {SESSION_COLUMNS}",
                (owner, until, upload_id, repo, owner, now, replace),
            ).fetchone()
            if row is None:
                held = db.execute(
                    "SELECT lease_owner FROM uploads WHERE id = ? AND repo = ?", (upload_id, repo)
                ).fetchone()
                return UploadClaim(None, held is not None, None if held is None else held[0], False)
            session = session_from_row(row)
            pinned = pin is not None and _pin(db, pin[0], pin[1])
            verdict = None
            if quota is not None:
                verdict = _admit(db, grown(quota, session.offset))
            return UploadClaim(session, True, None, pinned, verdict)

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
                f"SELECT {SESSION_COLUMNS} FROM uploads WHERE updated < ?", (updated_before,)
            )
            return [session_from_row(row) for row in rows]

        return await self.database.read(query)

    # --- manifests and tags --------------------------------------------------
    async def put_manifest(
        self,
        repo: str,
        record: ManifestRecord,
        blobs: list[str],
        children: list[str],
        tag: str | None,
        *,
        facts: ArtifactFacts | None = None,
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
                    "SELECT 1 FROM repo_blobs rb JOIN blobs b ON b.digest = rb.digest "
                    "WHERE rb.repo_id = ? AND rb.digest = ? AND b.deleting IS NULL",
                    (known, d),
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
            _consume_reservation(db, repo, record.digest)
            self._insert_artifact(db, repo_id, record.digest, wanted_children, facts)
            if tag is not None:
                db.execute(
                    "INSERT INTO tags (repo_id, name, digest, updated) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT (repo_id, name) DO UPDATE SET digest = excluded.digest, "
                    "updated = excluded.updated",
                    (repo_id, tag, record.digest, now),
                )
                db.execute(
                    "INSERT INTO tag_info (repo_id, name) VALUES (?, ?) ON CONFLICT DO NOTHING",
                    (repo_id, tag),
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

    @staticmethod
    def _insert_artifact(
        db: sqlite3.Connection,
        repo_id: int,
        digest: str,
        children: list[str],
        facts: ArtifactFacts | None,
    ) -> None:
        """The manifest's artifact row (kept with its id when it exists; facts it lacks are
        filled in). An index's size counts its children's."""
        media_type = size = None
        if facts is not None:
            media_type, size = facts.media_type, facts.size
            for child in children:
                row = db.execute(
                    "SELECT COALESCE(a.total_size, m.size) FROM manifests m LEFT JOIN artifacts "
                    "a ON a.repo_id = m.repo_id AND a.digest = m.digest "
                    "WHERE m.repo_id = ? AND m.digest = ?",
                    (repo_id, child),
                ).fetchone()
                size += int(row[0]) if row is not None else 0
        db.execute(
            "INSERT INTO artifacts (repo_id, digest, media_type, total_size) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (repo_id, digest) DO UPDATE SET "
            "media_type = COALESCE(artifacts.media_type, excluded.media_type), "
            "total_size = COALESCE(artifacts.total_size, excluded.total_size)",
            (repo_id, digest, media_type, size),
        )

    async def get_manifest(self, repo: str, digest: str) -> ManifestRecord | None:
        def query(db: sqlite3.Connection) -> ManifestRecord | None:
            row = db.execute(
                f"SELECT {MANIFEST_COLUMNS} FROM manifests m "
                "JOIN repositories r ON r.id = m.repo_id WHERE r.name = ? AND m.digest = ?",
                (repo, digest),
            ).fetchone()
            return None if row is None else manifest_from_row(row)

        return await self.database.read(query)

    async def resolve_tag(self, repo: str, tag: str) -> ManifestRecord | None:
        def query(db: sqlite3.Connection) -> ManifestRecord | None:
            row = db.execute(
                f"SELECT {MANIFEST_COLUMNS} FROM tags t JOIN repositories r ON r.id = t.repo_id "
                "JOIN manifests m ON m.repo_id = t.repo_id AND m.digest = t.digest "
                "WHERE r.name = ? AND t.name = ?",
                (repo, tag),
            ).fetchone()
            return None if row is None else manifest_from_row(row)

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
            f"SELECT {MANIFEST_COLUMNS} FROM manifests m JOIN repositories r ON r.id = m.repo_id "
            "WHERE r.name = ? AND m.subject = ?"
        )
        params: tuple[str, ...] = (repo, subject)
        if artifact_type is not None:
            sql += " AND m.artifact_type = ?"
            params += (artifact_type,)

        def query(db: sqlite3.Connection) -> list[ManifestRecord]:
            rows = db.execute(sql + " ORDER BY m.created, m.digest", params)
            return [manifest_from_row(row) for row in rows]

        return await self.database.read(query)

    # --- management queries (Harbor-style REST API) ------------------------------
    async def repositories_under(self, prefix: str) -> list[RepositoryInfo]:
        # a range on the name index; LIKE would also match other letter cases
        low, high = prefix, prefix_successor(prefix)

        def query(db: sqlite3.Connection) -> list[RepositoryInfo]:
            rows = db.execute(
                f"SELECT {_REPOSITORY_COLUMNS} FROM repositories r "
                "WHERE r.name >= ? AND (? IS NULL OR r.name < ?) ORDER BY r.name",
                (low, high, high),
            )
            return [repository_from_row(row) for row in rows]

        return await self.database.read(query, snapshot=True)

    async def repository(self, repo: str) -> RepositoryInfo | None:
        def query(db: sqlite3.Connection) -> RepositoryInfo | None:
            row = db.execute(
                f"SELECT {_REPOSITORY_COLUMNS} FROM repositories r WHERE r.name = ?", (repo,)
            ).fetchone()
            return None if row is None else repository_from_row(row)

        return await self.database.read(query, snapshot=True)

    async def set_repository_description(self, repo: str, description: str) -> bool:
        now = time.time()
        return await self.database.write(
            lambda db: (
                db.execute(
                    "UPDATE repositories SET description = ?, touched = ? WHERE name = ?",
                    (description, now, repo),
                ).rowcount
                > 0
            )
        )

    async def _artifact_rows(
        self, where: str, params: tuple[object, ...], window: tuple[int, int] | None = None
    ) -> list[ArtifactRow]:
        """Artifacts of the manifests ``where`` selects (alias ``m``, repositories ``r``),
        newest first; rows an older process added get their ids first."""

        def query(db: sqlite3.Connection) -> list[ArtifactRow] | None:
            rows = db.execute(
                f"SELECT {MANIFEST_COLUMNS}, m.created, m.repo_id, r.name, a.id, a.media_type, "
                "a.total_size, a.pull_time, a.pull_count, EXISTS (SELECT 1 FROM "
                "manifest_children c WHERE c.repo_id = m.repo_id AND c.child_digest = m.digest) "
                "FROM manifests m JOIN repositories r ON r.id = m.repo_id "
                "LEFT JOIN artifacts a ON a.repo_id = m.repo_id AND a.digest = m.digest "
                f"WHERE {where} ORDER BY m.created DESC, a.id DESC"
                + ("" if window is None else " LIMIT ? OFFSET ?"),
                params if window is None else (*params, window[1], window[0]),
            ).fetchall()
            if any(row[9] is None for row in rows):
                return None
            tags: dict[tuple[int, str], list[TagRow]] = {}
            children: dict[tuple[int, str], list[str]] = {}
            labels: dict[int, list[int]] = {}
            # a few artifacts: looked up one by one; many: each repository's at once
            scopes: list[tuple[int, str | None, int | None]]
            if len(rows) <= FEW_ARTIFACTS:
                scopes = [(int(r[7]), r[0], int(r[9])) for r in rows]
            else:
                scopes = [(i, None, None) for i in sorted({int(r[7]) for r in rows})]
            for repo_id, digest, artifact_id in scopes:
                if not _details(db, repo_id, digest, artifact_id, tags, children, labels):
                    return None
            found = []
            for row in rows:
                record = manifest_from_row(row)
                repo_id = int(row[7])
                key = (repo_id, record.digest)
                facts = None if row[10] is None else ArtifactFacts(row[10], int(row[11]))
                found.append(
                    ArtifactRow(
                        int(row[9]),
                        repo_id,
                        row[8],
                        record,
                        float(row[6]),
                        facts,
                        row[12],
                        int(row[13]),
                        tuple(tags.get(key, ())),
                        tuple(labels.get(int(row[9]), ())),
                        tuple(children.get(key, ())),
                        bool(row[14]),
                    )
                )
            return found

        def heal(db: sqlite3.Connection) -> None:
            db.execute(
                "INSERT INTO artifacts (repo_id, digest) SELECT m.repo_id, m.digest "
                "FROM manifests m JOIN repositories r ON r.id = m.repo_id "
                f"WHERE {where} AND NOT EXISTS (SELECT 1 FROM artifacts a "
                "WHERE a.repo_id = m.repo_id AND a.digest = m.digest) ORDER BY m.created",
                params,
            )
            db.execute(
                "INSERT INTO tag_info (repo_id, name) SELECT t.repo_id, t.name FROM tags t "
                "WHERE t.repo_id IN (SELECT m.repo_id FROM manifests m JOIN repositories r "
                f"ON r.id = m.repo_id WHERE {where}) AND NOT EXISTS (SELECT 1 FROM tag_info ti "
                "WHERE ti.repo_id = t.repo_id AND ti.name = t.name) ORDER BY t.updated",
                params,
            )

        found = await self.database.read(query, snapshot=True)
        while found is None:
            await self.database.write(heal)
            found = await self.database.read(query, snapshot=True)
        return found

    async def artifacts(self, repo: str) -> list[ArtifactRow] | None:
        if not await self.repo_exists(repo):
            return None
        return await self._artifact_rows("r.name = ?", (repo,))

    async def listed_artifacts(
        self, repo: str, offset: int, limit: int
    ) -> tuple[int, list[ArtifactRow]] | None:
        def count(db: sqlite3.Connection) -> int | None:
            found = db.execute(
                "SELECT r.id, (SELECT COUNT(*) FROM manifests m WHERE m.repo_id = r.id "
                f"AND {LISTED_SQL}) FROM repositories r WHERE r.name = ?",
                (repo,),
            ).fetchone()
            return None if found is None else int(found[1])

        total = await self.database.read(count)
        if total is None:
            return None
        if offset >= total:
            return total, []
        where = f"r.name = ? AND {LISTED_SQL}"
        return total, await self._artifact_rows(where, (repo,), (offset, limit))

    async def artifacts_around(self, repo: str, digests: list[str]) -> list[ArtifactRow]:
        if not digests:
            return []
        sets = "(SELECT value FROM json_each(?))"
        tags = json.dumps(cosign_tags_of(digests))
        where = f"r.name = ? AND {around_sql(sets, sets)}"
        # the digests set is used twice per branch: the parameters follow the placeholders
        wanted = json.dumps(digests)
        return await self._artifact_rows(where, (repo, wanted, tags, wanted, wanted))

    async def project_artifacts(self, project: str) -> list[ArtifactRow]:
        low, high = project_range(project)
        return await self._artifact_rows("r.name >= ? AND r.name < ?", (low, high))

    async def artifact(self, repo: str, digest: str) -> ArtifactRow | None:
        rows = await self._artifact_rows("r.name = ? AND m.digest = ?", (repo, digest))
        return rows[0] if rows else None

    async def set_artifact_facts(self, repo: str, facts: dict[str, ArtifactFacts]) -> None:
        def change(db: sqlite3.Connection) -> None:
            repo_id = _repo_id(db, repo)
            db.executemany(
                "UPDATE artifacts SET media_type = ?, total_size = ? "
                "WHERE repo_id = ? AND digest = ? AND media_type IS NULL",
                [(f.media_type, f.size, repo_id, d) for d, f in facts.items()],
            )

        await self.database.write(change)

    async def create_tag(self, repo: str, tag: str, digest: str) -> str:
        now = time.time()

        def change(db: sqlite3.Connection) -> str:
            repo_id = _repo_id(db, repo)
            if (
                repo_id is None
                or db.execute(
                    "SELECT 1 FROM manifests WHERE repo_id = ? AND digest = ?", (repo_id, digest)
                ).fetchone()
                is None
            ):
                return "missing"
            inserted = db.execute(
                "INSERT INTO tags (repo_id, name, digest, updated) VALUES (?, ?, ?, ?) "
                "ON CONFLICT DO NOTHING",
                (repo_id, tag, digest, now),
            ).rowcount
            if not inserted:
                return "exists"
            db.execute(
                "INSERT INTO tag_info (repo_id, name) VALUES (?, ?) ON CONFLICT DO NOTHING",
                (repo_id, tag),
            )
            return "created"

        return await self.database.write(change)

    async def record_pulls(self, pulls: list[Pulls]) -> None:
        def change(db: sqlite3.Connection) -> None:
            for p in pulls:
                repo_id = _repo_id(db, p.repo)
                if repo_id is None:
                    continue
                db.execute(
                    "UPDATE artifacts SET pull_count = pull_count + ?, "
                    "pull_time = MAX(COALESCE(pull_time, 0), ?) WHERE repo_id = ? AND digest = ?",
                    (p.count, p.last, repo_id, p.digest),
                )
                if p.tag is not None:
                    db.execute(
                        "UPDATE tag_info SET pull_time = MAX(COALESCE(pull_time, 0), ?) "
                        "WHERE repo_id = ? AND name = ?",
                        (p.last, repo_id, p.tag),
                    )
                db.execute(
                    "UPDATE repositories SET pull_count = pull_count + ? WHERE id = ?",
                    (p.count, repo_id),
                )

        await self.database.write(change)

    async def project_usage(self, project: str) -> int:
        low, high = project_range(project)
        return await self.database.read(lambda db: _usage(db, low, high))

    # --- storage quotas ----------------------------------------------------------------
    async def quota_limits(self) -> dict[str, int]:
        def query(db: sqlite3.Connection) -> dict[str, int]:
            rows = db.execute("SELECT project, hard FROM quotas WHERE hard >= 0")
            return {project: int(hard) for project, hard in rows}

        return await self.database.read(query)

    async def quota(self, project: str) -> QuotaRecord | None:
        def query(db: sqlite3.Connection) -> QuotaRecord | None:
            row = db.execute(
                "SELECT project, hard, created, updated FROM quotas WHERE project = ?", (project,)
            ).fetchone()
            return None if row is None else QuotaRecord(row[0], int(row[1]), row[2], row[3])

        return await self.database.read(query)

    async def set_quota(self, project: str, hard: int, now: float) -> QuotaRecord:
        def change(db: sqlite3.Connection) -> QuotaRecord:
            row = db.execute(
                "INSERT INTO quotas (project, hard, created, updated) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (project) DO UPDATE SET hard = excluded.hard, bound = NULL, "
                "updated = excluded.updated RETURNING project, hard, created, updated",
                (project, hard, now, now),
            ).fetchone()
            return QuotaRecord(row[0], int(row[1]), row[2], row[3])

        return await self.database.write(change)

    async def delete_quota(self, project: str) -> None:
        def change(db: sqlite3.Connection) -> None:
            db.execute("DELETE FROM quotas WHERE project = ?", (project,))
            db.execute("DELETE FROM quota_reservations WHERE project = ?", (project,))

        await self.database.write(change)

    async def reserve_quota(
        self, project: str, digest: str, size: int, now: float, until: float
    ) -> QuotaCheck:
        ask = QuotaAsk(project, digest, size, now, until)
        return await self.database.write(lambda db: _admit(db, ask))

    async def release_quota(self, project: str, digest: str) -> None:
        await self.database.write(
            lambda db: db.execute(
                "DELETE FROM quota_reservations WHERE project = ? AND digest = ?",
                (project, digest),
            )
        )

    # --- labels ----------------------------------------------------------------------------
    async def create_label(self, label: Label) -> int:
        def change(db: sqlite3.Connection) -> int:
            try:
                cur = db.execute(
                    "INSERT INTO labels (name, description, color, scope, project_id, created, "
                    "updated) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (
                        label.name,
                        label.description,
                        label.color,
                        label.scope,
                        label.project_id,
                        label.created,
                        label.updated,
                    ),
                )
            except sqlite3.IntegrityError:
                raise LabelExists(label.name) from None
            assert cur.lastrowid is not None
            return cur.lastrowid

        return await self.database.write(change)

    async def label(self, label_id: int) -> Label | None:
        def query(db: sqlite3.Connection) -> Label | None:
            row = db.execute(
                f"SELECT {LABEL_COLUMNS} FROM labels WHERE id = ?", (label_id,)
            ).fetchone()
            return None if row is None else label_from_row(row)

        return await self.database.read(query)

    async def labels(
        self, scope: str | None, project_id: int | None, ids: list[int] | None = None
    ) -> list[Label]:
        sql = f"SELECT {LABEL_COLUMNS} FROM labels WHERE (? IS NULL OR scope = ?) "
        sql += "AND (? IS NULL OR project_id = ?)"
        params: tuple[object, ...] = (scope, scope, project_id, project_id)
        if ids is not None:
            sql += f" AND id IN ({', '.join('?' * len(ids))})" if ids else " AND 0"
            params += tuple(ids)

        def query(db: sqlite3.Connection) -> list[Label]:
            return [label_from_row(row) for row in db.execute(sql + " ORDER BY id", params)]

        return await self.database.read(query)

    async def update_label(self, label: Label) -> bool:
        def change(db: sqlite3.Connection) -> bool:
            try:
                cur = db.execute(
                    "UPDATE labels SET name = ?, description = ?, color = ?, updated = ? "
                    "WHERE id = ?",
                    (label.name, label.description, label.color, label.updated, label.id),
                )
            except sqlite3.IntegrityError:
                raise LabelExists(label.name) from None
            return cur.rowcount > 0

        return await self.database.write(change)

    async def delete_label(self, label_id: int) -> bool:
        return await self.database.write(
            lambda db: db.execute("DELETE FROM labels WHERE id = ?", (label_id,)).rowcount > 0
        )

    async def attach_label(self, artifact_id: int, label_id: int) -> str:
        now = time.time()

        def change(db: sqlite3.Connection) -> str:
            if (
                db.execute("SELECT 1 FROM artifacts WHERE id = ?", (artifact_id,)).fetchone()
                is None
                or db.execute("SELECT 1 FROM labels WHERE id = ?", (label_id,)).fetchone() is None
            ):
                return "missing"
            inserted = db.execute(
                "INSERT INTO artifact_labels (artifact_id, label_id, created) VALUES (?, ?, ?) "
                "ON CONFLICT DO NOTHING",
                (artifact_id, label_id, now),
            ).rowcount
            return "attached" if inserted else "exists"

        return await self.database.write(change)

    async def detach_label(self, artifact_id: int, label_id: int) -> bool:
        return await self.database.write(
            lambda db: (
                db.execute(
                    "DELETE FROM artifact_labels WHERE artifact_id = ? AND label_id = ?",
                    (artifact_id, label_id),
                ).rowcount
                > 0
            )
        )

    async def forget_project_labels(self) -> int:
        return await self.database.write(
            lambda db: (
                db.execute(
                    "DELETE FROM labels WHERE scope = 'p' AND NOT EXISTS "
                    "(SELECT 1 FROM projects p WHERE p.id = labels.project_id)"
                ).rowcount
            )
        )

    async def delete_repository(self, repo: str) -> bool:
        return await self.database.write(
            lambda db: db.execute("DELETE FROM repositories WHERE name = ?", (repo,)).rowcount > 0
        )

    # --- garbage collection ------------------------------------------------------
    async def pin_blob(self, digest: str, until: float, now: float) -> bool:
        return await self.database.write(lambda db: _pin(db, digest, until))

    async def pin_and_reserve(
        self, digest: str, until: float, now: float, quota: QuotaAsk
    ) -> PinAndQuota:
        return await self.database.write(
            lambda db: PinAndQuota(_pin(db, digest, until), _admit(db, quota))
        )

    async def gc_try_lock(self, owner: str, until: float, now: float) -> int | None:
        def change(db: sqlite3.Connection) -> int | None:
            row = db.execute(
                "INSERT INTO gc_lock (name, owner, until, token) VALUES ('gc', ?, ?, "
                # no row yet (or someone removed it): past every token marks carry
                "(SELECT COALESCE(MAX(run), 0) + 1 FROM gc_marks)) "
                "ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, "
                "until = excluded.until, token = gc_lock.token + 1 "
                "WHERE gc_lock.until < ? OR gc_lock.owner = excluded.owner RETURNING token",
                (owner, until, now),
            ).fetchone()
            return None if row is None else int(row[0])

        return await self.database.write(change)

    async def gc_renew_lock(self, owner: str, token: int, until: float) -> bool:
        return await self.database.write(
            lambda db: (
                db.execute(
                    "UPDATE gc_lock SET until = ? WHERE name = 'gc' AND owner = ? AND token = ?",
                    (until, owner, token),
                ).rowcount
                > 0
            )
        )

    async def gc_unlock(self, owner: str, token: int) -> None:
        await self.database.write(
            lambda db: db.execute(
                "UPDATE gc_lock SET until = 0 WHERE name = 'gc' AND owner = ? AND token = ?",
                (owner, token),
            )
        )

    @staticmethod
    def _fence(db: sqlite3.Connection, token: int) -> None:
        """Inside a write transaction (one writer at a time: nobody can take the lock
        before it commits): raise ``GCLockLost`` unless run ``token`` holds the lock."""
        row = db.execute("SELECT 1 FROM gc_lock WHERE name = 'gc' AND token = ?", (token,))
        if row.fetchone() is None:
            raise GCLockLost(token)

    @staticmethod
    def _close_marks(db: sqlite3.Connection, wave: int, run: int, table: str = "gc_marks") -> int:
        """Semi-naive closure: from the marks of ``wave`` on, add children of marked
        manifests, referrers of marked subjects and subjects of marked referrers until
        nothing new; the last wave. ``table``: ``gc_marks``, or a dry run's TEMP copy."""
        while True:
            added = db.execute(
                f"INSERT INTO {table} (repo_id, digest, wave, run) "
                f"SELECT DISTINCT mc.repo_id, mc.child_digest, ?, ? FROM {table} g "
                "JOIN manifest_children mc ON mc.repo_id = g.repo_id "
                "AND mc.manifest_digest = g.digest WHERE g.wave = ? "
                "ON CONFLICT DO NOTHING",
                (wave + 1, run, wave),
            ).rowcount
            added += db.execute(
                f"INSERT INTO {table} (repo_id, digest, wave, run) "
                f"SELECT DISTINCT m.repo_id, m.digest, ?, ? FROM {table} g "
                "JOIN manifests m ON m.repo_id = g.repo_id AND m.subject = g.digest "
                "WHERE g.wave = ? ON CONFLICT DO NOTHING",
                (wave + 1, run, wave),
            ).rowcount
            added += db.execute(  # a marked referrer keeps its subject
                f"INSERT INTO {table} (repo_id, digest, wave, run) "
                f"SELECT DISTINCT m.repo_id, m.subject, ?, ? FROM {table} g "
                "JOIN manifests m ON m.repo_id = g.repo_id AND m.digest = g.digest "
                "WHERE g.wave = ? AND m.subject IS NOT NULL AND EXISTS (SELECT 1 FROM "
                "manifests s WHERE s.repo_id = m.repo_id AND s.digest = m.subject) "
                "ON CONFLICT DO NOTHING",
                (wave + 1, run, wave),
            ).rowcount
            if added == 0:
                return wave
            wave += 1

    @staticmethod
    def _mark_roots(
        db: sqlite3.Connection, cutoff: float, project: str | None, run: int, table: str
    ) -> None:
        low, high = project_range(project)
        db.execute(
            f"INSERT INTO {table} (repo_id, digest, wave, run) "
            "SELECT DISTINCT repo_id, digest, 0, ? FROM tags WHERE true ON CONFLICT DO NOTHING",
            (run,),
        )
        db.execute(
            f"INSERT INTO {table} (repo_id, digest, wave, run) SELECT m.repo_id, m.digest, 0, ? "
            "FROM manifests m JOIN repositories r ON r.id = m.repo_id "
            "WHERE m.created >= ? OR NOT (r.name >= ? AND (? IS NULL OR r.name < ?)) "
            "ON CONFLICT DO NOTHING",
            (run, cutoff, low, high, high),
        )

    async def gc_mark(self, cutoff: float, project: str | None, *, token: int) -> int:
        def roots(db: sqlite3.Connection) -> None:
            self._fence(db, token)
            db.execute("DELETE FROM gc_marks")
            self._mark_roots(db, cutoff, project, token, "gc_marks")

        def closure(db: sqlite3.Connection) -> int:
            # a second transaction, so that pushes may write in between: fenced again
            self._fence(db, token)
            self._close_marks(db, 0, token)
            return int(db.execute("SELECT COUNT(*) FROM gc_marks").fetchone()[0])

        await self.database.write(roots)
        return await self.database.write(closure)

    async def gc_sweep_manifests(
        self, since: float, cutoff: float, project: str | None, limit: int, *, token: int
    ) -> list[tuple[str, str]]:
        low, high = project_range(project)

        def change(db: sqlite3.Connection) -> list[tuple[str, str]]:
            self._fence(db, token)
            wave = int(db.execute("SELECT COALESCE(MAX(wave), 0) FROM gc_marks").fetchone()[0])
            wave += 1
            db.execute(
                "INSERT INTO gc_marks (repo_id, digest, wave, run) "
                "SELECT DISTINCT repo_id, digest, ?, ? FROM tags WHERE updated >= ? "
                "ON CONFLICT DO NOTHING",
                (wave, token, since),
            )
            db.execute(
                "INSERT INTO gc_marks (repo_id, digest, wave, run) SELECT repo_id, digest, ?, ? "
                "FROM manifests WHERE created >= ? ON CONFLICT DO NOTHING",
                (wave, token, min(since, cutoff)),
            )
            # what was marked before but only now reaches further is covered: children
            # and referrers of old marks existed at mark time (a new referrer is new)
            self._close_marks(db, wave, token)
            rows = db.execute(
                "SELECT m.repo_id, m.digest, r.name FROM manifests m "
                "JOIN repositories r ON r.id = m.repo_id "
                "WHERE r.name >= ? AND (? IS NULL OR r.name < ?) AND NOT EXISTS "
                "(SELECT 1 FROM gc_marks g WHERE g.repo_id = m.repo_id AND g.digest = m.digest "
                "AND g.run = ?) LIMIT ?",
                (low, high, high, token, limit),
            ).fetchall()
            db.executemany(
                "DELETE FROM manifests WHERE repo_id = ? AND digest = ?",
                [(repo_id, digest) for repo_id, digest, _ in rows],
            )
            return [(name, digest) for _, digest, name in rows]

        return await self.database.write(change)

    async def gc_blob_candidates(
        self, after: str, cutoff: float, project: str | None, limit: int
    ) -> list[str]:
        sql = (
            "SELECT b.digest FROM blobs b WHERE b.digest > ? AND b.deleting IS NULL "
            "AND b.last_seen < ? AND NOT EXISTS "
            "(SELECT 1 FROM manifest_blobs mb WHERE mb.blob_digest = b.digest) "
            "AND NOT EXISTS (SELECT 1 FROM manifests m WHERE m.digest = b.digest)"
        )
        params: tuple[object, ...] = (after, cutoff)
        if project is not None:
            low, high = project_range(project)
            inside = "r.name >= ? AND (? IS NULL OR r.name < ?)"
            sql += (
                " AND EXISTS (SELECT 1 FROM repo_blobs rb JOIN repositories r "
                f"ON r.id = rb.repo_id WHERE rb.digest = b.digest AND {inside}) "
                "AND NOT EXISTS (SELECT 1 FROM repo_blobs rb JOIN repositories r "
                f"ON r.id = rb.repo_id WHERE rb.digest = b.digest AND NOT ({inside}))"
            )
            params += (low, high, high, low, high, high)
        sql += " ORDER BY b.digest LIMIT ?"
        params += (limit,)
        return await self.database.read(
            lambda db: [digest for (digest,) in db.execute(sql, params)]
        )

    async def gc_claim_blobs(
        self, digests: list[str], cutoff: float, now: float, *, token: int
    ) -> list[tuple[str, int]]:
        def change(db: sqlite3.Connection) -> list[tuple[str, int]]:
            self._fence(db, token)
            db.execute("DELETE FROM blob_pins WHERE until < ?", (now,))
            claimed = []
            for digest in digests:
                row = db.execute(
                    "UPDATE blobs SET deleting = ? WHERE digest = ? AND deleting IS NULL "
                    "AND last_seen < ? AND NOT EXISTS "
                    "(SELECT 1 FROM manifest_blobs mb WHERE mb.blob_digest = blobs.digest) "
                    "AND NOT EXISTS (SELECT 1 FROM manifests m WHERE m.digest = blobs.digest) "
                    "AND NOT EXISTS (SELECT 1 FROM blob_pins p WHERE p.digest = blobs.digest) "
                    "RETURNING size",
                    (now, digest, cutoff),
                ).fetchone()
                if row is not None:
                    claimed.append((digest, int(row[0])))
            return claimed

        return await self.database.write(change)

    async def gc_preview(
        self, cutoff: float, project: str | None, delete_untagged: bool
    ) -> GCPreview:
        # A private read-only connection (one snapshot): the reachable manifests go into
        # a TEMP table of that connection — the same closure as ``gc_mark``, on scratch
        # space nobody else sees and which vanishes with the connection; the main file
        # cannot be written through it. Memory stays SQLite's page cache whatever the
        # store's size (TEMP data spills to a temporary file).
        low, high = project_range(project)
        inside = "r.name >= ? AND (? IS NULL OR r.name < ?)"
        scope = ""
        scope_params: tuple[object, ...] = ()
        if project is not None:
            scope = (
                " AND EXISTS (SELECT 1 FROM repo_blobs rb JOIN repositories r "
                f"ON r.id = rb.repo_id WHERE rb.digest = b.digest AND {inside}) "
                "AND NOT EXISTS (SELECT 1 FROM repo_blobs rb JOIN repositories r "
                f"ON r.id = rb.repo_id WHERE rb.digest = b.digest AND NOT ({inside}))"
            )
            scope_params = (low, high, high, low, high, high)

        def query(db: sqlite3.Connection) -> GCPreview:
            interrupted = int(
                db.execute("SELECT COUNT(*) FROM blobs WHERE deleting IS NOT NULL").fetchone()[0]
            )
            if not delete_untagged:  # every manifest stays
                blobs, size = db.execute(
                    "SELECT COUNT(*), COALESCE(SUM(b.size), 0) FROM blobs b "
                    "WHERE b.deleting IS NULL AND b.last_seen < ? AND NOT EXISTS "
                    "(SELECT 1 FROM manifest_blobs mb WHERE mb.blob_digest = b.digest) "
                    "AND NOT EXISTS (SELECT 1 FROM manifests m WHERE m.digest = b.digest)" + scope,
                    (cutoff, *scope_params),
                ).fetchone()
                total = int(db.execute("SELECT COUNT(*) FROM manifests").fetchone()[0])
                return GCPreview(total, 0, int(blobs), int(size), interrupted)
            db.execute(
                "CREATE TEMP TABLE reach (repo_id INTEGER NOT NULL, digest TEXT NOT NULL, "
                "wave INTEGER NOT NULL, run INTEGER NOT NULL, PRIMARY KEY (repo_id, digest))"
            )
            db.execute("CREATE INDEX temp.reach_by_wave ON reach (wave)")
            self._mark_roots(db, cutoff, project, 0, "temp.reach")
            self._close_marks(db, 0, 0, "temp.reach")
            reached = int(db.execute("SELECT COUNT(*) FROM temp.reach").fetchone()[0])
            manifests = db.execute(
                "SELECT COUNT(*) FROM manifests m JOIN repositories r ON r.id = m.repo_id "
                f"WHERE {inside} AND NOT EXISTS (SELECT 1 FROM temp.reach g "
                "WHERE g.repo_id = m.repo_id AND g.digest = m.digest)",
                (low, high, high),
            ).fetchone()[0]
            # the manifests that stay are the reached ones (what is outside the project
            # is a root): a blob goes when none of them references or is it
            blobs, size = db.execute(
                "SELECT COUNT(*), COALESCE(SUM(b.size), 0) FROM blobs b "
                "WHERE b.deleting IS NULL AND b.last_seen < ? AND NOT EXISTS "
                "(SELECT 1 FROM manifest_blobs mb JOIN temp.reach g ON g.repo_id = mb.repo_id "
                "AND g.digest = mb.manifest_digest WHERE mb.blob_digest = b.digest) "
                "AND NOT EXISTS (SELECT 1 FROM manifests m JOIN temp.reach g "
                "ON g.repo_id = m.repo_id AND g.digest = m.digest WHERE m.digest = b.digest)"
                + scope,
                (cutoff, *scope_params),
            ).fetchone()
            return GCPreview(reached, int(manifests), int(blobs), int(size), interrupted)

        return await self.database.read_private(query)

    async def gc_unknown_digests(self, digests: list[str], now: float) -> list[str]:
        def query(db: sqlite3.Connection) -> list[str]:
            return [
                d
                for d in digests
                if db.execute(
                    "SELECT 1 FROM blobs WHERE digest = ? UNION ALL "
                    "SELECT 1 FROM blob_pins WHERE digest = ? AND until >= ?",
                    (d, d, now),
                ).fetchone()
                is None
            ]

        return await self.database.read(query, snapshot=True)

    async def gc_claim_orphans(
        self, items: list[tuple[str, int]], now: float, *, token: int
    ) -> list[str]:
        def change(db: sqlite3.Connection) -> list[str]:
            self._fence(db, token)
            db.execute("DELETE FROM blob_pins WHERE until < ?", (now,))
            claimed = []
            for digest, size in items:
                inserted = db.execute(
                    "INSERT INTO blobs (digest, size, created, last_seen, deleting) "
                    "SELECT ?, ?, ?, ?, ? WHERE NOT EXISTS "
                    "(SELECT 1 FROM blob_pins p WHERE p.digest = ?) ON CONFLICT DO NOTHING",
                    (digest, size, now, now, now, digest),
                ).rowcount
                if inserted:
                    claimed.append(digest)
            return claimed

        return await self.database.write(change)

    async def gc_deleting(self, after: str, limit: int) -> list[tuple[str, int]]:
        def query(db: sqlite3.Connection) -> list[tuple[str, int]]:
            rows = db.execute(
                "SELECT digest, size FROM blobs WHERE deleting IS NOT NULL AND digest > ? "
                "ORDER BY digest LIMIT ?",
                (after, limit),
            )
            return [(digest, int(size)) for digest, size in rows]

        return await self.database.read(query)

    async def gc_forget_blobs(self, digests: list[str]) -> int:
        def change(db: sqlite3.Connection) -> int:
            gone = 0
            for digest in digests:
                db.execute(
                    "DELETE FROM repo_blobs WHERE digest = ? AND EXISTS (SELECT 1 FROM blobs "
                    "WHERE digest = ? AND deleting IS NOT NULL)",
                    (digest, digest),
                )
                gone += db.execute(
                    "DELETE FROM blobs WHERE digest = ? AND deleting IS NOT NULL AND NOT EXISTS "
                    "(SELECT 1 FROM manifests m WHERE m.digest = blobs.digest)",
                    (digest,),
                ).rowcount
            return gone

        return await self.database.write(change)

    async def gc_totals(self) -> tuple[int, int, int]:
        def query(db: sqlite3.Connection) -> tuple[int, int, int]:
            manifests = db.execute("SELECT COUNT(*) FROM manifests").fetchone()[0]
            blobs, size = db.execute(
                "SELECT COUNT(*), COALESCE(SUM(size), 0) FROM blobs WHERE deleting IS NULL"
            ).fetchone()
            return int(manifests), int(blobs), int(size)

        return await self.database.read(query, snapshot=True)

    async def gc_create_run(
        self, kind: str, parameters: str, now: float, *, token: int | None
    ) -> int:
        def change(db: sqlite3.Connection) -> int:
            if token is not None:
                db.execute(
                    "UPDATE gc_runs SET status = 'Error', updated = ?, log = log || ? "
                    "WHERE status = 'Running' AND token < ?",
                    (now, gc_log_line(now, GC_LOCK_GONE), token),
                )
            cur = db.execute(
                "INSERT INTO gc_runs (kind, status, parameters, created, updated, token) "
                "VALUES (?, 'Running', ?, ?, ?, ?)",
                (kind, parameters, now, now, token),
            )
            assert cur.lastrowid is not None
            return cur.lastrowid

        return await self.database.write(change)

    async def gc_update_run(
        self, run_id: int, status: str, report: str, log_append: str, now: float
    ) -> None:
        await self.database.write(
            lambda db: db.execute(
                "UPDATE gc_runs SET status = ?, report = ?, log = log || ?, updated = ? "
                "WHERE id = ?",
                (status, report, log_append, now, run_id),
            )
        )

    async def gc_runs(self, query: GCRunQuery, offset: int, limit: int) -> tuple[list[GCRun], int]:
        where, params = query.where(lambda _: "?")

        def read(db: sqlite3.Connection) -> tuple[list[GCRun], int]:
            total = int(
                db.execute(f"SELECT COUNT(*) FROM gc_runs WHERE {where}", params).fetchone()[0]
            )
            rows = db.execute(
                "SELECT id, kind, status, parameters, report, '', created, updated "
                f"FROM gc_runs WHERE {where} ORDER BY {query.order_by()} LIMIT ? OFFSET ?",
                (*params, limit, offset),
            )
            return [GCRun(*row) for row in rows], total

        return await self.database.read(read, snapshot=True)

    async def gc_run(self, run_id: int) -> GCRun | None:
        def query(db: sqlite3.Connection) -> GCRun | None:
            row = db.execute(
                "SELECT id, kind, status, parameters, report, log, created, updated "
                "FROM gc_runs WHERE id = ?",
                (run_id,),
            ).fetchone()
            return None if row is None else GCRun(*row)

        return await self.database.read(query)

    async def gc_request_stop(self, run_id: int, now: float) -> GCRun | None:
        def change(db: sqlite3.Connection) -> GCRun | None:
            db.execute(
                "UPDATE gc_runs SET stop_requested = ? WHERE id = ? AND status = 'Running'",
                (now, run_id),
            )
            db.execute(  # nobody left to see the request: stopped now
                "UPDATE gc_runs SET status = 'Stopped', updated = ?, log = log || ? "
                "WHERE id = ? AND status = 'Running' AND token IS NOT NULL AND NOT EXISTS "
                "(SELECT 1 FROM gc_lock l WHERE l.name = 'gc' AND l.token = gc_runs.token "
                "AND l.until >= ?)",
                (now, gc_log_line(now, GC_STOPPED_GONE), run_id, now),
            )
            row = db.execute(
                "SELECT id, kind, status, parameters, report, log, created, updated "
                "FROM gc_runs WHERE id = ?",
                (run_id,),
            ).fetchone()
            return None if row is None else GCRun(*row)

        return await self.database.write(change)

    async def gc_stop_requested(self, run_id: int) -> bool:
        row = await self.database.read(
            lambda db: db.execute(
                "SELECT stop_requested FROM gc_runs WHERE id = ?", (run_id,)
            ).fetchone()
        )
        return row is not None and row[0] is not None

    async def gc_schedule(self) -> GCSchedule | None:
        def query(db: sqlite3.Connection) -> GCSchedule | None:
            row = db.execute(
                "SELECT kind, cron, parameters, updated, created FROM gc_schedule WHERE id = 1"
            ).fetchone()
            return None if row is None else GCSchedule(*row)

        return await self.database.read(query)

    async def gc_set_schedule(self, schedule: GCSchedule) -> None:
        await self.database.write(
            lambda db: db.execute(
                "INSERT INTO gc_schedule (id, kind, cron, parameters, updated, created) "
                "VALUES (1, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET kind = excluded.kind, "
                "cron = excluded.cron, parameters = excluded.parameters, "
                "updated = excluded.updated, created = excluded.created",
                (
                    schedule.kind,
                    schedule.cron,
                    schedule.parameters,
                    schedule.updated,
                    schedule.created,
                ),
            )
        )
