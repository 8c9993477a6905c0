"""What a job is, in every store."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class JobState(StrEnum):
    PENDING = "pending"  # waiting for ``run_at``, then for a worker
    RUNNING = "running"  # claimed: a worker holds its lease
    SUCCEEDED = "succeeded"
    FAILED = "failed"  # out of attempts, or failed for good
    STOPPED = "stopped"  # stopped on request

    @property
    def final(self) -> bool:
        return self in (JobState.SUCCEEDED, JobState.FAILED, JobState.STOPPED)


FINAL_STATES = frozenset(s for s in JobState if s.final)


@dataclass(frozen=True, slots=True)
class NewJob:
    """A job to enqueue."""

    kind: str
    payload: dict[str, Any] = field(default_factory=dict)
    group: str = ""  # jobs stopped, listed and counted together (e.g. one execution)
    max_attempts: int = 3
    run_at: float | None = None  # not before (epoch seconds); None: now

    def __post_init__(self) -> None:
        if not self.kind or len(self.kind) > 100:
            raise ValueError("a job kind is 1 to 100 characters")
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")


@dataclass(frozen=True, slots=True)
class Job:
    id: int
    kind: str
    payload: dict[str, Any]
    group: str
    state: JobState
    attempts: int  # claims so far (the running one included)
    max_attempts: int
    run_at: float
    lease_owner: str | None
    lease_expires: float | None
    stop_requested: bool
    result: dict[str, Any] | None
    error: str
    created: float
    updated: float
    started: float | None  # first claimed
    finished: float | None


@dataclass(frozen=True, slots=True)
class LogLine:
    id: int
    job_id: int
    time: float
    level: str
    message: str


@dataclass(frozen=True, slots=True)
class Lease:
    """What a heartbeat learns: whether the worker still holds the job, and whether
    someone asked it to stop."""

    held: bool
    stop_requested: bool
