"""Harbor's /system/purgeaudit (v2.15 swagger, tag ``purge``: ``ExecHistory``,
``Schedule``): the audit-log purge runs (``page``, ``page_size``, ``q``, ``sort``), one
run, its log, stopping a run, the schedule, and "run now" (``schedule.type`` ``Manual``).
System admins, and robots given the system's ``purge-audit`` permissions, as Harbor's
``RequireSystemAccess``; the handlers call ``wharf.auth.audit_purge``.

As in Harbor: a run's ``job_kind`` is its trigger (``MANUAL``, ``SCHEDULE``) and its
``schedule.type`` the trigger title-cased; ``job_parameters`` are the parameters it was
given, with ``purged`` (rows deleted; a dry run: rows that would go) merged in once it
ended. The schedule is answered as an ``ExecHistory`` whose ``job_kind`` is the cron;
with no schedule, the same shape with type ``None`` (Harbor: an empty body), as Wharf's
GC schedule is."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from wharf.auth.access import require_system
from wharf.auth.audit_purge import AuditPurgeService, InvalidPurge, PurgeSchedule
from wharf.auth.errors import BadRequest, NotFound
from wharf.auth.models import policy
from wharf.auth.principals import Principal
from wharf.jobs.models import Job, JobState
from wharf.registry.http.harbor.common import PREFIX, authenticated, harbor_time, json_response, ok
from wharf.registry.http.harbor.gc import ZERO_TIME, Schedule, ScheduleObj, next_time
from wharf.registry.http.harbor.query import (
    Fields,
    Sort,
    list_query,
    page_headers,
    page_of,
    select,
)
from wharf.registry.http.harbor.spec import (
    LISTING,
    PAGE_HEADERS,
    Api,
    Model,
    Param,
    Reply,
    read_body,
    text_reply,
)
from wharf.registry.http.keys import AUDIT_PURGE

api = Api("purge")

JOB_NAME = "PURGE_AUDIT_LOG"  # Harbor's vendor type
PURGE_ID = Param("purge_id", "path", int, "The ID of the purge log", required=True)
STATUSES = {  # the job queue's states as Harbor's execution statuses
    JobState.PENDING: "Pending",
    JobState.RUNNING: "Running",
    JobState.SUCCEEDED: "Success",
    JobState.FAILED: "Error",
    JobState.STOPPED: "Stopped",
}


class ExecHistory(Model):
    id: int
    job_name: str
    job_kind: str
    job_parameters: str
    job_status: str
    deleted: bool
    schedule: ScheduleObj
    creation_time: str
    update_time: str


def _service(request: web.Request, actor: Principal, action: str) -> AuditPurgeService:
    require_system(actor, policy("purge-audit", action))
    return request.config_dict[AUDIT_PURGE]


def _trigger(job: Job) -> str:
    return str(job.payload.get("trigger", "MANUAL"))


def _parameters(job: Job) -> str:
    """The run's parameters, with what it purged once it ended."""
    given = job.payload.get("parameters")
    parameters: dict[str, Any] = dict(given) if isinstance(given, dict) else {}
    if job.result and isinstance(job.result.get("purged"), int):
        parameters["purged"] = job.result["purged"]
    return json.dumps(parameters)


def run_doc(job: Job) -> ExecHistory:
    trigger = _trigger(job)
    return ExecHistory(
        id=job.id,
        job_name=JOB_NAME,
        job_kind=trigger,
        job_parameters=_parameters(job),
        job_status=STATUSES[job.state],
        deleted=False,
        schedule=ScheduleObj(type=trigger.title(), cron="", next_scheduled_time=ZERO_TIME),
        creation_time=harbor_time(job.created) or ZERO_TIME,
        update_time=harbor_time(job.finished or job.updated) or ZERO_TIME,
    )


def schedule_doc(schedule: PurgeSchedule | None) -> ExecHistory:
    kind, cron = ("None", "") if schedule is None else (schedule.kind, schedule.cron)
    parameters = {} if schedule is None else schedule.parameters
    created = 0.0 if schedule is None else schedule.created
    updated = 0.0 if schedule is None else schedule.updated
    return ExecHistory(
        id=1 if schedule is not None else 0,
        job_name="",
        job_kind=cron,
        job_parameters=json.dumps(parameters),
        job_status="Scheduled" if cron else "",
        deleted=False,
        schedule=ScheduleObj(type=kind, cron=cron, next_scheduled_time=next_time(cron)),
        creation_time=(created and harbor_time(created)) or ZERO_TIME,
        update_time=(updated and harbor_time(updated)) or ZERO_TIME,
    )


# Harbor's query and sort keys of executions (and the ExecHistory fields they show as)
HISTORY_FIELDS: Fields[Job] = Fields(
    filters={
        "id": lambda j: j.id,
        "status": lambda j: STATUSES[j.state],
        "job_status": lambda j: STATUSES[j.state],
        "trigger": _trigger,
        "job_kind": _trigger,
        "start_time": lambda j: j.created,
        "creation_time": lambda j: j.created,
        "end_time": lambda j: j.finished,
        "update_time": lambda j: j.finished or j.updated,
    },
    sorts={
        "id": lambda j: j.id,
        "status": lambda j: STATUSES[j.state],
        "job_status": lambda j: STATUSES[j.state],
        "start_time": lambda j: j.created,
        "creation_time": lambda j: j.created,
        "end_time": lambda j: j.finished,
        "update_time": lambda j: j.finished or j.updated,
    },
    default=(Sort("creation_time", desc=True), Sort("id", desc=True)),
)


