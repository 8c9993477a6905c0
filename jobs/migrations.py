"""The job queue's tables, in SQL both SQLite and PostgreSQL accept; applied by
``wharf.db.migrate``."""

from __future__ import annotations

from wharf.db.migrate import Migration, Schema

# Never edit a released migration: add a new one.
MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        (
            """CREATE TABLE jobs (
                id INTEGER PRIMARY KEY,
                kind TEXT NOT NULL,
                payload TEXT NOT NULL,
                job_group TEXT NOT NULL DEFAULT '',
                state TEXT NOT NULL,
                attempts INTEGER NOT NULL DEFAULT 0,
                max_attempts INTEGER NOT NULL,
                run_at DOUBLE PRECISION NOT NULL,
                lease_owner TEXT,
                lease_expires DOUBLE PRECISION,
                stop_requested INTEGER NOT NULL DEFAULT 0,
                result TEXT,
                error TEXT NOT NULL DEFAULT '',
                created DOUBLE PRECISION NOT NULL,
                updated DOUBLE PRECISION NOT NULL,
                started DOUBLE PRECISION,
                finished DOUBLE PRECISION
            )""",
            # what a claim scans: pending jobs by the time they may run
            "CREATE INDEX jobs_ready ON jobs (run_at, id) WHERE state = 'pending'",
            # what the reclaim scans: running jobs by the end of their lease
            "CREATE INDEX jobs_leased ON jobs (lease_expires) WHERE state = 'running'",
            "CREATE INDEX jobs_by_group ON jobs (job_group, id)",
            "CREATE INDEX jobs_finished ON jobs (finished) WHERE finished IS NOT NULL",
            """CREATE TABLE job_logs (
                id INTEGER PRIMARY KEY,
                job_id INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
                time DOUBLE PRECISION NOT NULL,
                level TEXT NOT NULL,
                message TEXT NOT NULL
            )""",
            "CREATE INDEX job_logs_by_job ON job_logs (job_id, id)",
        ),
    ),
    Migration(
        2,
        (),  # SQLite plans the claim by jobs_ready whatever its statistics say
        # PostgreSQL plans a claim on a never-analysed jobs table as a bitmap scan of every
        # pending job, sorted, rather than a walk of jobs_ready in order that stops at the
        # limit: ANALYZE now, and have autovacuum analyse it again after every 1,000 rows
        # changed (not 10 % of the table: a queue's rows all turn over), so a burst of
        # enqueued tasks is planned right within a minute (autovacuum_naptime)
        postgres=(
            "ALTER TABLE jobs SET (autovacuum_analyze_scale_factor = 0, "
            "autovacuum_analyze_threshold = 1000, autovacuum_vacuum_scale_factor = 0, "
            "autovacuum_vacuum_threshold = 1000)",
            "ANALYZE jobs",
        ),
    ),
)

SCHEMA = Schema("jobs", MIGRATIONS)
