"""The job runner over real stores (SQLite and PostgreSQL): retries with backoff, failures,
the concurrency bound, leases kept alive and lost, stop requests, shutdown giving jobs
back; and several processes on one database — every job executed exactly once, and the
jobs of a process killed midway claimed again once its lease ran out."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from tests.contracts.backends import BACKENDS, FACTORIES, Backend
from tests.jobworker import work
from wharf.jobs.models import JobState, NewJob
from wharf.jobs.runner import JobContext, JobRunner, PermanentFailure, RetryLater, RunnerOptions
from wharf.jobs.store import JobStore

FAST = RunnerOptions(concurrency=4, lease=0.9, poll_interval=0.02, backoff=0.05, max_backoff=0.2)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    return FACTORIES[request.param](request, tmp_path)


def run(backend: Backend, scenario: Callable[[JobStore], Awaitable[None]]) -> None:
    async def main() -> None:
        async with backend.stores() as stores:
            await scenario(stores.jobs)

    asyncio.run(main())


async def settled(store: JobStore, group: str, within: float = 20.0) -> dict[JobState, int]:
    """The group's counts once nothing in it is pending or running."""
    deadline = time.monotonic() + within
    while True:
        counts = await store.counts(group)
        if not counts.get(JobState.PENDING) and not counts.get(JobState.RUNNING):
            return counts
        if time.monotonic() > deadline:
            raise AssertionError(f"jobs still going: {counts}")
        await asyncio.sleep(0.02)


