"""The replication core: policies (checked, stored, announced) and their executions,
which run as jobs of the durable queue on whichever replica claims them.

An execution is one ``replication.plan`` job (group ``replication:<id>:plan``) that lists
what the policy selects at the source — repositories by the name filter, tags by the tag
filter, grouped by the artifact (digest) they point at — and enqueues one
``replication.copy`` job per artifact (group ``replication:<id>``, Harbor's *tasks*) in one
transaction; a plan run again after its worker died finds them enqueued and adds none.
Each task copies its artifact with ``copier.Copier``; its log lines are the task's log.
The execution's status follows from its jobs' states (in progress while any is pending or
running; then failed if any failed, else stopped if any was stopped, else succeeded), and
is written down once final.

Triggers: manual (``POST /replication/executions``). Scheduled and event-based triggers,
and replicating deletions, are refused when a policy is stored: none of them runs yet."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from wharf.auth.errors import AlreadyExists, BadRequest, NotFound, Precondition
from wharf.jobs.models import Job, JobState, NewJob
from wharf.jobs.runner import Handler, JobContext, PermanentFailure
from wharf.jobs.store import JobStore
from wharf.registry.content.service import ContentService
from wharf.registry.events import Actor, EventBus, ReplicationChanged
from wharf.registry.metadata.base import ProjectUnknown
from wharf.registry.oci.errors import RegistryError
from wharf.registry.oci.names import NAME_COMPONENT
from wharf.replication.client.blobs import DigestMismatch
from wharf.replication.client.client import BadManifest, RegistryClient
from wharf.replication.client.transport import ClientOptions, RemoteError
from wharf.replication.copier import Copier
from wharf.replication.filters import (
    InvalidPolicy,
    check_filters,
    destination,
    images_only,
    is_literal,
    repository_wanted,
    tag_wanted,
)
from wharf.replication.models import (
    FAILED,
    IN_PROGRESS,
    STOPPED,
    SUCCEED,
    Execution,
    Policy,
    Registry,
)
from wharf.replication.registries import RegistryService
from wharf.replication.sides import LocalSide, RemoteSide, Side
from wharf.replication.store import Conflict, ReplicationStore

log = logging.getLogger("wharf.replication")

PLAN = "replication.plan"
COPY = "replication.copy"
TRIGGERS = ("manual",)  # the ones that run; Harbor's scheduled and event_based do not yet
CHUNK_SIZE = 10 * 1024 * 1024  # copy_by_chunk: Harbor's piece size
TASK_ATTEMPTS = 3
REFERRERS_TAG = re.compile(r"^[a-z0-9]+-[0-9a-f]{32,}$")  # the tag schema's sha256-<hex>
NAMESPACE = re.compile(rf"^{NAME_COMPONENT}(?:/{NAME_COMPONENT})*$")
MAX_NAME = 256
REPLICATOR = Actor("replication")  # who the local pushes of a pull replication are by


def plan_group(execution_id: int) -> str:
    return f"replication:{execution_id}:plan"


def task_group(execution_id: int) -> str:
    return f"replication:{execution_id}"


Enqueue = Callable[[Sequence[NewJob]], Awaitable[list[int]]]


@dataclass(frozen=True, slots=True)
class Task:
    """A copy job seen as Harbor's ``ReplicationTask``."""

    job: Job
    execution_id: int
    src_resource: str
    dst_resource: str
    resource_type: str


