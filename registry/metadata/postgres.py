"""The metadata store on PostgreSQL (``PostgresDatabase``): what several replicas share.

Every method is one ``database.read`` (one statement: hot reads are one round trip) or one
``database.write`` (one transaction). Correctness across processes comes from the database:
unique keys with ``ON CONFLICT``, foreign keys, and row locks where a check must still hold
at commit — a repository row is held (``FOR KEY SHARE``) while rows are added under it, so
a concurrent delete waits or wins cleanly; the blobs and children a manifest references are
held the same way until the manifest is in; the project a new repository goes into is held
against its deletion (``AuthStore.delete_project`` locks it ``FOR UPDATE``). A transaction
that loses a race anyway is run again by the database object.
"""

from __future__ import annotations

import time

import asyncpg

from wharf.db.postgres import Connection, PostgresDatabase, TransactionRaced
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

_REPOSITORY_COLUMNS = repository_columns("GREATEST")
# GC's statements over the whole store (the mark, a dry run's count) may take longer than
# ``database.command_timeout`` (meant for the requests' statements) on a large store
WHOLE_STORE_TIMEOUT = 600.0


# bytes of the distinct digests in the project ``$1 <= name < $2``: its repositories found
# by name, then their links and manifests by their keys
_USAGE = (
    "SELECT COALESCE(SUM(b.size), 0) FROM blobs b WHERE b.deleting IS NULL AND b.digest IN "
    "(SELECT rb.digest FROM repositories r JOIN repo_blobs rb ON rb.repo_id = r.id "
    "WHERE r.name >= $1 AND r.name < $2 UNION "
    "SELECT m.digest FROM repositories r JOIN manifests m ON m.repo_id = r.id "
    "WHERE r.name >= $1 AND r.name < $2)"
)


def _in_scope(low: str, high: str) -> str:
    """Blob ``b`` is linked into the project's repositories (``low <= name < high``,
    parameter references) and into no other."""
    inside = f"r.name >= {low} AND ({high}::text IS NULL OR r.name < {high})"
    return (
        "(EXISTS (SELECT 1 FROM repo_blobs rb JOIN repositories r ON r.id = rb.repo_id "
        f"WHERE rb.digest = b.digest AND {inside}) "
        "AND NOT EXISTS (SELECT 1 FROM repo_blobs rb JOIN repositories r ON r.id = rb.repo_id "
        f"WHERE rb.digest = b.digest AND NOT ({inside})))"
    )


def _project(repo: str) -> str:
    """The project whose quota reservation a write into ``repo`` consumes ("": none)."""
    project, slash, _ = repo.partition("/")
    return project if slash else ""


def _count(status: str) -> int:
    """Rows a statement touched, from its command tag ("DELETE 3", "INSERT 0 1")."""
    return int(status.rsplit(" ", 1)[-1])


