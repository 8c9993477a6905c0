"""The job queue on PostgreSQL, shared by every replica. A claim is one statement: the
ready rows are picked ``FOR UPDATE SKIP LOCKED`` (rows another claimer is taking are
passed over, not waited for) and updated to ``running`` under the claimer's lease, so
concurrent claimers on any number of replicas each get different jobs. Every other change
is one statement too, conditional on the row's state (and lease owner), so concurrent
ones serialize on the row lock and the later one sees the earlier one's result."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from wharf.db.postgres import Connection, PostgresDatabase
from wharf.jobs.models import Job, JobState, Lease, LogLine, NewJob
from wharf.jobs.rows import JOB_COLUMNS, LOG_COLUMNS, dumps, job_from_row, log_from_row
from wharf.jobs.store import LOST_WORKER, JobStore, check_match

_RUNNING = JobState.RUNNING.value
_PENDING = JobState.PENDING.value


def _count(status: str) -> int:
    """The row count of a command status such as ``UPDATE 3``."""
    return int(status.rsplit(" ", 1)[-1]) if status and status[-1].isdigit() else 0


_CLAIM = f"""
WITH picked AS (
    SELECT id FROM jobs
    WHERE state = 'pending' AND run_at <= $3 AND kind = ANY($4::text[])
    ORDER BY run_at, id
    LIMIT $5
    FOR UPDATE SKIP LOCKED
)
UPDATE jobs SET state = 'running', attempts = jobs.attempts + 1, lease_owner = $1,
    lease_expires = $2, updated = $3, started = COALESCE(jobs.started, $3)
