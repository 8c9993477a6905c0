"""Harbor's audit-log purge (``/system/purgeaudit``): runs on the durable job queue, a
schedule ticked by the leader, and the parameters Harbor's purge job takes —
``audit_retention_hour`` (events older than this many hours go), ``include_event_types``
(comma list: Harbor's event types such as ``create_artifact``, or bare operations such as
``create``, ``delete``, ``pull``; ``include_operations``, the older name, is read too) and
``dry_run`` (count only).

A run deletes in batches of ``batch`` rows, each its own short transaction, so a purge of
millions of rows never holds the SQLite writer for long; a stop ends it at the next batch.
It reports what it purged (or would, in a dry run) in its log and in its result, which the
API merges into ``job_parameters``. The schedule is one stored setting (the auth store's
``configurations`` table, key ``audit_purge_schedule``). The retention of
``audit_retention_days`` (the hourly purge of the whole log) is separate and still applies.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from wharf.auth.store import AuditPurge, AuthStore, PurgeCursor
from wharf.db.errors import DatabaseUnavailable
from wharf.jobs.cron import Cron, InvalidCron, TickWindow
from wharf.jobs.models import Job, JobState, NewJob
from wharf.jobs.runner import Handler, JobContext, PermanentFailure
from wharf.jobs.store import JobStore

log = logging.getLogger("wharf.auth")

KIND = "audit-purge"  # the job kind on the queue
SCHEDULE_KEY = "audit_purge_schedule"  # the stored setting holding the schedule
MAX_RETENTION_HOURS = 240_000  # Harbor's cap
BATCH = 5_000  # rows deleted per transaction
RETENTION = "audit_retention_hour"
EVENT_TYPES = "include_event_types"
OPERATIONS = "include_operations"  # the parameter's name before Harbor 2.13
DRY_RUN = "dry_run"
SCHEDULE_KINDS = ("None", "Hourly", "Daily", "Weekly", "Custom")
PRESETS = {"Hourly": "0 0 * * * *", "Daily": "0 0 0 * * *", "Weekly": "0 0 0 * * 0"}
MANUAL, SCHEDULED = "MANUAL", "SCHEDULE"  # Harbor's triggers

Enqueue = Callable[[Sequence[NewJob]], Awaitable[list[int]]]


class InvalidPurge(ValueError):
    """Parameters or a schedule Harbor would refuse (400); the message is Harbor's."""


@dataclass(frozen=True, slots=True)
class PurgeParameters:
    retention_hours: int
    selected: tuple[str, ...]  # the event types and operations, lower case
    dry_run: bool

    def selection(self, now: float) -> AuditPurge:
        operations = tuple(s for s in self.selected if "_" not in s)
        event_types = tuple(
            (s.split("_", 1)[0], s.split("_", 1)[1]) for s in self.selected if "_" in s
        )
        return AuditPurge(now - self.retention_hours * 3600.0, operations, event_types)


def parameters_from(raw: dict[str, Any]) -> PurgeParameters:
    """Harbor's checks of a purge's parameters (create and update alike): present, an
    integral ``audit_retention_hour`` within the cap, the list of what to purge."""
    if not raw:
        raise InvalidPurge("schedule parameter cann't be empty")
    if RETENTION not in raw:
        raise InvalidPurge("audit_retention_hour should provide")
    hours = raw[RETENTION]
    if isinstance(hours, float) and hours.is_integer():
        hours = int(hours)
    if isinstance(hours, bool) or not isinstance(hours, int):
        raise InvalidPurge("audit_retention_hour should be integer format")
    if hours > MAX_RETENTION_HOURS:
        raise InvalidPurge(f"audit_retention_hour should be less than {MAX_RETENTION_HOURS}")
    listed = raw.get(EVENT_TYPES, raw.get(OPERATIONS))
    if listed is None:
        raise InvalidPurge("include_event_types should provide")
    if not isinstance(listed, str):
        raise InvalidPurge("include_event_types should be a comma separated string")
    dry_run = raw.get(DRY_RUN, False)
    if not isinstance(dry_run, bool):
        raise InvalidPurge("dry_run must be true or false")
    selected = tuple(dict.fromkeys(s.strip().lower() for s in listed.split(",") if s.strip()))
    return PurgeParameters(hours, selected, dry_run)


