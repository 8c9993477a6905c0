"""The interface of the job queue's storage; ``sqlite`` and ``postgres`` implement it, and
``tests/contracts/test_job_store.py`` holds both to it.

Times are epoch seconds given by the caller (the runner's clock: replicas are expected to
keep their clocks in step, well within a lease). Every change a worker makes to its job is
conditional on still holding the lease (``lease_owner`` and state ``running``): a worker
whose lease ran out and whose job was claimed again changes nothing."""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any

from wharf.jobs.models import Job, JobState, Lease, LogLine, NewJob

LOST_WORKER = "the worker stopped renewing its lease (killed or cut off)"

PAYLOAD_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")


def check_match(match: Mapping[str, str]) -> None:
    """``match`` of ``postpone``/``expedite``: one or more top-level payload keys (plain
    names) and the string each must hold."""
    if not match:
        raise ValueError("match at least one payload key")
    for key, value in match.items():
        if not PAYLOAD_KEY.fullmatch(key) or not isinstance(value, str):
            raise ValueError(f"a payload key is a plain name matched to a string: {key!r}")


class JobStore(ABC):
    @abstractmethod
    async def open(self) -> None: ...

    @abstractmethod
    async def close(self) -> None: ...

    @abstractmethod
    async def enqueue(self, jobs: Sequence[NewJob], now: float) -> list[int]:
        """Add pending jobs in one transaction; their ids, in order."""

    @abstractmethod
    async def has_ready(self, kinds: Sequence[str], now: float) -> bool:
        """Whether a pending job of one of ``kinds`` may run now (a read: what an idle
        runner asks before it takes the write path of a claim)."""

    @abstractmethod
    async def claim(
        self, owner: str, kinds: Sequence[str], limit: int, lease_until: float, now: float
    ) -> list[Job]:
        """Take up to ``limit`` pending jobs of ``kinds`` whose time has come, oldest
        first, for ``owner`` until ``lease_until``: state ``running``, one more attempt.
        Across every process and replica, a job is handed to one claimer only."""

    @abstractmethod
    async def renew(self, job_id: int, owner: str, lease_until: float) -> Lease:
        """Extend the lease ``owner`` holds; whether it still holds it, and whether a stop
        was requested."""

    @abstractmethod
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
        """End the job (``succeeded``, ``failed`` or ``stopped``); False when ``owner``
        no longer held it (nothing changed)."""

    @abstractmethod
    async def retry(
        self, job_id: int, owner: str, run_at: float, error: str, now: float
    ) -> JobState | None:
        """A failed attempt: pending again from ``run_at``, or ``failed`` when it was the
        last attempt allowed; None when ``owner`` no longer held it."""

    @abstractmethod
    async def release(
        self, job_id: int, owner: str, now: float, *, run_at: float | None = None
    ) -> bool:
        """Give the job back unfinished (the worker shuts down, or the handler put it off):
        pending from ``run_at`` (at once when None), the attempt not counted."""

    @abstractmethod
    async def postpone(
        self,
        kinds: Sequence[str],
        match: Mapping[str, str],
        until: float,
        now: float,
        *,
        due_before: float | None = None,
    ) -> int:
        """Pending jobs of ``kinds`` whose payload holds ``match`` and are due before
        ``due_before`` (default ``until``): due at ``until`` instead, in one write
        (attempts unchanged). How many."""

    @abstractmethod
    async def expedite(self, kinds: Sequence[str], match: Mapping[str, str], now: float) -> int:
        """Pending jobs of ``kinds`` whose payload holds ``match`` and are due after
        ``now``: due now, in one write (attempts unchanged). How many."""

    @abstractmethod
    async def reclaim_expired(self, now: float) -> int:
        """Running jobs whose lease ran out (their worker died): pending again, or
        ``failed`` when that was their last attempt, ``stopped`` when a stop was asked
        for. How many."""

    @abstractmethod
    async def request_stop(
        self, now: float, *, job_id: int | None = None, group: str | None = None
    ) -> int:
        """Stop one job or a group's: pending ones are ``stopped`` at once, running ones
        are flagged for their worker. How many jobs it touched."""

    @abstractmethod
    async def get(self, job_id: int) -> Job | None: ...

    @abstractmethod
    async def find(
        self,
        *,
        group: str | None = None,
        kind: str | None = None,
        states: Sequence[JobState] = (),
        offset: int = 0,
        limit: int = 100,
    ) -> tuple[list[Job], int]:
        """Jobs, newest first, and how many match in all."""

    @abstractmethod
    async def counts(self, group: str) -> dict[JobState, int]:
        """How many jobs of ``group`` are in each state (states with none left out)."""

    @abstractmethod
    async def append_log(self, job_id: int, level: str, message: str, now: float) -> None: ...

    @abstractmethod
    async def logs(self, job_id: int, *, after: int = 0, limit: int = 10_000) -> list[LogLine]:
        """The job's log lines with an id above ``after``, oldest first."""

    @abstractmethod
    async def purge(self, finished_before: float) -> int:
        """Delete finished jobs (and their logs) that ended before ``finished_before``."""