FROM picked WHERE jobs.id = picked.id
RETURNING {", ".join(f"jobs.{c.strip()}" for c in JOB_COLUMNS.split(","))}
"""


ANALYZE_AFTER = 1000  # jobs enqueued at once that make the statistics stale


class PostgresJobStore(JobStore):
    def __init__(self, database: PostgresDatabase) -> None:
        self.database = database

    async def open(self) -> None:
        await self.database.open()

    async def close(self) -> None:
        await self.database.close()

    async def enqueue(self, jobs: Sequence[NewJob], now: float) -> list[int]:
        if not jobs:
            return []

        async def write(db: Connection) -> list[int]:
            # one statement however many jobs (a plan enqueues thousands); the sequence
            # numbers the rows in the order given, so the ids sorted are the jobs' in order
            rows = await db.fetch(
                "INSERT INTO jobs (kind, payload, job_group, state, max_attempts, run_at, "
                "created, updated) "
                "SELECT kind, payload, job_group, $5, max_attempts, run_at, $6, $6 "
                "FROM unnest($1::text[], $2::text[], $3::text[], $4::integer[], "
                "$7::double precision[]) WITH ORDINALITY "
                "AS j(kind, payload, job_group, max_attempts, run_at, n) ORDER BY n "
                "RETURNING id",
                [job.kind for job in jobs],
                [dumps(job.payload) for job in jobs],
                [job.group for job in jobs],
                [job.max_attempts for job in jobs],
                _PENDING,
                now,
                [now if job.run_at is None else job.run_at for job in jobs],
            )
            return sorted(int(r[0]) for r in rows)

        ids = await self.database.write(write)
        if len(jobs) >= ANALYZE_AFTER:
            # a burst (a replication's plan): the planner must know the pending jobs are
            # many, or each claim sorts them all instead of walking jobs_ready in order
            await self.database.read(lambda db: db.execute("ANALYZE jobs"))
        return ids

    async def has_ready(self, kinds: Sequence[str], now: float) -> bool:
        if not kinds:
            return False
        found = await self.database.read(
            lambda db: db.fetchval(
                "SELECT 1 FROM jobs WHERE state = 'pending' AND run_at <= $1 "
                "AND kind = ANY($2::text[]) LIMIT 1",
                now,
                list(kinds),
            )
        )
        return found is not None

    async def claim(
        self, owner: str, kinds: Sequence[str], limit: int, lease_until: float, now: float
    ) -> list[Job]:
        if not kinds or limit < 1:
            return []
        rows = await self.database.read(
            lambda db: db.fetch(_CLAIM, owner, lease_until, now, list(kinds), limit)
        )
        return sorted((job_from_row(r) for r in rows), key=lambda j: (j.run_at, j.id))

    async def renew(self, job_id: int, owner: str, lease_until: float) -> Lease:
        row = await self.database.read(
            lambda db: db.fetchrow(
                "UPDATE jobs SET lease_expires = $1 WHERE id = $2 AND lease_owner = $3 "
                "AND state = 'running' RETURNING stop_requested",
                lease_until,
                job_id,
                owner,
            )
        )
        return Lease(False, False) if row is None else Lease(True, bool(row[0]))

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
        status = await self.database.read(
            lambda db: db.execute(
                "UPDATE jobs SET state = $1, result = $2, error = $3, lease_owner = NULL, "
                "lease_expires = NULL, updated = $4, finished = $4 "
                "WHERE id = $5 AND lease_owner = $6 AND state = 'running'",
                state.value,
                dumps(result),
                error,
                now,
                job_id,
                owner,
            )
        )
        return _count(status) > 0

    async def retry(
        self, job_id: int, owner: str, run_at: float, error: str, now: float
    ) -> JobState | None:
        state = await self.database.read(
            lambda db: db.fetchval(
                "UPDATE jobs SET "
                "state = CASE WHEN attempts >= max_attempts THEN 'failed' ELSE 'pending' END, "
                "finished = CASE WHEN attempts >= max_attempts THEN $4::float8 ELSE NULL END, "
                "run_at = $1, error = $2, lease_owner = NULL, lease_expires = NULL, updated = $4 "
                "WHERE id = $3 AND lease_owner = $5 AND state = 'running' RETURNING state",
                run_at,
                error,
                job_id,
                now,
                owner,
            )
        )
        return None if state is None else JobState(state)

    async def release(
        self, job_id: int, owner: str, now: float, *, run_at: float | None = None
    ) -> bool:
        status = await self.database.read(
            lambda db: db.execute(
                "UPDATE jobs SET state = 'pending', attempts = GREATEST(attempts - 1, 0), "
                "run_at = $4, lease_owner = NULL, lease_expires = NULL, updated = $1 "
                "WHERE id = $2 AND lease_owner = $3 AND state = 'running'",
                now,
                job_id,
                owner,
                now if run_at is None else run_at,
            )
        )
        return _count(status) > 0

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
        # the keys are plain names (check_match): safe in the statement's text
        matched = " AND ".join(
            f"(payload::jsonb ->> '{key}') = ${n}" for n, key in enumerate(match, start=5)
        )
        status = await self.database.read(
            lambda db: db.execute(
                f"UPDATE jobs SET run_at = $1, updated = $2 WHERE state = 'pending' "
                f"AND run_at {due} $4 AND kind = ANY($3::text[]) AND {matched}",
                run_at,
                now,
                list(kinds),
                limit,
                *match.values(),
            )
        )
        return _count(status)

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
        status = await self.database.read(
            lambda db: db.execute(
                "UPDATE jobs SET "
                "state = CASE WHEN stop_requested = 1 THEN 'stopped' "
                "WHEN attempts >= max_attempts THEN 'failed' ELSE 'pending' END, "
                "finished = CASE WHEN stop_requested = 1 OR attempts >= max_attempts "
                "THEN $1::float8 ELSE NULL END, "
                "error = $2, run_at = $1, lease_owner = NULL, lease_expires = NULL, updated = $1 "
                "WHERE state = 'running' AND lease_expires < $1",
                now,
                LOST_WORKER,
            )
        )
        return _count(status)

    async def request_stop(
        self, now: float, *, job_id: int | None = None, group: str | None = None
    ) -> int:
        if (job_id is None) == (group is None):
            raise ValueError("stop one job or one group")
        where, key = ("id = $2", job_id) if job_id is not None else ("job_group = $2", group)

        async def write(db: Connection) -> int:
            stopped = await db.execute(
                f"UPDATE jobs SET state = 'stopped', updated = $1, finished = $1, "
                f"stop_requested = 1 WHERE {where} AND state = 'pending'",
                now,
                key,
            )
            flagged = await db.execute(
                f"UPDATE jobs SET stop_requested = 1, updated = $1 "
                f"WHERE {where} AND state = 'running' AND stop_requested = 0",
                now,
                key,
            )
            return _count(stopped) + _count(flagged)

        return await self.database.write(write)

    async def get(self, job_id: int) -> Job | None:
        row = await self.database.read(
            lambda db: db.fetchrow(f"SELECT {JOB_COLUMNS} FROM jobs WHERE id = $1", job_id)
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
            params.append(group)
            clauses.append(f"job_group = ${len(params)}")
        if kind is not None:
            params.append(kind)
            clauses.append(f"kind = ${len(params)}")
        if states:
            params.append([s.value for s in states])
            clauses.append(f"state = ANY(${len(params)}::text[])")
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        paging = f"LIMIT ${len(params) + 1} OFFSET ${len(params) + 2}"

        async def read(db: Connection) -> tuple[list[Job], int]:
            rows = await db.fetch(
                f"SELECT {JOB_COLUMNS}, count(*) OVER () FROM jobs {where} "
                f"ORDER BY id DESC {paging}",
                *params,
                limit,
                offset,
            )
            if rows:
                return [job_from_row(r) for r in rows], int(rows[0][-1])
            total = await db.fetchval(f"SELECT count(*) FROM jobs {where}", *params)
            return [], int(total)

        return await self.database.read(read)

    async def counts(self, group: str) -> dict[JobState, int]:
        rows = await self.database.read(
            lambda db: db.fetch(
                "SELECT state, count(*) FROM jobs WHERE job_group = $1 GROUP BY state", group
            )
        )
        return {JobState(r[0]): int(r[1]) for r in rows}

    async def append_log(self, job_id: int, level: str, message: str, now: float) -> None:
        await self.database.read(
            lambda db: db.execute(
                "INSERT INTO job_logs (job_id, time, level, message) VALUES ($1, $2, $3, $4)",
                job_id,
                now,
                level,
                message,
            )
        )

    async def logs(self, job_id: int, *, after: int = 0, limit: int = 10_000) -> list[LogLine]:
        rows = await self.database.read(
            lambda db: db.fetch(
                f"SELECT {LOG_COLUMNS} FROM job_logs WHERE job_id = $1 AND id > $2 "
                f"ORDER BY id LIMIT $3",
                job_id,
                after,
                limit,
            )
        )
        return [log_from_row(r) for r in rows]

    async def purge(self, finished_before: float) -> int:
        status = await self.database.read(
            lambda db: db.execute(
                "DELETE FROM jobs WHERE finished IS NOT NULL AND finished < $1", finished_before
            )
        )
        return _count(status)
