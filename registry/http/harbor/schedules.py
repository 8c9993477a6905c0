"""Harbor's /schedules (v2.15 swagger, tag ``schedule``: ``ScheduleTask``,
``SchedulerStatus``): the system's periodic jobs — the garbage collection schedule
(``GARBAGE_COLLECTION``), the audit-log purge schedule (``PURGE_AUDIT_LOG``), every
enabled replication policy with a scheduled trigger (``REPLICATION``, its id the
``vendor_id``) and every retention policy with a cron (``RETENTION``) — and whether the
scheduler is paused.

Listing needs the system's ``jobservice-monitor`` list permission (system admins, or
robots given it), as Harbor; ``paused`` any signed-in caller. Harbor numbers schedules
in its schedule table; Wharf keeps each in its owner's store, so a task's ``id`` is
derived, stable while the schedule exists: 1 for GC, 2 for the purge, ``4·id + 3`` for a
replication policy's and ``4·id + 4`` for a retention policy's. ``vendor_id`` is -1 for
the two system schedules (as Harbor records them). The list is ordered by ``id``.

Harbor pauses its schedules through its job service's queue actions (``PUT
/jobservice/queues``), which Wharf does not implement: nothing can pause Wharf's
schedulers, so ``paused`` is false."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from wharf.auth.access import require_signed_in, require_system
from wharf.auth.errors import BadRequest
from wharf.auth.models import policy
from wharf.auth.principals import Principal
from wharf.registry.http.harbor.common import authenticated, harbor_time, json_response
from wharf.registry.http.harbor.gc import ZERO_TIME
from wharf.registry.http.harbor.query import ListQuery, list_query, page_headers, page_of
from wharf.registry.http.harbor.spec import PAGE, PAGE_HEADERS, PAGE_SIZE, Api, Model, Param, Reply
from wharf.registry.http.keys import AUDIT_PURGE, GC, REPLICATION, RETENTION

api = Api("schedule")

SCHEDULED_REPLICATION = "scheduled"  # a replication policy's trigger type
ALL = "all"


class ScheduleTask(Model):
    id: int
    vendor_type: str
    vendor_id: int
    cron: str
    update_time: str


class SchedulerStatus(Model):
    paused: bool


@dataclass(frozen=True, slots=True)
class Task:
    id: int
    vendor_type: str
    vendor_id: int
    cron: str
    updated: float

    def doc(self) -> ScheduleTask:
        return ScheduleTask(
            id=self.id,
            vendor_type=self.vendor_type,
            vendor_id=self.vendor_id,
            cron=self.cron,
            update_time=(self.updated and harbor_time(self.updated)) or ZERO_TIME,
        )


async def scheduled_tasks(request: web.Request) -> list[Task]:
    """Every schedule in force, by id."""
    app = request.config_dict
    tasks: list[Task] = []
    gc = await app[GC].schedule()
    if gc is not None and gc.kind != "None" and gc.cron:
        tasks.append(Task(1, "GARBAGE_COLLECTION", -1, gc.cron, gc.updated))
    purge = await app[AUDIT_PURGE].schedule()
    if purge is not None:
        tasks.append(Task(2, "PURGE_AUDIT_LOG", -1, purge.cron, purge.updated))
    for replication in await app[REPLICATION].policies():
        if (
            replication.enabled
            and replication.trigger_type == SCHEDULED_REPLICATION
            and replication.trigger_cron
        ):
            tasks.append(
                Task(
                    4 * replication.id + 3,
                    "REPLICATION",
                    replication.id,
                    replication.trigger_cron,
                    replication.updated,
                )
            )
    for retention in await app[RETENTION].store.scheduled_policies():
        tasks.append(
            Task(
                4 * retention.id + 4,
                "RETENTION",
                retention.id,
                retention.trigger_cron,
                retention.updated,
            )
        )
    return sorted(tasks, key=lambda t: t.id)


@api.operation(
    "listSchedules",
    "GET",
    "/schedules",
    summary="The system's schedules: GC, audit-log purge, replication, retention",
    params=(PAGE, PAGE_SIZE),
    replies={200: Reply("The schedules", list[ScheduleTask], PAGE_HEADERS)},
    errors=(400, 403),
)
@authenticated
async def list_schedules(request: web.Request, actor: Principal) -> web.StreamResponse:
    require_system(actor, policy("jobservice-monitor", "list"))
    query = list_query(request)
    query = ListQuery(page=query.page, page_size=query.page_size)  # Harbor: no q, no sort
    tasks = await scheduled_tasks(request)
    return json_response(
        [t.doc() for t in page_of(tasks, query)],
        headers=page_headers(request, len(tasks), query),
    )


@api.operation(
    "getSchedulePaused",
    "GET",
    "/schedules/{job_type}/paused",
    summary="Whether the scheduler is paused (job_type: all)",
    params=(
        Param(
            "job_type",
            "path",
            str,
            "The type of the job; only 'all' is supported",
            required=True,
        ),
    ),
    replies={200: Reply("The scheduler's status", SchedulerStatus)},
    errors=(400,),
)
@authenticated
async def paused(request: web.Request, actor: Principal) -> web.StreamResponse:
    require_signed_in(actor)
    if request.match_info["job_type"].lower() != ALL:
        raise BadRequest("job_type can only be 'all'")
    return json_response(SchedulerStatus(paused=False))
