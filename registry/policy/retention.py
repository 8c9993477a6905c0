"""Tag retention (Harbor's semantics): a project's policy is a list of "retain" rules, each
scoped by a repository selector and a tag selector (doublestar patterns, ``matches`` /
``excludes``, the ``untagged`` extra). In every repository some enabled rule scopes, an
artifact is kept when any rule retains it, and everything else there is removed.

An execution (manual, dry run, or fired by the policy's cron on the leader) becomes one
task per repository, run through the durable job queue (``retention.task`` jobs, grouped
by execution so a stop reaches them all). A task removes artifacts through the content
core, so the policy gate applies: an artifact holding an immutable tag is never removed
(marked IMMUTABLE, counted as retained). Removed manifests leave their blobs to GC. When
the last task ends, the execution's status is recorded once and ``RetentionFinished``
is published."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from wharf.db.errors import DatabaseUnavailable
from wharf.jobs.cron import Cron, InvalidCron, TickWindow
from wharf.jobs.models import NewJob
from wharf.jobs.runner import Handler, JobContext, PermanentFailure
from wharf.jobs.store import JobStore
from wharf.registry.content.service import ContentService
from wharf.registry.events import Actor, EventBus, RetentionFinished
from wharf.registry.metadata.base import ArtifactRow
from wharf.registry.oci.errors import DENIED, MANIFEST_UNKNOWN, RegistryError
from wharf.registry.oci.names import parse_digest
from wharf.registry.policy.immutable import ImmutableRules, split_repository
from wharf.registry.policy.models import (
    DOUBLESTAR,
    EXCLUDES,
    FAILED,
    PENDING,
    REPO_DECORATIONS,
    REPO_EXCLUDES,
    RUNNING,
    STOPPED,
    SUCCEED,
    TAG_DECORATIONS,
    RetentionExecution,
    RetentionPolicy,
    RetentionTask,
    Rule,
    Selector,
)
from wharf.registry.policy.patterns import BadPattern, match, validate
from wharf.registry.policy.store import PolicyStore

log = logging.getLogger("wharf.retention")

TASK_KIND = "retention.task"
RETAIN = "retain"
ALGORITHM = "or"
MAX_RULES = 15
SCHEDULER = Actor("scheduler")
DAY = 86400.0


@dataclass(frozen=True, slots=True)
class Template:
    id: str
    display_text: str
    unit: str  # "" when the template takes no parameter
    limit: int  # the parameter's upper bound (exclusive)


TEMPLATES = (
    Template("latestPushedK", "the most recently pushed # artifacts", "COUNT", 2**15 - 1),
    Template("latestPulledN", "the most recently pulled # artifacts", "COUNT", 2**15 - 1),
    Template("nDaysSinceLastPush", "pushed within the last # days", "DAYS", 20190905),
    Template("nDaysSinceLastPull", "pulled within the last # days", "DAYS", 20190905),
    Template("always", "always", "", 0),
)
BY_ID = {t.id: t for t in TEMPLATES}


class InvalidPolicy(ValueError):
    pass


class ExecutionNotFound(LookupError):
    pass


def parameter(rule: Rule) -> int:
    """The rule's number (its template's parameter, keyed by the template's id)."""
    value = rule.params.get(rule.template)
    if isinstance(value, float):  # as Harbor's ParseJSONInt: a JSON number, truncated
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidPolicy(f"{rule.template} type error")
    return value


def check_rules(rules: Sequence[Rule]) -> None:
    """InvalidPolicy when Harbor would refuse the rules."""
    if len(rules) > MAX_RULES:
        raise InvalidPolicy(f"only {MAX_RULES} rules are allowed at most")
    seen: dict[tuple[Any, ...], int] = {}
    for n, rule in enumerate(rules):
        template = BY_ID.get(rule.template)
        if template is None:
            raise InvalidPolicy(f"rule evaluator {rule.template} is not registered")
        if rule.action not in ("", RETAIN):
            raise InvalidPolicy(f"action {rule.action} is not supported")
        if template.unit:
            if rule.template not in rule.params:
                raise InvalidPolicy(
                    f"missing required parameter {rule.template} for rule {rule.template}"
                )
            value = parameter(rule)
            if value < 0:
                raise InvalidPolicy(f"{rule.template} is less than zero")
            if value >= template.limit:
                raise InvalidPolicy(f"{rule.template} is too large")
        selectors: list[tuple[Selector, tuple[str, ...]]] = [
            (s, TAG_DECORATIONS) for s in rule.tag_selectors
        ]
        selectors += [(s, REPO_DECORATIONS) for s in rule.scope_selectors.get("repository", ())]
        for selector, allowed in selectors:
            if selector.kind != DOUBLESTAR:
                raise InvalidPolicy(f"selector kind {selector.kind} is not supported")
            if selector.decoration not in allowed:
                raise InvalidPolicy(f"decoration {selector.decoration} is not supported")
            try:
                validate(selector.pattern)
            except BadPattern as exc:
                raise InvalidPolicy(f"invalid pattern {selector.pattern}: {exc}") from None
        key = (
            rule.template,
            repr(sorted(rule.params.items())),
            rule.tag_selectors,
            tuple(sorted(rule.scope_selectors.items())),
            rule.disabled,
        )
        if key in seen:
            raise InvalidPolicy(f"rule {n} is conflict with rule {seen[key]}")
        seen[key] = n


