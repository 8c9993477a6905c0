"""The webhook subscriber on its own, over a real SQLite database: which domain events
become which deliveries (quota, replication and retention events included, which other
parts of Wharf publish), Harbor's payloads for them, pulls enqueued in batches, disabled
policies and deleted projects, and a delivery job's sending and retry delay."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Awaitable, Callable
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

from tests.helpers import free_port
from wharf.auth.models import Project
from wharf.auth.sealing import Sealer
from wharf.auth.sqlite_store import SQLiteAuthStore
from wharf.jobs.models import Job, JobState
from wharf.jobs.runner import JobRunner, RunnerOptions
from wharf.jobs.sqlite import SQLiteJobStore
from wharf.registry.events import (
    Actor,
    ManifestPulled,
    ManifestPushed,
    ProjectDeleted,
    QuotaExceeded,
    QuotaWarning,
    ReplicationFinished,
    RetentionFinished,
    TagDeleted,
)
from wharf.registry.wiring import make_webhook_store, sqlite_database
from wharf.webhook.models import EVENT_TYPES, Policy, Target
from wharf.webhook.service import WebhookOptions, WebhookService
from wharf.webhook.store import WebhookStore

ADMIN = Actor("admin", "127.0.0.1")


def run(
    tmp_path: Path,
    scenario: Callable[[WebhookService, SQLiteJobStore, WebhookStore], Awaitable[None]],
    **options: float,
) -> None:
    async def main() -> None:
        database = sqlite_database(tmp_path / "wharf.db")
        auth = SQLiteAuthStore(database)
        jobs = SQLiteJobStore(database)
        store = make_webhook_store(database)
        for part in (auth, jobs, store):
            await part.open()
        await auth.create_project(Project("library", public=True))
        await auth.create_project(Project("team"))

        async def enqueue(new: object) -> list[int]:
            return await jobs.enqueue(new, 1000.0)  # type: ignore[arg-type]

        service = WebhookService(
            store,
            auth,
            jobs,
            enqueue,
            Sealer("a test key of some length"),
            WebhookOptions(policy_refresh=0, host="registry.example.com", **options),
        )
        await service.start()
        try:
            await scenario(service, jobs, store)
        finally:
            await service.close()
            for part in (store, jobs, auth):
                await part.close()

    asyncio.run(main())


async def policy_for(
    service: WebhookService,
    store: WebhookStore,
    project: str,
    *event_types: str,
    address: str = "http://127.0.0.1:9/hook",
) -> int:
    found = await service.auth_store.get_project(project)
    assert found is not None
    created = await store.create_policy(
        Policy(
            project_id=found.id,
            project_name=project,
            name=f"{project}-{len(await store.policies())}",
            targets=(Target(address),),
            event_types=event_types or EVENT_TYPES,
        )
    )
    service.invalidate()
    return created.id


async def pushed(service: WebhookService, count: int) -> None:
    """``count`` tagged pushes into team/app, as the core publishes them."""
    for n in range(count):
        await service.on_event(
            ManifestPushed(ADMIN, "team/app", f"sha256:{n:064x}", "m", f"v{n}", None)
        )


async def payloads(jobs: SQLiteJobStore) -> list[dict[str, object]]:
    found, _ = await jobs.find(limit=1000)
    return [job.payload for job in reversed(found)]


def test_quota_replication_and_retention_events(tmp_path: Path) -> None:
    async def scenario(service: WebhookService, jobs: SQLiteJobStore, store: WebhookStore) -> None:
        await policy_for(service, store, "team")
        await service.on_event(
            QuotaExceeded(ADMIN, "team", "team/app", "sha256:" + "a" * 64, 900, 1000, 200)
        )
        await service.on_event(
            QuotaWarning(ADMIN, "team", "team/app", "sha256:" + "b" * 64, 870, 1000)
        )
        await service.on_event(
            ReplicationFinished(
                ADMIN, 7, 3, "mirror", "Succeed", "manual", 4, 1, ("team", "library", "team")
            )
        )
        await service.on_event(
            RetentionFinished(
                ADMIN, 9, "team", "Success", False, 2, ("team/app@sha256:" + "c" * 64,)
            )
        )
        sent = [p["payload"] for p in await payloads(jobs)]
        assert [p["type"] for p in sent] == [  # type: ignore[index]
            "QUOTA_EXCEED",
            "QUOTA_WARNING",
            "REPLICATION",  # once, for team: library has no policy
            "TAG_RETENTION",
        ]
        exceed, warning, replication, retention = sent
        assert exceed["operator"] == "admin"  # type: ignore[index]
        data = exceed["event_data"]  # type: ignore[index]
        assert data["resources"] == [{"digest": "sha256:" + "a" * 64}]
        assert data["repository"] == {
            "name": "app",
            "namespace": "team",
            "repo_full_name": "team/app",
            "repo_type": "private",
        }
        assert "exceed the configured upper limit" in data["custom_attributes"]["Details"]
        assert "87%" in warning["event_data"]["custom_attributes"]["Details"]  # type: ignore[index]
        rep = replication["event_data"]["replication"]  # type: ignore[index]
        assert rep["job_status"] == "Succeed" and rep["trigger_type"] == "manual"
        assert rep["execution_id"] == 7 and rep["harbor_hostname"] == "registry.example.com"
        ret = retention["event_data"]["retention"]  # type: ignore[index]
        assert ret["total"] == 3 and ret["retained"] == 2 and ret["project_name"] == "team"
        assert ret["deleted_artifact"][0]["name_tag"] == "team/app@sha256:" + "c" * 64

    run(tmp_path, scenario)


def test_only_wanted_events_and_enabled_policies(tmp_path: Path) -> None:
    async def scenario(service: WebhookService, jobs: SQLiteJobStore, store: WebhookStore) -> None:
        push = ManifestPushed(ADMIN, "library/app", "sha256:" + "d" * 64, "m", "v1", None)
        await service.on_event(push)  # no policy at all: nothing
        pid = await policy_for(service, store, "library", "DELETE_ARTIFACT")
        await service.on_event(push)  # a policy, not for pushes: nothing
        await service.on_event(TagDeleted(ADMIN, "library/app", "v1", "sha256:" + "d" * 64))
        assert await payloads(jobs) == []
        two = await policy_for(service, store, "library", "PUSH_ARTIFACT")
        disabled = await store.get_policy(two)
        assert disabled is not None
        await store.update_policy(replace(disabled, enabled=False))
        service.invalidate()
        await service.on_event(push)
        assert await payloads(jobs) == []
        await store.update_policy(disabled)
        service.invalidate()
        await service.on_event(push)
        (sent,) = await payloads(jobs)
        assert sent["policy_id"] == two and sent["event_type"] == "PUSH_ARTIFACT"
        body = sent["payload"]
        assert body["event_data"]["repository"]["repo_type"] == "public"  # type: ignore[index]
        assert body["event_data"]["resources"][0]["resource_url"] == (  # type: ignore[index]
            "registry.example.com/library/app:v1"
        )
        # the project goes: its policies go with it
        await service.on_event(ProjectDeleted(ADMIN, "library"))
        assert await store.get_policy(pid) is None and await store.get_policy(two) is None

    run(tmp_path, scenario)


def test_pulls_are_enqueued_in_batches(tmp_path: Path) -> None:
    async def scenario(service: WebhookService, jobs: SQLiteJobStore, store: WebhookStore) -> None:
        await policy_for(service, store, "team", "PULL_ARTIFACT")
        for n in range(5):
            await service.on_event(ManifestPulled(ADMIN, "team/app", "sha256:" + "e" * 64, f"v{n}"))
        assert await payloads(jobs) == []  # not on the pull's path
        await asyncio.sleep(0.3)
        sent = await payloads(jobs)
        assert [p["payload"]["event_data"]["resources"][0]["tag"] for p in sent] == [  # type: ignore[index]
            f"v{n}" for n in range(5)
        ]
        assert len({p["event_id"] for p in sent}) == 5

    run(tmp_path, scenario, pull_flush_interval=0.05)


def test_a_deleted_policys_delivery_fails_for_good(tmp_path: Path) -> None:
    async def scenario(service: WebhookService, jobs: SQLiteJobStore, store: WebhookStore) -> None:
        pid = await policy_for(service, store, "team", "PUSH_ARTIFACT")
        await service.on_event(
            ManifestPushed(ADMIN, "team/app", "sha256:" + "f" * 64, "m", None, None)
        )
        await store.delete_policy(pid)
        runner = JobRunner(jobs, service.handlers, RunnerOptions(poll_interval=0.02))
        await runner.start()
        try:
            for _ in range(200):
                found, _ = await jobs.find(states=(JobState.FAILED,))
                if found:
                    break
                await asyncio.sleep(0.02)
        finally:
            await runner.close()
        (job,) = found
        assert job.attempts == 1 and "deleted" in job.error

    run(tmp_path, scenario)


def counting_claims(jobs: SQLiteJobStore) -> list[int]:
    """The ids of the jobs each claim of ``jobs`` hands out, from now on."""
    claimed: list[int] = []
    claim = jobs.claim

    async def counted(*args: Any, **kwargs: Any) -> list[Job]:
        found = await claim(*args, **kwargs)
        claimed.extend(job.id for job in found)
        return found

    jobs.claim = counted  # type: ignore[method-assign]
    return claimed


def test_a_hanging_receiver_holds_few_runner_slots(tmp_path: Path) -> None:
    """A receiver that accepts connections and never answers: the first deliveries wait
    out the timeout; after that, one attempt at a time probes it (after ``backoff``, then
    doubled) while the others wait for the probe unclaimed, without spending attempts."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    port = listener.getsockname()[1]
    accepted: list[socket.socket] = []

    def accept() -> None:
        with contextlib.suppress(OSError):
            while True:
                accepted.append(listener.accept()[0])

    threading.Thread(target=accept, daemon=True).start()

    async def scenario(service: WebhookService, jobs: SQLiteJobStore, store: WebhookStore) -> None:
        await policy_for(
            service, store, "team", "PUSH_ARTIFACT", address=f"http://127.0.0.1:{port}/hook"
        )
        await pushed(service, 10)
        claimed = counting_claims(jobs)
        runner = JobRunner(jobs, service.handlers, RunnerOptions(concurrency=4, poll_interval=0.02))
        await runner.start()
        await asyncio.sleep(3.0)
        await runner.close()
        found_jobs, _ = await jobs.find(limit=100)
        # the first four claims time out together (0.5 s); then one probe at a time:
        # after 0.3 s, then 0.6 s, then 1.2 s (each waiting out 0.5 s): 2 more in 3 s
        assert len(accepted) <= 4 + 3, len(accepted)
        # only attempts actually made are counted; the others were given back unspent
        assert sum(j.attempts for j in found_jobs) == len(accepted)
        assert all(j.state is JobState.PENDING for j in found_jobs)
        # a claim or two per probe, not one per delivery per retry
        assert len(claimed) <= 4 + 4 * 4, len(claimed)

    try:
        run(tmp_path, scenario, timeout=0.5, backoff=0.3)
    finally:
        listener.close()
        for conn in accepted:
            conn.close()


