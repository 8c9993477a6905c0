"""What the management API asks of GC: the run history, one run and its log, the
schedule, and "run now" — a run in this process's background, holding the same lock as
``wharf gc`` (so it answers "busy" when a run is going on anywhere)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from typing import Any

from wharf.db.errors import DatabaseUnavailable
from wharf.gc.collector import DELETE_CONCURRENCY, MAX_WORKERS, Options, Report, collect
from wharf.gc.lock import GCBusy
from wharf.jobs.cron import Cron, InvalidCron, TickWindow
from wharf.registry.content.cache import Generations
from wharf.registry.events import Actor, EventBus
from wharf.registry.metadata.base import GCRun, GCRunQuery, GCSchedule, MetadataStore
from wharf.storage.base import Driver

log = logging.getLogger("wharf.gc")

SCHEDULE_KINDS = ("None", "Hourly", "Daily", "Weekly", "Custom")
SCHEDULER = Actor("scheduler")  # who starts scheduled runs (the audit log's actor)
PRESETS = {"Hourly": "0 0 * * * *", "Daily": "0 0 0 * * *", "Weekly": "0 0 0 * * 0"}


class InvalidSchedule(ValueError):
    pass


def options_from(parameters: dict[str, Any]) -> Options:
    """Harbor's job parameters (``delete_untagged``, ``dry_run``, ``workers``) plus ours
    (``grace`` and ``upload_ttl`` in seconds, ``project``). Other keys Harbor's clients
    send (``delete_tag``, ``time_window``, ...) are ignored, as Harbor ignores what it
    doesn't know; a known key of the wrong type is refused rather than guessed at."""

    def number(key: str, default: float) -> float:
        value = parameters.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise InvalidSchedule(f"{key} must be a non-negative number of seconds")
        return float(value)

    def flag(key: str) -> bool:
        value = parameters.get(key, False)
        if not isinstance(value, bool):
            raise InvalidSchedule(f"{key} must be true or false")
        return value

    workers = parameters.get("workers", DELETE_CONCURRENCY)
    if isinstance(workers, bool) or not isinstance(workers, int):
        raise InvalidSchedule("workers should be integer format")
    if not 1 <= workers <= MAX_WORKERS:
        raise InvalidSchedule(
            f"Error: Invalid number of workers:{workers}. Workers must be greater than 0 "
            f"and less than or equal to {MAX_WORKERS}."
        )
    project = parameters.get("project")
    if project is not None and not isinstance(project, str):
        raise InvalidSchedule("project must be a name")
    return Options(
        grace=number("grace", 3600.0),
        upload_ttl=number("upload_ttl", 86400.0),
        delete_untagged=flag("delete_untagged"),
        project=project,
        dry_run=flag("dry_run"),
        workers=workers,
    )


