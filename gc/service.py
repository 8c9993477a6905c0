"""What the management API asks of GC: the run history, one run and its log, the
schedule, and "run now" — a run in this process's background, holding the same lock as
``wharf gc`` (so it answers "busy" when a run is going on anywhere)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from typing import Any

from wharf.gc.collector import Options, Report, collect
from wharf.registry.content.cache import Generations
from wharf.registry.events import Actor, EventBus
from wharf.registry.metadata.base import GCRun, GCSchedule, MetadataStore
from wharf.storage.base import Driver

SCHEDULE_KINDS = ("None", "Hourly", "Daily", "Weekly", "Custom")
PRESETS = {"Hourly": "0 0 * * * *", "Daily": "0 0 0 * * *", "Weekly": "0 0 0 * * 0"}


class InvalidSchedule(ValueError):
    pass


def options_from(parameters: dict[str, Any]) -> Options:
    """Harbor's job parameters (``delete_untagged``, ``dry_run``) plus ours."""

    def number(key: str, default: float) -> float:
        value = parameters.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise InvalidSchedule(f"{key} must be a non-negative number of seconds")
        return float(value)

    project = parameters.get("project")
    if project is not None and not isinstance(project, str):
        raise InvalidSchedule("project must be a name")
    return Options(
        grace=number("grace", 3600.0),
        upload_ttl=number("upload_ttl", 86400.0),
        delete_untagged=bool(parameters.get("delete_untagged", False)),
        project=project,
        dry_run=bool(parameters.get("dry_run", False)),
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
        self._task: asyncio.Task[Report] | None = None
        self._stop = asyncio.Event()

    async def history(self, offset: int, limit: int) -> tuple[list[GCRun], int]:
        return await self.store.gc_runs(offset, limit)

    async def run(self, run_id: int) -> GCRun | None:
        return await self.store.gc_run(run_id)

    async def schedule(self) -> GCSchedule | None:
        return await self.store.gc_schedule()

    async def set_schedule(self, kind: str, cron: str, parameters: dict[str, Any]) -> GCSchedule:
        """Store a periodic schedule (``None`` clears it). Executing it needs a leader
        among the replicas (the HA issue's coordination layer)."""
        if kind not in SCHEDULE_KINDS:
            raise InvalidSchedule(f"schedule type must be one of {', '.join(SCHEDULE_KINDS)}")
        options_from(parameters)  # validated now, not when it fires
        cron = PRESETS.get(kind, cron)
        if kind == "Custom" and len(cron.split()) not in (5, 6):
            raise InvalidSchedule("cron must have 5 or 6 fields")
        schedule = GCSchedule(
            kind, "" if kind == "None" else cron, json.dumps(parameters), time.time()
        )
        await self.store.gc_set_schedule(schedule)
        return schedule

    async def run_now(self, parameters: dict[str, Any], actor: Actor) -> int:
        """Start a run in the background; its id once it holds the lock (``GCBusy`` when
        another run holds it)."""
        options = options_from(parameters)
        started: asyncio.Future[int] = asyncio.get_running_loop().create_future()

        def on_start(run_id: int) -> None:
            started.set_result(run_id)

        task = asyncio.create_task(
            collect(
                self.store,
                self.driver,
                self.generations,
                options,
                actor=actor,
                events=self.events,
                on_start=on_start,
                stop=self._stop,
            )
        )
        self._task = task
        waiting: set[asyncio.Future[Any]] = {task, started}
        await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
        if started.done():
            return started.result()
        task.result()  # raises what stopped it before it started (GCBusy)
        raise RuntimeError("the GC run ended before it started")

    async def close(self) -> None:
        """On shutdown: stop a background run at its next batch boundary."""
        if self._task is None:
            return
        self._stop.set()
        with contextlib.suppress(Exception):
            await self._task