class PostgresStore(MetadataStore):
    """``require_projects`` (access control on): a repository is only created inside an
    existing project, checked against the auth tables in the same transaction."""

    def __init__(self, database: PostgresDatabase, *, require_projects: bool = False) -> None:
        self.database = database
        self.require_projects = require_projects

    async def open(self) -> None:
        await self.database.open()

    async def close(self) -> None:
        await self.database.close()

    async def ping(self) -> None:
        await self.database.read(lambda db: db.fetchval("SELECT 1"))

    async def _ensure_repo(self, db: Connection, repo: str) -> int:
        """The repository's id, creating its row; the row is held until the caller's
        transaction ends, so nobody deletes it under the rows being added."""
        found = await db.fetchval("SELECT id FROM repositories WHERE name = $1 FOR KEY SHARE", repo)
        if found is not None:
            return int(found)
        if self.require_projects:
            project = repo.split("/", 1)[0]
            held = await db.fetchval(
                "SELECT 1 FROM projects WHERE name = $1 FOR KEY SHARE", project
            )
            if held is None:
                raise ProjectUnknown(project)
        # a concurrent creator makes this wait for its commit, then do nothing: the next
        # statement (a new snapshot) sees its row; gone again by then, the write reruns
        new_id = await db.fetchval(
            "INSERT INTO repositories (name, created) VALUES ($1, $2) "
            "ON CONFLICT (name) DO NOTHING RETURNING id",
            repo,
            time.time(),
        )
        if new_id is None:
            new_id = await db.fetchval(
                "SELECT id FROM repositories WHERE name = $1 FOR KEY SHARE", repo
            )
            if new_id is None:
                raise TransactionRaced(f"repository {repo} deleted meanwhile")
        return int(new_id)

    # --- repositories --------------------------------------------------------
    async def repo_exists(self, repo: str) -> bool:
        found = await self.database.read(
            lambda db: db.fetchval("SELECT 1 FROM repositories WHERE name = $1", repo)
        )
        return found is not None

    async def list_repos(self, last: str | None, limit: int | None) -> list[str]:
        rows = await self.database.read(
            lambda db: db.fetch(
                "SELECT name FROM repositories WHERE name > $1 ORDER BY name LIMIT $2",
                last or "",
                limit,
            )
        )
        return [r[0] for r in rows]

    # --- blobs ---------------------------------------------------------------
    async def repo_blob_size(self, repo: str, digest: str) -> int | None:
        row = await self.database.read(
            lambda db: db.fetchrow(
                "SELECT b.size, b.last_seen FROM blobs b "
                "JOIN repo_blobs rb ON rb.digest = b.digest "
                "JOIN repositories r ON r.id = rb.repo_id WHERE r.name = $1 AND b.digest = $2 "
                "AND b.deleting IS NULL",
                repo,
                digest,
            )
        )
        if row is None:
            return None
        now = time.time()
        if now - row[1] > LAST_SEEN_REFRESH:  # a second trip, at most once a minute per blob
            await self.database.read(
                lambda db: db.execute(
                    "UPDATE blobs SET last_seen = $1 WHERE digest = $2 AND deleting IS NULL",
                    now,
                    digest,
                )
            )
        return int(row[0])

    async def blob_size(self, digest: str) -> int | None:
        size = await self.database.read(
            lambda db: db.fetchval(
                "SELECT size FROM blobs WHERE digest = $1 AND deleting IS NULL", digest
            )
        )
        return None if size is None else int(size)

    async def repos_with_blob(self, digest: str, limit: int = 100) -> list[str]:
        rows = await self.database.read(
            lambda db: db.fetch(
                "SELECT r.name FROM repo_blobs rb JOIN repositories r ON r.id = rb.repo_id "
                "JOIN blobs b ON b.digest = rb.digest "
                "WHERE rb.digest = $1 AND b.deleting IS NULL ORDER BY r.name LIMIT $2",
                digest,
                limit,
            )
        )
        return [r[0] for r in rows]

    async def add_blob(
        self, repo: str, digest: str, size: int, *, finished_upload: str | None = None
    ) -> None:
        now = time.time()
        # the usual case, an existing repository: one statement (one round trip) holding
        # the repository row while the blob and its link go in; nothing is written when
        # the repository doesn't exist
        linked = await self.database.read(
            lambda db: db.fetchval(
                "WITH r AS (SELECT id FROM repositories WHERE name = $1 FOR KEY SHARE), "
                "b AS (INSERT INTO blobs (digest, size, created, last_seen) "
                "SELECT $2, $3, $4, $4 FROM r "
                "ON CONFLICT (digest) DO UPDATE SET last_seen = excluded.last_seen), "
                "l AS (INSERT INTO repo_blobs (repo_id, digest, created) "
                "SELECT id, $2, $4 FROM r ON CONFLICT DO NOTHING), "
                "u AS (DELETE FROM uploads WHERE id = $5 AND EXISTS (SELECT 1 FROM r)), "
                "q AS (DELETE FROM quota_reservations WHERE project = $6 AND digest = $2 "
                "AND EXISTS (SELECT 1 FROM r)) "
                "SELECT count(*) FROM r",
                repo,
                digest,
                size,
                now,
                finished_upload,
                _project(repo),
            )
        )
        if linked:
            return

        async def change(db: Connection) -> None:
            if finished_upload is not None:
                await db.execute("DELETE FROM uploads WHERE id = $1", finished_upload)
            repo_id = await self._ensure_repo(db, repo)
            await db.execute(
                "INSERT INTO blobs (digest, size, created, last_seen) VALUES ($1, $2, $3, $3) "
                "ON CONFLICT (digest) DO UPDATE SET last_seen = excluded.last_seen",
                digest,
                size,
                now,
            )
            await db.execute(
                "WITH q AS (DELETE FROM quota_reservations WHERE project = $4 AND digest = $2) "
                "INSERT INTO repo_blobs (repo_id, digest, created) VALUES ($1, $2, $3) "
                "ON CONFLICT DO NOTHING",
                repo_id,
                digest,
                now,
                _project(repo),
            )

        await self.database.write(change)

    async def link_blob(self, repo: str, digest: str) -> bool:
        now = time.time()

        async def change(db: Connection) -> bool:
            # the UPDATE also locks the blob row: GC can't claim or delete it under the new
            # link (its claim waits, then finds last_seen fresh); a claimed blob is absent
            status = await db.execute(
                "UPDATE blobs SET last_seen = $1 WHERE digest = $2 AND deleting IS NULL",
                now,
                digest,
            )
            if _count(status) == 0:
                return False
            repo_id = await self._ensure_repo(db, repo)
            await db.execute(
                "WITH q AS (DELETE FROM quota_reservations WHERE project = $4 AND digest = $2) "
                "INSERT INTO repo_blobs (repo_id, digest, created) VALUES ($1, $2, $3) "
                "ON CONFLICT DO NOTHING",
                repo_id,
                digest,
                now,
                _project(repo),
            )
            return True

        return await self.database.write(change)

    async def unlink_blob(self, repo: str, digest: str) -> bool:
        status = await self.database.read(
            lambda db: db.execute(
                "DELETE FROM repo_blobs WHERE digest = $1 AND repo_id = "
                "(SELECT id FROM repositories WHERE name = $2)",
                digest,
                repo,
            )
        )
        return _count(status) > 0

    # --- uploads -------------------------------------------------------------
    async def create_upload(self, session: UploadSession) -> None:
        await self.database.read(
            lambda db: db.execute(
                f"INSERT INTO uploads ({SESSION_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                session.id,
                session.repo,
                session.offset,
                session.hash_algorithm,
                session.hash_state,
                session.driver_state,
                session.created,
                session.updated,
            )
        )

    async def get_upload(self, upload_id: str) -> UploadSession | None:
        row = await self.database.read(
            lambda db: db.fetchrow(
                f"SELECT {SESSION_COLUMNS} FROM uploads WHERE id = $1", upload_id
            )
        )
        return None if row is None else session_from_row(row)

    async def claim_upload(
        self,
        upload_id: str,
        owner: str,
        until: float,
        now: float,
        replace: str | None = None,
    ) -> bool:
        status = await self.database.read(
            lambda db: db.execute(
                "UPDATE uploads SET lease_owner = $1, lease_until = $2 "
                "WHERE id = $3 AND (lease_owner IS NULL OR lease_owner = $1 OR lease_until < $4 "
                "OR lease_owner = $5)",
                owner,
                until,
                upload_id,
                now,
                replace,
            )
        )
        return _count(status) > 0

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
        digest, pin_until = pin if pin is not None else (None, None)
        # one statement: the claim (returning the row), the pin when claimed (as pin_blob:
        # the blob row held FOR SHARE), and, when not claimed, who holds the lease (the
        # outer read sees the row as it was before this statement)
        row = await self.database.read(
            lambda db: db.fetchrow(
                "WITH c AS (UPDATE uploads SET lease_owner = $3, lease_until = $4 "
                "WHERE id = $1 AND repo = $2 AND (lease_owner IS NULL OR lease_owner = $3 "
                f"OR lease_until < $5 OR lease_owner = $6) RETURNING {SESSION_COLUMNS}), "
                "b AS (SELECT deleting FROM blobs WHERE digest = $7 AND EXISTS (SELECT 1 FROM c) "
                "FOR SHARE), "
                "p AS (INSERT INTO blob_pins (digest, until) SELECT $7, $8 "
                "WHERE $7::text IS NOT NULL AND EXISTS (SELECT 1 FROM c) "
                "AND NOT EXISTS (SELECT 1 FROM b WHERE deleting IS NOT NULL) "
                "ON CONFLICT (digest) DO UPDATE "
                "SET until = GREATEST(blob_pins.until, excluded.until) "
                "WHERE blob_pins.until <> '-Infinity' RETURNING 1) "
                "SELECT c.*, u.lease_owner, u.id IS NOT NULL, EXISTS (SELECT 1 FROM p) "
                "FROM (SELECT 1) AS one LEFT JOIN c ON true "
                "LEFT JOIN uploads u ON u.id = $1 AND u.repo = $2",
                upload_id,
                repo,
                owner,
                until,
                now,
                replace,
                digest,
                pin_until,
            )
        )
        assert row is not None
        if row[0] is None:
            return UploadClaim(None, bool(row[9]), row[8], False)
        session = session_from_row(row)
        # the admission is a statement of its own (the quota function locks the project's
        # row): a round trip either way, and nothing needs it atomic with the claim
        verdict = None if quota is None else await self._admit(grown(quota, session.offset))
        return UploadClaim(session, True, None, bool(row[10]), verdict)

    async def upload_lease_owner(self, upload_id: str) -> str | None:
        owner: str | None = await self.database.read(
            lambda db: db.fetchval("SELECT lease_owner FROM uploads WHERE id = $1", upload_id)
        )
        return owner

    async def release_upload(
        self, session: UploadSession, owner: str, previous_offset: int
    ) -> bool:
        status = await self.database.read(
            lambda db: db.execute(
                'UPDATE uploads SET "offset" = $1, hash_state = $2, driver_state = $3, '
                "updated = $4, lease_owner = NULL, lease_until = 0 "
                'WHERE id = $5 AND lease_owner = $6 AND "offset" = $7',
                session.offset,
                session.hash_state,
                session.driver_state,
                session.updated,
                session.id,
                owner,
                previous_offset,
            )
        )
        return _count(status) > 0

    async def delete_upload(self, upload_id: str) -> bool:
        status = await self.database.read(
            lambda db: db.execute("DELETE FROM uploads WHERE id = $1", upload_id)
        )
        return _count(status) > 0

    async def list_uploads(self, updated_before: float) -> list[UploadSession]:
        rows = await self.database.read(
            lambda db: db.fetch(
                f"SELECT {SESSION_COLUMNS} FROM uploads WHERE updated < $1", updated_before
            )
        )
        return [session_from_row(r) for r in rows]

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

        async def change(db: Connection) -> PutManifestResult:
            # the repository and what's referenced, held (FOR KEY SHARE) so no delete or
            # unlink slips in before the commit; one statement, rows locked in digest order.
            # A blob GC claims (``deleting``) counts as missing; one it claims between this
            # check and the write is caught there (see ``_insert_manifest``)
            rows = await db.fetch(
                "WITH r AS (SELECT id FROM repositories WHERE name = $1 FOR KEY SHARE), "
                "b AS (SELECT rb.digest FROM repo_blobs rb JOIN r ON r.id = rb.repo_id "
                "JOIN blobs bl ON bl.digest = rb.digest "
                "WHERE rb.digest = ANY($2::text[]) AND bl.deleting IS NULL "
                "ORDER BY rb.digest FOR KEY SHARE OF rb), "
                "c AS (SELECT m.digest FROM manifests m JOIN r ON r.id = m.repo_id "
                "WHERE m.digest = ANY($3::text[]) ORDER BY m.digest FOR KEY SHARE OF m) "
                "SELECT 'r', id::text FROM r UNION ALL SELECT 'b', digest FROM b "
                "UNION ALL SELECT 'm', digest FROM c",
                repo,
                wanted_blobs,
                wanted_children,
            )
            found = {kind: {v for k, v in rows if k == kind} for kind in ("r", "b", "m")}
            missing_blobs = [d for d in wanted_blobs if d not in found["b"]]
            missing_children = [d for d in wanted_children if d not in found["m"]]
            if missing_blobs or missing_children:
                return PutManifestResult(missing_blobs, missing_children)  # nothing written
            if found["r"]:
                repo_id = int(next(iter(found["r"])))
            else:
                repo_id = await self._ensure_repo(db, repo)
            seen = await self._insert_manifest(
                db, repo_id, record, wanted_blobs, wanted_children, tag, now, facts, repo
            )
            if seen != len(wanted_blobs):
                raise TransactionRaced("a referenced blob was claimed by GC meanwhile")
            return PutManifestResult([], [])

        return await self.database.write(change)

    @staticmethod
    async def _insert_manifest(
        db: Connection,
        repo_id: int,
        record: ManifestRecord,
        blobs: list[str],
        children: list[str],
        tag: str | None,
        now: float,
        facts: ArtifactFacts | None,
        repo: str,
    ) -> int:
        """One statement: the referenced blobs' last_seen, the manifest's own blob row, the
        manifest with its references (only when new: a manifest already there keeps its
        own), its artifact row (facts it lacks filled in; an index's size counts its
        children's), and the tag with its row. A manifest deleted meanwhile by another
        process fails the tag's foreign key at the end of the statement, and the
        transaction reruns. The number of referenced blobs refreshed: one GC claimed
        meanwhile is not (its claim, waiting on the row or committed first, leaves
        ``deleting`` set), and the caller reruns; one refreshed here is left alone by a
        claim waiting on it (last_seen is fresh)."""
        seen = await db.fetchval(
            "WITH seen AS (UPDATE blobs SET last_seen = $1 WHERE digest = ANY($2::text[]) "
            "AND deleting IS NULL RETURNING 1), "
            "own AS (INSERT INTO blobs (digest, size, created, last_seen) "
            "VALUES ($3, $4, $1, $1) ON CONFLICT (digest) DO UPDATE "
            "SET last_seen = excluded.last_seen), "
            "m AS (INSERT INTO manifests (repo_id, digest, media_type, size, "
            "artifact_type, subject, annotations, created) "
            "VALUES ($5, $3, $6, $4, $7, $8, $9, $1) ON CONFLICT DO NOTHING RETURNING digest), "
            "mb AS (INSERT INTO manifest_blobs (repo_id, manifest_digest, blob_digest) "
            "SELECT $5, m.digest, d FROM m, unnest($2::text[]) AS d ON CONFLICT DO NOTHING), "
            "mc AS (INSERT INTO manifest_children (repo_id, manifest_digest, child_digest) "
            "SELECT $5, m.digest, d FROM m, unnest($10::text[]) AS d ON CONFLICT DO NOTHING), "
            "t AS (INSERT INTO tags (repo_id, name, digest, updated) "
            "SELECT $5, $11::text, $3, $1 WHERE $11::text IS NOT NULL "
            "ON CONFLICT (repo_id, name) DO UPDATE SET digest = excluded.digest, "
            "updated = excluded.updated), "
            "ti AS (INSERT INTO tag_info (repo_id, name) SELECT $5, $11::text "
            "WHERE $11::text IS NOT NULL ON CONFLICT DO NOTHING), "
            "a AS (INSERT INTO artifacts (repo_id, digest, media_type, total_size) "
            "SELECT $5, $3, $12::text, $13::bigint + (SELECT COALESCE(SUM(COALESCE("
            "ca.total_size, cm.size)), 0) FROM manifests cm LEFT JOIN artifacts ca "
            "ON ca.repo_id = cm.repo_id AND ca.digest = cm.digest WHERE cm.repo_id = $5 "
            "AND cm.digest = ANY($10::text[])) "
            "ON CONFLICT (repo_id, digest) DO UPDATE SET "
            "media_type = COALESCE(artifacts.media_type, excluded.media_type), "
            "total_size = COALESCE(artifacts.total_size, excluded.total_size)), "
            "q AS (DELETE FROM quota_reservations WHERE project = $14 AND digest = $3) "
            "SELECT count(*) FROM seen",
            now,
            blobs,
            record.digest,
            record.size,
            repo_id,
            record.media_type,
            record.artifact_type,
            record.subject,
            record.annotations,
            children,
            tag,
            None if facts is None else facts.media_type,
            None if facts is None else facts.size,
            _project(repo),
        )
        return int(seen)

    async def get_manifest(self, repo: str, digest: str) -> ManifestRecord | None:
        row = await self.database.read(
            lambda db: db.fetchrow(
                f"SELECT {MANIFEST_COLUMNS} FROM manifests m "
                "JOIN repositories r ON r.id = m.repo_id WHERE r.name = $1 AND m.digest = $2",
                repo,
                digest,
            )
        )
        return None if row is None else manifest_from_row(row)

    async def resolve_tag(self, repo: str, tag: str) -> ManifestRecord | None:
        row = await self.database.read(
            lambda db: db.fetchrow(
                f"SELECT {MANIFEST_COLUMNS} FROM tags t JOIN repositories r ON r.id = t.repo_id "
                "JOIN manifests m ON m.repo_id = t.repo_id AND m.digest = t.digest "
                "WHERE r.name = $1 AND t.name = $2",
                repo,
                tag,
            )
        )
        return None if row is None else manifest_from_row(row)

    async def delete_manifest(self, repo: str, digest: str) -> bool:
        status = await self.database.read(
            lambda db: db.execute(
                "DELETE FROM manifests WHERE digest = $1 AND repo_id = "
                "(SELECT id FROM repositories WHERE name = $2)",
                digest,
                repo,
            )
        )
        return _count(status) > 0

    async def delete_tag(self, repo: str, tag: str) -> bool:
        status = await self.database.read(
            lambda db: db.execute(
                "DELETE FROM tags WHERE name = $1 AND repo_id = "
                "(SELECT id FROM repositories WHERE name = $2)",
                tag,
                repo,
            )
        )
        return _count(status) > 0

    async def list_tags(self, repo: str, last: str | None, limit: int | None) -> list[str] | None:
        # one statement: no row when the repository doesn't exist, one NULL when it's empty
        rows = await self.database.read(
            lambda db: db.fetch(
                "SELECT t.name FROM repositories r LEFT JOIN LATERAL (SELECT name FROM tags "
                "WHERE repo_id = r.id AND name > $2 ORDER BY name LIMIT $3) t ON true "
                "WHERE r.name = $1 ORDER BY t.name",
                repo,
                last or "",
                limit,
            )
        )
        if not rows:
            return None
        return [r[0] for r in rows if r[0] is not None]

    async def referrers(
        self, repo: str, subject: str, artifact_type: str | None
    ) -> list[ManifestRecord]:
        rows = await self.database.read(
            lambda db: db.fetch(
                f"SELECT {MANIFEST_COLUMNS} FROM manifests m "
                "JOIN repositories r ON r.id = m.repo_id WHERE r.name = $1 AND m.subject = $2 "
                "AND ($3::text IS NULL OR m.artifact_type = $3) ORDER BY m.created, m.digest",
                repo,
                subject,
                artifact_type,
            )
        )
        return [manifest_from_row(r) for r in rows]

    # --- management queries (Harbor-style REST API) ------------------------------
    async def repositories_under(self, prefix: str) -> list[RepositoryInfo]:
        low, high = prefix, prefix_successor(prefix)
        rows = await self.database.read(
            lambda db: db.fetch(
                f"SELECT {_REPOSITORY_COLUMNS} FROM repositories r "
                "WHERE r.name >= $1 AND ($2::text IS NULL OR r.name < $2) ORDER BY r.name",
                low,
                high,
            )
        )
        return [repository_from_row(r) for r in rows]

    async def repository(self, repo: str) -> RepositoryInfo | None:
        row = await self.database.read(
            lambda db: db.fetchrow(
                f"SELECT {_REPOSITORY_COLUMNS} FROM repositories r WHERE r.name = $1", repo
            )
        )
        return None if row is None else repository_from_row(row)

    async def set_repository_description(self, repo: str, description: str) -> bool:
        status = await self.database.read(
            lambda db: db.execute(
                "UPDATE repositories SET description = $1, touched = $2 WHERE name = $3",
                description,
                time.time(),
                repo,
            )
        )
        return _count(status) > 0

    async def _artifact_rows(
        self, where: str, *params: object, window: tuple[int, int] | None = None
    ) -> list[ArtifactRow]:
        """Artifacts of the manifests ``where`` selects (alias ``m``, repositories ``r``),
        newest first, in one statement; rows an older process added get their ids first."""
        sql = (
            f"SELECT {MANIFEST_COLUMNS}, m.created, m.repo_id, r.name, a.id, a.media_type, "
            "a.total_size, a.pull_time, a.pull_count, EXISTS (SELECT 1 FROM "
            "manifest_children c WHERE c.repo_id = m.repo_id AND c.child_digest = m.digest), "
            "ARRAY(SELECT ROW(ti.id, t.name, t.updated, ti.pull_time) FROM tags t "
            "LEFT JOIN tag_info ti ON ti.repo_id = t.repo_id AND ti.name = t.name "
            "WHERE t.repo_id = m.repo_id AND t.digest = m.digest ORDER BY t.name), "
            "ARRAY(SELECT al.label_id FROM artifact_labels al WHERE al.artifact_id = a.id "
            "ORDER BY al.label_id), "
            "ARRAY(SELECT c.child_digest FROM manifest_children c WHERE c.repo_id = m.repo_id "
            "AND c.manifest_digest = m.digest ORDER BY c.child_digest) "
            "FROM manifests m JOIN repositories r ON r.id = m.repo_id "
            "LEFT JOIN artifacts a ON a.repo_id = m.repo_id AND a.digest = m.digest "
            f"WHERE {where} ORDER BY m.created DESC, a.id DESC"
        )
        query_params = params
        if window is not None:
            sql += f" LIMIT ${len(params) + 1} OFFSET ${len(params) + 2}"
            query_params = (*params, window[1], window[0])

        async def heal(db: Connection) -> None:
            await db.execute(
                "INSERT INTO artifacts (repo_id, digest) SELECT m.repo_id, m.digest "
                "FROM manifests m JOIN repositories r ON r.id = m.repo_id "
                f"WHERE {where} ORDER BY m.created ON CONFLICT DO NOTHING",
                *params,
            )
            await db.execute(
                "INSERT INTO tag_info (repo_id, name) SELECT t.repo_id, t.name FROM tags t "
                "WHERE t.repo_id IN (SELECT m.repo_id FROM manifests m JOIN repositories r "
                f"ON r.id = m.repo_id WHERE {where}) ORDER BY t.updated ON CONFLICT DO NOTHING",
                *params,
            )

        while True:
            rows = await self.database.read(lambda db: db.fetch(sql, *query_params))
            if all(r[9] is not None and all(t[0] is not None for t in r[15]) for r in rows):
                break
            await self.database.write(heal)
        return [
            ArtifactRow(
                int(r[9]),
                int(r[7]),
                r[8],
                manifest_from_row(r),
                float(r[6]),
                None if r[10] is None else ArtifactFacts(r[10], int(r[11])),
                r[12],
                int(r[13]),
                tuple(TagRow(int(t[0]), t[1], float(t[2]), t[3]) for t in r[15]),
                tuple(int(x) for x in r[16]),
                tuple(r[17]),
                bool(r[14]),
            )
            for r in rows
        ]

    async def artifacts(self, repo: str) -> list[ArtifactRow] | None:
        if not await self.repo_exists(repo):
            return None
        return await self._artifact_rows("r.name = $1", repo)

    async def listed_artifacts(
        self, repo: str, offset: int, limit: int
    ) -> tuple[int, list[ArtifactRow]] | None:
        found = await self.database.read(
            lambda db: db.fetchrow(
                "SELECT r.id, (SELECT COUNT(*) FROM manifests m WHERE m.repo_id = r.id "
                f"AND {LISTED_SQL}) FROM repositories r WHERE r.name = $1",
                repo,
            )
        )
        if found is None:
            return None
        total = int(found[1])
        if offset >= total:
            return total, []
        where = f"r.name = $1 AND {LISTED_SQL}"
        return total, await self._artifact_rows(where, repo, window=(offset, limit))

    async def artifacts_around(self, repo: str, digests: list[str]) -> list[ArtifactRow]:
        if not digests:
            return []
        sets = around_sql("(SELECT unnest($2::text[]))", "(SELECT unnest($3::text[]))")
        where = f"r.name = $1 AND {sets}"
        return await self._artifact_rows(where, repo, digests, cosign_tags_of(digests))

    async def project_artifacts(self, project: str) -> list[ArtifactRow]:
        low, high = project_range(project)
        return await self._artifact_rows("r.name >= $1 AND r.name < $2", low, high)

    async def artifact(self, repo: str, digest: str) -> ArtifactRow | None:
        rows = await self._artifact_rows("r.name = $1 AND m.digest = $2", repo, digest)
        return rows[0] if rows else None

    async def set_artifact_facts(self, repo: str, facts: dict[str, ArtifactFacts]) -> None:
        digests = list(facts)
        await self.database.read(
            lambda db: db.execute(
                "UPDATE artifacts a SET media_type = f.media_type, total_size = f.size "
                "FROM unnest($2::text[], $3::text[], $4::bigint[]) AS f(digest, media_type, size) "
                "WHERE a.repo_id = (SELECT id FROM repositories WHERE name = $1) "
                "AND a.digest = f.digest AND a.media_type IS NULL",
                repo,
                digests,
                [facts[d].media_type for d in digests],
                [facts[d].size for d in digests],
            )
        )

    async def create_tag(self, repo: str, tag: str, digest: str) -> str:
        async def change(db: Connection) -> str:
            repo_id = await db.fetchval(
                "SELECT m.repo_id FROM manifests m JOIN repositories r ON r.id = m.repo_id "
                "WHERE r.name = $1 AND m.digest = $2 FOR KEY SHARE OF m",
                repo,
                digest,
            )
            if repo_id is None:
                return "missing"
            inserted = await db.fetchval(
                "WITH t AS (INSERT INTO tags (repo_id, name, digest, updated) "
                "VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING RETURNING name), "
                "ti AS (INSERT INTO tag_info (repo_id, name) SELECT $1, name FROM t "
                "ON CONFLICT DO NOTHING) SELECT count(*) FROM t",
                repo_id,
                tag,
                digest,
                time.time(),
            )
            return "created" if inserted else "exists"

        return await self.database.write(change)

    async def record_pulls(self, pulls: list[Pulls]) -> None:
        if not pulls:
            return
        await self.database.read(
            lambda db: db.execute(
                "WITH p AS (SELECT r.id AS repo_id, p.digest, p.tag, p.n, p.last FROM "
                "unnest($1::text[], $2::text[], $3::text[], $4::bigint[], "
                "$5::double precision[]) AS p(repo, digest, tag, n, last) "
                "JOIN repositories r ON r.name = p.repo), "
                "a AS (UPDATE artifacts a SET pull_count = a.pull_count + s.n, "
                "pull_time = GREATEST(COALESCE(a.pull_time, 0), s.last) FROM (SELECT repo_id, "
                "digest, SUM(n) AS n, MAX(last) AS last FROM p GROUP BY repo_id, digest) s "
                "WHERE a.repo_id = s.repo_id AND a.digest = s.digest), "
                "t AS (UPDATE tag_info ti SET pull_time = GREATEST(COALESCE(ti.pull_time, 0), "
                "s.last) FROM (SELECT repo_id, tag, MAX(last) AS last FROM p WHERE tag IS NOT "
                "NULL GROUP BY repo_id, tag) s WHERE ti.repo_id = s.repo_id AND ti.name = s.tag) "
                "UPDATE repositories r SET pull_count = r.pull_count + s.n FROM (SELECT "
                "repo_id, SUM(n) AS n FROM p GROUP BY repo_id) s WHERE r.id = s.repo_id",
                [p.repo for p in pulls],
                [p.digest for p in pulls],
                [p.tag for p in pulls],
                [p.count for p in pulls],
                [p.last for p in pulls],
            )
        )

    async def project_usage(self, project: str) -> int:
        low, high = project_range(project)
        used = await self.database.read(lambda db: db.fetchval(_USAGE, low, high))
        return int(used)

    # --- storage quotas ----------------------------------------------------------------
    async def quota_limits(self) -> dict[str, int]:
        rows = await self.database.read(
            lambda db: db.fetch("SELECT project, hard FROM quotas WHERE hard >= 0")
        )
        return {row["project"]: int(row["hard"]) for row in rows}

    async def quota(self, project: str) -> QuotaRecord | None:
        row = await self.database.read(
            lambda db: db.fetchrow(
                "SELECT project, hard, created, updated FROM quotas WHERE project = $1", project
            )
        )
        return None if row is None else QuotaRecord(row[0], int(row[1]), row[2], row[3])

    async def set_quota(self, project: str, hard: int, now: float) -> QuotaRecord:
        row = await self.database.read(
            lambda db: db.fetchrow(
                "INSERT INTO quotas (project, hard, created, updated) VALUES ($1, $2, $3, $3) "
                "ON CONFLICT (project) DO UPDATE SET hard = excluded.hard, bound = NULL, "
                "updated = excluded.updated RETURNING project, hard, created, updated",
                project,
                hard,
                now,
            )
        )
        assert row is not None  # an upsert with RETURNING answers its row
        return QuotaRecord(row[0], int(row[1]), row[2], row[3])

    async def delete_quota(self, project: str) -> None:
        async def change(db: Connection) -> None:
            await db.execute("DELETE FROM quotas WHERE project = $1", project)
            await db.execute("DELETE FROM quota_reservations WHERE project = $1", project)

        await self.database.write(change)

    async def reserve_quota(
        self, project: str, digest: str, size: int, now: float, until: float
    ) -> QuotaCheck:
        return await self._admit(QuotaAsk(project, digest, size, now, until))

    async def _admit(self, ask: QuotaAsk) -> QuotaCheck:
        project, digest, size, now, until = ask.project, ask.digest, ask.size, ask.now, ask.until
        low, high = project_range(project)
        # one statement: the function locks the quota row, then sums with a fresh snapshot
        row = await self.database.read(
            lambda db: db.fetchrow(
                "SELECT * FROM wharf_reserve_quota($1, $2, $3, $4, $5, $6, $7, $8)",
                project,
                digest,
                size,
                low,
                high,
                now,
                until,
                QUOTA_SHARE,
            )
        )
        assert row is not None  # the function always answers one row
        hard, used, reserved, present, granted, exact = row
        return QuotaCheck(
            int(hard),
            int(used),
            int(reserved),
            0 if present else size,
            bool(granted),
            exact=bool(exact),
        )

    async def release_quota(self, project: str, digest: str) -> None:
        await self.database.read(
            lambda db: db.execute(
                "DELETE FROM quota_reservations WHERE project = $1 AND digest = $2",
                project,
                digest,
            )
        )

    # --- labels ----------------------------------------------------------------------------
    async def create_label(self, label: Label) -> int:
        new_id = await self.database.read(
            lambda db: db.fetchval(
                "INSERT INTO labels (name, description, color, scope, project_id, created, "
                "updated) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING RETURNING id",
                label.name,
                label.description,
                label.color,
                label.scope,
                label.project_id,
                label.created,
                label.updated,
            )
        )
        if new_id is None:
            raise LabelExists(label.name)
        return int(new_id)

    async def label(self, label_id: int) -> Label | None:
        row = await self.database.read(
            lambda db: db.fetchrow(f"SELECT {LABEL_COLUMNS} FROM labels WHERE id = $1", label_id)
        )
        return None if row is None else label_from_row(row)

    async def labels(
        self, scope: str | None, project_id: int | None, ids: list[int] | None = None
    ) -> list[Label]:
        rows = await self.database.read(
            lambda db: db.fetch(
                f"SELECT {LABEL_COLUMNS} FROM labels WHERE ($1::text IS NULL OR scope = $1) "
                "AND ($2::integer IS NULL OR project_id = $2) "
                "AND ($3::integer[] IS NULL OR id = ANY($3::integer[])) ORDER BY id",
                scope,
                project_id,
                ids,
            )
        )
        return [label_from_row(r) for r in rows]

    async def update_label(self, label: Label) -> bool:
        try:
            status = await self.database.read(
                lambda db: db.execute(
                    "UPDATE labels SET name = $1, description = $2, color = $3, updated = $4 "
                    "WHERE id = $5",
                    label.name,
                    label.description,
                    label.color,
                    label.updated,
                    label.id,
                )
            )
        except asyncpg.exceptions.UniqueViolationError:
            raise LabelExists(label.name) from None
        return _count(status) > 0

    async def delete_label(self, label_id: int) -> bool:
        status = await self.database.read(
            lambda db: db.execute("DELETE FROM labels WHERE id = $1", label_id)
        )
        return _count(status) > 0

    async def attach_label(self, artifact_id: int, label_id: int) -> str:
        found = await self.database.read(
            lambda db: db.fetchval(
                "WITH ok AS (SELECT a.id AS artifact_id, l.id AS label_id FROM artifacts a, "
                "labels l WHERE a.id = $1 AND l.id = $2 FOR KEY SHARE), "
                "ins AS (INSERT INTO artifact_labels (artifact_id, label_id, created) "
                "SELECT artifact_id, label_id, $3 FROM ok ON CONFLICT DO NOTHING RETURNING 1) "
                "SELECT (SELECT count(*) FROM ok) * 10 + (SELECT count(*) FROM ins)",
                artifact_id,
                label_id,
                time.time(),
            )
        )
        if found < 10:
            return "missing"
        return "attached" if found % 10 else "exists"

    async def detach_label(self, artifact_id: int, label_id: int) -> bool:
        status = await self.database.read(
            lambda db: db.execute(
                "DELETE FROM artifact_labels WHERE artifact_id = $1 AND label_id = $2",
                artifact_id,
                label_id,
            )
        )
        return _count(status) > 0

    async def forget_project_labels(self) -> int:
        status = await self.database.read(
            lambda db: db.execute(
                "DELETE FROM labels WHERE scope = 'p' AND NOT EXISTS "
                "(SELECT 1 FROM projects p WHERE p.id = labels.project_id)"
            )
        )
        return _count(status)

    async def delete_repository(self, repo: str) -> bool:
        status = await self.database.read(
            lambda db: db.execute("DELETE FROM repositories WHERE name = $1", repo)
        )
        return _count(status) > 0

    # --- garbage collection ------------------------------------------------------
    # Pins against claims. A pin is one statement: it holds the blob row (FOR SHARE), so it
    # waits for a claim in flight and then sees ``deleting`` on the row's latest version;
    # a claim first locks its rows (waiting for pins in flight), then checks the pins in a
    # new statement (a new snapshot: READ COMMITTED) that sees every pin committed. A digest
    # with no blob row (an orphan) has no row to hold: its claim writes a marker pin
    # (until = -infinity) first, on which a concurrent pin waits and which it then finds
    # (ON CONFLICT sees the latest row, whatever the snapshot); the marker goes with the row.
    async def pin_blob(self, digest: str, until: float, now: float) -> bool:
        pinned = await self.database.read(
            lambda db: db.fetchval(
                "WITH b AS (SELECT deleting FROM blobs WHERE digest = $1 FOR SHARE), "
                "p AS (INSERT INTO blob_pins (digest, until) SELECT $1, $2 "
                "WHERE NOT EXISTS (SELECT 1 FROM b WHERE deleting IS NOT NULL) "
                "ON CONFLICT (digest) DO UPDATE "
                "SET until = GREATEST(blob_pins.until, excluded.until) "
                "WHERE blob_pins.until <> '-Infinity' RETURNING 1) "
                "SELECT EXISTS (SELECT 1 FROM p)",
                digest,
                until,
            )
        )
        return bool(pinned)

    async def pin_and_reserve(
        self, digest: str, until: float, now: float, quota: QuotaAsk
    ) -> PinAndQuota:
        # two statements, one round trip each, as when asked apart: the pin takes the blob
        # row FOR SHARE and the admission the project's quota row, so one statement
        # holding both would only widen the window for lock waits
        pinned = await self.pin_blob(digest, until, now)
        return PinAndQuota(pinned, await self._admit(quota))

    # the lease row, as on SQLite: it expires by itself when a collector is killed, and
    # its explicit clock keeps try/renew/unlock exactly the SQLite semantics
    async def gc_try_lock(self, owner: str, until: float, now: float) -> int | None:
        token = await self.database.read(
            lambda db: db.fetchval(
                "INSERT INTO gc_lock (name, owner, until, token) VALUES ('gc', $1, $2, "
                # no row yet (or someone removed it): past every token marks carry
                "(SELECT COALESCE(MAX(run), 0) + 1 FROM gc_marks)) "
                "ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, "
                "until = excluded.until, token = gc_lock.token + 1 "
                "WHERE gc_lock.until < $3 OR gc_lock.owner = excluded.owner RETURNING token",
                owner,
                until,
                now,
            )
        )
        return None if token is None else int(token)

    async def gc_renew_lock(self, owner: str, token: int, until: float) -> bool:
        status = await self.database.read(
            lambda db: db.execute(
                "UPDATE gc_lock SET until = $1 WHERE name = 'gc' AND owner = $2 AND token = $3",
                until,
                owner,
                token,
            )
        )
        return _count(status) > 0

    async def gc_unlock(self, owner: str, token: int) -> None:
        await self.database.read(
            lambda db: db.execute(
                "UPDATE gc_lock SET until = 0 WHERE name = 'gc' AND owner = $1 AND token = $2",
                owner,
                token,
            )
        )

    @staticmethod
    async def _fence(db: Connection, token: int) -> None:
        """First thing in a run's transaction: hold the lock row (FOR KEY SHARE) if it
        still carries ``token``, else raise ``GCLockLost``. A takeover changes the token,
        a key (unique index): it waits until this transaction ends, and one that
        committed first is seen (a locking read checks the row's latest version). The
        run's own lease renewals change only ``until``, and don't wait."""
        held = await db.fetchval(
            "SELECT 1 FROM gc_lock WHERE name = 'gc' AND token = $1 FOR KEY SHARE", token
        )
        if held is None:
            raise GCLockLost(token)

    async def gc_mark(self, cutoff: float, project: str | None, *, token: int) -> int:
        low, high = project_range(project)

        async def change(db: Connection) -> int:
            await self._fence(db, token)
            await db.execute(_NO_JIT)
            await db.execute("DELETE FROM gc_marks")
            # roots and their closure in one recursive statement (UNION: to a fixpoint)
            status = await db.execute(
                f"WITH RECURSIVE {_ROOTS}, {_REACH} "
                "INSERT INTO gc_marks (repo_id, digest, wave, run) "
                "SELECT repo_id, digest, 0, $4 FROM reach",
                cutoff,
                low,
                high,
                token,
                timeout=WHOLE_STORE_TIMEOUT,
            )
            return _count(status)

        return await self.database.write(change)

    async def gc_sweep_manifests(
        self, since: float, cutoff: float, project: str | None, limit: int, *, token: int
    ) -> list[tuple[str, str]]:
        low, high = project_range(project)

        async def change(db: Connection) -> list[tuple[str, str]]:
            await self._fence(db, token)
            await db.execute(_NO_JIT)
            # pushes wait for this batch (and it for the pushes in flight): the statement
            # below then sees every tag and manifest written since the mark, and no new
            # tag or referrer can point at a manifest it deletes
            await db.execute("LOCK TABLE tags, manifests IN SHARE MODE")
            rows = await db.fetch(
                "WITH RECURSIVE roots (repo_id, digest) AS ("
                "SELECT repo_id, digest FROM tags WHERE updated >= $1 UNION "
                "SELECT repo_id, digest FROM manifests WHERE created >= $2"
                f"), {_REACH}, "
                "wave AS (SELECT COALESCE(MAX(wave), 0) + 1 AS n FROM gc_marks), "
                "marked AS (INSERT INTO gc_marks (repo_id, digest, wave, run) "
                "SELECT repo_id, digest, wave.n, $6 FROM reach, wave ON CONFLICT DO NOTHING), "
                "doomed AS (SELECT m.repo_id, m.digest, r.name FROM manifests m "
                "JOIN repositories r ON r.id = m.repo_id "
                "WHERE r.name >= $3 AND ($4::text IS NULL OR r.name < $4) "
                "AND NOT EXISTS (SELECT 1 FROM gc_marks g "
                "WHERE g.repo_id = m.repo_id AND g.digest = m.digest AND g.run = $6) "
                "AND NOT EXISTS (SELECT 1 FROM reach x "
                "WHERE x.repo_id = m.repo_id AND x.digest = m.digest) "
                # a manifest a push in flight holds (a child it references) is left to
                # the next batch, where that push's manifest marks it: no deadlock
                "LIMIT $5 FOR UPDATE OF m SKIP LOCKED) "
                "DELETE FROM manifests m USING doomed d "
                "WHERE m.repo_id = d.repo_id AND m.digest = d.digest RETURNING d.name, d.digest",
                since,
                min(since, cutoff),
                low,
                high,
                limit,
                token,
            )
            return [(r[0], r[1]) for r in rows]

        return await self.database.write(change)

    async def gc_blob_candidates(
        self, after: str, cutoff: float, project: str | None, limit: int
    ) -> list[str]:
        low, high = project_range(project)
        rows = await self.database.read(
            lambda db: db.fetch(
                "SELECT b.digest FROM blobs b WHERE b.digest > $1 AND b.deleting IS NULL "
                f"AND b.last_seen < $2 AND {_UNREFERENCED} "
                f"AND ($3::boolean OR {_in_scope('$4', '$5')}) "
                "ORDER BY b.digest LIMIT $6",
                after,
                cutoff,
                project is None,
                low,
                high,
                limit,
            )
        )
        return [r[0] for r in rows]

    async def gc_claim_blobs(
        self, digests: list[str], cutoff: float, now: float, *, token: int
    ) -> list[tuple[str, int]]:
        async def change(db: Connection) -> list[tuple[str, int]]:
            await self._fence(db, token)
            # expired pins go (markers stay), the rows are held in digest order (two
            # claimers can't deadlock); a row a concurrent link or manifest PUT updated is
            # then seen with last_seen fresh, and left alone
            await db.execute(
                "WITH expired AS (DELETE FROM blob_pins WHERE until < $2 "
                "AND until <> '-Infinity') SELECT count(*) FROM (SELECT 1 FROM blobs "
                "WHERE digest = ANY($1::text[]) ORDER BY digest FOR NO KEY UPDATE) held",
                digests,
                now,
            )
            rows = await db.fetch(
                "UPDATE blobs b SET deleting = $3 WHERE b.digest = ANY($1::text[]) "
                f"AND b.deleting IS NULL AND b.last_seen < $2 AND {_UNREFERENCED} "
                "AND NOT EXISTS (SELECT 1 FROM blob_pins p WHERE p.digest = b.digest) "
                "RETURNING b.digest, b.size",
                digests,
                cutoff,
                now,
            )
            sizes = {r[0]: int(r[1]) for r in rows}
            return [(d, sizes.pop(d)) for d in digests if d in sizes]

        return await self.database.write(change)

    async def gc_preview(
        self, cutoff: float, project: str | None, delete_untagged: bool
    ) -> GCPreview:
        # One statement in a READ ONLY transaction (the server refuses any write in it):
        # the reachable set is a recursive CTE, kept by the server for the statement
        # (work_mem, then temporary files of its own), never a table anyone could see.
        # A TEMP table would not do here: creating one writes the system catalogs.
        low, high = project_range(project)

        async def query(db: Connection) -> GCPreview:
            await db.execute(_NO_JIT)
            if not delete_untagged:  # every manifest stays
                row = await db.fetchrow(
                    "SELECT (SELECT count(*) FROM manifests), "
                    "(SELECT count(*) FROM blobs WHERE deleting IS NOT NULL), "
                    "count(*), COALESCE(sum(b.size), 0) FROM blobs b "
                    f"WHERE b.deleting IS NULL AND b.last_seen < $1 AND {_UNREFERENCED} "
                    f"AND ($2::boolean OR {_in_scope('$3', '$4')})",
                    cutoff,
                    project is None,
                    low,
                    high,
                    timeout=WHOLE_STORE_TIMEOUT,
                )
                assert row is not None
                return GCPreview(int(row[0]), 0, int(row[2]), int(row[3]), int(row[1]))
            row = await db.fetchrow(
                f"WITH RECURSIVE {_ROOTS}, {_REACH}, "
                "stays AS MATERIALIZED (SELECT DISTINCT repo_id, digest FROM reach) "
                "SELECT (SELECT count(*) FROM stays), "
                "(SELECT count(*) FROM manifests m JOIN repositories r ON r.id = m.repo_id "
                "WHERE r.name >= $2 AND ($3::text IS NULL OR r.name < $3) AND NOT EXISTS "
                "(SELECT 1 FROM stays g WHERE g.repo_id = m.repo_id AND g.digest = m.digest)), "
                "(SELECT count(*) FROM blobs WHERE deleting IS NOT NULL), "
                "count(*), COALESCE(sum(b.size), 0) FROM blobs b "
                "WHERE b.deleting IS NULL AND b.last_seen < $1 AND NOT EXISTS "
                "(SELECT 1 FROM manifest_blobs mb JOIN stays g ON g.repo_id = mb.repo_id "
                "AND g.digest = mb.manifest_digest WHERE mb.blob_digest = b.digest) "
                "AND NOT EXISTS (SELECT 1 FROM manifests m JOIN stays g "
                "ON g.repo_id = m.repo_id AND g.digest = m.digest WHERE m.digest = b.digest) "
                f"AND ($4::boolean OR {_in_scope('$2', '$3')})",
                cutoff,
                low,
                high,
                project is None,
                timeout=WHOLE_STORE_TIMEOUT,
            )
            assert row is not None
            return GCPreview(int(row[0]), int(row[1]), int(row[3]), int(row[4]), int(row[2]))

        return await self.database.snapshot(query)

    async def gc_unknown_digests(self, digests: list[str], now: float) -> list[str]:
        rows = await self.database.read(
            lambda db: db.fetch(
                "SELECT u.d FROM unnest($1::text[]) WITH ORDINALITY AS u (d, i) "
                "WHERE NOT EXISTS (SELECT 1 FROM blobs b WHERE b.digest = u.d) "
                "AND NOT EXISTS (SELECT 1 FROM blob_pins p WHERE p.digest = u.d "
                "AND p.until >= $2) ORDER BY u.i",
                digests,
                now,
            )
        )
        return [r[0] for r in rows]

    async def gc_claim_orphans(
        self, items: list[tuple[str, int]], now: float, *, token: int
    ) -> list[str]:
        digests = [d for d, _ in items]
        sizes = [s for _, s in items]

        async def change(db: Connection) -> list[str]:
            await self._fence(db, token)
            # markers first, on the digests with no live pin (seen on their latest rows)
            # and no blob row; then the rows, for the digests marked
            marked = await db.fetch(
                "INSERT INTO blob_pins (digest, until) SELECT DISTINCT u.d, '-Infinity'::float8 "
                "FROM unnest($1::text[]) AS u (d) "
                "WHERE NOT EXISTS (SELECT 1 FROM blobs b WHERE b.digest = u.d) "
                "ON CONFLICT (digest) DO UPDATE SET until = excluded.until "
                "WHERE blob_pins.until < $2 AND blob_pins.until <> '-Infinity' "
                "RETURNING digest",
                digests,
                now,
            )
            rows = await db.fetch(
                "WITH m AS (SELECT unnest($4::text[]) AS d), "
                "ins AS (INSERT INTO blobs (digest, size, created, last_seen, deleting) "
                "SELECT DISTINCT ON (u.d) u.d, u.s, $3, $3, $3 "
                "FROM unnest($1::text[], $2::bigint[]) AS u (d, s) JOIN m ON m.d = u.d "
                "ON CONFLICT DO NOTHING RETURNING digest), "
                # a marker whose digest got a row meanwhile (not claimed) goes at once
                "gone AS (DELETE FROM blob_pins p USING m WHERE p.digest = m.d "
                "AND p.until = '-Infinity' AND m.d NOT IN (SELECT digest FROM ins)) "
                "SELECT digest FROM ins",
                digests,
                sizes,
                now,
                [r[0] for r in marked],
            )
            claimed = {r[0] for r in rows}
            return [d for d in dict.fromkeys(digests) if d in claimed]

        return await self.database.write(change)

    async def gc_deleting(self, after: str, limit: int) -> list[tuple[str, int]]:
        rows = await self.database.read(
            lambda db: db.fetch(
                "SELECT digest, size FROM blobs WHERE deleting IS NOT NULL AND digest > $1 "
                "ORDER BY digest LIMIT $2",
                after,
                limit,
            )
        )
        return [(r[0], int(r[1])) for r in rows]

    async def gc_forget_blobs(self, digests: list[str]) -> int:
        # one statement: the links of the deleting ones, then (foreign keys checked at its
        # end) the rows no manifest still is
        gone = await self.database.read(
            lambda db: db.fetchval(
                "WITH d AS (SELECT digest FROM blobs WHERE digest = ANY($1::text[]) "
                "AND deleting IS NOT NULL FOR UPDATE), "
                "links AS (DELETE FROM repo_blobs rb USING d WHERE rb.digest = d.digest), "
                "markers AS (DELETE FROM blob_pins p USING d WHERE p.digest = d.digest "
                "AND p.until = '-Infinity'), "
                "rows AS (DELETE FROM blobs b USING d WHERE b.digest = d.digest "
                "AND NOT EXISTS (SELECT 1 FROM manifests m WHERE m.digest = b.digest) "
                "RETURNING 1) SELECT count(*) FROM rows",
                digests,
            )
        )
        return int(gone)

    async def gc_totals(self) -> tuple[int, int, int]:
        row = await self.database.read(
            lambda db: db.fetchrow(
                "SELECT (SELECT count(*) FROM manifests), count(*), COALESCE(sum(size), 0) "
                "FROM blobs WHERE deleting IS NULL"
            )
        )
        assert row is not None
        return int(row[0]), int(row[1]), int(row[2])

    async def gc_create_run(
        self, kind: str, parameters: str, now: float, *, token: int | None
    ) -> int:
        async def change(db: Connection) -> int:
            if token is not None:
                await db.execute(
                    "UPDATE gc_runs SET status = 'Error', updated = $1, log = log || $2 "
                    "WHERE status = 'Running' AND token < $3",
                    now,
                    gc_log_line(now, GC_LOCK_GONE),
                    token,
                )
            run_id = await db.fetchval(
                "INSERT INTO gc_runs (kind, status, parameters, created, updated, token) "
                "VALUES ($1, 'Running', $2, $3, $3, $4) RETURNING id",
                kind,
                parameters,
                now,
                token,
            )
            return int(run_id)

        return await self.database.write(change)

    async def gc_update_run(
        self, run_id: int, status: str, report: str, log_append: str, now: float
    ) -> None:
        await self.database.read(
            lambda db: db.execute(
                "UPDATE gc_runs SET status = $1, report = $2, log = log || $3, updated = $4 "
                "WHERE id = $5",
                status,
                report,
                log_append,
                now,
                run_id,
            )
        )

    async def gc_runs(self, query: GCRunQuery, offset: int, limit: int) -> tuple[list[GCRun], int]:
        where, params = query.where(lambda n: f"${n}")
        n = len(params)
        # one statement: the count, and a NULL run when the page is empty
        rows = await self.database.read(
            lambda db: db.fetch(
                "SELECT c.n, g.id, g.kind, g.status, g.parameters, g.report, '', g.created, "
                f"g.updated FROM (SELECT count(*) AS n FROM gc_runs WHERE {where}) c "
                f"LEFT JOIN LATERAL (SELECT * FROM gc_runs WHERE {where} "
                f"ORDER BY {query.order_by()} LIMIT ${n + 1} OFFSET ${n + 2}) g ON true",
                *params,
                limit,
                offset,
            )
        )
        total = int(rows[0][0]) if rows else 0
        return [GCRun(*r[1:]) for r in rows if r[1] is not None], total

    async def gc_run(self, run_id: int) -> GCRun | None:
        row = await self.database.read(
            lambda db: db.fetchrow(
                "SELECT id, kind, status, parameters, report, log, created, updated "
                "FROM gc_runs WHERE id = $1",
                run_id,
            )
        )
        return None if row is None else GCRun(*row)

    async def gc_request_stop(self, run_id: int, now: float) -> GCRun | None:
        async def change(db: Connection) -> GCRun | None:
            await db.execute(
                "UPDATE gc_runs SET stop_requested = $1 WHERE id = $2 AND status = 'Running'",
                now,
                run_id,
            )
            await db.execute(  # nobody left to see the request: stopped now
                "UPDATE gc_runs SET status = 'Stopped', updated = $1, log = log || $2 "
                "WHERE id = $3 AND status = 'Running' AND token IS NOT NULL AND NOT EXISTS "
                "(SELECT 1 FROM gc_lock l WHERE l.name = 'gc' AND l.token = gc_runs.token "
                "AND l.until >= $1)",
                now,
                gc_log_line(now, GC_STOPPED_GONE),
                run_id,
            )
            row = await db.fetchrow(
                "SELECT id, kind, status, parameters, report, log, created, updated "
                "FROM gc_runs WHERE id = $1",
                run_id,
            )
            return None if row is None else GCRun(*row)

        return await self.database.write(change)

    async def gc_stop_requested(self, run_id: int) -> bool:
        requested = await self.database.read(
            lambda db: db.fetchval("SELECT stop_requested FROM gc_runs WHERE id = $1", run_id)
        )
        return requested is not None

    async def gc_schedule(self) -> GCSchedule | None:
        row = await self.database.read(
            lambda db: db.fetchrow(
                "SELECT kind, cron, parameters, updated, created FROM gc_schedule WHERE id = 1"
            )
        )
        return None if row is None else GCSchedule(*row)

    async def gc_set_schedule(self, schedule: GCSchedule) -> None:
        await self.database.read(
            lambda db: db.execute(
                "INSERT INTO gc_schedule (id, kind, cron, parameters, updated, created) "
                "VALUES (1, $1, $2, $3, $4, $5) ON CONFLICT (id) DO UPDATE SET "
                "kind = excluded.kind, cron = excluded.cron, parameters = excluded.parameters, "
                "updated = excluded.updated, created = excluded.created",
                schedule.kind,
                schedule.cron,
                schedule.parameters,
                schedule.updated,
                schedule.created,
            )
        )


