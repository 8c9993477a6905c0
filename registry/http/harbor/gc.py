"""Harbor's /system/gc: the run history, one run, its log, the schedule, and "run now"
(POST /system/gc/schedule with ``schedule.type`` ``Manual``). System admins only; the
handlers call ``wharf.gc.service``."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from wharf.auth.errors import AlreadyExists, BadRequest, Forbidden, NotFound
from wharf.auth.principals import Principal
from wharf.gc.lock import GCBusy
from wharf.gc.service import GCService, InvalidSchedule
from wharf.registry.http.harbor.common import (
    PREFIX,
    authenticated,
    event_actor,
    harbor_time,
    json_body,
    json_response,
    paged,
    parse_int,
    requested_page,
)
from wharf.registry.http.keys import GC
from wharf.registry.metadata.base import GCRun, GCSchedule

JOB_NAME = "GARBAGE_COLLECTION"


def _service(request: web.Request, actor: Principal) -> GCService:
    if not actor.sysadmin:
        raise Forbidden("garbage collection is for system administrators")
    return request.config_dict[GC]


def _schedule_doc(schedule: GCSchedule | None) -> dict[str, Any]:
    if schedule is None:
        return {"type": "None", "cron": "", "next_scheduled_time": None}
    return {"type": schedule.kind, "cron": schedule.cron, "next_scheduled_time": None}


def run_doc(run: GCRun) -> dict[str, Any]:
    return {
        "id": run.id,
        "job_name": JOB_NAME,
        "job_kind": run.kind,
        "job_parameters": run.parameters,
        "schedule": {"type": "Manual" if run.kind == "MANUAL" else "Schedule", "cron": ""},
        "job_status": run.status,
        "deleted": False,
        "creation_time": harbor_time(run.created),
        "update_time": harbor_time(run.updated),
        "report": json.loads(run.report or "{}"),
    }


def _run_id(request: web.Request) -> int:
    return parse_int(request.match_info["gc_id"], "gc_id")


@authenticated
async def history(request: web.Request, actor: Principal) -> web.StreamResponse:
    service = _service(request, actor)
    page = requested_page(request)
    runs, total = await service.history(page.offset, page.limit)
    return paged(request, [run_doc(run) for run in runs], total, page)


@authenticated
async def one(request: web.Request, actor: Principal) -> web.StreamResponse:
    run = await _service(request, actor).run(_run_id(request))
    if run is None:
        raise NotFound("no such GC run")
    return json_response(run_doc(run))


@authenticated
async def run_log(request: web.Request, actor: Principal) -> web.StreamResponse:
    run = await _service(request, actor).run(_run_id(request))
    if run is None:
        raise NotFound("no such GC run")
    return web.Response(text=run.log, content_type="text/plain")


@authenticated
async def get_schedule(request: web.Request, actor: Principal) -> web.StreamResponse:
    schedule = await _service(request, actor).schedule()
    return json_response(
        {
            "job_name": JOB_NAME,
            "schedule": _schedule_doc(schedule),
            "job_parameters": schedule.parameters if schedule else "{}",
            "update_time": harbor_time(schedule.updated if schedule else None),
        }
    )


@authenticated
async def set_schedule(request: web.Request, actor: Principal) -> web.StreamResponse:
    service = _service(request, actor)
    body = await json_body(request)
    schedule = body.get("schedule")
    parameters = body.get("parameters", {})
    if not isinstance(schedule, dict) or not isinstance(parameters, dict):
        raise BadRequest("schedule and parameters must be objects")
    kind = schedule.get("type")
    cron = schedule.get("cron") or ""
    if not isinstance(kind, str) or not isinstance(cron, str):
        raise BadRequest("schedule.type and schedule.cron must be strings")
    try:
        if kind == "Manual":
            run_id = await service.run_now(parameters, event_actor(request, actor))
            return web.Response(status=201, headers={"Location": f"{PREFIX}/system/gc/{run_id}"})
        await service.set_schedule(kind, cron, parameters)
    except InvalidSchedule as exc:
        raise BadRequest(str(exc)) from None
    except GCBusy as exc:
        raise AlreadyExists(str(exc)) from None
    return web.Response(status=201 if request.method == "POST" else 200)


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/system/gc", history)
    router.add_get("/system/gc/schedule", get_schedule)
    router.add_post("/system/gc/schedule", set_schedule)
    router.add_put("/system/gc/schedule", set_schedule)
    router.add_get("/system/gc/{gc_id}", one)
    router.add_get("/system/gc/{gc_id}/log", run_log)