class Hooked(BaseHTTPRequestHandler):
    """A receiver that records the event id of each delivery it answers 200."""

    event_ids: ClassVar[list[str]] = []

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        Hooked.event_ids.append(self.headers["Webhook-Id"])
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        return


def test_a_dead_receivers_backlog_waits_unclaimed_then_goes_out_once(tmp_path: Path) -> None:
    """Nothing listens at the target: 40 queued deliveries are not claimed over and over
    (a claim per probe, probes ever rarer, no attempt spent by the waiting ones); when the
    receiver comes back, the next probe gets an answer and every delivery goes out once,
    with its own event id."""
    port = free_port()
    Hooked.event_ids = []

    async def scenario(service: WebhookService, jobs: SQLiteJobStore, store: WebhookStore) -> None:
        await policy_for(
            service, store, "team", "PUSH_ARTIFACT", address=f"http://127.0.0.1:{port}/hook"
        )
        await pushed(service, 40)
        claimed = counting_claims(jobs)
        runner = JobRunner(jobs, service.handlers, RunnerOptions(concurrency=4, poll_interval=0.02))
        await runner.start()
        try:
            await asyncio.sleep(2.0)
            found_jobs, _ = await jobs.find(limit=100)
            tried = sum(j.attempts for j in found_jobs)
            # 4 first attempts, then a probe after 0.2 s, 0.4 s, 0.4 s...: a few more
            assert 4 <= tried <= 4 + 6, tried
            # before: each delivery claimed again after each backoff (about 200 claims)
            assert len(claimed) <= 40, len(claimed)
            # pushed while the breaker is open: due at the next probe, not claimed now
            await service.on_event(
                ManifestPushed(ADMIN, "team/app", f"sha256:{99:064x}", "m", "late", None)
            )
            late, _ = await jobs.find(limit=1)
            assert late[0].run_at > service.clock()

            receiver = ThreadingHTTPServer(("127.0.0.1", port), Hooked)
            threading.Thread(target=receiver.serve_forever, daemon=True).start()
            try:
                for _ in range(200):
                    done, _ = await jobs.find(states=(JobState.SUCCEEDED,), limit=100)
                    if len(done) == 41:
                        break
                    await asyncio.sleep(0.05)
            finally:
                receiver.shutdown()
                receiver.server_close()
        finally:
            await runner.close()
        everything, _ = await jobs.find(limit=100)
        assert [j.state for j in everything] == [JobState.SUCCEEDED] * 41
        sent = {str(j.payload["event_id"]) for j in everything}
        assert sorted(Hooked.event_ids) == sorted(sent)  # each once, none twice

    run(tmp_path, scenario, timeout=0.5, backoff=0.2, max_backoff=0.4)