# GC's recursive statements get huge, wrong cost estimates, which make the server
# JIT-compile them: seconds for a statement that runs in milliseconds (4.7 s instead of
# 0.17 s for a run over 11 manifests). Off for the transaction.
_NO_JIT = "SET LOCAL jit = off"

# GC's roots ($1 the cutoff, $2/$3 the project's name range): tagged manifests, manifests
# created since the cutoff, and every manifest outside the project
_ROOTS = (
    "roots (repo_id, digest) AS (SELECT repo_id, digest FROM tags UNION "
    "SELECT m.repo_id, m.digest FROM manifests m JOIN repositories r ON r.id = m.repo_id "
    "WHERE m.created >= $1 OR NOT (r.name >= $2 AND ($3::text IS NULL OR r.name < $3)))"
)
# GC's closure from ``roots`` (a CTE defined before): children of reached manifests,
# referrers of reached subjects, subjects (that exist) of reached referrers; UNION stops
# at the fixpoint
_REACH = (
    "reach (repo_id, digest) AS (SELECT repo_id, digest FROM roots UNION "
    "SELECT n.repo_id, n.digest FROM reach g CROSS JOIN LATERAL ("
    "SELECT mc.repo_id, mc.child_digest AS digest FROM manifest_children mc "
    "WHERE mc.repo_id = g.repo_id AND mc.manifest_digest = g.digest UNION ALL "
    "SELECT m.repo_id, m.digest FROM manifests m "
    "WHERE m.repo_id = g.repo_id AND m.subject = g.digest UNION ALL "
    "SELECT m.repo_id, m.subject FROM manifests m "
    "WHERE m.repo_id = g.repo_id AND m.digest = g.digest AND m.subject IS NOT NULL "
    "AND EXISTS (SELECT 1 FROM manifests s WHERE s.repo_id = m.repo_id "
    "AND s.digest = m.subject)) n)"
)
# blob ``b`` is neither referenced by a manifest nor one itself
_UNREFERENCED = (
    "NOT EXISTS (SELECT 1 FROM manifest_blobs mb WHERE mb.blob_digest = b.digest) "
    "AND NOT EXISTS (SELECT 1 FROM manifests m WHERE m.digest = b.digest)"
)