class GCService:
    def __init__(
        self,
        store: MetadataStore,
        driver: Driver,
        generations: Generations,
        events: EventBus,
    ) -> None:
        self.store = store
        self.driver = driver
        self.generations = generations
        self.events = events
        self._tasks: dict[int, tuple[asyncio.Task[Report], asyncio.Event]] = {}

    async def history(self, query: GCRunQuery, offset: int, limit: int) -> tuple[list[GCRun], int]:
        return await self.store.gc_runs(query, offset, limit)

    async def run(self, run_id: int) -> GCRun | None:
        return await self.store.gc_run(run_id)

    async def stop(self, run_id: int) -> GCRun | None:
        """Ask a run to stop, wherever it runs (this process, another replica, ``wharf
        gc`` on a cron host): it ends at its next batch boundary with status Stopped; a
        rerun completes the work. A run that already ended is left as it is. The run;
        None when there is no such run."""
        found = await self.store.gc_request_stop(run_id, time.time())
        local = self._tasks.get(run_id)
        if found is not None and local is not None:
            local[1].set()  # here: at once, rather than at its next look at the database
        return found

    async def schedule(self) -> GCSchedule | None:
        return await self.store.gc_schedule()

    async def set_schedule(self, kind: str, cron: str, parameters: dict[str, Any]) -> GCSchedule:
        """Store a periodic schedule (``None`` clears it). Executing it needs a leader
        among the replicas (the HA issue's coordination layer)."""
        if kind not in SCHEDULE_KINDS:
            raise InvalidSchedule(f"schedule type must be one of {', '.join(SCHEDULE_KINDS)}")
        options_from(parameters)  # validated now, not when it fires
        # Harbor's clients send the preset's expression with Hourly/Daily/Weekly; one
        # given is kept (as Harbor does), none means the preset
        cron = cron.strip() or PRESETS.get(kind, "")
        if kind != "None":
            try:
                Cron.parse(cron)
            except InvalidCron as exc:
                raise InvalidSchedule(f"invalid cron string for scheduled gc: {exc}") from exc
        now = time.time()
        previous = await self.store.gc_schedule()
        created = now
        if previous is not None and previous.kind != "None" and kind != "None":
            created = previous.created or now  # edited, not set up anew
        schedule = GCSchedule(
            kind, "" if kind == "None" else cron, json.dumps(parameters), now, created
        )
        await self.store.gc_set_schedule(schedule)
        return schedule

    async def run_scheduled(self, since: float, until: float) -> int | None:
        """Start the scheduled run in the background when the stored schedule fires at a
        second in ``(since, until]``; its id, or None (not due, no schedule, or another
        run going on: one run at a time, wherever it was started)."""
        schedule = await self.store.gc_schedule()
        if schedule is None or schedule.kind == "None" or not schedule.cron:
            return None
        try:
            due = Cron.parse(schedule.cron).fires_between(since, until)
        except InvalidCron as exc:  # stored by an older release's looser check
            log.warning("GC schedule not run: bad cron", extra={"error": str(exc)})
            return None
        if not due:
            return None
        try:
            run_id = await self.run_now(json.loads(schedule.parameters), SCHEDULER, "SCHEDULE")
        except GCBusy:
            log.info("scheduled GC skipped: another run is going on")
            return None
        log.info("scheduled GC started", extra={"run": run_id, "cron": schedule.cron})
        return run_id

    async def run_now(self, parameters: dict[str, Any], actor: Actor, kind: str = "MANUAL") -> int:
        """Start a run in the background; its id once it holds the lock (``GCBusy`` when
        another run holds it)."""
        options = options_from(parameters)
        started: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        stop = asyncio.Event()

        def on_start(run_id: int) -> None:
            started.set_result(run_id)

        task = asyncio.create_task(
            collect(
                self.store,
                self.driver,
                self.generations,
                options,
                kind=kind,
                actor=actor,
                events=self.events,
                on_start=on_start,
                stop=stop,
                record=True,  # a dry run too: its record is where the API shows its result
            )
        )
        waiting: set[asyncio.Future[Any]] = {task, started}
        await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
        if started.done():
            run_id = started.result()
            self._tasks[run_id] = (task, stop)
            task.add_done_callback(lambda _: self._tasks.pop(run_id, None))
            return run_id
        task.result()  # raises what stopped it before it started (GCBusy)
        raise RuntimeError("the GC run ended before it started")

    async def close(self) -> None:
        """On shutdown: stop the background runs at their next batch boundary."""
        running = list(self._tasks.values())
        for _, stop in running:
            stop.set()
        for task, _ in running:
            with contextlib.suppress(Exception):
                await task


class ScheduleTicker:
    """The job the leader runs every few seconds (``coord.jobs.run_on_leader``): start the
    scheduled GC when its cron fired since the last tick. A tick after a long gap (this
    process just became leader, or was paused) looks back ``catch_up`` seconds at most,
    so a new leader does not replay the old one's runs; a run the old leader started in
    the same second meets the GC lock and is skipped."""

    def __init__(self, service: GCService, *, catch_up: float = 5.0) -> None:
        self.service = service
        self.window = TickWindow(catch_up)

    async def tick(self, now: float | None = None) -> int | None:
        now = time.time() if now is None else now
        since = self.window.advance(now)
        try:
            return await self.service.run_scheduled(since, now)
        except DatabaseUnavailable as exc:
            # the database is down or restarting: a schedule firing meanwhile is missed
            # (the next one runs), as with cron on a host that is down
            log.warning("GC schedule not checked: database unavailable", extra={"error": str(exc)})
            return None