def test_a_backlog_parked_by_one_process_goes_out_when_another_gets_through(
    tmp_path: Path,
) -> None:
    """One process's breaker parked a dead receiver's backlog far out (``max_backoff``);
    the receiver comes back and another process, whose breaker never opened, sends one of
    the deliveries that had been put off: that brings the whole backlog forward."""
    port = free_port()
    Hooked.event_ids = []

    async def scenario(first: WebhookService, jobs: SQLiteJobStore, store: WebhookStore) -> None:
        second = WebhookService(
            store, first.auth_store, jobs, first.enqueue, first.sealer, first.options
        )
        await policy_for(
            first, store, "team", "PUSH_ARTIFACT", address=f"http://127.0.0.1:{port}/hook"
        )
        await pushed(first, 12)
        options = RunnerOptions(concurrency=4, poll_interval=0.02)
        runner = JobRunner(jobs, first.handlers, options)
        await runner.start()
        await asyncio.sleep(0.8)  # 4 refused, the rest parked 30 s out but a few carriers
        await runner.close()
        pending, _ = await jobs.find(states=(JobState.PENDING,), limit=100)
        assert len(pending) == 12
        assert sum(j.run_at > first.clock() + 20 for j in pending) >= 4

        receiver = ThreadingHTTPServer(("127.0.0.1", port), Hooked)
        threading.Thread(target=receiver.serve_forever, daemon=True).start()
        other = JobRunner(jobs, second.handlers, options)
        await other.start()
        try:
            for _ in range(100):
                done, _ = await jobs.find(states=(JobState.SUCCEEDED,), limit=100)
                if len(done) == 12:
                    break
                await asyncio.sleep(0.05)
        finally:
            await other.close()
            await second.close()
            receiver.shutdown()
            receiver.server_close()
        everything, _ = await jobs.find(limit=100)
        assert [j.state for j in everything] == [JobState.SUCCEEDED] * 12
        assert sorted(Hooked.event_ids) == sorted(str(j.payload["event_id"]) for j in everything)

    run(tmp_path, scenario, timeout=0.5, backoff=0.3, max_backoff=30)