class ReplicationService:
    def __init__(
        self,
        store: ReplicationStore,
        registries: RegistryService,
        content: ContentService,
        jobs: JobStore,
        enqueue: Enqueue,
        events: EventBus,
        *,
        client_options: ClientOptions | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.registries = registries
        self.content = content
        self.jobs = jobs
        self.enqueue = enqueue
        self.events = events
        self.client_options = client_options or ClientOptions()
        self.clock = clock
        registries.references.append(self._policies_using)

    @property
    def handlers(self) -> dict[str, Handler]:
        """The job kinds this service runs."""
        return {PLAN: self.plan, COPY: self.copy}

    async def _policies_using(self, registry_id: int) -> str | None:
        count = await self.store.policies_using(registry_id)
        return f"{count} replication policies" if count else None

    # --- policies ----------------------------------------------------------------------
    async def policies(self) -> list[Policy]:
        return await self.store.policies()

    async def policy(self, policy_id: int) -> Policy:
        policy = await self.store.get_policy(policy_id)
        if policy is None:
            raise NotFound(f"policy {policy_id} not found")
        return policy

    async def create_policy(self, actor: Actor, policy: Policy) -> Policy:
        now = self.clock()
        policy = replace(policy, id=0, created=now, updated=now)
        await self._check(policy)
        try:
            created = await self.store.create_policy(policy)
        except Conflict as exc:
            raise AlreadyExists(str(exc)) from None
        await self._announce(actor, "create", created)
        return created

    async def update_policy(self, actor: Actor, policy_id: int, policy: Policy) -> Policy:
        stored = await self.policy(policy_id)
        policy = replace(policy, id=policy_id, created=stored.created, updated=self.clock())
        await self._check(policy)
        try:
            found = await self.store.update_policy(policy)
        except Conflict as exc:
            raise AlreadyExists(str(exc)) from None
        if not found:
            raise NotFound(f"policy {policy_id} not found")
        await self._announce(actor, "update", policy)
        return policy

    async def delete_policy(self, actor: Actor, policy_id: int) -> None:
        policy = await self.policy(policy_id)
        if await self._running(policy_id):
            raise Precondition(f"the policy {policy_id} has executions in progress")
        if not await self.store.delete_policy(policy_id):
            raise NotFound(f"policy {policy_id} not found")
        await self._announce(actor, "delete", policy)

    async def _announce(self, actor: Actor, operation: str, policy: Policy) -> None:
        await self.events.publish(
            ReplicationChanged(actor, operation, "replication_policy", policy.id, policy.name)
        )

    async def _check(self, policy: Policy) -> None:
        policy.name = policy.name.strip()
        if not policy.name:
            raise BadRequest("name cannot be empty")
        if len(policy.name) > MAX_NAME:
            raise BadRequest(f"the max length of name is {MAX_NAME}")
        if (policy.src_registry_id is None) == (policy.dest_registry_id is None):
            raise BadRequest(
                "one of src_registry and dest_registry must be this registry, the other a "
                "remote one"
            )
        await self.registries.get(policy.remote_registry_id)  # NotFound when it is not
        if policy.trigger_type not in TRIGGERS:
            raise BadRequest(
                f"trigger {policy.trigger_type!r} is not supported yet (supported: "
                f"{', '.join(TRIGGERS)})"
            )
        if policy.replicate_deletion:
            raise BadRequest("replicating deletions needs an event-based trigger (not yet)")
        if policy.dest_namespace and not NAMESPACE.match(policy.dest_namespace):
            raise BadRequest(f"invalid destination namespace {policy.dest_namespace!r}")
        if policy.dest_namespace_replace_count < -1:
            raise BadRequest("dest_namespace_replace_count must be -1 or more")
        if policy.speed < -1:
            raise BadRequest("speed must be -1 (unlimited) or more")
        try:
            check_filters(policy.filters)
        except InvalidPolicy as exc:
            raise BadRequest(str(exc)) from None

    # --- executions ----------------------------------------------------------------------
    async def start(self, actor: Actor, policy_id: int, trigger: str = "manual") -> Execution:
        policy = await self.policy(policy_id)
        if not policy.enabled:
            raise BadRequest(f"the policy {policy_id} is disabled")
        if policy.single_active_replication and await self._running(policy_id):
            raise Precondition(f"the policy {policy_id} has an execution in progress")
        execution = await self.store.create_execution(
            Execution(policy_id, trigger, start_time=self.clock())
        )
        await self.enqueue(
            [
                NewJob(
                    PLAN,
                    {"execution_id": execution.id, "policy_id": policy_id},
                    group=plan_group(execution.id),
                    max_attempts=TASK_ATTEMPTS,
                )
            ]
        )
        await self.events.publish(
            ReplicationChanged(actor, "create", "replication_execution", execution.id, policy.name)
        )
        return execution

    async def stop(self, actor: Actor, execution_id: int) -> Execution:
        execution = await self.execution(execution_id)
        if execution.status == IN_PROGRESS:
            now = self.clock()
            await self.jobs.request_stop(now, group=plan_group(execution_id))
            await self.jobs.request_stop(now, group=task_group(execution_id))
            policy = await self.store.get_policy(execution.policy_id)
            name = policy.name if policy is not None else ""
            await self.events.publish(
                ReplicationChanged(actor, "stop", "replication_execution", execution_id, name)
            )
        return await self.execution(execution_id)

    async def execution(self, execution_id: int) -> Execution:
        execution = await self.store.get_execution(execution_id)
        if execution is None:
            raise NotFound(f"execution {execution_id} not found")
        return await self.refresh(execution)

    async def executions(
        self,
        *,
        policy_id: int | None = None,
        status: str | None = None,
        trigger: str | None = None,
        offset: int = 0,
        limit: int = 100,
    ) -> tuple[list[Execution], int]:
        found, total = await self.store.executions(
            policy_id=policy_id, status=status, trigger=trigger, offset=offset, limit=limit
        )
        return [await self.refresh(e) for e in found], total

    async def _running(self, policy_id: int) -> bool:
        found, _ = await self.executions(policy_id=policy_id, status=IN_PROGRESS, limit=1000)
        return any(e.status == IN_PROGRESS for e in found)

    async def refresh(self, execution: Execution) -> Execution:
        """The execution with its status and counts as its jobs say; written down once
        final (by whichever caller sees it first)."""
        if execution.status != IN_PROGRESS:
            return execution
        plan = await self.jobs.counts(plan_group(execution.id))
        tasks = await self.jobs.counts(task_group(execution.id))
        busy = (JobState.PENDING, JobState.RUNNING)
        current = replace(
            execution,
            total=sum(tasks.values()),
            succeed=tasks.get(JobState.SUCCEEDED, 0),
            failed=tasks.get(JobState.FAILED, 0),
            stopped=tasks.get(JobState.STOPPED, 0),
            in_progress=sum(tasks.get(s, 0) for s in busy),
        )
        if any(plan.get(s) for s in busy) or current.in_progress:
            return current
        if plan.get(JobState.FAILED):
            jobs, _ = await self.jobs.find(group=plan_group(execution.id), limit=1)
            current.status = FAILED
            current.status_text = jobs[0].error if jobs else "planning failed"
        elif plan.get(JobState.STOPPED) or current.stopped:
            current.status = FAILED if current.failed else STOPPED
        else:
            current.status = FAILED if current.failed else SUCCEED
        if not current.status_text:
            current.status_text = (
                f"{current.succeed} of {current.total} artifacts replicated"
                + (f", {current.failed} failed" if current.failed else "")
                + (f", {current.stopped} stopped" if current.stopped else "")
            )
        current.end_time = self.clock()
        if not await self.store.finish_execution(current):
            stored = await self.store.get_execution(execution.id)  # another caller won
            return stored or current
        return current

    async def tasks(
        self,
        execution_id: int,
        *,
        states: Sequence[JobState] = (),
        offset: int = 0,
        limit: int = 100,
    ) -> tuple[list[Task], int]:
        await self.execution(execution_id)  # NotFound when there is none
        jobs, total = await self.jobs.find(
            group=task_group(execution_id), kind=COPY, states=states, offset=offset, limit=limit
        )
        return [task_of(job, execution_id) for job in jobs], total

    async def task(self, execution_id: int, task_id: int) -> Task:
        job = await self.jobs.get(task_id)
        if job is None or job.group != task_group(execution_id) or job.kind != COPY:
            raise NotFound(f"task {task_id} of execution {execution_id} not found")
        return task_of(job, execution_id)

    async def task_log(self, execution_id: int, task_id: int) -> str:
        task = await self.task(execution_id, task_id)
        lines = await self.jobs.logs(task.job.id)
        return "".join(
            f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(line.time))} "
            f"[{line.level.upper()}] {line.message}\n"
            for line in lines
        )

    # --- the jobs ------------------------------------------------------------------------
    async def _sides(
        self, policy: Policy, registry: Registry, client: RegistryClient
    ) -> tuple[Side, Side]:
        remote = RemoteSide(
            client, registry.name, chunk_size=CHUNK_SIZE if policy.copy_by_chunk else None
        )
        local = LocalSide(self.content, REPLICATOR)
        return (remote, local) if policy.pulls else (local, remote)

    async def _policy_and_registry(self, policy_id: int) -> tuple[Policy, Registry]:
        policy = await self.store.get_policy(policy_id)
        if policy is None:
            raise PermanentFailure(f"the policy {policy_id} was deleted")
        registry = await self.store.get_registry(policy.remote_registry_id)
        if registry is None:
            raise PermanentFailure(f"the registry {policy.remote_registry_id} was deleted")
        return policy, registry

    async def plan(self, ctx: JobContext) -> dict[str, Any]:
        execution_id = int(ctx.payload["execution_id"])
        group = task_group(execution_id)
        if await self.jobs.counts(group):
            await ctx.log("the tasks were enqueued by an earlier attempt")
            return {"tasks": sum((await self.jobs.counts(group)).values())}
        policy, registry = await self._policy_and_registry(int(ctx.payload["policy_id"]))
        async with RegistryClient(registry.endpoint(), self.client_options) as client:
            source, _ = await self._sides(policy, registry, client)
            try:
                repos = await self._repositories(source, policy)
                tasks: list[NewJob] = []
                for repo in repos:
                    tasks += await self._artifacts(source, policy, repo, execution_id)
            except RemoteError as exc:
                if exc.status in (401, 403, 404):
                    raise PermanentFailure(str(exc)) from exc
                raise
        await self.enqueue(tasks)
        await ctx.log(
            f"{len(tasks)} artifacts in {len(repos)} repositories of {source.label} to replicate"
        )
        return {"tasks": len(tasks), "repositories": len(repos)}

    async def _repositories(self, source: Side, policy: Policy) -> list[str]:
        name = next((f for f in policy.filters if f.type == "name"), None)
        if not source.can_list:
            if name is None or name.decoration != "matches" or not is_literal(name.value):
                raise PermanentFailure(
                    f"{source.label} lists no repositories: name the repository in the name "
                    "filter, without wildcards"
                )
            return [name.value]
        return sorted(
            r for r in await source.repositories() if repository_wanted(policy.filters, r)
        )

    async def _artifacts(
        self, source: Side, policy: Policy, repo: str, execution_id: int
    ) -> list[NewJob]:
        by_digest: dict[str, list[str]] = {}
        for tag in await source.tags(repo):
            if REFERRERS_TAG.match(tag):
                continue  # a referrers index of the tag schema: its entries go with the subject
            if not tag_wanted(policy.filters, tag):
                continue
            digest = await source.manifest_digest(repo, tag)
            if digest is not None:
                by_digest.setdefault(digest, []).append(tag)
        try:
            target = destination(repo, policy.dest_namespace, policy.dest_namespace_replace_count)
        except InvalidPolicy as exc:
            raise PermanentFailure(str(exc)) from None
        return [
            NewJob(
                COPY,
                {
                    "execution_id": execution_id,
                    "policy_id": policy.id,
                    "src_repo": repo,
                    "dst_repo": target,
                    "digest": digest,
                    "tags": sorted(tags),
                },
                group=task_group(execution_id),
                max_attempts=TASK_ATTEMPTS,
            )
            for digest, tags in sorted(by_digest.items())
        ]

    async def copy(self, ctx: JobContext) -> dict[str, Any]:
        payload = ctx.payload
        policy, registry = await self._policy_and_registry(int(payload["policy_id"]))
        speed = policy.speed * 1024 if policy.speed > 0 else None
        async with RegistryClient(registry.endpoint(), self.client_options) as client:
            source, target = await self._sides(policy, registry, client)
            await ctx.log(
                f"copying {payload['src_repo']}@{payload['digest']} "
                f"(tags: {', '.join(payload['tags']) or 'none'}) from {source.label} "
                f"to {target.label}:{payload['dst_repo']}"
            )
            copier = Copier(
                source,
                payload["src_repo"],
                target,
                payload["dst_repo"],
                log=ctx.log,
                override=policy.override,
                speed=speed,
                images_only=images_only(policy.filters),
            )
            try:
                report = await copier.copy(payload["digest"], list(payload["tags"]))
            except (LookupError, BadManifest) as exc:
                raise PermanentFailure(str(exc)) from exc
            except RegistryError as exc:  # this registry refused (read-only, a bad manifest)
                await ctx.log(f"refused here: {exc.error.code}: {exc.message}", "error")
                if exc.status >= 500:
                    raise
                raise PermanentFailure(f"{exc.error.code}: {exc.message}") from exc
            except ProjectUnknown as exc:  # the project must exist here (Harbor would create it)
                await ctx.log(f"refused here: {exc}", "error")
                raise PermanentFailure(str(exc)) from exc
            except RemoteError as exc:
                if exc.status in (400, 401, 403, 404):
                    raise PermanentFailure(str(exc)) from exc
                raise
            except DigestMismatch as exc:
                await ctx.log(f"digest mismatch: {exc}", "error")
                raise
        summary = report.as_dict()
        await ctx.log(
            f"done: {report.manifests_copied} manifests and {report.blobs_copied} blobs "
            f"({report.bytes_copied} bytes) copied, {report.blobs_mounted} mounted, "
            f"{report.manifests_present + report.blobs_present} already there"
        )
        return summary


def task_of(job: Job, execution_id: int) -> Task:
    payload = job.payload
    tags = payload.get("tags") or []
    shown = f"[{','.join(tags)}]" if tags else f"@{payload.get('digest', '')}"
    return Task(
        job=job,
        execution_id=execution_id,
        src_resource=f"{payload.get('src_repo', '')}:{shown}",
        dst_resource=f"{payload.get('dst_repo', '')}:{shown}",
        resource_type="image",
    )
