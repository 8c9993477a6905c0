"""The policy tables on either database (one implementation over ``wharf.db.portable``):
immutable tag rules, retention policies, executions and tasks.
``tests/contracts/test_policy_store.py`` runs it on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from wharf.db.portable import Integrity, PortableSQL, Row
from wharf.registry.policy.models import (
    FAILED,
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


class Conflict(Exception):
    """The same rule exists already in the project (or the project has a policy)."""


# --- rules as JSON ---------------------------------------------------------------------
def selector_json(selector: Selector) -> dict[str, str]:
    return {
        "kind": selector.kind,
        "decoration": selector.decoration,
        "pattern": selector.pattern,
        "extras": selector.extras,
    }


def selector_from(data: dict[str, Any]) -> Selector:
    return Selector(
        str(data.get("kind", "")),
        str(data.get("decoration", "")),
        str(data.get("pattern", "")),
        str(data.get("extras", "")),
    )


def rule_json(rule: Rule) -> dict[str, Any]:
    return {
        "id": rule.id,
        "priority": rule.priority,
        "disabled": rule.disabled,
        "action": rule.action,
        "template": rule.template,
        "params": rule.params,
        "tag_selectors": [selector_json(s) for s in rule.tag_selectors],
        "scope_selectors": {
            k: [selector_json(s) for s in v] for k, v in sorted(rule.scope_selectors.items())
        },
    }


def rule_from(data: dict[str, Any]) -> Rule:
    return Rule(
        template=str(data.get("template", "")),
        tag_selectors=tuple(selector_from(s) for s in data.get("tag_selectors") or ()),
        scope_selectors={
            k: tuple(selector_from(s) for s in v or ())
            for k, v in (data.get("scope_selectors") or {}).items()
        },
        action=str(data.get("action", "")),
        params=dict(data.get("params") or {}),
        priority=int(data.get("priority", 0)),
        disabled=bool(data.get("disabled", False)),
        id=int(data.get("id", 0)),
    )


def rule_key(rule: Rule) -> str:
    """What makes two rules of a project the same (Harbor: unique per project)."""
    data = rule_json(rule)
    for transient in ("id", "priority", "disabled"):
        data.pop(transient)
    return json.dumps(data, sort_keys=True, separators=(",", ":"))


_IMMUTABLE = (
    "id, project_id, project, priority, disabled, action, template, params, "
    "tag_selectors, scope_selectors, created"
)
_POLICY = "id, project_id, project, algorithm, rules, trigger_kind, trigger_cron, created, updated"
_EXECUTION = "id, policy_id, status, trigger_kind, dry_run, start_time, end_time"
_TASK = (
    "id, execution_id, repository, job_id, status, total, retained, removed, start_time, end_time"
)


def _immutable(row: Row) -> ImmutableRule:
    rule = Rule(
        template=row[6],
        tag_selectors=tuple(selector_from(s) for s in json.loads(row[8])),
        scope_selectors={
            k: tuple(selector_from(s) for s in v) for k, v in json.loads(row[9]).items()
        },
        action=row[5],
        params=json.loads(row[7]),
        priority=int(row[3]),
        disabled=bool(row[4]),
        id=int(row[0]),
    )
    return ImmutableRule(int(row[1]), row[2], rule, int(row[0]), float(row[10]))


def _policy(row: Row) -> RetentionPolicy:
    return RetentionPolicy(
        project_id=int(row[1]),
        project=row[2],
        algorithm=row[3],
        rules=tuple(rule_from(r) for r in json.loads(row[4])),
        trigger_kind=row[5],
        trigger_cron=row[6],
        id=int(row[0]),
        created=float(row[7]),
        updated=float(row[8]),
    )


def _execution(row: Row) -> RetentionExecution:
    return RetentionExecution(
        policy_id=int(row[1]),
        status=row[2],
        trigger=row[3],
        dry_run=bool(row[4]),
        start_time=float(row[5]),
        end_time=None if row[6] is None else float(row[6]),
        id=int(row[0]),
    )


def _task(row: Row) -> RetentionTask:
    return RetentionTask(
        execution_id=int(row[1]),
        repository=row[2],
        job_id=int(row[3]),
        status=row[4],
        total=int(row[5]),
        retained=int(row[6]),
        removed=tuple(json.loads(row[7])),
        start_time=None if row[8] is None else float(row[8]),
        end_time=None if row[9] is None else float(row[9]),
        id=int(row[0]),
    )


class PolicyStore:
    def __init__(self, sql: PortableSQL) -> None:
        self.sql = sql

    async def open(self) -> None:
        await self.sql.open()

    async def close(self) -> None:
        await self.sql.close()

    # --- immutable rules -------------------------------------------------------------
    async def create_immutable(self, found: ImmutableRule) -> ImmutableRule:
        rule = found.rule
        try:
            new_id = await self.sql.insert(
                "INSERT INTO immutable_rules (project_id, project, priority, disabled, action, "
                "template, params, tag_selectors, scope_selectors, rule_key, created) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                found.project_id,
                found.project,
                rule.priority,
                int(rule.disabled),
                rule.action,
                rule.template,
                json.dumps(rule.params),
                json.dumps([selector_json(s) for s in rule.tag_selectors]),
                json.dumps(rule_json(rule)["scope_selectors"]),
                rule_key(rule),
                found.created,
            )
        except Integrity:
            raise Conflict("immutable rule already exists") from None
        return replace(found, id=new_id, rule=replace(rule, id=new_id))

    async def immutable_rules(
        self, *, project: str | None = None, project_id: int | None = None
    ) -> list[ImmutableRule]:
        """A project's rules (by name or id), by id."""
        if project is not None:
            rows = await self.sql.fetch(
                f"SELECT {_IMMUTABLE} FROM immutable_rules WHERE project = ? ORDER BY id", project
            )
        else:
            rows = await self.sql.fetch(
                f"SELECT {_IMMUTABLE} FROM immutable_rules WHERE project_id = ? ORDER BY id",
                project_id,
            )
        return [_immutable(r) for r in rows]

    async def immutable_rule(self, rule_id: int) -> ImmutableRule | None:
        rows = await self.sql.fetch(
            f"SELECT {_IMMUTABLE} FROM immutable_rules WHERE id = ?", rule_id
        )
        return _immutable(rows[0]) if rows else None

    async def update_immutable(self, found: ImmutableRule) -> bool:
        rule = found.rule
        try:
            count = await self.sql.execute(
                "UPDATE immutable_rules SET priority = ?, disabled = ?, action = ?, "
                "template = ?, params = ?, tag_selectors = ?, scope_selectors = ?, "
                "rule_key = ? WHERE id = ?",
                rule.priority,
                int(rule.disabled),
                rule.action,
                rule.template,
                json.dumps(rule.params),
                json.dumps([selector_json(s) for s in rule.tag_selectors]),
                json.dumps(rule_json(rule)["scope_selectors"]),
                rule_key(rule),
                found.id,
            )
        except Integrity:
            raise Conflict("immutable rule already exists") from None
        return count > 0

    async def delete_immutable(self, rule_id: int) -> bool:
        return await self.sql.execute("DELETE FROM immutable_rules WHERE id = ?", rule_id) > 0

    async def forget_project(self, project: str) -> int:
        """Delete a deleted project's immutable rules and retention policy (with its
        executions and tasks); how many rows of the two went."""
        rules = await self.sql.execute("DELETE FROM immutable_rules WHERE project = ?", project)
        policies = await self.sql.execute(
            "DELETE FROM retention_policies WHERE project = ?", project
        )
        return rules + policies

    # --- retention policies ----------------------------------------------------------
    async def create_policy(self, policy: RetentionPolicy) -> RetentionPolicy:
        try:
            new_id = await self.sql.insert(
                "INSERT INTO retention_policies (project_id, project, algorithm, rules, "
                "trigger_kind, trigger_cron, created, updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                policy.project_id,
                policy.project,
                policy.algorithm,
                json.dumps([rule_json(r) for r in policy.rules]),
                policy.trigger_kind,
                policy.trigger_cron,
                policy.created,
                policy.updated,
            )
        except Integrity:
            raise Conflict(f"project {policy.project_id} already has a retention policy") from None
        return replace(policy, id=new_id)

    async def policy(self, policy_id: int) -> RetentionPolicy | None:
        rows = await self.sql.fetch(
            f"SELECT {_POLICY} FROM retention_policies WHERE id = ?", policy_id
        )
        return _policy(rows[0]) if rows else None

    async def scheduled_policies(self) -> list[RetentionPolicy]:
        rows = await self.sql.fetch(
            f"SELECT {_POLICY} FROM retention_policies WHERE trigger_cron <> '' ORDER BY id"
        )
        return [_policy(r) for r in rows]

    async def update_policy(self, policy: RetentionPolicy) -> bool:
        count = await self.sql.execute(
            "UPDATE retention_policies SET algorithm = ?, rules = ?, trigger_kind = ?, "
            "trigger_cron = ?, updated = ? WHERE id = ?",
            policy.algorithm,
            json.dumps([rule_json(r) for r in policy.rules]),
            policy.trigger_kind,
            policy.trigger_cron,
            policy.updated,
            policy.id,
        )
        return count > 0

    async def delete_policy(self, policy_id: int) -> bool:
        return await self.sql.execute("DELETE FROM retention_policies WHERE id = ?", policy_id) > 0

    # --- executions and tasks --------------------------------------------------------
    async def create_execution(self, execution: RetentionExecution) -> RetentionExecution:
        new_id = await self.sql.insert(
            "INSERT INTO retention_executions (policy_id, status, trigger_kind, dry_run, "
            "start_time, end_time) VALUES (?, ?, ?, ?, ?, ?)",
            execution.policy_id,
            execution.status,
            execution.trigger,
            int(execution.dry_run),
            execution.start_time,
            execution.end_time,
        )
        return replace(execution, id=new_id)

    async def execution(self, execution_id: int) -> RetentionExecution | None:
        rows = await self.sql.fetch(
            f"SELECT {_EXECUTION} FROM retention_executions WHERE id = ?", execution_id
        )
        return _execution(rows[0]) if rows else None

    async def executions(
        self, policy_id: int, offset: int, limit: int
    ) -> tuple[list[RetentionExecution], int]:
        """A policy's executions, newest first, and how many there are."""
        rows = await self.sql.fetch(
            f"SELECT {_EXECUTION} FROM retention_executions WHERE policy_id = ? "
            "ORDER BY id DESC LIMIT ? OFFSET ?",
            policy_id,
            limit,
            offset,
        )
        total = await self.sql.fetch(
            "SELECT count(*) FROM retention_executions WHERE policy_id = ?", policy_id
        )
        return [_execution(r) for r in rows], int(total[0][0])

    async def set_execution_status(
        self, execution_id: int, status: str, end_time: float | None
    ) -> bool:
        """Move an unfinished execution to ``status`` (a finished one stays as it is)."""
        count = await self.sql.execute(
            "UPDATE retention_executions SET status = ?, end_time = ? "
            "WHERE id = ? AND status IN (?, ?)",
            status,
            end_time,
            execution_id,
            PENDING,
            RUNNING,
        )
        return count > 0

    async def create_task(self, task: RetentionTask) -> RetentionTask:
        new_id = await self.sql.insert(
            "INSERT INTO retention_tasks (execution_id, repository, job_id, status, total, "
            "retained, removed, start_time, end_time) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            task.execution_id,
            task.repository,
            task.job_id,
            task.status,
            task.total,
            task.retained,
            json.dumps(list(task.removed)),
            task.start_time,
            task.end_time,
        )
        return replace(task, id=new_id)

    async def set_task_job(self, task_id: int, job_id: int) -> None:
        await self.sql.execute(
            "UPDATE retention_tasks SET job_id = ? WHERE id = ?", job_id, task_id
        )

    async def task(self, task_id: int) -> RetentionTask | None:
        rows = await self.sql.fetch(f"SELECT {_TASK} FROM retention_tasks WHERE id = ?", task_id)
        return _task(rows[0]) if rows else None

    async def tasks(
        self, execution_id: int, offset: int = 0, limit: int = 100_000
    ) -> tuple[list[RetentionTask], int]:
        rows = await self.sql.fetch(
            f"SELECT {_TASK} FROM retention_tasks WHERE execution_id = ? "
            "ORDER BY id LIMIT ? OFFSET ?",
            execution_id,
            limit,
            offset,
        )
        total = await self.sql.fetch(
            "SELECT count(*) FROM retention_tasks WHERE execution_id = ?", execution_id
        )
        return [_task(r) for r in rows], int(total[0][0])

    async def start_task(self, task_id: int, now: float) -> None:
        await self.sql.execute(
            "UPDATE retention_tasks SET status = ?, start_time = COALESCE(start_time, ?) "
            "WHERE id = ? AND status IN (?, ?)",
            RUNNING,
            now,
            task_id,
            PENDING,
            RUNNING,
        )

    async def finish_task(
        self,
        task_id: int,
        status: str,
        now: float,
        *,
        total: int = 0,
        retained: int = 0,
        removed: tuple[str, ...] = (),
    ) -> bool:
        """Record a task's outcome once (a task already finished is left alone)."""
        count = await self.sql.execute(
            "UPDATE retention_tasks SET status = ?, total = ?, retained = ?, removed = ?, "
            "end_time = ? WHERE id = ? AND status IN (?, ?)",
            status,
            total,
            retained,
            json.dumps(list(removed)),
            now,
            task_id,
            PENDING,
            RUNNING,
        )
        return count > 0

    async def task_counts(self, execution_id: int) -> dict[str, int]:
        rows = await self.sql.fetch(
            "SELECT status, count(*) FROM retention_tasks WHERE execution_id = ? GROUP BY status",
            execution_id,
        )
        return {str(r[0]): int(r[1]) for r in rows}


FINAL_TASK_STATES = (SUCCEED, FAILED, STOPPED)
