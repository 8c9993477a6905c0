"""The policy tables (``wharf.registry.policy.store``) on every backend of
``backends.BACKENDS``: immutable rules, retention policies, executions and tasks."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from tests.contracts.backends import Backend
from wharf.registry.policy.models import (
    PENDING,
    RUNNING,
    STOPPED,
    SUCCEED,
    ImmutableRule,
    RetentionExecution,
    RetentionPolicy,
    RetentionTask,
    Rule,
    Selector,
)
from wharf.registry.policy.store import Conflict, PolicyStore
from wharf.registry.wiring import make_policy_store, postgres_database, sqlite_database


def run(backend: Backend, scenario: Callable[[PolicyStore], Awaitable[None]]) -> None:
    async def main() -> None:
        if backend.name == "sqlite":
            database = sqlite_database(backend.location)
        else:
            database = postgres_database(backend.location, pool_min=1, pool_max=2)
        store = make_policy_store(database)
        await store.open()
        try:
            await scenario(store)
        finally:
            await store.close()

    asyncio.run(main())


def shape(tag: str, repo: str = "**", *, disabled: bool = False) -> Rule:
    return Rule(
        template="immutable_template",
        tag_selectors=(Selector("doublestar", "matches", tag),),
        scope_selectors={"repository": (Selector("doublestar", "repoMatches", repo),)},
        action="immutable",
        disabled=disabled,
    )


def test_immutable_rules(backend: Backend) -> None:
    async def scenario(store: PolicyStore) -> None:
        first = await store.create_immutable(ImmutableRule(7, "p", shape("v*"), created=1.0))
        assert first.id > 0 and first.rule.id == first.id
        second = await store.create_immutable(ImmutableRule(7, "p", shape("rc*")))
        await store.create_immutable(ImmutableRule(8, "q", shape("v*")))  # other project
        with pytest.raises(Conflict):
            await store.create_immutable(ImmutableRule(7, "p", shape("v*", disabled=True)))
        by_name = await store.immutable_rules(project="p")
        assert [r.id for r in by_name] == [first.id, second.id]
        assert by_name == await store.immutable_rules(project_id=7)
        assert by_name[0].rule == first.rule and by_name[0].created == 1.0
        changed = ImmutableRule(7, "p", shape("v2*", "a/**", disabled=True), first.id)
        assert await store.update_immutable(changed)
        got = await store.immutable_rule(first.id)
        assert (
            got is not None
            and got.rule.disabled
            and got.rule.tag_selector == Selector("doublestar", "matches", "v2*")
        )
        with pytest.raises(Conflict):  # renamed onto the other rule's selectors
            await store.update_immutable(ImmutableRule(7, "p", shape("rc*"), first.id))
        assert await store.delete_immutable(first.id)
        assert not await store.delete_immutable(first.id)
        assert await store.immutable_rule(first.id) is None

    run(backend, scenario)


def test_retention_policies_executions_tasks(backend: Backend) -> None:
    async def scenario(store: PolicyStore) -> None:
        retain = Rule(
            template="latestPushedK",
            tag_selectors=(Selector("doublestar", "matches", "**", '{"untagged":true}'),),
            scope_selectors={"repository": (Selector("doublestar", "repoMatches", "**"),)},
            action="retain",
            params={"latestPushedK": 3},
        )
        policy = await store.create_policy(
            RetentionPolicy(5, "p", "or", (retain,), "Schedule", "", created=1.0, updated=1.0)
        )
        assert await store.policy(policy.id) == policy
        with pytest.raises(Conflict):
            await store.create_policy(RetentionPolicy(5, "p", "or", (), "Schedule", ""))
        assert await store.scheduled_policies() == []
        scheduled = RetentionPolicy(
            5, "p", "or", (retain,), "Schedule", "0 0 * * * *", policy.id, 1.0, 2.0
        )
        assert await store.update_policy(scheduled)
        assert await store.scheduled_policies() == [scheduled]

        runs = [
            await store.create_execution(
                RetentionExecution(policy.id, RUNNING, "MANUAL", n == 0, n)
            )
            for n in range(3)
        ]
        page, total = await store.executions(policy.id, 0, 2)
        assert total == 3 and [e.id for e in page] == [runs[2].id, runs[1].id]
        assert (await store.executions(policy.id, 2, 2))[0] == [runs[0]]
        assert await store.set_execution_status(runs[0].id, SUCCEED, 10.0)
        assert not await store.set_execution_status(runs[0].id, STOPPED, 11.0)  # ended already
        ended = await store.execution(runs[0].id)
        assert ended is not None and ended.status == SUCCEED and ended.end_time == 10.0

        task = await store.create_task(RetentionTask(runs[1].id, "p/a", PENDING))
        other = await store.create_task(RetentionTask(runs[1].id, "p/b", PENDING))
        await store.set_task_job(task.id, 42)
        await store.start_task(task.id, 5.0)
        assert await store.finish_task(
            task.id, SUCCEED, 6.0, total=3, retained=1, removed=("sha256:a", "sha256:b")
        )
        assert not await store.finish_task(task.id, STOPPED, 7.0)
        got = await store.task(task.id)
        assert got == RetentionTask(
            runs[1].id, "p/a", SUCCEED, 42, 3, 1, ("sha256:a", "sha256:b"), 5.0, 6.0, task.id
        )
        tasks, count = await store.tasks(runs[1].id)
        assert count == 2 and [t.id for t in tasks] == [task.id, other.id]
        assert await store.task_counts(runs[1].id) == {SUCCEED: 1, PENDING: 1}
        # deleting the policy takes its executions and tasks along
        assert await store.delete_policy(policy.id)
        assert await store.execution(runs[1].id) is None
        assert await store.task(task.id) is None

    run(backend, scenario)
