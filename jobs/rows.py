"""The columns both stores read and the conversion of a row into a ``Job``."""

from __future__ import annotations

from typing import Any

import orjson

from wharf.jobs.models import Job, JobState, LogLine

JOB_COLUMNS = (
    "id, kind, payload, job_group, state, attempts, max_attempts, run_at, lease_owner, "
    "lease_expires, stop_requested, result, error, created, updated, started, finished"
)
LOG_COLUMNS = "id, job_id, time, level, message"


def job_from_row(row: Any) -> Job:
    result = orjson.loads(row[11]) if row[11] else None
    return Job(
        id=int(row[0]),
        kind=row[1],
        payload=orjson.loads(row[2]),
        group=row[3],
        state=JobState(row[4]),
        attempts=int(row[5]),
        max_attempts=int(row[6]),
        run_at=float(row[7]),
        lease_owner=row[8],
        lease_expires=None if row[9] is None else float(row[9]),
        stop_requested=bool(row[10]),
        result=result if isinstance(result, dict) else None,
        error=row[12],
        created=float(row[13]),
        updated=float(row[14]),
        started=None if row[15] is None else float(row[15]),
        finished=None if row[16] is None else float(row[16]),
    )


def log_from_row(row: Any) -> LogLine:
    return LogLine(int(row[0]), int(row[1]), float(row[2]), row[3], row[4])


def dumps(value: dict[str, Any] | None) -> str | None:
    return None if value is None else orjson.dumps(value).decode()