def check_cron(cron: str) -> None:
    if cron:
        try:
            Cron.parse(cron)
        except InvalidCron as exc:
            raise InvalidPolicy(f"invalid cron {cron!r}: {exc}") from None


# --- evaluation ----------------------------------------------------------------------
def untagged_extra(selector: Selector) -> bool:
    """Harbor's ``untagged`` extra: whether the selector selects untagged artifacts
    (default: yes for ``matches``, no for ``excludes``)."""
    default = selector.decoration != EXCLUDES
    if not selector.extras:
        return default
    try:
        extras = json.loads(selector.extras)
    except ValueError:
        return default
    value = extras.get("untagged") if isinstance(extras, dict) else None
    return value if isinstance(value, bool) else default


def tag_selected(selector: Selector, tags: Sequence[str]) -> bool:
    untagged = untagged_extra(selector)
    if selector.decoration == EXCLUDES:
        if not tags:
            return not untagged  # as Harbor's doublestar selector
        return any(not match(selector.pattern, t) for t in tags)
    if not tags:
        return untagged
    return any(match(selector.pattern, t) for t in tags)


def repository_selected(rule: Rule, path: str) -> bool:
    for selector in rule.scope_selectors.get("repository", ()):
        hit = match(selector.pattern, path)
        if hit == (selector.decoration == REPO_EXCLUDES):
            return False
    return True


def candidates_of(rows: Sequence[ArtifactRow]) -> list[ArtifactRow]:
    """What retention judges: the repository's artifacts, without accessories (they go
    with their subject) and without the manifests of an index (they go with it)."""
    return [r for r in rows if r.record.subject is None and not r.referenced]


def retained_by(rule: Rule, rows: Sequence[ArtifactRow], now: float) -> list[ArtifactRow]:
    selected = list(rows)
    for selector in rule.tag_selectors:
        selected = [r for r in selected if tag_selected(selector, [t.name for t in r.tags])]
    template = rule.template
    if template == "always":
        return selected
    n = parameter(rule)
    if template == "latestPushedK":
        return sorted(selected, key=lambda r: -r.pushed)[:n]
    if template == "latestPulledN":
        return sorted(selected, key=lambda r: -(r.pulled or 0.0))[:n]
    if template == "nDaysSinceLastPush":
        return [r for r in selected if r.pushed >= now - n * DAY]
    if template == "nDaysSinceLastPull":
        return [r for r in selected if (r.pulled or 0.0) >= now - n * DAY]
    raise InvalidPolicy(f"rule evaluator {template} is not registered")


def evaluate(
    rules: Sequence[Rule], path: str, rows: Sequence[ArtifactRow], now: float
) -> tuple[list[ArtifactRow], set[str]]:
    """(the candidates, the digests some rule retains) of a repository."""
    candidates = candidates_of(rows)
    kept: set[str] = set()
    for rule in rules:
        if rule.disabled or not repository_selected(rule, path):
            continue
        kept.update(r.record.digest for r in retained_by(rule, candidates, now))
    return candidates, kept


def _time(ts: float | None) -> str:
    if not ts:
        return ""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y/%m/%d %H:%M:%S")