def test_a_receiver_that_never_comes_back_leaves_no_backlog(tmp_path: Path) -> None:
    """Deliveries to an address that has not answered since they were enqueued
    ``give_up_after`` ago fail for good (with a log line saying so) instead of waiting
    for ever: a dead-forever receiver's backlog is bounded by that age."""
    port = free_port()

    async def scenario(service: WebhookService, jobs: SQLiteJobStore, store: WebhookStore) -> None:
        await policy_for(
            service, store, "team", "PUSH_ARTIFACT", address=f"http://127.0.0.1:{port}/hook"
        )
        await pushed(service, 12)
        runner = JobRunner(jobs, service.handlers, RunnerOptions(concurrency=4, poll_interval=0.02))
        await runner.start()
        try:
            for _ in range(200):
                failed, _ = await jobs.find(states=(JobState.FAILED,), limit=100)
                if len(failed) == 12:
                    break
                await asyncio.sleep(0.05)
        finally:
            await runner.close()
        everything, _ = await jobs.find(limit=100)
        assert [j.state for j in everything] == [JobState.FAILED] * 12
        gave_up = [j for j in everything if "did not answer" in j.error]
        assert gave_up, [j.error for j in everything]
        lines = await jobs.logs(gave_up[0].id)
        assert any("given up" in line.message for line in lines)

    run(
        tmp_path,
        scenario,
        timeout=0.5,
        backoff=0.2,
        max_backoff=0.4,
        probe_max=0.4,
        give_up_after=1.5,
    )


def test_task_logs_do_not_show_a_targets_password(tmp_path: Path) -> None:
    port = free_port()

    async def scenario(service: WebhookService, jobs: SQLiteJobStore, store: WebhookStore) -> None:
        await policy_for(
            service,
            store,
            "team",
            "PUSH_ARTIFACT",
            address=f"http://bob:s3cret@127.0.0.1:{port}/hook",
        )
        await service.on_event(
            ManifestPushed(ADMIN, "team/app", "sha256:" + "b" * 64, "m", "v", None)
        )
        runner = JobRunner(jobs, service.handlers, RunnerOptions(concurrency=1, poll_interval=0.02))
        await runner.start()
        try:
            for _ in range(100):
                (job,), _ = await jobs.find(limit=1)
                if job.attempts and await jobs.logs(job.id):
                    break
                await asyncio.sleep(0.05)
        finally:
            await runner.close()
        text = "\n".join(line.message for line in await jobs.logs(job.id))
        assert f"http://bob:***@127.0.0.1:{port}/hook" in text
        assert "s3cret" not in text and "s3cret" not in job.error

    run(tmp_path, scenario, timeout=0.5, backoff=0.2, max_backoff=0.4)
