"""The registry's tables (blobs, repositories, manifests, tags, uploads), in SQL both
SQLite and PostgreSQL accept; applied by ``wharf.db.migrate``."""

from __future__ import annotations

from wharf.db.migrate import Migration, Schema

# Storage quotas (version 5): a project's storage quota (Harbor's quota with reference
# "project"): the hard limit in bytes, -1 unlimited; a project without a row is unlimited.
# Keyed by the project's name, as the repositories are; usage is never stored, it is worked
# out from the links (each digest once per project). A reservation: bytes admitted by the
# quota check but not linked yet (an upload between its check and its commit); they count
# against the limit until the digest is in the project, or the write is abandoned, or they
# expire. ``bound``: an upper bound of usage + reservations (NULL: unknown), raised by each
# admission and reset to the exact sum when an admission would take it past the limit or
# past the warning share; so far from the limit an admission costs no sum over the project.
_QUOTAS = (
    """CREATE TABLE quotas (
        project TEXT PRIMARY KEY,
        hard BIGINT NOT NULL,
        bound BIGINT,
        created DOUBLE PRECISION NOT NULL,
        updated DOUBLE PRECISION NOT NULL
    )""",
    """CREATE TABLE quota_reservations (
        project TEXT NOT NULL,
        digest TEXT NOT NULL,
        size BIGINT NOT NULL,
        until DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (project, digest)
    )""",
)

# PostgreSQL: one admission as one statement (one round trip). The quota row is locked
# first; each later statement of a VOLATILE function takes a fresh snapshot, so it sees
# every admission and link committed by whoever held the lock before. (Its parameters are
# spelled ``text``: the migration runner gives every ``TEXT`` column SQLite's collation.)
_RESERVE_QUOTA = """CREATE FUNCTION wharf_reserve_quota(
    p_project text, p_digest text, p_size BIGINT, p_low text, p_high text,
    p_now DOUBLE PRECISION, p_until DOUBLE PRECISION, p_share DOUBLE PRECISION,
    OUT o_hard BIGINT, OUT o_used BIGINT, OUT o_reserved BIGINT, OUT o_present BOOLEAN,
    OUT o_granted BOOLEAN, OUT o_exact BOOLEAN
) LANGUAGE plpgsql VOLATILE AS $fn$
DECLARE
    v_bound BIGINT;
BEGIN
    SELECT q.hard, q.bound INTO o_hard, v_bound FROM quotas q
        WHERE q.project = p_project FOR UPDATE;
    o_used := 0;
    o_reserved := 0;
    o_present := false;
    o_granted := true;
    o_exact := false;
    IF o_hard IS NULL OR o_hard < 0 THEN
        o_hard := -1;
        RETURN;
    END IF;
    SELECT EXISTS (SELECT 1 FROM blobs b WHERE b.digest = p_digest AND b.deleting IS NULL AND (
        EXISTS (SELECT 1 FROM repo_blobs rb JOIN repositories r ON r.id = rb.repo_id
            WHERE rb.digest = b.digest AND r.name >= p_low AND r.name < p_high)
        OR EXISTS (SELECT 1 FROM manifests m JOIN repositories r ON r.id = m.repo_id
            WHERE m.digest = b.digest AND r.name >= p_low AND r.name < p_high)))
        INTO o_present;
    IF o_present THEN
        -- no room needed now; reserved all the same (it counts only while the digest is
        -- out of the project), so an unlink racing this push can't let its link in unseen
        UPDATE quotas SET bound = bound + p_size WHERE project = p_project;
        INSERT INTO quota_reservations (project, digest, size, until)
            VALUES (p_project, p_digest, p_size, p_until)
            ON CONFLICT (project, digest) DO UPDATE SET size = excluded.size,
            until = excluded.until;
        RETURN;
    END IF;
    IF v_bound IS NULL OR v_bound + p_size > o_hard * p_share THEN
        -- near the limit (or the bound unknown): the exact sums, in one statement (one
        -- snapshot: a link committing meanwhile is counted once, as a link or reserved)
        o_exact := true;
        DELETE FROM quota_reservations q
            WHERE q.project = p_project AND q.until < p_now AND q.digest <> p_digest;
        SELECT (SELECT COALESCE(SUM(b.size), 0) FROM blobs b
            WHERE b.deleting IS NULL AND b.digest IN (
                SELECT rb.digest FROM repositories r JOIN repo_blobs rb ON rb.repo_id = r.id
                    WHERE r.name >= p_low AND r.name < p_high
                UNION SELECT m.digest FROM repositories r JOIN manifests m ON m.repo_id = r.id
                    WHERE r.name >= p_low AND r.name < p_high)),
            (SELECT COALESCE(SUM(q.size), 0) FROM quota_reservations q
            WHERE q.project = p_project AND q.digest <> p_digest AND q.until >= p_now
            AND NOT EXISTS (SELECT 1 FROM blobs b WHERE b.digest = q.digest
                AND b.deleting IS NULL AND (
                EXISTS (SELECT 1 FROM repo_blobs rb JOIN repositories r ON r.id = rb.repo_id
                    WHERE rb.digest = b.digest AND r.name >= p_low AND r.name < p_high)
                OR EXISTS (SELECT 1 FROM manifests m JOIN repositories r ON r.id = m.repo_id
                    WHERE m.digest = b.digest AND r.name >= p_low AND r.name < p_high))))
            INTO o_used, o_reserved;
        v_bound := o_used + o_reserved;
        IF v_bound + p_size > o_hard THEN
            o_granted := false;
            UPDATE quotas SET bound = v_bound WHERE project = p_project;
            RETURN;
        END IF;
    ELSE
        o_used := v_bound;
    END IF;
    UPDATE quotas SET bound = v_bound + p_size WHERE project = p_project;
    INSERT INTO quota_reservations (project, digest, size, until)
        VALUES (p_project, p_digest, p_size, p_until)
        ON CONFLICT (project, digest) DO UPDATE SET size = excluded.size, until = excluded.until;
END
$fn$"""

