"""The job queue on SQLite. Every change is one write transaction of the process's single
writer thread (BEGIN IMMEDIATE), and SQLite's write lock serializes writers across
processes: a claim's ``UPDATE … WHERE id IN (SELECT … LIMIT n) RETURNING`` runs alone,
so two claimers never take the same job."""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from typing import Any

from wharf.db.sqlite import SQLiteDatabase
from wharf.jobs.models import Job, JobState, Lease, LogLine, NewJob
from wharf.jobs.rows import JOB_COLUMNS, LOG_COLUMNS, dumps, job_from_row, log_from_row
from wharf.jobs.store import LOST_WORKER, JobStore, check_match

_RUNNING = JobState.RUNNING.value
_PENDING = JobState.PENDING.value


def _marks(values: Sequence[object]) -> str:
    return ", ".join("?" for _ in values)


class SQLiteJobStore(JobStore):
    def __init__(self, database: SQLiteDatabase) -> None:
        self.database = database

    async def open(self) -> None:
        await self.database.open()

    async def close(self) -> None:
        await self.database.close()

    async def enqueue(self, jobs: Sequence[NewJob], now: float) -> list[int]:
        def write(db: sqlite3.Connection) -> list[int]:
            ids = []
            for job in jobs:
                cursor = db.execute(
                    "INSERT INTO jobs (kind, payload, job_group, state, max_attempts, run_at, "
                    "created, updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        job.kind,
                        dumps(job.payload),
                        job.group,
                        _PENDING,
                        job.max_attempts,
                        now if job.run_at is None else job.run_at,
                        now,
                        now,
                    ),
                )
                assert cursor.lastrowid is not None
                ids.append(cursor.lastrowid)
            return ids

        return await self.database.write(write)

    async def has_ready(self, kinds: Sequence[str], now: float) -> bool:
        if not kinds:
            return False
        row = await self.database.read(
            lambda db: db.execute(
                f"SELECT 1 FROM jobs WHERE state = ? AND run_at <= ? "
                f"AND kind IN ({_marks(kinds)}) LIMIT 1",
                (_PENDING, now, *kinds),
            ).fetchone()
        )
        return row is not None

    async def claim(
        self, owner: str, kinds: Sequence[str], limit: int, lease_until: float, now: float
    ) -> list[Job]:
        if not kinds or limit < 1:
            return []

        def write(db: sqlite3.Connection) -> list[Job]:
            rows = db.execute(
                f"UPDATE jobs SET state = ?, attempts = attempts + 1, lease_owner = ?, "
                f"lease_expires = ?, updated = ?, started = COALESCE(started, ?) "
                f"WHERE id IN (SELECT id FROM jobs WHERE state = ? AND run_at <= ? "
                f"AND kind IN ({_marks(kinds)}) ORDER BY run_at, id LIMIT ?) "
                f"RETURNING {JOB_COLUMNS}",
                (_RUNNING, owner, lease_until, now, now, _PENDING, now, *kinds, limit),
            ).fetchall()
            return sorted((job_from_row(r) for r in rows), key=lambda j: (j.run_at, j.id))

        return await self.database.write(write)

    async def renew(self, job_id: int, owner: str, lease_until: float) -> Lease:
        def write(db: sqlite3.Connection) -> Lease:
            row = db.execute(
                "UPDATE jobs SET lease_expires = ? WHERE id = ? AND lease_owner = ? "
                "AND state = ? RETURNING stop_requested",
                (lease_until, job_id, owner, _RUNNING),
            ).fetchone()
            return Lease(False, False) if row is None else Lease(True, bool(row[0]))

        return await self.database.write(write)

    async def finish(
        self,
        job_id: int,
        owner: str,
        state: JobState,
        now: float,
        *,
        result: dict[str, Any] | None = None,
        error: str = "",
    ) -> bool:
        if not state.final:
            raise ValueError(f"{state.value} is not a final state")
        count = await self.database.write(
            lambda db: (
                db.execute(
                    "UPDATE jobs SET state = ?, result = ?, error = ?, lease_owner = NULL, "
                    "lease_expires = NULL, updated = ?, finished = ? "
                    "WHERE id = ? AND lease_owner = ? AND state = ?",
                    (state.value, dumps(result), error, now, now, job_id, owner, _RUNNING),
                ).rowcount
            )
        )
        return count > 0

    async def retry(
        self, job_id: int, owner: str, run_at: float, error: str, now: float
    ) -> JobState | None:
        def write(db: sqlite3.Connection) -> JobState | None:
            row = db.execute(
                "UPDATE jobs SET state = CASE WHEN attempts >= max_attempts THEN ? ELSE ? END, "
                "run_at = ?, error = ?, lease_owner = NULL, lease_expires = NULL, updated = ?, "
                "finished = CASE WHEN attempts >= max_attempts THEN ? ELSE NULL END "
                "WHERE id = ? AND lease_owner = ? AND state = ? RETURNING state",
                (
                    JobState.FAILED.value,
                    _PENDING,
                    run_at,
                    error,
                    now,
                    now,
                    job_id,
                    owner,
                    _RUNNING,
                ),
            ).fetchone()
            return None if row is None else JobState(row[0])

        return await self.database.write(write)

    async def release(
        self, job_id: int, owner: str, now: float, *, run_at: float | None = None
    ) -> bool:
        due = now if run_at is None else run_at
        count = await self.database.write(
            lambda db: (
                db.execute(
                    "UPDATE jobs SET state = ?, attempts = MAX(attempts - 1, 0), run_at = ?, "
                    "lease_owner = NULL, lease_expires = NULL, updated = ? "
                    "WHERE id = ? AND lease_owner = ? AND state = ?",
                    (_PENDING, due, now, job_id, owner, _RUNNING),
                ).rowcount
            )
        )
        return count > 0

    async def _reschedule(
        self,
        kinds: Sequence[str],
        match: Mapping[str, str],
        run_at: float,
        due: str,
        limit: float,
        now: float,
    ) -> int:
        """Pending matching jobs whose ``run_at`` is ``due`` (``<`` or ``>``) ``limit``:
        due at ``run_at``."""
        check_match(match)
        if not kinds:
            return 0
        matched = " AND ".join(f"json_extract(payload, '$.{key}') = ?" for key in match)
        count: int = await self.database.write(
            lambda db: (
                db.execute(
                    f"UPDATE jobs SET run_at = ?, updated = ? WHERE state = ? AND run_at {due} ? "
                    f"AND kind IN ({_marks(kinds)}) AND {matched}",
                    (run_at, now, _PENDING, limit, *kinds, *match.values()),
                ).rowcount
            )
        )
        return count

    async def postpone(
        self,
        kinds: Sequence[str],
        match: Mapping[str, str],
        until: float,
        now: float,
        *,
        due_before: float | None = None,
    ) -> int:
        limit = until if due_before is None else due_before
        return await self._reschedule(kinds, match, until, "<", limit, now)

    async def expedite(self, kinds: Sequence[str], match: Mapping[str, str], now: float) -> int:
        return await self._reschedule(kinds, match, now, ">", now, now)

    async def reclaim_expired(self, now: float) -> int:
        def write(db: sqlite3.Connection) -> int:
            return db.execute(
                "UPDATE jobs SET "
                "state = CASE WHEN stop_requested = 1 THEN ? "
                "WHEN attempts >= max_attempts THEN ? ELSE ? END, "
                "finished = CASE WHEN stop_requested = 1 OR attempts >= max_attempts "
                "THEN ? ELSE NULL END, "
                "error = ?, run_at = ?, lease_owner = NULL, lease_expires = NULL, updated = ? "
                "WHERE state = ? AND lease_expires < ?",
                (
                    JobState.STOPPED.value,
                    JobState.FAILED.value,
                    _PENDING,
                    now,
                    LOST_WORKER,
                    now,
                    now,
                    _RUNNING,
                    now,
                ),
            ).rowcount

        if not await self.database.read(
            lambda db: db.execute(
                "SELECT 1 FROM jobs WHERE state = ? AND lease_expires < ? LIMIT 1",
                (_RUNNING, now),
            ).fetchone()
        ):
            return 0  # the usual case: a read, no write lock taken
        return await self.database.write(write)

    async def request_stop(
        self, now: float, *, job_id: int | None = None, group: str | None = None
    ) -> int:
        if (job_id is None) == (group is None):
            raise ValueError("stop one job or one group")
        where, key = ("id = ?", job_id) if job_id is not None else ("job_group = ?", group)

        def write(db: sqlite3.Connection) -> int:
            stopped = db.execute(
                f"UPDATE jobs SET state = ?, updated = ?, finished = ?, stop_requested = 1 "
                f"WHERE {where} AND state = ?",
                (JobState.STOPPED.value, now, now, key, _PENDING),
            ).rowcount
            flagged = db.execute(
                f"UPDATE jobs SET stop_requested = 1, updated = ? "
                f"WHERE {where} AND state = ? AND stop_requested = 0",
                (now, key, _RUNNING),
            ).rowcount
            return stopped + flagged

        return await self.database.write(write)

    async def get(self, job_id: int) -> Job | None:
        row = await self.database.read(
            lambda db: db.execute(
                f"SELECT {JOB_COLUMNS} FROM jobs WHERE id = ?", (job_id,)
            ).fetchone()
        )
        return None if row is None else job_from_row(row)

    async def find(
        self,
        *,
        group: str | None = None,
        kind: str | None = None,
        states: Sequence[JobState] = (),
        offset: int = 0,
        limit: int = 100,
    ) -> tuple[list[Job], int]:
        clauses: list[str] = []
        params: list[object] = []
        if group is not None:
            clauses.append("job_group = ?")
            params.append(group)
        if kind is not None:
            clauses.append("kind = ?")
            params.append(kind)
        if states:
            clauses.append(f"state IN ({_marks(states)})")
            params.extend(s.value for s in states)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""

        def read(db: sqlite3.Connection) -> tuple[list[Job], int]:
            total = db.execute(f"SELECT count(*) FROM jobs {where}", params).fetchone()[0]
            rows = db.execute(
                f"SELECT {JOB_COLUMNS} FROM jobs {where} ORDER BY id DESC LIMIT ? OFFSET ?",
                (*params, limit, offset),
            ).fetchall()
            return [job_from_row(r) for r in rows], int(total)

        return await self.database.read(read, snapshot=True)

    async def counts(self, group: str) -> dict[JobState, int]:
        rows = await self.database.read(
            lambda db: db.execute(
                "SELECT state, count(*) FROM jobs WHERE job_group = ? GROUP BY state", (group,)
            ).fetchall()
        )
        return {JobState(state): int(n) for state, n in rows}

    async def append_log(self, job_id: int, level: str, message: str, now: float) -> None:
        await self.database.write(
            lambda db: db.execute(
                "INSERT INTO job_logs (job_id, time, level, message) VALUES (?, ?, ?, ?)",
                (job_id, now, level, message),
            )
        )

    async def logs(self, job_id: int, *, after: int = 0, limit: int = 10_000) -> list[LogLine]:
        rows = await self.database.read(
            lambda db: db.execute(
                f"SELECT {LOG_COLUMNS} FROM job_logs WHERE job_id = ? AND id > ? "
                f"ORDER BY id LIMIT ?",
                (job_id, after, limit),
            ).fetchall()
        )
        return [log_from_row(r) for r in rows]

    async def purge(self, finished_before: float) -> int:
        return await self.database.write(
            lambda db: (
                db.execute(
                    "DELETE FROM jobs WHERE finished IS NOT NULL AND finished < ?",
                    (finished_before,),
                ).rowcount
            )
        )
