"""One test-suite every JobStore must pass, written against the interface only
(``wharf.jobs.store``); the backends are listed in ``backends.BACKENDS``."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from tests.contracts.backends import Backend
from wharf.jobs.models import JobState, NewJob
from wharf.jobs.store import LOST_WORKER, JobStore

T0 = 1_000_000.0
LEASE = 30.0


def run(backend: Backend, scenario: Callable[[JobStore], Awaitable[None]]) -> None:
    async def main() -> None:
        async with backend.stores() as stores:
            await scenario(stores.jobs)

    asyncio.run(main())


def test_enqueue_and_read_back(backend: Backend) -> None:
    async def scenario(store: JobStore) -> None:
        ids = await store.enqueue(
            [
                NewJob("copy", {"repo": "a/b", "n": [1, 2]}, group="exec:1", max_attempts=5),
                NewJob("copy", group="exec:1", run_at=T0 + 60),
            ],
            T0,
        )
        assert len(ids) == 2 and ids[0] < ids[1]
        job = await store.get(ids[0])
        assert job is not None
        assert (job.kind, job.payload, job.group) == (
            "copy",
            {"repo": "a/b", "n": [1, 2]},
            "exec:1",
        )
        assert (job.state, job.attempts, job.max_attempts) == (JobState.PENDING, 0, 5)
        assert (job.run_at, job.created, job.updated) == (T0, T0, T0)
        assert job.lease_owner is None and job.started is None and job.finished is None
        assert job.result is None and job.error == "" and not job.stop_requested
        later = await store.get(ids[1])
        assert later is not None and later.run_at == T0 + 60
        assert await store.get(ids[1] + 1000) is None
        assert await store.enqueue([], T0) == []

    run(backend, scenario)


def test_claims_take_ready_jobs_of_known_kinds_oldest_first(backend: Backend) -> None:
    async def scenario(store: JobStore) -> None:
        late = (await store.enqueue([NewJob("copy", run_at=T0 + 10)], T0))[0]
        first, second, third = await store.enqueue([NewJob("copy")] * 3, T0)
        other = (await store.enqueue([NewJob("webhook")], T0 - 5))[0]
        assert await store.has_ready(["copy"], T0)
        assert not await store.has_ready(["scan"], T0)
        assert not await store.has_ready([], T0)

        claimed = await store.claim("w1", ["copy"], 2, T0 + LEASE, T0)
        assert [j.id for j in claimed] == [first, second]
        for job in claimed:
            assert (job.state, job.attempts, job.lease_owner) == (JobState.RUNNING, 1, "w1")
            assert job.lease_expires == T0 + LEASE and job.started == T0
        rest = await store.claim("w2", ["copy", "webhook"], 10, T0 + LEASE, T0)
        assert [j.id for j in rest] == [other, third]  # run_at order: the webhook is older
        assert await store.claim("w3", ["copy"], 10, T0 + LEASE, T0) == []
        assert not await store.has_ready(["copy"], T0)
        assert await store.has_ready(["copy"], T0 + 10)  # its time came
        assert [j.id for j in await store.claim("w3", ["copy"], 10, T0 + 40, T0 + 10)] == [late]
        assert await store.claim("w3", ["copy"], 0, T0 + 40, T0 + 10) == []

    run(backend, scenario)


def test_concurrent_claims_never_share_a_job(backend: Backend) -> None:
    async def scenario(store: JobStore) -> None:
        ids = await store.enqueue([NewJob("copy", {"i": i}) for i in range(40)], T0)
        batches = await asyncio.gather(
            *(store.claim(f"w{n}", ["copy"], 7, T0 + LEASE, T0) for n in range(8))
        )
        claimed = [job.id for batch in batches for job in batch]
        assert sorted(claimed) == ids  # every job once, none twice
        owners = {job.id: job.lease_owner for batch in batches for job in batch}
        for n, batch in enumerate(batches):
            assert all(owners[job.id] == f"w{n}" for job in batch)

    run(backend, scenario)


def test_a_lease_is_renewed_only_by_its_holder(backend: Backend) -> None:
    async def scenario(store: JobStore) -> None:
        (job_id,) = await store.enqueue([NewJob("copy")], T0)
        await store.claim("w1", ["copy"], 1, T0 + LEASE, T0)
        lease = await store.renew(job_id, "w1", T0 + 2 * LEASE)
        assert lease.held and not lease.stop_requested
        job = await store.get(job_id)
        assert job is not None and job.lease_expires == T0 + 2 * LEASE
        assert not (await store.renew(job_id, "intruder", T0 + 99 * LEASE)).held
        job = await store.get(job_id)
        assert job is not None and job.lease_expires == T0 + 2 * LEASE

    run(backend, scenario)


def test_finish_records_the_outcome_once(backend: Backend) -> None:
    async def scenario(store: JobStore) -> None:
        ok, bad = await store.enqueue([NewJob("copy"), NewJob("copy")], T0)
        await store.claim("w1", ["copy"], 2, T0 + LEASE, T0)
        assert not await store.finish(ok, "intruder", JobState.SUCCEEDED, T0 + 1)
        assert await store.finish(ok, "w1", JobState.SUCCEEDED, T0 + 2, result={"copied": 3})
        assert not await store.finish(ok, "w1", JobState.FAILED, T0 + 3)  # already over
        job = await store.get(ok)
        assert job is not None
        assert (job.state, job.result, job.finished) == (JobState.SUCCEEDED, {"copied": 3}, T0 + 2)
        assert job.lease_owner is None and job.lease_expires is None
        assert await store.finish(bad, "w1", JobState.FAILED, T0 + 4, error="no such image")
        job = await store.get(bad)
        assert job is not None and (job.state, job.error) == (JobState.FAILED, "no such image")
        with pytest.raises(ValueError):
            await store.finish(bad, "w1", JobState.PENDING, T0)

    run(backend, scenario)


def test_failed_attempts_are_retried_until_none_is_left(backend: Backend) -> None:
    async def scenario(store: JobStore) -> None:
        (job_id,) = await store.enqueue([NewJob("copy", max_attempts=2)], T0)
        await store.claim("w1", ["copy"], 1, T0 + LEASE, T0)
        assert await store.retry(job_id, "intruder", T0 + 5, "x", T0 + 1) is None
        assert await store.retry(job_id, "w1", T0 + 5, "timeout", T0 + 1) is JobState.PENDING
        job = await store.get(job_id)
        assert job is not None
        assert (job.state, job.run_at, job.error, job.attempts) == (
            JobState.PENDING,
            T0 + 5,
            "timeout",
            1,
        )
        assert job.finished is None and job.lease_owner is None
        assert await store.claim("w2", ["copy"], 1, T0 + LEASE, T0 + 4) == []  # backing off
        (again,) = await store.claim("w2", ["copy"], 1, T0 + 5 + LEASE, T0 + 5)
        assert again.attempts == 2
        assert await store.retry(job_id, "w2", T0 + 50, "timeout again", T0 + 6) is JobState.FAILED
        job = await store.get(job_id)
        assert job is not None and (job.state, job.finished) == (JobState.FAILED, T0 + 6)
        assert await store.claim("w3", ["copy"], 1, T0 + 99, T0 + 60) == []

    run(backend, scenario)


def test_released_jobs_are_claimable_at_once_without_losing_an_attempt(backend: Backend) -> None:
    async def scenario(store: JobStore) -> None:
        (job_id,) = await store.enqueue([NewJob("copy", max_attempts=1)], T0)
        await store.claim("w1", ["copy"], 1, T0 + LEASE, T0)
        assert not await store.release(job_id, "intruder", T0 + 1)
        assert await store.release(job_id, "w1", T0 + 1)
        job = await store.get(job_id)
        assert job is not None and (job.state, job.attempts) == (JobState.PENDING, 0)
        (again,) = await store.claim("w2", ["copy"], 1, T0 + LEASE, T0 + 1)
        assert again.attempts == 1

    run(backend, scenario)


def test_released_jobs_may_be_due_later(backend: Backend) -> None:
    async def scenario(store: JobStore) -> None:
        (job_id,) = await store.enqueue([NewJob("copy", max_attempts=1)], T0)
        await store.claim("w1", ["copy"], 1, T0 + LEASE, T0)
        assert await store.release(job_id, "w1", T0 + 1, run_at=T0 + 20)
        job = await store.get(job_id)
        assert job is not None and (job.state, job.attempts, job.run_at) == (
            JobState.PENDING,
            0,
            T0 + 20,
        )
        assert await store.claim("w2", ["copy"], 1, T0 + LEASE, T0 + 19) == []
        (again,) = await store.claim("w2", ["copy"], 1, T0 + 20 + LEASE, T0 + 20)
        assert again.attempts == 1

    run(backend, scenario)


def test_postpone_and_expedite_move_the_matching_pending_jobs(backend: Backend) -> None:
    async def scenario(store: JobStore) -> None:
        dead = {"address": "http://dead/hook", "n": 1}
        ids = await store.enqueue(
            [
                NewJob("hook", dead),  # claimed below: running, left alone
                NewJob("hook", {**dead, "n": 2}),
                NewJob("hook", dead, run_at=T0 + 500),  # due after ``until``: left alone
                NewJob("hook", {"address": "http://alive/hook"}),
                NewJob("other", dead),  # another kind
            ],
            T0,
        )
        running, first, later, alive, other = ids
        (taken,) = await store.claim("w1", ["hook"], 1, T0 + LEASE, T0)
        assert taken.id == running
        match = {"address": "http://dead/hook"}
        assert await store.postpone(["hook"], match, T0 + 100, T0 + 1) == 1
        assert await store.postpone(["hook"], match, T0 + 100, T0 + 2) == 0  # already due then
        assert await store.postpone([], match, T0 + 200, T0 + 2) == 0

        async def due() -> dict[int, float]:
            jobs = [await store.get(i) for i in ids]
            return {j.id: j.run_at for j in jobs if j is not None}

        assert await due() == {
            running: T0,
            first: T0 + 100,
            later: T0 + 500,
            alive: T0,
            other: T0,
        }
        claimed = await store.claim("w2", ["hook"], 5, T0 + 50 + LEASE, T0 + 50)
        assert [j.id for j in claimed] == [alive]  # the postponed ones are not due yet
        with pytest.raises(ValueError):
            await store.postpone(["hook"], {"address') OR 1=1 --": "x"}, T0 + 200, T0 + 2)
        with pytest.raises(ValueError):
            await store.expedite(["hook"], {}, T0 + 2)
        assert await store.expedite(["hook"], match, T0 + 3) == 2
        assert await due() == {running: T0, first: T0 + 3, later: T0 + 3, alive: T0, other: T0}
        # only what is due before ``due_before`` moves: later is left where it is
        assert await store.postpone(["hook"], match, T0 + 900, T0 + 4, due_before=T0 + 3) == 0
        assert await store.postpone(["hook"], match, T0 + 900, T0 + 4, due_before=T0 + 4) == 2
        assert await store.expedite(["hook"], match, T0 + 5) == 2
        (parked,) = await store.enqueue([NewJob("hook", dead, run_at=T0 + 50)], T0 + 5)
        assert await store.postpone(["hook"], match, T0 + 900, T0 + 6, due_before=T0 + 10) == 2
        assert await due() == {running: T0, first: T0 + 900, later: T0 + 900, alive: T0, other: T0}
        job = await store.get(parked)
        assert job is not None and job.run_at == T0 + 50
        job = await store.get(first)
        assert job is not None and (job.state, job.attempts) == (JobState.PENDING, 0)

    run(backend, scenario)


def test_a_lost_workers_jobs_are_reclaimed_when_the_lease_runs_out(backend: Backend) -> None:
    async def scenario(store: JobStore) -> None:
        again, last, stopping = await store.enqueue(
            [NewJob("copy", max_attempts=3), NewJob("copy", max_attempts=1), NewJob("copy")],
            T0,
        )
        await store.claim("dead", ["copy"], 3, T0 + LEASE, T0)
        await store.request_stop(T0 + 1, job_id=stopping)
        assert await store.reclaim_expired(T0 + LEASE - 1) == 0  # leases still running
        assert await store.reclaim_expired(T0 + LEASE + 1) == 3
        states = {}
        for job_id in (again, last, stopping):
            job = await store.get(job_id)
            assert job is not None and job.lease_owner is None and job.error == LOST_WORKER
            states[job_id] = job.state
        assert states == {
            again: JobState.PENDING,
            last: JobState.FAILED,
            stopping: JobState.STOPPED,
        }
        # the dead worker, back from the grave, changes nothing
        assert not await store.finish(again, "dead", JobState.SUCCEEDED, T0 + 40)
        assert not (await store.renew(again, "dead", T0 + 99)).held
        (taken,) = await store.claim("alive", ["copy"], 5, T0 + 90, T0 + LEASE + 2)
        assert (taken.id, taken.attempts) == (again, 2)
        assert await store.reclaim_expired(T0 + LEASE + 3) == 0

    run(backend, scenario)


def test_stop_requests_by_job_and_by_group(backend: Backend) -> None:
    async def scenario(store: JobStore) -> None:
        running, waiting, elsewhere = await store.enqueue(
            [NewJob("copy", group="e1"), NewJob("copy", group="e1"), NewJob("copy", group="e2")],
            T0,
        )
        await store.claim("w1", ["copy"], 1, T0 + LEASE, T0)
        assert await store.counts("e1") == {JobState.RUNNING: 1, JobState.PENDING: 1}
        assert await store.request_stop(T0 + 1, group="e1") == 2
        assert await store.request_stop(T0 + 1, group="e1") == 0  # nothing new to do
        job = await store.get(waiting)
        assert job is not None and (job.state, job.finished) == (JobState.STOPPED, T0 + 1)
        job = await store.get(running)
        assert job is not None and job.state is JobState.RUNNING and job.stop_requested
        lease = await store.renew(running, "w1", T0 + LEASE)
        assert lease.held and lease.stop_requested
        assert await store.finish(running, "w1", JobState.STOPPED, T0 + 2)
        assert await store.counts("e1") == {JobState.STOPPED: 2}
        assert await store.counts("e2") == {JobState.PENDING: 1}
        assert await store.request_stop(T0 + 3, job_id=elsewhere) == 1
        assert await store.counts("e2") == {JobState.STOPPED: 1}
        assert await store.counts("nothing") == {}
        with pytest.raises(ValueError):
            await store.request_stop(T0)

    run(backend, scenario)


def test_find_filters_pages_and_counts(backend: Backend) -> None:
    async def scenario(store: JobStore) -> None:
        ids = await store.enqueue(
            [NewJob("copy", group="e1") for _ in range(5)] + [NewJob("webhook", group="e2")], T0
        )
        await store.claim("w1", ["webhook"], 1, T0 + LEASE, T0)
        jobs, total = await store.find(group="e1", limit=2)
        assert total == 5 and [j.id for j in jobs] == [ids[4], ids[3]]  # newest first
        jobs, total = await store.find(group="e1", offset=4, limit=2)
        assert total == 5 and [j.id for j in jobs] == [ids[0]]
        jobs, total = await store.find(group="e1", offset=10)
        assert (jobs, total) == ([], 5)
        jobs, total = await store.find(states=[JobState.RUNNING])
        assert total == 1 and jobs[0].id == ids[5]
        jobs, total = await store.find(kind="copy", states=[JobState.PENDING, JobState.RUNNING])
        assert total == 5
        assert (await store.find())[1] == 6

    run(backend, scenario)


def test_logs_and_purge(backend: Backend) -> None:
    async def scenario(store: JobStore) -> None:
        old, recent, pending = await store.enqueue([NewJob("copy")] * 3, T0)
        await store.claim("w1", ["copy"], 2, T0 + LEASE, T0)
        for n in range(3):
            await store.append_log(old, "info", f"line {n}", T0 + n)
        await store.append_log(recent, "error", "it broke", T0)
        lines = await store.logs(old)
        assert [(line.level, line.message, line.time) for line in lines] == [
            ("info", "line 0", T0),
            ("info", "line 1", T0 + 1),
            ("info", "line 2", T0 + 2),
        ]
        assert [line.message for line in await store.logs(old, after=lines[0].id)] == [
            "line 1",
            "line 2",
        ]
        assert len(await store.logs(old, limit=1)) == 1
        await store.finish(old, "w1", JobState.SUCCEEDED, T0 + 10)
        await store.finish(recent, "w1", JobState.FAILED, T0 + 100)
        assert await store.purge(T0 + 50) == 1
        assert await store.get(old) is None and await store.logs(old) == []
        assert await store.get(recent) is not None and len(await store.logs(recent)) == 1
        assert await store.get(pending) is not None  # unfinished jobs are never purged

    run(backend, scenario)