# Never edit a released migration: add a new one.
MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        (
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
        ),
    ),
    Migration(
        2,
        (
            # GC's two-phase delete: set while the bytes are being removed; the API treats
            # such a blob as absent (NULL: live)
            "ALTER TABLE blobs ADD COLUMN deleting DOUBLE PRECISION",
            "CREATE INDEX blobs_by_last_seen ON blobs (last_seen)",
            # GC's re-check "is any manifest this blob" (the primary key leads with repo_id)
            "CREATE INDEX manifests_by_digest ON manifests (digest)",
            # an upload or manifest PUT about to publish bytes at this digest; GC leaves the
            # digest alone until the row goes (when the blob is recorded) or expires
            """CREATE TABLE blob_pins (
                digest TEXT PRIMARY KEY,
                until DOUBLE PRECISION NOT NULL
            )""",
            # GC's marks: manifests reachable in the current run (one run at a time)
            """CREATE TABLE gc_marks (
                repo_id INTEGER NOT NULL,
                digest TEXT NOT NULL,
                wave INTEGER NOT NULL,
                PRIMARY KEY (repo_id, digest)
            )""",
            "CREATE INDEX gc_marks_by_wave ON gc_marks (wave)",
            # the one-run-at-a-time lease (both stores)
            """CREATE TABLE gc_lock (
                name TEXT PRIMARY KEY,
                owner TEXT NOT NULL,
                until DOUBLE PRECISION NOT NULL
            )""",
            """CREATE TABLE gc_runs (
                id INTEGER PRIMARY KEY,
                kind TEXT NOT NULL,
                status TEXT NOT NULL,
                parameters TEXT NOT NULL,
                report TEXT NOT NULL DEFAULT '{}',
                log TEXT NOT NULL DEFAULT '',
                created DOUBLE PRECISION NOT NULL,
                updated DOUBLE PRECISION NOT NULL
            )""",
            """CREATE TABLE gc_schedule (
                id INTEGER PRIMARY KEY,
                kind TEXT NOT NULL,
                cron TEXT NOT NULL,
                parameters TEXT NOT NULL,
                updated DOUBLE PRECISION NOT NULL
            )""",
        ),
    ),
    Migration(
        3,
        (
            # GC's fencing token: every acquisition of the lock numbers the run that took
            # it (the row now stays when a run ends, so the number only grows); each of
            # the run's deleting transactions checks the number is still the lock's
            "ALTER TABLE gc_lock ADD COLUMN token BIGINT NOT NULL DEFAULT 0",
            # a key (PostgreSQL): a run's transactions hold the row FOR KEY SHARE, which a
            # takeover (changing the token) waits for and a renewal (the lease) does not
            "CREATE UNIQUE INDEX gc_lock_by_token ON gc_lock (token)",
            # the run (token) whose mark phase wrote each mark
            "ALTER TABLE gc_marks ADD COLUMN run BIGINT NOT NULL DEFAULT 0",
            # the token a recorded run held (NULL: a dry run, which holds no lock), and a
            # stop asked for through the API (PUT /system/gc/{id}), seen by the run
            "ALTER TABLE gc_runs ADD COLUMN token BIGINT",
            "ALTER TABLE gc_runs ADD COLUMN stop_requested DOUBLE PRECISION",
            "ALTER TABLE gc_schedule ADD COLUMN created DOUBLE PRECISION NOT NULL DEFAULT 0",
        ),
    ),
    Migration(
        4,
        (
            # Harbor's API: what it says about repositories, artifacts and tags beyond the
            # registry's own rows, ids included, and its labels. Additive: a process of the
            # previous release keeps working (the rows it adds get their ids when read).
            "ALTER TABLE repositories ADD COLUMN description TEXT NOT NULL DEFAULT ''",
            "ALTER TABLE repositories ADD COLUMN pull_count BIGINT NOT NULL DEFAULT 0",
            # the last change made through the management API (a description)
            "ALTER TABLE repositories ADD COLUMN touched DOUBLE PRECISION",
            # one row per manifest: its id, the facts worked out at push (NULL: pushed
            # before), and pulls (recorded in batches)
            """CREATE TABLE artifacts (
                id INTEGER PRIMARY KEY,
                repo_id INTEGER NOT NULL,
                digest TEXT NOT NULL,
                media_type TEXT,
                total_size BIGINT,
                pull_time DOUBLE PRECISION,
                pull_count BIGINT NOT NULL DEFAULT 0,
                UNIQUE (repo_id, digest),
                FOREIGN KEY (repo_id, digest) REFERENCES manifests(repo_id, digest)
                    ON DELETE CASCADE
            )""",
            "INSERT INTO artifacts (repo_id, digest) "
            "SELECT repo_id, digest FROM manifests ORDER BY created, digest",
            # one row per tag: its id (kept when the tag moves) and its last pull
            """CREATE TABLE tag_info (
                id INTEGER PRIMARY KEY,
                repo_id INTEGER NOT NULL,
                name TEXT NOT NULL,
                pull_time DOUBLE PRECISION,
                UNIQUE (repo_id, name),
                FOREIGN KEY (repo_id, name) REFERENCES tags(repo_id, name) ON DELETE CASCADE
            )""",
            "INSERT INTO tag_info (repo_id, name) SELECT repo_id, name FROM tags "
            "ORDER BY updated, name",
            # scope 'g' (global, project_id 0) or 'p' (one project's)
            """CREATE TABLE labels (
                id INTEGER PRIMARY KEY,
                name TEXT NOT NULL,
                description TEXT NOT NULL DEFAULT '',
                color TEXT NOT NULL DEFAULT '',
                scope TEXT NOT NULL,
                project_id INTEGER NOT NULL DEFAULT 0,
                created DOUBLE PRECISION NOT NULL,
                updated DOUBLE PRECISION NOT NULL,
                UNIQUE (scope, project_id, name)
            )""",
            """CREATE TABLE artifact_labels (
                artifact_id INTEGER NOT NULL REFERENCES artifacts(id) ON DELETE CASCADE,
                label_id INTEGER NOT NULL REFERENCES labels(id) ON DELETE CASCADE,
                created DOUBLE PRECISION NOT NULL,
                PRIMARY KEY (artifact_id, label_id)
            )""",
            "CREATE INDEX artifact_labels_by_label ON artifact_labels (label_id)",
        ),
    ),
    Migration(5, _QUOTAS, postgres=(*_QUOTAS, _RESERVE_QUOTA)),
)

# Before each package had its own migrations, these tables were version 1 of one sequence.
SCHEMA = Schema("registry", MIGRATIONS, legacy={1: 1})