def table(rows: Sequence[tuple[ArtifactRow, str]]) -> str:
    """The task log's table, with Harbor's columns and marks (RETAIN, DEL, IMMUTABLE, ERR)."""
    header = (
        "Digest",
        "Tag",
        "Kind",
        "Labels",
        "PushedTime",
        "PulledTime",
        "CreatedTime",
        "Retention",
    )
    lines = [header]
    for row, mark in rows:
        lines.append(
            (
                row.record.digest,
                ",".join(t.name for t in row.tags),
                "image",
                ",".join(str(i) for i in row.labels),
                _time(row.pushed),
                _time(row.pulled),
                _time(row.pushed),
                mark,
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]

    def render(line: tuple[str, ...]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)) + " |"

    separator = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([render(lines[0]), separator, *(render(line) for line in lines[1:])])


class RetentionService:
    def __init__(
        self,
        store: PolicyStore,
        content: ContentService,
        immutable: ImmutableRules,
        jobs: JobStore,
        enqueue: Callable[[Sequence[NewJob]], Awaitable[list[int]]],
        events: EventBus,
    ) -> None:
        self.store = store
        self.content = content
        self.immutable = immutable
        self.jobs = jobs
        self.enqueue = enqueue
        self.events = events

    @property
    def handlers(self) -> dict[str, Handler]:
        return {TASK_KIND: self._run_task}

    # --- policies --------------------------------------------------------------------
    async def create(self, policy: RetentionPolicy) -> RetentionPolicy:
        check_rules(policy.rules)
        check_cron(policy.trigger_cron)
        now = time.time()
        return await self.store.create_policy(
            RetentionPolicy(
                policy.project_id,
                policy.project,
                policy.algorithm or ALGORITHM,
                policy.rules,
                policy.trigger_kind,
                policy.trigger_cron,
                created=now,
                updated=now,
            )
        )

    async def update(self, old: RetentionPolicy, new: RetentionPolicy) -> None:
        check_rules(new.rules)
        check_cron(new.trigger_cron)
        await self.store.update_policy(
            RetentionPolicy(
                old.project_id,
                old.project,
                new.algorithm or ALGORITHM,
                new.rules,
                new.trigger_kind,
                new.trigger_cron,
                old.id,
                old.created,
                time.time(),
            )
        )

    # --- executions ------------------------------------------------------------------
    async def start(
        self, policy: RetentionPolicy, *, dry_run: bool, trigger: str, actor: Actor
    ) -> RetentionExecution:
        """Record an execution and queue one task per repository in scope."""
        execution = await self.store.create_execution(
            RetentionExecution(policy.id, RUNNING, trigger, dry_run, time.time())
        )
        repos = await self.content.store.repositories_under(policy.project + "/")
        in_scope = []
        for info in repos:
            _, path = split_repository(info.name)
            if any(not r.disabled and repository_selected(r, path) for r in policy.rules):
                in_scope.append(info.name)
        tasks = [
            await self.store.create_task(RetentionTask(execution.id, repo, PENDING))
            for repo in in_scope
        ]
        payload = {"execution_id": execution.id, "actor": actor.name}
        jobs = [
            NewJob(TASK_KIND, {**payload, "task_id": t.id}, group=self.group(execution.id))
            for t in tasks
        ]
        if jobs:
            ids = await self.enqueue(jobs)
            for task, job_id in zip(tasks, ids, strict=True):
                await self.store.set_task_job(task.id, job_id)
        log.info(
            "retention started",
            extra={
                "execution": execution.id,
                "policy": policy.id,
                "tasks": len(tasks),
                "dry_run": dry_run,
            },
        )
        await self._maybe_finish(execution.id)
        return execution

    @staticmethod
    def group(execution_id: int) -> str:
        return f"retention:{execution_id}"

    async def stop(self, execution: RetentionExecution) -> None:
        """Stop an execution: its unfinished tasks end Stopped, their jobs are stopped."""
        now = time.time()
        await self.jobs.request_stop(now, group=self.group(execution.id))
        tasks, _ = await self.store.tasks(execution.id)
        for task in tasks:
            await self.store.finish_task(task.id, STOPPED, now)
        await self._maybe_finish(execution.id)

    async def _maybe_finish(self, execution_id: int) -> None:
        counts = await self.store.task_counts(execution_id)
        if counts.get(PENDING, 0) or counts.get(RUNNING, 0):
            return
        status = SUCCEED
        if counts.get(FAILED, 0):
            status = FAILED
        elif counts.get(STOPPED, 0):
            status = STOPPED
        if not await self.store.set_execution_status(execution_id, status, time.time()):
            return  # someone else recorded the end
        execution = await self.store.execution(execution_id)
        policy = None if execution is None else await self.store.policy(execution.policy_id)
        if execution is None or policy is None:
            return
        tasks, _ = await self.store.tasks(execution_id)
        removed = (
            ()
            if execution.dry_run
            else tuple(f"{t.repository}@{d}" for t in tasks for d in t.removed)
        )
        await self.events.publish(
            RetentionFinished(
                SCHEDULER if execution.trigger == "SCHEDULE" else Actor("retention"),
                execution_id,
                policy.project,
                status,
                execution.dry_run,
                sum(t.retained for t in tasks),
                removed,
            )
        )
        log.info("retention finished", extra={"execution": execution_id, "status": status})

    async def _run_task(self, ctx: JobContext) -> dict[str, Any] | None:
        task_id = int(ctx.payload["task_id"])
        execution_id = int(ctx.payload["execution_id"])
        try:
            return await self._task(ctx, task_id, execution_id)
        except PermanentFailure as exc:
            await self.store.finish_task(task_id, FAILED, time.time())
            await ctx.log(f"failed: {exc}", "error")
            await self._maybe_finish(execution_id)
            raise
        except Exception:
            if ctx.job.attempts >= ctx.job.max_attempts:
                await self.store.finish_task(task_id, FAILED, time.time())
                await self._maybe_finish(execution_id)
            raise

    async def _task(
        self, ctx: JobContext, task_id: int, execution_id: int
    ) -> dict[str, Any] | None:
        task = await self.store.task(task_id)
        execution = await self.store.execution(execution_id)
        if task is None or execution is None:
            return None  # the policy (and its executions) went meanwhile
        if task.status not in (PENDING, RUNNING):
            return None  # stopped before it ran
        policy = await self.store.policy(execution.policy_id)
        if policy is None:
            return None
        now = time.time()
        await self.store.start_task(task_id, now)
        repo = task.repository
        project, path = split_repository(repo)
        rows = await self.content.store.artifacts(repo) or []
        candidates, kept = evaluate(policy.rules, path, rows, now)
        matcher = await self.immutable.matcher(project)
        actor = Actor(str(ctx.payload.get("actor") or "retention"))
        marks: list[tuple[ArtifactRow, str]] = []
        removed: list[str] = []
        errors: list[str] = []
        for row in candidates:
            digest = row.record.digest
            if digest in kept:
                marks.append((row, "RETAIN"))
                continue
            if matcher and any(matcher.holding(path, t.name) for t in row.tags):
                marks.append((row, "IMMUTABLE"))
                continue
            if execution.dry_run:
                marks.append((row, "DEL"))
                removed.append(digest)
                continue
            try:
                await self.content.manifests.delete(repo, parse_digest(digest), actor)
            except RegistryError as exc:
                if exc.error is MANIFEST_UNKNOWN:
                    marks.append((row, "DEL"))  # gone meanwhile: what was asked holds
                    continue
                mark = "IMMUTABLE" if exc.error is DENIED else "ERR"
                marks.append((row, mark))
                errors.append(f"Retention error for artifact {repo}@{digest}: {exc.message}")
                continue
            marks.append((row, "DEL"))
            removed.append(digest)
        await ctx.log("\n" + table(marks))
        for line in errors:
            await ctx.log(line, "warning")
        retained = sum(1 for _, mark in marks if mark in ("RETAIN", "IMMUTABLE"))
        await self.store.finish_task(
            task_id,
            SUCCEED,
            time.time(),
            total=len(candidates),
            retained=retained,
            removed=tuple(removed),
        )
        await self._maybe_finish(execution_id)
        return {"total": len(candidates), "retained": retained, "removed": len(removed)}


class ScheduleTicker:
    """What the leader runs every second: start the executions whose policy's cron fired
    since the last tick (looking back ``catch_up`` seconds at most after a gap)."""

    def __init__(self, service: RetentionService, *, catch_up: float = 5.0) -> None:
        self.service = service
        self.window = TickWindow(catch_up)

    async def tick(self, now: float | None = None) -> list[int]:
        now = time.time() if now is None else now
        since = self.window.advance(now)
        started: list[int] = []
        try:
            policies = await self.service.store.scheduled_policies()
            for policy in policies:
                try:
                    due = Cron.parse(policy.trigger_cron).fires_between(since, now)
                except InvalidCron:
                    continue
                if due:
                    execution = await self.service.start(
                        policy, dry_run=False, trigger="SCHEDULE", actor=SCHEDULER
                    )
                    started.append(execution.id)
        except DatabaseUnavailable as exc:
            log.warning(
                "retention schedules not checked: database unavailable", extra={"error": str(exc)}
            )
        return started
