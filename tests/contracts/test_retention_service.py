"""The retention service (``wharf.registry.policy.retention``) on every backend of
``backends.BACKENDS``: a real execution through the durable job queue deletes through the
content core and publishes ``RetentionFinished`` once; an artifact whose tag became
immutable after the evaluation is refused by the gate at delete time and counted as
retained; a stopped execution ends Stopped with its tasks; the cron ticker starts
scheduled executions."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from tests.contracts.backends import Backend
from wharf.jobs.runner import JobRunner, RunnerOptions
from wharf.registry.content.cache import InProcessGenerations
from wharf.registry.content.service import ContentService
from wharf.registry.events import Actor, Event, EventBus, RetentionFinished
from wharf.registry.metadata.postgres import PostgresStore
from wharf.registry.metadata.sqlite import SQLiteStore
from wharf.registry.oci.errors import DENIED, RegistryError
from wharf.registry.oci.names import Digest, parse_digest
from wharf.registry.policy.gate import PolicyGate
from wharf.registry.policy.immutable import ImmutableRules, ImmutableTags
from wharf.registry.policy.models import (
    PENDING,
    STOPPED,
    SUCCEED,
    RetentionPolicy,
    Rule,
    Selector,
)
from wharf.registry.policy.retention import RetentionService, ScheduleTicker
from wharf.registry.wiring import (
    make_job_store,
    make_policy_store,
    postgres_database,
    sqlite_database,
)
from wharf.storage.filesystem import FilesystemDriver

ALICE = Actor("alice")
CONFIG = b'{"architecture":"amd64","os":"linux"}'


def digest_of(data: bytes) -> Digest:
    return parse_digest("sha256:" + hashlib.sha256(data).hexdigest())


async def one(data: bytes) -> AsyncIterator[bytes]:
    yield data


@dataclass
class World:
    core: ContentService
    service: RetentionService
    immutable: ImmutableRules
    runner: JobRunner
    events: list[Event]

    async def push(self, repo: str, tag: str, layer: bytes) -> str:
        for blob in (CONFIG, layer):
            await self.core.uploads.whole(repo, digest_of(blob), one(blob), ALICE)
        doc = {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": str(digest_of(CONFIG)),
                "size": len(CONFIG),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": str(digest_of(layer)),
                    "size": len(layer),
                }
            ],
        }
        outcome = await self.core.manifests.put(repo, tag, json.dumps(doc).encode(), None, ALICE)
        return outcome.digest

    async def finished(self, count: int) -> list[RetentionFinished]:
        for _ in range(400):
            done = [e for e in self.events if isinstance(e, RetentionFinished)]
            if len(done) >= count:
                return done
            await asyncio.sleep(0.025)
        raise AssertionError("no RetentionFinished")


def run(backend: Backend, tmp_path: Path, scenario: Callable[[World], Awaitable[None]]) -> None:
    async def main() -> None:
        if backend.name == "sqlite":
            database = sqlite_database(backend.location)
            store: SQLiteStore | PostgresStore = SQLiteStore(database)
        else:
            database = postgres_database(backend.location, pool_min=1, pool_max=4)
            store = PostgresStore(database)
        await store.open()
        driver = FilesystemDriver(tmp_path / "storage")
        await driver.start()
        policies = make_policy_store(database)
        await policies.open()
        jobs = make_job_store(database)
        await jobs.open()
        seen: list[Event] = []
        bus = EventBus()

        async def record(event: Event) -> None:
            seen.append(event)

        bus.subscribe(record)
        generations = InProcessGenerations()
        core = ContentService(store, driver, gate=PolicyGate(), events=bus, generations=generations)
        immutable = ImmutableRules(policies, generations)
        core.gate.rules.append(ImmutableTags(immutable, store))
        runner = JobRunner(jobs, {}, RunnerOptions(poll_interval=0.05))
        service = RetentionService(policies, core, immutable, jobs, runner.enqueue, bus)
        runner.handlers.update(service.handlers)
        try:
            await scenario(World(core, service, immutable, runner, seen))
        finally:
            await runner.close()
            core.close()
            await jobs.close()
            await policies.close()
            await driver.close()
            await store.close()

    asyncio.run(main())


def latest(k: int, repos: str = "**") -> Rule:
    return Rule(
        template="latestPushedK",
        tag_selectors=(Selector("doublestar", "matches", "**", '{"untagged":false}'),),
        scope_selectors={"repository": (Selector("doublestar", "repoMatches", repos),)},
        action="retain",
        params={"latestPushedK": k},
    )


def immutable_rule(tag: str) -> Rule:
    return Rule(
        template="immutable_template",
        tag_selectors=(Selector("doublestar", "matches", tag),),
        scope_selectors={"repository": (Selector("doublestar", "repoMatches", "**"),)},
        action="immutable",
    )


def test_execution_deletes_through_the_core_and_finishes_once(
    backend: Backend, tmp_path: Path
) -> None:
    async def scenario(world: World) -> None:
        digests = [await world.push("p/app", f"t{n}", bytes([n]) * 8) for n in range(4)]
        policy = await world.service.create(
            RetentionPolicy(1, "p", "or", (latest(1),), "Schedule", "")
        )
        # t0 becomes immutable: the evaluation marks it, and the gate would refuse anyway
        await world.immutable.create(1, "p", immutable_rule("t0"))
        await world.runner.start()
        execution = await world.service.start(policy, dry_run=False, trigger="MANUAL", actor=ALICE)
        [event] = await world.finished(1)
        assert event.execution_id == execution.id and event.project == "p"
        assert event.status == SUCCEED and not event.dry_run
        assert set(event.removed) == {f"p/app@{d}" for d in digests[1:3]}
        assert event.retained == 2  # t3 by the rule, t0 held by the immutable rule
        left = {r.record.digest for r in await world.core.store.artifacts("p/app") or []}
        assert left == {digests[0], digests[3]}
        ended = await world.service.store.execution(execution.id)
        assert ended is not None and ended.status == SUCCEED and ended.end_time
        # the gate itself, should a tag turn immutable between evaluation and deletion
        await world.push("p/app", "t9", b"late" * 4)
        await world.immutable.create(1, "p", immutable_rule("t9"))
        rows = await world.core.store.artifacts("p/app") or []
        target = next(r for r in rows if any(t.name == "t9" for t in r.tags))
        try:
            await world.core.manifests.delete("p/app", parse_digest(target.record.digest), ALICE)
        except RegistryError as exc:
            assert exc.error is DENIED and "t9" in exc.message
        else:
            raise AssertionError("the gate let an immutable tag's manifest go")

    run(backend, tmp_path, scenario)


def test_stop_and_schedule(backend: Backend, tmp_path: Path) -> None:
    async def scenario(world: World) -> None:
        for n in range(3):
            await world.push(f"q/r{n}", "v1", bytes([n]) * 8)
        policy = await world.service.create(
            RetentionPolicy(2, "q", "or", (latest(1, "r{0,1}"),), "Schedule", "")
        )
        # the runner is not started: the tasks wait in the queue, then are stopped
        execution = await world.service.start(policy, dry_run=True, trigger="MANUAL", actor=ALICE)
        tasks, total = await world.service.store.tasks(execution.id)
        assert total == 2 and {t.repository for t in tasks} == {"q/r0", "q/r1"}
        assert all(t.status == PENDING and t.job_id for t in tasks)
        await world.service.stop(execution)
        [event] = await world.finished(1)
        assert event.status == STOPPED and event.dry_run and event.removed == ()
        tasks, _ = await world.service.store.tasks(execution.id)
        assert {t.status for t in tasks} == {STOPPED}
        stopped = await world.service.store.execution(execution.id)
        assert stopped is not None and stopped.status == STOPPED
        # the jobs never run: started now, the runner finds them stopped
        await world.runner.start()
        # a cron that fired within the tick's window starts a scheduled execution
        await world.service.update(
            policy, RetentionPolicy(2, "q", "or", policy.rules, "Schedule", "30 * * * * *")
        )
        ticker = ScheduleTicker(world.service)
        assert await ticker.tick(now=1_000_000_000.0 - 13) == []  # up to :27: not yet
        started = await ticker.tick(now=1_000_000_000.0 - 9)  # (:27, :31] holds :30
        assert len(started) == 1
        done = await world.finished(2)
        assert done[-1].execution_id == started[0] and done[-1].status == SUCCEED
        scheduled = await world.service.store.execution(started[0])
        assert scheduled is not None and scheduled.trigger == "SCHEDULE"

    run(backend, tmp_path, scenario)
