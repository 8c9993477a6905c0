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

Triggers: manual (``POST /replication/executions``); scheduled (a cron expression, checked
every second by the leader's ``ReplicationTicker``; each firing is claimed in the policy's
row, so a new leader looking back over the old one's last seconds starts nothing twice);
event-based (push policies only: ``on_event``, a subscriber of the core's events, enqueues
an execution of one task for the artifact pushed — or, with ``replicate_deletion``, a
``replication.delete`` task for the artifact or tag deleted — before the push or delete
is answered; the policies it looks at are cached in memory until a policy changes on any
replica, so a push no policy wants costs no database round trip). Label filters look at
this registry's labels (push policies). When an execution ends, ``ReplicationFinished``
is published once (by whichever process records the end; the ticker looks every second)."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from wharf.auth.errors import AlreadyExists, BadRequest, NotFound, Precondition
from wharf.coord.generations import Generations
from wharf.db.errors import DatabaseUnavailable
from wharf.jobs.cron import Cron, InvalidCron, TickWindow
from wharf.jobs.models import Job, JobState, NewJob
from wharf.jobs.runner import Handler, JobContext, PermanentFailure
from wharf.jobs.store import JobStore
from wharf.registry.content.service import ContentService
from wharf.registry.events import (
    Actor,
    Event,
    EventBus,
    ManifestDeleted,
    ManifestPushed,
    ReplicationChanged,
    ReplicationFinished,
    TagDeleted,
)
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
    label_filter,
    labels_wanted,
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
DELETE = "replication.delete"
MANUAL, SCHEDULED, EVENT_BASED = "manual", "scheduled", "event_based"
TRIGGERS = (MANUAL, SCHEDULED, EVENT_BASED)
POLICIES_KEY = "\0replication-policies"  # the generation slot bumped when a policy changes
SETTLE_BATCH = 100  # executions the ticker looks at per tick
UNPLANNED_GRACE = 60.0  # seconds an execution may have no job yet (being enqueued)
SCHEDULER = Actor("scheduler")
REPLICATION = Actor("replication")
CHUNK_SIZE = 10 * 1024 * 1024  # copy_by_chunk: Harbor's piece size
TASK_ATTEMPTS = 3
REFERRERS_TAG = re.compile(r"^[a-z0-9]+-[0-9a-f]{32,}$")  # the tag schema's sha256-<hex>
NAMESPACE = re.compile(rf"^{NAME_COMPONENT}(?:/{NAME_COMPONENT})*$")
MAX_NAME = 256
REPLICATOR = REPLICATION  # who the local pushes of a pull replication are by


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
    operation: str  # copy or deletion


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
        generations: Generations | None = None,
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
        self.generations = generations
        # the enabled event-based push policies, and the generation they were read at
        self._watching: tuple[int, list[Policy]] | None = None
        self._settled_up_to = 0  # where settle() goes on
        registries.references.append(self._policies_using)

    @property
    def handlers(self) -> dict[str, Handler]:
        """The job kinds this service runs."""
        return {PLAN: self.plan, COPY: self.copy, DELETE: self.delete}

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
        self._watching = None
        if self.generations is not None:
            await self.generations.bump(POLICIES_KEY)  # every replica reads them again
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
                f"unknown trigger {policy.trigger_type!r} (one of {', '.join(TRIGGERS)})"
            )
        if policy.trigger_type == SCHEDULED:
            try:
                Cron.parse(policy.trigger_cron)
            except InvalidCron as exc:
                raise BadRequest(f"invalid cron string for the scheduled trigger: {exc}") from None
        else:
            policy.trigger_cron = ""
        if policy.trigger_type == EVENT_BASED and policy.pulls:
            raise BadRequest(
                "an event-based trigger reacts to this registry's pushes and deletions: it "
                "needs this registry as the source (a push policy)"
            )
        if policy.replicate_deletion and policy.trigger_type != EVENT_BASED:
            raise BadRequest("replicating deletions needs an event-based trigger")
        if label_filter(policy.filters) is not None and policy.pulls:
            raise BadRequest(
                "label filters select this registry's artifacts by their labels: push policies only"
            )
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
    async def start(self, actor: Actor, policy_id: int, trigger: str = MANUAL) -> Execution:
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
        tasks = await self.jobs.counts(task_group(execution.id))
        # an event's execution has its task from the start, and no plan
        planned = execution.trigger == EVENT_BASED and tasks
        plan = {} if planned else await self.jobs.counts(plan_group(execution.id))
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
        if not plan and not tasks:
            if self.clock() - execution.start_time < UNPLANNED_GRACE:
                return current  # its first job is being enqueued
            current.status = FAILED
            current.status_text = "no job was enqueued for it (its process stopped first)"
        elif plan.get(JobState.FAILED):
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
        await self._finished(current)
        return current

    async def _finished(self, execution: Execution) -> None:
        """Tell the event bus (webhooks) that an execution ended: once, by the caller
        that recorded the end."""
        policy = await self.store.get_policy(execution.policy_id)
        jobs, _ = await self.jobs.find(group=task_group(execution.id), limit=1000)
        projects: set[str] = set()
        for job in jobs:
            local = job.payload.get("dst_repo" if policy and policy.pulls else "src_repo")
            if isinstance(local, str) and "/" in local:
                projects.add(local.split("/", 1)[0])
        await self.events.publish(
            ReplicationFinished(
                REPLICATION,
                execution.id,
                execution.policy_id,
                policy.name if policy is not None else "",
                execution.status,
                execution.trigger,
                execution.succeed,
                execution.failed,
                tuple(sorted(projects)),
            )
        )

    async def settle(self, batch: int = SETTLE_BATCH) -> int:
        """Record the end of executions whose jobs are all done (what the ticker does
        every second, so an execution nobody looks at still ends and is announced): up
        to ``batch`` of those in progress, oldest first, the next call going on after
        the last one looked at (a backlog costs each tick ``batch`` looks, not one per
        execution in progress); how many ended."""
        found = await self.store.in_progress(self._settled_up_to, batch)
        self._settled_up_to = found[-1].id if len(found) == batch else 0
        ended = 0
        for execution in found:
            if (await self.refresh(execution)).status != IN_PROGRESS:
                ended += 1
        return ended

    async def run_scheduled(self, since: float, until: float) -> list[int]:
        """Start an execution of every enabled scheduled policy whose cron fired at a
        second in ``(since, until]`` and whose firing no other process claimed first;
        the executions' ids."""
        started: list[int] = []
        for policy in await self.store.policies():
            if not policy.enabled or policy.trigger_type != SCHEDULED:
                continue
            try:
                cron = Cron.parse(policy.trigger_cron)
            except InvalidCron as exc:
                log.warning(
                    "replication schedule not run: bad cron",
                    extra={"policy": policy.id, "error": str(exc)},
                )
                continue
            fired = None
            at = cron.next_after(since)
            while at is not None and at <= until:
                fired, at = at, cron.next_after(at)
            if fired is None or not await self.store.claim_schedule(policy.id, fired):
                continue
            try:
                execution = await self.start(SCHEDULER, policy.id, SCHEDULED)
            except (Precondition, BadRequest, NotFound) as exc:
                log.info(
                    "scheduled replication skipped",
                    extra={"policy": policy.id, "reason": str(exc)},
                )
                continue
            log.info(
                "scheduled replication started",
                extra={"policy": policy.id, "execution": execution.id},
            )
            started.append(execution.id)
        return started

    # --- event-based triggers ----------------------------------------------------------
    async def _event_policies(self) -> list[Policy]:
        """The enabled event-based push policies: from memory while no policy changed
        (on any replica: the generation of ``POLICIES_KEY``), else read again."""
        generation = None if self.generations is None else self.generations.current(POLICIES_KEY)
        cached = self._watching
        if cached is not None and generation is not None and cached[0] == generation:
            return cached[1]
        watching = [
            p
            for p in await self.store.policies()
            if p.enabled and p.trigger_type == EVENT_BASED and not p.pulls
        ]
        if generation is not None:
            self._watching = (generation, watching)
        return watching

    async def on_event(self, event: Event) -> None:
        """A subscriber of the core's events: a push (with a tag) of an artifact, or the
        deletion of an artifact or a tag, starts an execution of every event-based push
        policy that selects it — its task enqueued (in the database) before the push or
        delete is answered."""
        tags: tuple[str, ...]
        match event:
            case ManifestPushed(repo=repo, digest=digest, tag=tag) if tag is not None:
                deletion, tags = False, (tag,)
            case ManifestDeleted(repo=repo, digest=digest):
                deletion, tags = True, ()
            case TagDeleted(repo=repo, digest=digest, tag=tag):
                deletion, tags = True, (tag,)
            case _:
                return
        policies = await self._event_policies()
        if not policies:
            return
        for policy in policies:
            if deletion and not policy.replicate_deletion:
                continue
            if not repository_wanted(policy.filters, repo):
                continue
            if tags and not all(tag_wanted(policy.filters, t) for t in tags):
                continue
            if (
                not deletion
                and label_filter(policy.filters) is not None
                and not labels_wanted(policy.filters, await self._labels(repo, digest))
            ):
                continue
            try:
                await self._start_for(policy, repo, digest, tags, deletion, event)
            except InvalidPolicy as exc:
                log.warning(
                    "event-based replication not started",
                    extra={"policy": policy.id, "repo": repo, "error": str(exc)},
                )

    async def _start_for(
        self,
        policy: Policy,
        repo: str,
        digest: str,
        tags: tuple[str, ...],
        deletion: bool,
        event: Event,
    ) -> None:
        target = destination(repo, policy.dest_namespace, policy.dest_namespace_replace_count)
        execution = await self.store.create_execution(
            Execution(policy.id, EVENT_BASED, start_time=self.clock())
        )
        payload: dict[str, Any] = {
            "execution_id": execution.id,
            "policy_id": policy.id,
            "src_repo": repo,
            "dst_repo": target,
            "digest": digest,
            "tags": list(tags),
        }
        if deletion:
            # a tag deleted: that tag only; an artifact deleted: the manifest by digest
            payload["reference"] = tags[0] if isinstance(event, TagDeleted) else digest
        await self.enqueue(
            [
                NewJob(
                    DELETE if deletion else COPY,
                    payload,
                    group=task_group(execution.id),
                    max_attempts=TASK_ATTEMPTS,
                )
            ]
        )

    async def _labels(self, repo: str, digest: str) -> list[str]:
        """The names of the labels on an artifact of this registry."""
        row = await self.content.store.artifact(repo, digest)
        if row is None:
            return []
        names = []
        for label_id in row.labels:
            label = await self.content.store.label(label_id)
            if label is not None:
                names.append(label.name)
        return names

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
            group=task_group(execution_id), states=states, offset=offset, limit=limit
        )
        return [task_of(job, execution_id) for job in jobs], total

    async def task(self, execution_id: int, task_id: int) -> Task:
        job = await self.jobs.get(task_id)
        if job is None or job.group != task_group(execution_id) or job.kind not in (COPY, DELETE):
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
            if name is None or name.decoration != "matches" or not is_literal(name.pattern):
                raise PermanentFailure(
                    f"{source.label} lists no repositories: name the repository in the name "
                    "filter, without wildcards"
                )
            return [name.pattern]
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
        if label_filter(policy.filters) is not None:  # push policies only: our labels
            by_digest = {
                digest: tags
                for digest, tags in by_digest.items()
                if labels_wanted(policy.filters, await self._labels(repo, digest))
            }
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

    async def delete(self, ctx: JobContext) -> dict[str, Any]:
        """Replicate a deletion: the artifact (by digest) or the tag deleted here is
        deleted at the destination. Gone already counts as done."""
        payload = ctx.payload
        _, registry = await self._policy_and_registry(int(payload["policy_id"]))
        repo, reference = str(payload["dst_repo"]), str(payload["reference"])
        digest = str(payload["digest"])
        async with RegistryClient(registry.endpoint(), self.client_options) as client:
            await ctx.log(f"deleting {repo}:{reference} at {registry.name}")
            try:
                if reference != digest:
                    found = await client.manifest_descriptor(repo, reference)
                    if found is None:
                        await ctx.log("the tag is not there: nothing to delete")
                        return {"deleted": False}
                    if digest and found.digest != digest:
                        await ctx.log(
                            f"the tag points at {found.digest} there, not at the deleted "
                            f"{digest}: left alone",
                            "warning",
                        )
                        return {"deleted": False}
                deleted = await self._delete_remote(ctx, client, repo, reference, digest)
            except RemoteError as exc:
                if exc.status in (400, 401, 403, 404, 405):
                    raise PermanentFailure(str(exc)) from exc
                raise
        await ctx.log("deleted" if deleted else "already gone")
        return {"deleted": deleted}

    async def _delete_remote(
        self, ctx: JobContext, client: RegistryClient, repo: str, reference: str, digest: str
    ) -> bool:
        """DELETE by digest, or by tag; a registry that deletes no tags (the reference
        registry) loses the manifest instead, when no other tag there points at it."""
        try:
            return await client.delete_manifest(repo, reference)
        except RemoteError as exc:
            if reference == digest or exc.status not in (400, 405):
                raise
        await ctx.log(f"{repo} deletes no tags there: deleting the manifest {digest}")
        async for tag in client.tags(repo):
            if tag == reference:
                continue
            other = await client.manifest_descriptor(repo, tag)
            if other is not None and other.digest == digest:
                await ctx.log(f"the tag {tag} still points at it there: left alone", "warning")
                return False
        return await client.delete_manifest(repo, digest)


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
        operation="deletion" if job.kind == DELETE else "copy",
    )


class ReplicationTicker:
    """What the leader runs every second (``coord.jobs.run_on_leader``): start the
    scheduled executions whose cron fired since the last tick, and record the end of the
    executions whose jobs are done. A tick after a long gap (leadership just taken, a
    pause) looks back ``catch_up`` seconds at most; a firing the old leader started
    already is claimed in its policy's row and not started again."""

    def __init__(self, service: ReplicationService, *, catch_up: float = 5.0) -> None:
        self.service = service
        self.window = TickWindow(catch_up)

    async def tick(self, now: float | None = None) -> list[int]:
        now = self.service.clock() if now is None else now
        since = self.window.advance(now)
        try:
            started = await self.service.run_scheduled(since, now)
            await self.service.settle()
        except DatabaseUnavailable as exc:
            # a firing meanwhile is missed (the next one runs), as with cron on a host down
            log.warning(
                "replication schedule not checked: database unavailable",
                extra={"error": str(exc)},
            )
            return []
        return started
