"""Harbor's /system/gc (v2.15 swagger: ``GCHistory``, ``Schedule``, ``ScheduleObj``): the
run history (``page``, ``page_size``, ``q``, ``sort``), one run, its log, stopping a run,
the schedule, and "run now" (``schedule.type`` ``Manual``). System admins only; the
handlers call ``wharf.gc.service``.

Where Harbor's answers are shaped by its job service rather than by the swagger, they are
reproduced: a run's ``schedule.type`` is its trigger title-cased (``Manual``,
``Schedule``) with an empty cron and a zero ``next_scheduled_time``; the schedule is
answered as a ``GCHistory`` whose ``job_kind`` is the cron expression. One difference:
with no schedule set, Harbor answers an empty body, Wharf the same shape with type
``None`` (a JSON client can read it either way)."""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web

from wharf.auth.errors import AlreadyExists, BadRequest, Forbidden, NotFound
from wharf.auth.principals import Principal
from wharf.gc.cron import Cron, InvalidCron
from wharf.gc.lock import GCBusy
from wharf.gc.service import GCService, InvalidSchedule
from wharf.registry.http.harbor.common import (
    PREFIX,
    authenticated,
    event_actor,
    harbor_query,
    harbor_query_time,
    harbor_sort,
    harbor_time,
    json_body,
    json_response,
    ok,
    paged,
    parse_int,
    requested_page,
)
from wharf.registry.http.keys import GC
from wharf.registry.metadata.base import GCRun, GCRunQuery, GCSchedule

JOB_NAME = "GARBAGE_COLLECTION"
ZERO_TIME = "0001-01-01T00:00:00.000Z"  # Harbor's date-time for "none" (Go's zero time)

# Harbor's query and sort keys for executions (its columns, and the GCHistory fields
# they are shown as) → the run columns
COLUMNS = {
    "id": "id",
    "status": "status",
    "job_status": "status",
    "trigger": "kind",
    "job_kind": "kind",
    "start_time": "created",
    "creation_time": "created",
    "update_time": "updated",
    "end_time": "updated",
}
TIMES = ("created", "updated")
TEXTS = ("status", "kind")


def _service(request: web.Request, actor: Principal) -> GCService:
    if not actor.sysadmin:
        raise Forbidden("garbage collection is for system administrators")
    return request.config_dict[GC]


def _next_time(cron: str) -> str:
    if not cron:
        return ZERO_TIME
    try:
        when = Cron.parse(cron).next_after(time.time())
    except InvalidCron:
        return ZERO_TIME
    return ZERO_TIME if when is None else harbor_time(when) or ZERO_TIME


def _schedule_doc(schedule: GCSchedule | None) -> dict[str, Any]:
    """The schedule as Harbor answers it: a ``GCHistory`` (``job_kind`` the cron)."""
    if schedule is None:
        schedule = GCSchedule("None", "", "{}", 0.0)
    created = schedule.created or schedule.updated
    return {
        "id": 1,
        "job_name": "",
        "job_kind": schedule.cron,
        "job_parameters": schedule.parameters,
        "job_status": "Scheduled" if schedule.cron else "",
        "deleted": False,
        "schedule": {
            "type": schedule.kind,
            "cron": schedule.cron,
            "next_scheduled_time": _next_time(schedule.cron),
        },
        "creation_time": harbor_time(created) if created else ZERO_TIME,
        "update_time": harbor_time(schedule.updated) if schedule.updated else ZERO_TIME,
    }


def run_doc(run: GCRun) -> dict[str, Any]:
    return {
        "id": run.id,
        "job_name": JOB_NAME,
        "job_kind": run.kind,  # MANUAL or SCHEDULE, Harbor's triggers
        "job_parameters": run.parameters,
        "schedule": {
            "type": run.kind.title(),  # Manual, Schedule
            "cron": "",
            "next_scheduled_time": ZERO_TIME,
        },
        "job_status": run.status,
        "deleted": False,
        "creation_time": harbor_time(run.created),
        "update_time": harbor_time(run.updated),
    }


def _run_id(request: web.Request) -> int:
    return parse_int(request.match_info["gc_id"], "gc_id")