async def until(predicate: Callable[[], Awaitable[bool]], within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while not await predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        await asyncio.sleep(0.02)


def test_outcomes_retries_and_logs(backend: Backend) -> None:
    async def scenario(store: JobStore) -> None:
        tries: Counter[str] = Counter()

        async def ok(ctx: JobContext) -> dict[str, Any]:
            await ctx.log("copying")
            return {"copied": ctx.payload["n"]}

        async def flaky(ctx: JobContext) -> dict[str, Any]:
            tries["flaky"] += 1
            if tries["flaky"] < 3:
                raise ConnectionError("the remote hung up")
            return {"tries": tries["flaky"]}

        async def doomed(ctx: JobContext) -> None:
            tries["doomed"] += 1
            raise PermanentFailure("no such repository")

        async def hopeless(ctx: JobContext) -> None:
            tries["hopeless"] += 1
            raise RetryLater("rate limited", 0.01)

        runner = JobRunner(
            store, {"ok": ok, "flaky": flaky, "doomed": doomed, "hopeless": hopeless}, FAST
        )
        await runner.start()
        ids = await runner.enqueue(
            [
                NewJob("ok", {"n": 7}, group="g"),
                NewJob("flaky", group="g", max_attempts=5),
                NewJob("doomed", group="g", max_attempts=5),
                NewJob("hopeless", group="g", max_attempts=2),
            ]
        )
        counts = await settled(store, "g")
        await runner.close()
        assert counts == {JobState.SUCCEEDED: 2, JobState.FAILED: 2}
        jobs = {job.kind: job for job in (await store.find(group="g"))[0]}
        assert jobs["ok"].result == {"copied": 7}
        assert [line.message for line in await store.logs(ids[0])] == ["copying"]
        assert (jobs["flaky"].state, jobs["flaky"].attempts) == (JobState.SUCCEEDED, 3)
        assert jobs["flaky"].result == {"tries": 3}
        flaky_log = [line.message for line in await store.logs(ids[1])]
        assert len(flaky_log) == 2 and all("the remote hung up" in m for m in flaky_log)
        assert (jobs["doomed"].state, jobs["doomed"].error) == (
            JobState.FAILED,
            "no such repository",
        )
        assert tries["doomed"] == 1  # never retried
        assert tries["hopeless"] == 2 and jobs["hopeless"].attempts == 2
        assert "no attempt left" in (await store.logs(ids[3]))[-1].message

    run(backend, scenario)


def test_at_most_concurrency_jobs_run_at_once(backend: Backend) -> None:
    async def scenario(store: JobStore) -> None:
        now_running = 0
        most = 0

        async def slow(ctx: JobContext) -> None:
            nonlocal now_running, most
            now_running += 1
            most = max(most, now_running)
            await asyncio.sleep(0.05)
            now_running -= 1

        options = RunnerOptions(concurrency=3, lease=5, poll_interval=0.02)
        runner = JobRunner(store, {"slow": slow}, options)
        await runner.start()
        await runner.enqueue([NewJob("slow", group="g") for _ in range(12)])
        assert await settled(store, "g") == {JobState.SUCCEEDED: 12}
        await runner.close()
        assert most == 3

    run(backend, scenario)


def test_a_long_job_keeps_its_lease(backend: Backend) -> None:
    """A job running for three leases is renewed all along: a second runner polling the
    same queue never takes it."""

    async def scenario(store: JobStore) -> None:
        runs: list[str] = []

        def handler(name: str) -> Callable[[JobContext], Any]:
            async def long(ctx: JobContext) -> None:
                runs.append(name)
                await asyncio.sleep(3 * FAST.lease)

            return long

        first = JobRunner(store, {"long": handler("first")}, FAST)
        second = JobRunner(store, {"long": handler("second")}, FAST)
        await first.start()
        (job_id,) = await first.enqueue([NewJob("long", group="g")])
        await until(lambda: _state_is(store, job_id, JobState.RUNNING))
        await second.start()
        assert await settled(store, "g") == {JobState.SUCCEEDED: 1}
        await first.close()
        await second.close()
        assert runs == ["first"]
        job = await store.get(job_id)
        assert job is not None and job.attempts == 1

    run(backend, scenario)


async def _state_is(store: JobStore, job_id: int, state: JobState) -> bool:
    job = await store.get(job_id)
    return job is not None and job.state is state


def test_stop_requests_end_running_and_pending_jobs(backend: Backend) -> None:
    async def scenario(store: JobStore) -> None:
        started: list[int] = []
        saw_stopping: list[int] = []

        async def forever(ctx: JobContext) -> None:
            started.append(ctx.job.id)
            try:
                await asyncio.Event().wait()
            finally:
                if ctx.stopping.is_set():
                    saw_stopping.append(ctx.job.id)

        options = RunnerOptions(concurrency=1, lease=0.6, poll_interval=0.02)
        runner = JobRunner(store, {"forever": forever}, options)
        await runner.start()
        first, second = await runner.enqueue([NewJob("forever", group="g")] * 2)
        await until(lambda: _state_is(store, first, JobState.RUNNING))
        stopped_at = time.monotonic()
        assert await store.request_stop(time.time(), group="g") == 2
        assert await settled(store, "g") == {JobState.STOPPED: 2}
        assert time.monotonic() - stopped_at < 2 * options.lease
        await runner.close()
        assert started == [first] and saw_stopping == [first]  # the second never ran
        never = await store.get(second)
        assert never is not None and (never.state, never.attempts) == (JobState.STOPPED, 0)
        job = await store.get(first)
        assert job is not None and job.error == "stopped on request"

    run(backend, scenario)


def test_shutdown_gives_unfinished_jobs_back(backend: Backend) -> None:
    async def scenario(store: JobStore) -> None:
        async def stuck(ctx: JobContext) -> None:
            await asyncio.Event().wait()

        async def done(ctx: JobContext) -> dict[str, Any]:
            return {"by": "second"}

        options = RunnerOptions(concurrency=2, lease=60, poll_interval=0.02, shutdown_grace=0.1)
        first = JobRunner(store, {"work": stuck}, options)
        await first.start()
        ids = await first.enqueue([NewJob("work", group="g")] * 2)
        await until(lambda: _all_running(store, ids))
        await first.close()
        for job_id in ids:  # back at once (no lease to wait out), the attempt not counted
            job = await store.get(job_id)
            assert job is not None and (job.state, job.attempts) == (JobState.PENDING, 0)
        second = JobRunner(store, {"work": done}, options)
        await second.start()
        assert await settled(store, "g", within=5) == {JobState.SUCCEEDED: 2}
        await second.close()

    run(backend, scenario)


async def _all_running(store: JobStore, ids: list[int]) -> bool:
    return all([await _state_is(store, job_id, JobState.RUNNING) for job_id in ids])


def test_a_lost_lease_cancels_the_handler_and_records_nothing(backend: Backend) -> None:
    async def scenario(store: JobStore) -> None:
        cancelled = asyncio.Event()

        async def slow(ctx: JobContext) -> None:
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                cancelled.set()
                raise

        runner = JobRunner(store, {"work": slow}, FAST)
        await runner.start()
        (job_id,) = await runner.enqueue([NewJob("work", group="g")])
        await until(lambda: _state_is(store, job_id, JobState.RUNNING))
        # as if the database had been out of reach past the lease: another worker took it
        far = time.time() + 10 * FAST.lease
        assert await store.reclaim_expired(far) == 1
        (taken,) = await store.claim("elsewhere", ["work"], 1, far + 60, far)
        assert taken.id == job_id
        await asyncio.wait_for(cancelled.wait(), 3 * FAST.lease)
        await runner.close()
        job = await store.get(job_id)
        assert job is not None and (job.state, job.lease_owner) == (JobState.RUNNING, "elsewhere")
        assert await store.finish(job_id, "elsewhere", JobState.SUCCEEDED, far + 1)

    run(backend, scenario)


# --- several processes ------------------------------------------------------------------------


def _spawn(backend: Backend, marks: Path, *, lease: float, group: str, hang: bool) -> Any:
    context = multiprocessing.get_context("spawn")
    process = context.Process(
        target=work, args=(backend.location, str(marks), 4, lease, group, hang), daemon=True
    )
    process.start()
    return process


@pytest.mark.slow
def test_each_job_runs_once_across_processes(backend: Backend, tmp_path: Path) -> None:
    marks = tmp_path / "marks"
    marks.mkdir()

    async def scenario(store: JobStore) -> None:
        ids = await store.enqueue([NewJob("mark", group="many") for _ in range(300)], time.time())
        workers = [_spawn(backend, marks, lease=10, group="many", hang=False) for _ in range(4)]
        for process in workers:
            await asyncio.to_thread(process.join, 120)
            assert process.exitcode == 0
        assert await store.counts("many") == {JobState.SUCCEEDED: 300}
        done = Counter(int(name.split(".")[0]) for name in os.listdir(marks))
        assert sorted(done) == ids and set(done.values()) == {1}  # each once, none twice
        pids = {name.split(".")[1] for name in os.listdir(marks)}
        assert len(pids) >= 2  # the work really was shared
        jobs, _ = await store.find(group="many", limit=300)
        assert {job.attempts for job in jobs} == {1}

    run(backend, scenario)


@pytest.mark.slow
def test_a_killed_workers_jobs_are_claimed_again(backend: Backend, tmp_path: Path) -> None:
    marks = tmp_path / "marks"
    marks.mkdir()
    lease = 1.5

    async def scenario(store: JobStore) -> None:
        ids = await store.enqueue([NewJob("mark", group="g") for _ in range(3)], time.time())
        doomed = _spawn(backend, marks, lease=lease, group="g", hang=True)

        async def all_claimed() -> bool:
            return len(os.listdir(marks)) == 3

        await until(all_claimed, within=30)
        os.kill(doomed.pid, signal.SIGKILL)
        await asyncio.to_thread(doomed.join, 10)
        killed_at = time.monotonic()
        survivor = _spawn(backend, marks, lease=lease, group="g", hang=False)
        await asyncio.to_thread(survivor.join, 60)
        assert survivor.exitcode == 0
        waited = time.monotonic() - killed_at
        assert await store.counts("g") == {JobState.SUCCEEDED: 3}
        by_pid = Counter(name.split(".")[1] for name in os.listdir(marks))
        assert by_pid == {str(doomed.pid): 3, str(survivor.pid): 3}
        for job_id in ids:
            job = await store.get(job_id)
            assert job is not None and job.attempts == 2 and job.error == ""
            assert job.result == {"pid": survivor.pid}
        assert waited < lease + 10  # claimed again soon after the lease ran out

    run(backend, scenario)