@api.operation(
    "getPurgeHistory",
    "GET",
    "/system/purgeaudit",
    summary="The audit-log purge runs (newest first by default)",
    params=LISTING,
    replies={200: Reply("The runs", list[ExecHistory], PAGE_HEADERS)},
    errors=(400, 403),
)
@authenticated
async def history(request: web.Request, actor: Principal) -> web.StreamResponse:
    service = _service(request, actor, "list")
    query = list_query(request)
    runs = select(await service.runs(), query, HISTORY_FIELDS)
    return json_response(
        [run_doc(job) for job in page_of(runs, query)],
        headers=page_headers(request, len(runs), query),
    )


@api.operation(
    "getPurgeSchedule",
    "GET",
    "/system/purgeaudit/schedule",
    summary="The audit-log purge schedule",
    replies={200: Reply("The schedule, as an ExecHistory", ExecHistory)},
    errors=(403,),
)
@authenticated
async def get_schedule(request: web.Request, actor: Principal) -> web.StreamResponse:
    return json_response(schedule_doc(await _service(request, actor, "read").schedule()))


async def _set_schedule(
    request: web.Request, actor: Principal, created: bool
) -> web.StreamResponse:
    """POST (201) and PUT (200) alike, as Harbor: ``Manual`` queues a run now (POST
    answers its Location), ``None`` clears the schedule, the other types set it."""
    service = _service(request, actor, "create" if created else "update")
    body = await read_body(request, Schedule)
    if body.schedule is None or body.schedule.type is None:
        raise BadRequest("schedule cann't be empty")
    kind, cron = body.schedule.type, body.schedule.cron or ""
    parameters = body.parameters or {}
    try:
        if kind == "Manual":
            run_id = await service.start(parameters)
            if not created:
                return ok()
            location = f"{PREFIX}/system/purgeaudit/{run_id}"
            return web.Response(status=201, headers={"Location": location})
        await service.set_schedule(kind, cron, parameters)
    except InvalidPurge as exc:
        raise BadRequest(str(exc)) from None
    return web.Response(status=201 if created else 200)


@api.operation(
    "createPurgeSchedule",
    "POST",
    "/system/purgeaudit/schedule",
    summary="Purge the audit log now (type Manual) or set the schedule",
    body=Schedule,
    replies={201: Reply("Queued (Location: the run) or scheduled", None, ("Location",))},
    errors=(400, 403),
)
@authenticated
async def create_schedule(request: web.Request, actor: Principal) -> web.StreamResponse:
    return await _set_schedule(request, actor, created=True)


@api.operation(
    "updatePurgeSchedule",
    "PUT",
    "/system/purgeaudit/schedule",
    summary="Set the audit-log purge schedule (type Manual: purge now)",
    body=Schedule,
    replies={200: Reply("Scheduled, or queued")},
    errors=(400, 403),
)
@authenticated
async def update_schedule(request: web.Request, actor: Principal) -> web.StreamResponse:
    return await _set_schedule(request, actor, created=False)


def _not_found(request: web.Request) -> NotFound:
    return NotFound(f"purge job with id {request.match_info['purge_id']} not found")


@api.operation(
    "getPurgeJob",
    "GET",
    "/system/purgeaudit/{purge_id}",
    summary="One audit-log purge run",
    params=(PURGE_ID,),
    replies={200: Reply("The run", ExecHistory)},
    errors=(403, 404),
)
@authenticated
async def one(request: web.Request, actor: Principal) -> web.StreamResponse:
    job = await _service(request, actor, "read").run(int(request.match_info["purge_id"]))
    if job is None:
        raise _not_found(request)
    return json_response(run_doc(job))


@api.operation(
    "stopPurge",
    "PUT",
    "/system/purgeaudit/{purge_id}",
    summary="Stop an audit-log purge run (one that already ended is left as it is)",
    params=(PURGE_ID,),
    replies={200: Reply("Asked to stop; a running purge stops at its next batch")},
    errors=(403, 404),
)
@authenticated
async def stop(request: web.Request, actor: Principal) -> web.StreamResponse:
    job = await _service(request, actor, "stop").stop(int(request.match_info["purge_id"]))
    if job is None:
        raise _not_found(request)
    return ok()


@api.operation(
    "getPurgeJobLog",
    "GET",
    "/system/purgeaudit/{purge_id}/log",
    summary="The log of an audit-log purge run (text/plain)",
    params=(PURGE_ID,),
    replies={200: text_reply("The log")},
    errors=(400, 403, 404),
)
@authenticated
async def run_log(request: web.Request, actor: Principal) -> web.StreamResponse:
    purge_id = int(request.match_info["purge_id"])
    text = await _service(request, actor, "read").log(purge_id)
    if text is None:
        raise NotFound(f"purge job with execution ID: {purge_id} taskLog is not found")
    return web.Response(text=text, content_type="text/plain")