def run_query(request: web.Request) -> GCRunQuery:
    """Harbor's ``q`` and ``sort`` on the history. Keys Harbor doesn't filter or sort
    executions by are ignored, as Harbor ignores them."""
    values: list[tuple[str, tuple[int | float | str, ...]]] = []
    contains: list[tuple[str, str]] = []
    ranges: list[tuple[str, float | None, float | None]] = []
    for key, found in harbor_query(request).items():
        column = COLUMNS.get(key)
        if column is None or found.kind == "all":
            continue
        if found.kind == "fuzzy":
            if column in TEXTS:
                contains.append((column, found.values[0]))
            continue
        if found.kind == "range":
            low, high = (_bound(column, v) if v else None for v in found.values)
            ranges.append((column, low, high))
            continue
        if column in TIMES:  # an exact time: that second
            points = [_bound(column, v) for v in found.values]
            ranges.extend((column, t, t + 0.999999) for t in points if t is not None)
            continue
        values.append((column, tuple(_value(column, v) for v in found.values)))
    order = [(COLUMNS[key], desc) for key, desc in harbor_sort(request) if key in COLUMNS]
    return GCRunQuery(
        tuple(values),
        tuple(contains),
        tuple(ranges),
        tuple(order) or (("created", True),),
    )


def _bound(column: str, text: str) -> float | None:
    if column in TIMES:
        return harbor_query_time(text)
    try:
        return float(text)
    except ValueError:
        raise BadRequest(f"invalid query string value: {text} ({column} is a number)") from None


def _value(column: str, text: str) -> int | str:
    if column == "id":
        if not text.isdigit():
            raise BadRequest(f"invalid query string value: {text} (id is a number)")
        return int(text)
    if column == "kind":
        return text.upper()  # Harbor's triggers are upper case
    return text[:1].upper() + text[1:].lower()  # statuses: Success, Running, ...


@authenticated
async def history(request: web.Request, actor: Principal) -> web.StreamResponse:
    service = _service(request, actor)
    page = requested_page(request)
    runs, total = await service.history(run_query(request), page.offset, page.limit)
    return paged(request, [run_doc(run) for run in runs], total, page)


@authenticated
async def one(request: web.Request, actor: Principal) -> web.StreamResponse:
    run = await _service(request, actor).run(_run_id(request))
    if run is None:
        raise NotFound(f"garbage collection execution {request.match_info['gc_id']} not found")
    return json_response(run_doc(run))


@authenticated
async def stop(request: web.Request, actor: Principal) -> web.StreamResponse:
    """``PUT /system/gc/{gc_id}``: stop a run (a run already ended: nothing to do)."""
    run = await _service(request, actor).stop(_run_id(request))
    if run is None:
        raise NotFound(f"garbage collection execution {request.match_info['gc_id']} not found")
    return ok()


@authenticated
async def run_log(request: web.Request, actor: Principal) -> web.StreamResponse:
    run = await _service(request, actor).run(_run_id(request))
    if run is None:
        raise NotFound(f"garbage collection {request.match_info['gc_id']} log is not found")
    return web.Response(text=run.log, content_type="text/plain")


@authenticated
async def get_schedule(request: web.Request, actor: Principal) -> web.StreamResponse:
    return json_response(_schedule_doc(await _service(request, actor).schedule()))


@authenticated
async def set_schedule(request: web.Request, actor: Principal) -> web.StreamResponse:
    """POST (201) and PUT (200) alike, as Harbor: ``Manual`` runs one now (POST answers
    its Location), ``None`` clears the schedule, the other types set it."""
    service = _service(request, actor)
    body = await json_body(request)
    schedule = body.get("schedule")
    parameters = body.get("parameters")
    if parameters is None:  # Harbor's clients may send null
        parameters = {}
    if not isinstance(schedule, dict) or not isinstance(parameters, dict):
        raise BadRequest("schedule and parameters must be objects")
    kind = schedule.get("type")
    cron = schedule.get("cron") or ""
    if not isinstance(kind, str) or not isinstance(cron, str):
        raise BadRequest("schedule.type and schedule.cron must be strings")
    created = request.method == "POST"
    try:
        if kind == "Manual":
            run_id = await service.run_now(parameters, event_actor(request, actor))
            if not created:
                return ok()
            return web.Response(status=201, headers={"Location": f"{PREFIX}/system/gc/{run_id}"})
        await service.set_schedule(kind, cron, parameters)
    except InvalidSchedule as exc:
        raise BadRequest(str(exc)) from None
    except GCBusy as exc:
        raise AlreadyExists(str(exc)) from None
    return web.Response(status=201 if created else 200)


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/system/gc", history)
    router.add_get("/system/gc/schedule", get_schedule)
    router.add_post("/system/gc/schedule", set_schedule)
    router.add_put("/system/gc/schedule", set_schedule)
    router.add_get("/system/gc/{gc_id}", one)
    router.add_put("/system/gc/{gc_id}", stop)
    router.add_get("/system/gc/{gc_id}/log", run_log)
