"""Webhooks: the policies of each project (Harbor's notification policies), the subscriber
that turns domain events into deliveries, and the job handler that sends them.

- **Enqueued before the answer.** The bus awaits ``on_event`` before the client gets its
  answer; for a push, delete, quota or replication/retention event the deliveries are
  written to the durable job queue (one insert of one row per policy target, in one
  transaction) before then, so an acknowledged push is never without its notification.
  Pulls, the hot path, are gathered in memory and enqueued every ``pull_flush_interval``
  (a killed process loses at most that much of pull notifications, as the audit log's
  pull batches). An event no policy wants costs nothing but a dictionary lookup: the
  policies are cached per process and re-read every ``policy_refresh`` seconds (edits made
  through this process are seen at once).
- **Sent by the job runner**, on whichever process and replica claims the job: one POST
  with a bounded timeout; a 2xx answer ends it, anything else is retried with exponential
  backoff (``backoff`` doubled each attempt up to ``max_backoff``) until ``max_attempts``.
  A slow or dead receiver therefore costs a runner slot for at most ``timeout`` per
  attempt, never a request's time.
- **A dead receiver costs next to nothing** (a circuit breaker per address, per process).
  After an attempt to an address fails to connect or times out, the breaker opens: this
  process sends nothing there until the next probe, ``backoff`` later, doubled after each
  probe that gets no answer (at most ``probe_max``, nor ``max_backoff``), and only one
  probe at a time. While it is open, the deliveries for that address are not claimed
  over and over: new ones are enqueued due at the next probe; at each probe, the first
  one claimed parks what would come due before the next one ``max_backoff`` further out,
  in one write of only those rows (``JobStore.postpone``), and the few claimed with it
  are given back due at the next probe (carrying it) without spending an attempt
  (``Postpone``). An idle server with a dead receiver's backlog does one claim and two
  or three small writes per probe, and rewrites the parked backlog once per
  ``max_backoff``. A probe that gets an answer (any status) closes the breaker and
  makes the backlog due at once (``JobStore.expedite``): nothing is lost, and attempts
  are spent only by deliveries actually sent.
- **A stable event id** per delivery (a UUID fixed at enqueue) goes out on every attempt
  (``Webhook-Id`` header; the CloudEvents ``id``): a receiver that answered too late for
  us to see may get the same event again, and can tell it is the same.
- **Executions** are Harbor's view of deliveries: one execution per (event, policy target)
  with one task, both the delivery's job (its id, state, attempts, log).
- The target's ``auth_header`` is a secret: sealed in the database, ``*****`` on read.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from wharf.auth.access import find_project, project_with
from wharf.auth.errors import AlreadyExists, BadRequest, NotFound
from wharf.auth.models import Project, policy
from wharf.auth.principals import Principal
from wharf.auth.sealing import Sealer, Unsealable
from wharf.auth.store import AuthStore
from wharf.jobs.models import Job, JobState, LogLine, NewJob
from wharf.jobs.runner import Handler, JobContext, PermanentFailure, Postpone, RetryLater
from wharf.jobs.store import JobStore
from wharf.registry.events import (
    Event,
    ManifestDeleted,
    ManifestPulled,
    ManifestPushed,
    ProjectDeleted,
    QuotaExceeded,
    QuotaWarning,
    ReplicationFinished,
    RetentionFinished,
)
from wharf.webhook import payload as payloads
from wharf.webhook.models import (
    CLOUDEVENTS_FORMAT,
    DEFAULT_FORMAT,
    DELETE_ARTIFACT,
    EVENT_TYPES,
    HTTP,
    PAYLOAD_FORMATS,
    PULL_ARTIFACT,
    PUSH_ARTIFACT,
    QUOTA_EXCEED,
    QUOTA_WARNING,
    REPLICATION,
    TAG_RETENTION,
    Policy,
    Target,
    job_group,
    job_kind,
)
from wharf.webhook.store import Conflict, WebhookStore

log = logging.getLogger("wharf.webhook")

MASK = "*****"  # what a read shows of a stored auth header
MAX_PENDING_PULLS = 10_000  # pull notifications held while the queue is unreachable
RESPONSE_PREVIEW = 200  # bytes of a receiver's answer kept in the task log

Enqueue = Callable[[Sequence[NewJob]], Awaitable[list[int]]]


@dataclass(frozen=True, slots=True)
class WebhookOptions:
    timeout: float = 10.0
    max_attempts: int = 10
    backoff: float = 5.0
    max_backoff: float = 600.0
    policy_refresh: float = 5.0
    pull_flush_interval: float = 0.5
    host: str = "localhost"  # this registry's host[:port] in resource URLs
    # the longest a dead receiver goes without a probe: how late its backlog may be sent
    # after it comes back (never above max_backoff)
    probe_max: float = 60.0

    def retry_delay(self, attempts: int) -> float:
        base = min(self.backoff * 2.0 ** max(attempts - 1, 0), self.max_backoff)
        return base * random.uniform(0.75, 1.0)

    def probe_interval(self, failures: int) -> float:
        """The wait before the next probe of an address after ``failures`` in a row."""
        longest = max(min(self.probe_max, self.max_backoff), self.backoff)
        return min(self.backoff * 2.0 ** max(failures - 1, 0), longest)


@dataclass(slots=True)
class Breaker:
    """An address whose last attempt failed to connect or answer: nothing is sent there
    before ``retry_at``, then one probe at a time until one gets an answer."""

    failures: int  # attempts in a row that got no answer (the probes and the first)
    retry_at: float
    probe_ends: float | None = None  # a probe is under way, over by then
    parked_for: float = field(default=0.0)  # the backlog was parked up to this probe


@dataclass(frozen=True, slots=True)
class Trigger:
    """When a policy last sent an event type (Harbor's lasttrigger)."""

    policy: Policy
    event_type: str
    last: float | None


DELIVERY_KINDS = tuple(job_kind(t) for t in EVENT_TYPES)
MAX_ID = 2**31 - 1  # ids are 32-bit in the database: larger ones name nothing


def printable(text: str) -> bool:
    return all(ch >= " " and ch != "\x7f" for ch in text)


def check_address(address: str) -> None:
    try:
        url = urlsplit(address)
        valid = url.scheme in ("http", "https") and bool(url.hostname)
        valid = valid and (url.port is None or url.port > 0)
    except ValueError:
        valid = False
    if not valid or not printable(address) or " " in address or len(address) > 2048:
        raise BadRequest(f"invalid target address {address!r}: need http(s)://host[:port]/path")


def check_policy(
    name: str, description: str, targets: Sequence[Target], event_types: Sequence[str]
) -> None:
    """Harbor's checks of a policy (400 on failure)."""
    if not name.strip():
        raise BadRequest("name is required")
    if len(name) > 256 or not printable(name):
        raise BadRequest("name is at most 256 printable characters")
    if len(description) > 1024 or "\x00" in description:
        raise BadRequest("description is at most 1024 characters, without NUL")
    if not targets:
        raise BadRequest("at least one target is required")
    if len(targets) > 16:
        raise BadRequest("at most 16 targets")
    for target in targets:
        if target.type != HTTP:
            raise BadRequest(f"unsupported notify type {target.type!r}; supported: http")
        check_address(target.address)
        if len(target.auth_header) > 4096 or not printable(target.auth_header):
            raise BadRequest("auth_header is at most 4096 printable characters")
        if target.payload_format not in PAYLOAD_FORMATS:
            raise BadRequest(
                f"unsupported payload format {target.payload_format!r}; "
                f"supported: {', '.join(PAYLOAD_FORMATS)}"
            )
    if not event_types:
        raise BadRequest("at least one event type is required")
    for event_type in event_types:
        if event_type not in EVENT_TYPES:
            raise BadRequest(
                f"unsupported event type {event_type!r}; supported: {', '.join(EVENT_TYPES)}"
            )


def project_of(repo: str) -> str:
    return repo.split("/", 1)[0]


class WebhookService:
    def __init__(
        self,
        store: WebhookStore,
        auth_store: AuthStore,
        jobs: JobStore,
        enqueue: Enqueue,
        sealer: Sealer,
        options: WebhookOptions | None = None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.auth_store = auth_store
        self.jobs = jobs
        self.enqueue = enqueue
        self.sealer = sealer
        self.options = options or WebhookOptions()
        self.clock = clock
        self.enqueued = 0  # deliveries this process enqueued
        self._by_project: dict[str, list[Policy]] = {}
        self._loaded_at = float("-inf")
        self._load_lock = asyncio.Lock()
        self._pulls: list[NewJob] = []
        self._flusher: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None
        # addresses whose last attempt failed to connect or answer (open breakers)
        self._breakers: dict[str, Breaker] = {}

    @property
    def handlers(self) -> dict[str, Handler]:
        """The job kinds this service runs: one per event type (so the last trigger of
        each is one indexed read), all sent by ``deliver``."""
        return {job_kind(t): self.deliver for t in EVENT_TYPES}

    async def start(self) -> None:
        if self._flusher is None:
            self._flusher = asyncio.create_task(self._flush_pulls_periodically())

    async def close(self) -> None:
        if self._flusher is not None:
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher
            self._flusher = None
        await self.flush_pulls()
        if self._session is not None:
            await self._session.close()
            self._session = None

    # --- policies ------------------------------------------------------------------------
    async def _project(self, actor: Principal, ref: str | int, action: str) -> Project:
        return await project_with(
            self.auth_store, actor, ref, policy("notification-policy", action)
        )

    def _seal(self, target: Target, project_id: int) -> Target:
        if not target.auth_header:
            return target
        return replace(
            target, auth_header=self.sealer.seal(target.auth_header, f"webhook:{project_id}")
        )

    def _open(self, target: Target, project_id: int) -> Target:
        if not target.auth_header:
            return target
        try:
            header = self.sealer.open(target.auth_header, f"webhook:{project_id}")
        except Unsealable:
            log.warning("a webhook auth header does not open with this key; not sent")
            header = ""
        return replace(target, auth_header=header)

    @staticmethod
    def masked(item: Policy) -> Policy:
        """The policy as reads show it: auth headers masked."""
        targets = tuple(replace(t, auth_header=MASK if t.auth_header else "") for t in item.targets)
        return replace(item, targets=targets)

    async def policies(self, actor: Principal, ref: str | int) -> tuple[Project, list[Policy]]:
        project = await self._project(actor, ref, "list")
        found = await self.store.policies(project.id)
        return project, [self.masked(p) for p in found]

    async def _policy_in(self, project: Project, policy_id: int) -> Policy:
        found = await self.store.get_policy(policy_id) if 0 < policy_id <= MAX_ID else None
        if found is None or found.project_id != project.id:
            raise NotFound(f"webhook policy {policy_id} not found")
        return found

    async def policy(self, actor: Principal, ref: str | int, policy_id: int) -> Policy:
        project = await self._project(actor, ref, "read")
        return self.masked(await self._policy_in(project, policy_id))

    async def create(
        self,
        actor: Principal,
        ref: str | int,
        *,
        name: str,
        description: str,
        targets: Sequence[Target],
        event_types: Sequence[str],
        enabled: bool,
    ) -> Policy:
        project = await self._project(actor, ref, "create")
        check_policy(name, description, targets, event_types)
        now = self.clock()
        new = Policy(
            project_id=project.id,
            project_name=project.name,
            name=name,
            description=description,
            targets=tuple(self._seal(t, project.id) for t in targets),
            event_types=tuple(dict.fromkeys(event_types)),
            creator=actor.audit_name,
            enabled=enabled,
            created=now,
            updated=now,
        )
        try:
            stored = await self.store.create_policy(new)
        except Conflict as exc:
            raise AlreadyExists(str(exc)) from None
        self.invalidate()
        return stored

    async def update(
        self,
        actor: Principal,
        ref: str | int,
        policy_id: int,
        *,
        name: str,
        description: str,
        targets: Sequence[Target],
        event_types: Sequence[str],
        enabled: bool,
    ) -> Policy:
        project = await self._project(actor, ref, "update")
        current = await self._policy_in(project, policy_id)
        check_policy(name, description, targets, event_types)
        kept: list[Target] = []
        for index, target in enumerate(targets):
            if target.auth_header == MASK:
                # sent back as read: keep the stored header of the same target
                before = current.targets[index] if index < len(current.targets) else None
                if before is None or before.address != target.address:
                    raise BadRequest("auth_header: give the header, not its mask")
                kept.append(replace(target, auth_header=before.auth_header))
            else:
                kept.append(self._seal(target, project.id))
        updated = replace(
            current,
            name=name,
            description=description,
            targets=tuple(kept),
            event_types=tuple(dict.fromkeys(event_types)),
            enabled=enabled,
            updated=self.clock(),
        )
        try:
            if not await self.store.update_policy(updated):
                raise NotFound(f"webhook policy {policy_id} not found")
        except Conflict as exc:
            raise AlreadyExists(str(exc)) from None
        self.invalidate()
        return updated

    async def delete(self, actor: Principal, ref: str | int, policy_id: int) -> None:
        project = await self._project(actor, ref, "delete")
        await self._policy_in(project, policy_id)
        if not await self.store.delete_policy(policy_id):
            raise NotFound(f"webhook policy {policy_id} not found")
        # deliveries not sent yet go with it
        await self.jobs.request_stop(self.clock(), group=job_group(policy_id))
        self.invalidate()

    async def supported(self, actor: Principal, ref: str | int) -> None:
        """Only checks the caller may read the project's webhooks."""
        await self._project(actor, ref, "read")

    # --- executions (deliveries) -----------------------------------------------------
    async def executions(
        self,
        actor: Principal,
        ref: str | int,
        policy_id: int,
        *,
        states: Sequence[JobState] = (),
        offset: int = 0,
        limit: int = 100,
    ) -> tuple[list[Job], int]:
        project = await self._project(actor, ref, "list")
        await self._policy_in(project, policy_id)
        return await self.jobs.find(
            group=job_group(policy_id), states=states, offset=offset, limit=limit
        )

    async def execution(
        self, actor: Principal, ref: str | int, policy_id: int, execution_id: int
    ) -> Job:
        project = await self._project(actor, ref, "list")
        await self._policy_in(project, policy_id)
        job = await self.jobs.get(execution_id) if 0 < execution_id <= MAX_ID else None
        if job is None or job.group != job_group(policy_id):
            raise NotFound(f"execution {execution_id} not found")
        return job

    async def task_log(
        self, actor: Principal, ref: str | int, policy_id: int, execution_id: int, task_id: int
    ) -> list[LogLine]:
        job = await self.execution(actor, ref, policy_id, execution_id)
        if task_id != job.id:
            raise NotFound(f"task {task_id} not found")
        return await self.jobs.logs(job.id)

    async def last_triggers(self, actor: Principal, ref: str | int) -> list[Trigger]:
        project = await self._project(actor, ref, "list")
        found: list[Trigger] = []
        for item in await self.store.policies(project.id):
            for event_type in item.event_types:
                jobs, _ = await self.jobs.find(
                    group=job_group(item.id), kind=job_kind(event_type), limit=1
                )
                found.append(Trigger(item, event_type, jobs[0].created if jobs else None))
        return found

    # --- events → deliveries ---------------------------------------------------------
    def invalidate(self) -> None:
        """Re-read the policies at the next event (after a change through this process)."""
        self._loaded_at = float("-inf")

    async def _wanted(self, project_name: str, event_type: str) -> list[Policy]:
        if self.clock() - self._loaded_at >= self.options.policy_refresh:
            async with self._load_lock:
                if self.clock() - self._loaded_at >= self.options.policy_refresh:
                    started = self.clock()
                    by_project: dict[str, list[Policy]] = {}
                    for item in await self.store.policies():
                        by_project.setdefault(item.project_name, []).append(item)
                    self._by_project = by_project
                    self._loaded_at = started
        return [
            p
            for p in self._by_project.get(project_name, ())
            if p.enabled and event_type in p.event_types
        ]

    def held_until(self, address: str, now: float) -> float | None:
        """When a delivery to ``address`` may next be tried, when that is not now: its
        breaker is open, or its probe under way (if that fails, the next comes after
        another interval; if it gets an answer, the backlog is made due at once)."""
        breaker = self._breakers.get(address)
        if breaker is None:
            return None
        if breaker.probe_ends is not None:
            return breaker.probe_ends + self.options.probe_interval(breaker.failures + 1)
        return breaker.retry_at if now < breaker.retry_at else None

    def _jobs(
        self, policies: Sequence[Policy], event_type: str, body: dict[str, Any]
    ) -> list[NewJob]:
        jobs: list[NewJob] = []
        now = self.clock()
        for item in policies:
            for index, target in enumerate(item.targets):
                jobs.append(
                    NewJob(
                        kind=job_kind(event_type),
                        payload={
                            "policy_id": item.id,
                            "project_id": item.project_id,
                            "target": index,
                            "address": target.address,
                            "event_type": event_type,
                            "event_id": str(uuid.uuid4()),
                            "payload": body,
                        },
                        group=job_group(item.id),
                        max_attempts=self.options.max_attempts,
                        # a dead receiver's deliveries wait for its next probe unclaimed
                        run_at=self.held_until(target.address, now),
                    )
                )
        return jobs

    async def _public(self, project_name: str) -> bool:
        project = await find_project(self.auth_store, project_name)
        return project is not None and project.public

    async def on_event(self, event: Event) -> None:
        """The bus's subscriber (awaited before the operation is answered)."""
        if isinstance(event, ProjectDeleted):
            if await self.store.delete_project_policies(event.project):
                self.invalidate()
            return
        if isinstance(event, ManifestPulled):
            await self._on_pull(event)
            return
        for project_name, event_type, build in self._described(event):
            wanted = await self._wanted(project_name, event_type)
            if wanted:
                body = build(await self._public(project_name))
                jobs = self._jobs(wanted, event_type, body)
                await self.enqueue(jobs)
                self.enqueued += len(jobs)

    def _described(self, event: Event) -> list[tuple[str, str, Callable[[bool], dict[str, Any]]]]:
        """(project, event type, payload given whether the project is public) for each
        project the event concerns; nothing for events webhooks don't carry."""
        now = self.clock()
        host = self.options.host
        if isinstance(event, ManifestPushed | ManifestDeleted):
            if isinstance(event, ManifestPushed):
                event_type, reference = PUSH_ARTIFACT, event.tag or event.digest
            else:
                event_type = DELETE_ARTIFACT
                reference = event.tags[0] if event.tags else event.digest
            repo, digest, operator = event.repo, event.digest, event.actor.name

            def artifact(public: bool) -> dict[str, Any]:
                return payloads.artifact_payload(
                    event_type,
                    operator=operator,
                    occur_at=now,
                    host=host,
                    repo=repo,
                    project=project_of(repo),
                    public=public,
                    digest=digest,
                    reference=reference,
                )

            return [(project_of(repo), event_type, artifact)]
        if isinstance(event, QuotaExceeded | QuotaWarning):
            return [(event.project, *self._quota(event, now))]
        if isinstance(event, ReplicationFinished):
            replicated = event

            def replication(_public: bool) -> dict[str, Any]:
                return payloads.replication_payload(
                    operator=replicated.actor.name,
                    occur_at=now,
                    hostname=host.split(":", 1)[0],
                    execution_id=replicated.execution_id,
                    policy_name=replicated.policy_name,
                    status=replicated.status,
                    trigger=replicated.trigger,
                    succeeded=replicated.succeeded,
                    failed=replicated.failed,
                )

            return [(p, REPLICATION, replication) for p in dict.fromkeys(event.projects)]
        if isinstance(event, RetentionFinished):
            retention = event

            def retained(_public: bool) -> dict[str, Any]:
                return payloads.retention_payload(
                    operator=retention.actor.name,
                    occur_at=now,
                    hostname=host.split(":", 1)[0],
                    project=retention.project,
                    execution_id=retention.execution_id,
                    status=retention.status,
                    dry_run=retention.dry_run,
                    retained=retention.retained,
                    removed=retention.removed,
                )

            return [(event.project, TAG_RETENTION, retained)]
        return []

    def _quota(
        self, event: QuotaExceeded | QuotaWarning, now: float
    ) -> tuple[str, Callable[[bool], dict[str, Any]]]:
        size = payloads.size_text
        if isinstance(event, QuotaExceeded):
            event_type = QUOTA_EXCEED
            details = (
                f"adding {size(event.requested)} of storage resource, which when updated to "
                f"current usage of {size(event.used)} will exceed the configured upper limit "
                f"of {size(event.limit)}."
            )
        else:
            event_type = QUOTA_WARNING
            share = 100 * event.used // event.limit if event.limit > 0 else 0
            details = (
                f"quota usage reach {share}%: resource storage used {size(event.used)} "
                f"of {size(event.limit)}"
            )

        def build(public: bool) -> dict[str, Any]:
            return payloads.quota_payload(
                event_type,
                operator=event.actor.name,
                occur_at=now,
                repo=event.repo,
                project=event.project,
                public=public,
                digest=event.digest,
                details=details,
            )

        return event_type, build

    async def _on_pull(self, event: ManifestPulled) -> None:
        project_name = project_of(event.repo)
        wanted = await self._wanted(project_name, PULL_ARTIFACT)
        if not wanted:
            return
        body = payloads.artifact_payload(
            PULL_ARTIFACT,
            operator=event.actor.name,
            occur_at=self.clock(),
            host=self.options.host,
            repo=event.repo,
            project=project_name,
            public=await self._public(project_name),
            digest=event.digest,
            reference=event.reference,
        )
        if len(self._pulls) < MAX_PENDING_PULLS:
            self._pulls.extend(self._jobs(wanted, PULL_ARTIFACT, body))
        else:
            log.warning("pull notifications dropped: the job queue is not keeping up")

    async def flush_pulls(self) -> None:
        """Enqueue the pull notifications gathered so far (kept for the next try when the
        queue is unreachable)."""
        if not self._pulls:
            return
        batch, self._pulls = self._pulls, []
        try:
            await self.enqueue(batch)
        except Exception as exc:
            self._pulls = batch + self._pulls
            log.warning(
                "cannot enqueue pull notifications", extra={"error": f"{type(exc).__name__}: {exc}"}
            )
        else:
            self.enqueued += len(batch)

    async def _flush_pulls_periodically(self) -> None:
        while True:
            await asyncio.sleep(self.options.pull_flush_interval)
            await self.flush_pulls()

    # --- delivery --------------------------------------------------------------------
    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=64, limit_per_host=8),
                headers={"User-Agent": "wharf-webhook"},
            )
        return self._session

    async def deliver(self, ctx: JobContext) -> dict[str, Any] | None:
        """The job handler: POST one event to one target."""
        data = ctx.payload
        stored = await self.store.get_policy(int(data["policy_id"]))
        if stored is None:
            raise PermanentFailure("the webhook policy was deleted")
        index = int(data["target"])
        if index >= len(stored.targets):
            raise PermanentFailure("the policy's target was removed")
        address = stored.targets[index].address
        now = self.clock()
        held = self.held_until(address, now)
        if held is not None:
            blocked = self._breakers[address]
            if blocked.parked_for < held:
                # once per probe: what would come due before the next probe is parked
                # further out in one write (what is parked already is not rewritten);
                # this delivery and the few claimed with it come back for the next probe
                park = held + max(self.options.max_backoff, self.options.probe_max)
                await self.jobs.postpone(
                    DELIVERY_KINDS, {"address": address}, park, now, due_before=held
                )
                blocked.parked_for = held
            raise Postpone(f"not sent: {address} failed to connect or answer lately", held)
        target = self._open(stored.targets[index], stored.project_id)
        payload_format = target.payload_format or DEFAULT_FORMAT
        headers, body = payloads.render(
            CLOUDEVENTS_FORMAT if payload_format == CLOUDEVENTS_FORMAT else DEFAULT_FORMAT,
            data["payload"],
            event_id=str(data["event_id"]),
            project_id=int(data["project_id"]),
            policy_id=stored.id,
        )
        if target.auth_header:
            headers["Authorization"] = target.auth_header
        attempt = ctx.job.attempts
        delay = self.options.retry_delay(attempt)
        breaker = self._breakers.get(address)
        if breaker is not None:  # a probe: the only attempt there until it ends
            breaker.probe_ends = now + self.options.timeout
        try:
            async with self._client().post(
                address,
                data=body,
                headers=headers,
                ssl=not target.skip_cert_verify,
                timeout=aiohttp.ClientTimeout(total=self.options.timeout),
                allow_redirects=False,
            ) as response:
                answer = (await response.content.read(RESPONSE_PREVIEW)).decode(errors="replace")
                status = response.status
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            if isinstance(exc, aiohttp.ClientResponseError):
                await self._answered(address, delivered=False, again=False)
            else:
                self._no_answer(address, breaker)
            reason = str(exc) or type(exc).__name__
            await ctx.log(f"attempt {attempt}: POST {address} failed: {reason}", "warning")
            raise RetryLater(f"{type(exc).__name__}: {reason}", delay) from None
        finally:
            if breaker is not None:
                breaker.probe_ends = None
        # put off or tried before: another process's breaker may have parked a backlog
        job = ctx.job
        again = job.attempts > 1 or (job.started is not None and job.started < job.updated)
        await self._answered(address, delivered=200 <= status < 300, again=again)
        if 200 <= status < 300:
            await ctx.log(f"attempt {attempt}: POST {address}: HTTP {status}")
            return {"status_code": status, "event_id": data["event_id"]}
        await ctx.log(
            f"attempt {attempt}: POST {address}: HTTP {status} {answer.strip()}", "warning"
        )
        raise RetryLater(f"the receiver answered HTTP {status}", delay)

    def _no_answer(self, address: str, probe: Breaker | None) -> None:
        """An attempt failed to connect or timed out: open the breaker, or keep it open
        longer after a failed probe."""
        now = self.clock()
        current = self._breakers.get(address)
        if current is None:
            self._breakers[address] = Breaker(1, now + self.options.probe_interval(1))
        elif current is probe:
            current.failures += 1
            current.retry_at = now + self.options.probe_interval(current.failures)
        # else: an attempt already under way when the breaker opened; nothing to add

    async def _answered(self, address: str, *, delivered: bool, again: bool) -> None:
        """The receiver answered: close its breaker, and send its backlog now; also when
        a delivery that had been put off or tried before went through (the breaker that
        parked the backlog may be another process's)."""
        if self._breakers.pop(address, None) is None and not (delivered and again):
            return
        try:
            await self.jobs.expedite(DELIVERY_KINDS, {"address": address}, self.clock())
        except Exception as exc:  # they go out when they were postponed to
            log.warning(
                "cannot bring a recovered receiver's backlog forward",
                extra={"address": address, "error": f"{type(exc).__name__}: {exc}"},
            )