@dataclass(frozen=True, slots=True)
class PurgeSchedule:
    kind: str  # Hourly, Daily, Weekly, Custom
    cron: str
    parameters: dict[str, Any]
    created: float
    updated: float

    def to_json(self) -> str:
        return json.dumps(
            {
                "kind": self.kind,
                "cron": self.cron,
                "parameters": self.parameters,
                "created": self.created,
                "updated": self.updated,
            }
        )

    @classmethod
    def from_json(cls, text: str) -> PurgeSchedule | None:
        """The stored schedule; None for a cleared one (type None)."""
        data = json.loads(text)
        if not isinstance(data, dict) or data.get("kind", "None") == "None":
            return None
        parameters = data.get("parameters")
        return cls(
            str(data["kind"]),
            str(data.get("cron", "")),
            parameters if isinstance(parameters, dict) else {},
            float(data.get("created", 0.0)),
            float(data.get("updated", 0.0)),
        )


class AuditPurgeService:
    def __init__(
        self,
        store: AuthStore,
        jobs: JobStore,
        enqueue: Enqueue,
        *,
        batch: int = BATCH,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.jobs = jobs
        self.enqueue = enqueue
        self.batch = batch
        self.clock = clock

    @property
    def handlers(self) -> dict[str, Handler]:
        return {KIND: self._run}

    # --- runs ---------------------------------------------------------------------------
    async def start(self, parameters: dict[str, Any], trigger: str = MANUAL) -> int:
        """Queue a run (checked first); its id. One attempt only, as Harbor's job."""
        parameters_from(parameters)
        [job_id] = await self.enqueue(
            [NewJob(KIND, {"parameters": parameters, "trigger": trigger}, max_attempts=1)]
        )
        return job_id

    async def runs(self, limit: int = 10_000) -> list[Job]:
        """The runs still kept (the job queue purges finished jobs after its retention),
        newest first."""
        jobs, _ = await self.jobs.find(kind=KIND, limit=limit)
        return jobs

    async def run(self, run_id: int) -> Job | None:
        job = await self.jobs.get(run_id)
        return job if job is not None and job.kind == KIND else None

    async def log(self, run_id: int) -> str | None:
        """The run's log as text; None when there is no such run."""
        if await self.run(run_id) is None:
            return None
        lines = await self.jobs.logs(run_id)
        return "".join(
            f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(line.time))} "
            f"[{line.level.upper()}] {line.message}\n"
            for line in lines
        )

    async def stop(self, run_id: int) -> Job | None:
        """Stop a run: a pending one at once, a running one at its next batch; one that
        ended is left as it is. None when there is no such run."""
        job = await self.run(run_id)
        if job is not None and not job.state.final:
            await self.jobs.request_stop(self.clock(), job_id=run_id)
        return job

    async def active(self) -> bool:
        """Whether a run is pending or running."""
        _, total = await self.jobs.find(
            kind=KIND, states=(JobState.PENDING, JobState.RUNNING), limit=1
        )
        return total > 0

    async def _run(self, ctx: JobContext) -> dict[str, Any]:
        try:
            parameters = parameters_from(ctx.payload.get("parameters") or {})
        except InvalidPurge as exc:
            raise PermanentFailure(str(exc)) from None
        await ctx.log("Purge audit job start")
        await ctx.log(
            f"Purge operation parameter, retention_hour:{parameters.retention_hours}, "
            f"include_event_types:{','.join(parameters.selected)}, "
            f"dry_run:{str(parameters.dry_run).lower()}"
        )
        if parameters.retention_hours <= 0:
            await ctx.log(f"quit purge job, retentionHour:{parameters.retention_hours}")
            return {"purged": 0}
        selection = parameters.selection(self.clock())
        if selection.empty:
            await ctx.log("no event type selected, skip to purge audit log")
            return {"purged": 0}
        if parameters.dry_run:
            count = await self.store.count_purgeable_events(selection)
            await ctx.log(f"[DRYRUN]Purged {count} rows of audit logs")
            return {"purged": count}
        purged = 0
        after: PurgeCursor | None = None
        while not ctx.stopping.is_set():
            went, after = await self.store.purge_events_batch(selection, self.batch, after)
            purged += went
            if after is None:
                break
            await ctx.log(f"purged {purged} rows so far")
        if ctx.stopping.is_set():
            await ctx.log(f"stopped: purged {purged} rows of audit logs", "warning")
        else:
            await ctx.log(f"Purged {purged} rows of audit logs")
        return {"purged": purged}

    # --- the schedule ------------------------------------------------------------------
    async def schedule(self) -> PurgeSchedule | None:
        raw = (await self.store.configuration()).get(SCHEDULE_KEY)
        if raw is None:
            return None
        try:
            return PurgeSchedule.from_json(raw)
        except (ValueError, KeyError, TypeError) as exc:
            log.error("stored audit purge schedule unreadable", extra={"why": str(exc)})
            return None

    async def set_schedule(
        self, kind: str, cron: str, parameters: dict[str, Any]
    ) -> PurgeSchedule | None:
        """Store a periodic schedule (``None`` clears it); the parameters are checked now,
        not when it fires. Harbor's clients send the preset's expression with Hourly,
        Daily and Weekly; one given is kept, none means the preset."""
        if kind not in SCHEDULE_KINDS:
            raise InvalidPurge(f"schedule type must be one of {', '.join(SCHEDULE_KINDS)}")
        parameters_from(parameters)
        now = self.clock()
        if kind == "None":
            await self.store.put_configuration({SCHEDULE_KEY: json.dumps({"kind": "None"})}, now)
            return None
        cron = cron.strip() or PRESETS.get(kind, "")
        try:
            Cron.parse(cron)
        except InvalidCron as exc:
            raise InvalidPurge(
                f"invalid cron string for scheduled log rotation purge: {cron}, error: {exc}"
            ) from None
        previous = await self.schedule()
        created = previous.created if previous is not None else now
        schedule = PurgeSchedule(kind, cron, parameters, created, now)
        await self.store.put_configuration({SCHEDULE_KEY: schedule.to_json()}, now)
        return schedule

    async def run_scheduled(self, since: float, until: float) -> int | None:
        """Queue the scheduled run when the schedule fires at a second in ``(since,
        until]`` and no run is pending or running (one at a time, as Harbor's job); its
        id, or None."""
        schedule = await self.schedule()
        if schedule is None:
            return None
        try:
            due = Cron.parse(schedule.cron).fires_between(since, until)
        except InvalidCron as exc:
            log.warning("audit purge schedule not run: bad cron", extra={"error": str(exc)})
            return None
        if not due:
            return None
        if await self.active():
            log.info("scheduled audit purge skipped: a run is still going on")
            return None
        try:
            run_id = await self.start(schedule.parameters, SCHEDULED)
        except InvalidPurge as exc:
            log.warning("audit purge schedule not run", extra={"error": str(exc)})
            return None
        log.info("scheduled audit purge queued", extra={"run": run_id, "cron": schedule.cron})
        return run_id


class ScheduleTicker:
    """What the leader runs every few seconds: queue the scheduled purge when its cron
    fired since the last tick (after a gap, looking back ``catch_up`` seconds at most, so
    a new leader does not replay the old one's runs)."""

    def __init__(self, service: AuditPurgeService, *, catch_up: float = 5.0) -> None:
        self.service = service
        self.window = TickWindow(catch_up)

    async def tick(self, now: float | None = None) -> int | None:
        now = time.time() if now is None else now
        since = self.window.advance(now)
        try:
            return await self.service.run_scheduled(since, now)
        except DatabaseUnavailable as exc:
            log.warning("audit purge schedule not checked", extra={"error": str(exc)})
            return None
