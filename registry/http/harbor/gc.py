"""Harbor's /system/gc (v2.15 swagger: ``GCHistory``, ``Schedule``, ``ScheduleObj``): the
run history (``page``, ``page_size``, ``q``, ``sort``), one run, its log, stopping a run,
the schedule, and "run now" (``schedule.type`` ``Manual``). System admins only; the
handlers call ``wharf.gc.service``.

Where Harbor's answers are shaped by its job service rather than by the swagger, they are
reproduced: a run's ``schedule.type`` is its trigger title-cased (``Manual``,
``Schedule``) with an empty cron and a zero ``next_scheduled_time``; the schedule is
answered as a ``GCHistory`` whose ``job_kind`` is the cron expression; a finished run's
``job_parameters`` carry what Harbor's job checks in at its end — ``freed_space`` (bytes),
``purged_blobs``, ``purged_manifests`` (a dry run: what would go). One difference:
with no schedule set, Harbor answers an empty body, Wharf the same shape with type
``None`` (a JSON client can read it either way)."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any, Literal

from aiohttp import web

from wharf.auth.errors import AlreadyExists, BadRequest, Forbidden, NotFound
from wharf.auth.principals import Principal
from wharf.gc.lock import GCBusy
from wharf.gc.service import GCService, InvalidSchedule
from wharf.jobs.cron import Cron, InvalidCron
from wharf.registry.http.harbor.common import (
    PREFIX,
    authenticated,
    event_actor,
    harbor_time,
    json_response,
    ok,
    paged,
)
from wharf.registry.http.harbor.query import (
    AndList,
    Exact,
    Fuzzy,
    ListQuery,
    OrList,
    Range,
    Scalar,
    list_query,
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
from wharf.registry.http.keys import GC
from wharf.registry.metadata.base import GCRun, GCRunQuery, GCSchedule

api = Api("gc")

JOB_NAME = "GARBAGE_COLLECTION"
ZERO_TIME = "0001-01-01T00:00:00.000Z"  # Harbor's date-time for "none" (Go's zero time)
GC_ID = Param("gc_id", "path", int, "The ID of the gc log", required=True)

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


class ScheduleObj(Model):
    type: str  # Hourly, Daily, Weekly, Custom, Manual, None, Schedule
    cron: str
    next_scheduled_time: str


class GCHistory(Model):
    id: int
    job_name: str
    job_kind: str
    job_parameters: str  # JSON: delete_untagged, dry_run, workers, ...
    job_status: str  # Running, Success, Error, Stopped (a schedule: Scheduled)
    deleted: bool
    schedule: ScheduleObj
    creation_time: str
    update_time: str


class ScheduleSpec(Model):
    """ScheduleObj as a request gives it."""

    type: Literal["Hourly", "Daily", "Weekly", "Custom", "Manual", "None", "Schedule"] | None = None
    cron: str | None = None


class Schedule(Model):
    schedule: ScheduleSpec | None = None
    parameters: dict[str, Any] | None = None


def _service(request: web.Request, actor: Principal) -> GCService:
    if not actor.sysadmin:
        raise Forbidden("garbage collection is for system administrators")
    return request.config_dict[GC]


def next_time(cron: str) -> str:
    if not cron:
        return ZERO_TIME
    try:
        when = Cron.parse(cron).next_after(time.time())
    except InvalidCron:
        return ZERO_TIME
    return ZERO_TIME if when is None else harbor_time(when) or ZERO_TIME


def schedule_doc(schedule: GCSchedule | None) -> GCHistory:
    """The schedule as Harbor answers it: a ``GCHistory`` (``job_kind`` the cron)."""
    if schedule is None:
        schedule = GCSchedule("None", "", "{}", 0.0)
    created = schedule.created or schedule.updated
    return GCHistory(
        id=1,
        job_name="",
        job_kind=schedule.cron,
        job_parameters=schedule.parameters,
        job_status="Scheduled" if schedule.cron else "",
        deleted=False,
        schedule=ScheduleObj(
            type=schedule.kind, cron=schedule.cron, next_scheduled_time=next_time(schedule.cron)
        ),
        creation_time=(created and harbor_time(created)) or ZERO_TIME,
        update_time=(schedule.updated and harbor_time(schedule.updated)) or ZERO_TIME,
    )


def run_outcome(report: str) -> dict[str, int]:
    """What Harbor's GC job checks in when it ends (``freed_space``, ``purged_blobs``,
    ``purged_manifests``), from a run's recorded report; empty while it runs. Blobs the
    metadata did not know (orphans) free space too, so they are counted with the rest."""
    try:
        found = json.loads(report) if report else {}
    except ValueError:
        return {}
    if not isinstance(found, dict) or "bytes_freed" not in found:
        return {}

    def count(key: str) -> int:
        value = found.get(key, 0)
        return value if isinstance(value, int) else 0

    return {
        "freed_space": count("bytes_freed") + count("orphan_bytes"),
        "purged_blobs": count("blobs_swept") + count("orphans_swept"),
        "purged_manifests": count("manifests_swept"),
    }


def run_parameters(run: GCRun) -> str:
    """The run's parameters with its outcome merged in, as Harbor's execution extra
    attributes are answered."""
    outcome = run_outcome(run.report)
    if not outcome:
        return run.parameters
    try:
        parameters = json.loads(run.parameters) if run.parameters else {}
    except ValueError:
        parameters = {}
    if not isinstance(parameters, dict):
        parameters = {}
    return json.dumps({**parameters, **outcome})


def run_doc(run: GCRun) -> GCHistory:
    return GCHistory(
        id=run.id,
        job_name=JOB_NAME,
        job_kind=run.kind,  # MANUAL or SCHEDULE, Harbor's triggers
        job_parameters=run_parameters(run),
        job_status=run.status,
        deleted=False,
        schedule=ScheduleObj(
            type=run.kind.title(),  # Manual, Schedule
            cron="",
            next_scheduled_time=ZERO_TIME,
        ),
        creation_time=harbor_time(run.created) or ZERO_TIME,
        update_time=harbor_time(run.updated) or ZERO_TIME,
    )


def run_query(query: ListQuery) -> GCRunQuery:
    """Harbor's ``q`` and ``sort`` on the history, as run filters. Keys Harbor doesn't
    filter or sort executions by are ignored, as Harbor ignores them."""
    values: list[tuple[str, tuple[int | float | str, ...]]] = []
    contains: list[tuple[str, str]] = []
    ranges: list[tuple[str, float | None, float | None]] = []
    for key, term in query.terms.items():
        column = COLUMNS.get(key)
        if column is None:
            continue
        if isinstance(term, Fuzzy):
            if column in TEXTS:
                contains.append((column, term.value))
        elif isinstance(term, Range):
            low = None if term.min is None else _number(column, term.min)
            high = None if term.max is None else _number(column, term.max)
            ranges.append((column, low, high))
        elif column in TIMES:  # an exact time: that second
            if not isinstance(term, Exact):
                raise BadRequest(f"{key} takes a time or a range: {key}=[from~to]")
            second = _number(column, term.value)
            ranges.append((column, second, second + 0.999999))
        elif isinstance(term, Exact):
            values.append((column, (_value(column, term.value),)))
        elif isinstance(term, OrList):
            values.append((column, tuple(_value(column, v) for v in term.values)))
        elif isinstance(term, AndList):
            wanted = {_value(column, v) for v in term.values}
            values.append((column, tuple(wanted) if len(wanted) == 1 else ()))
    order = [(COLUMNS[s.key], s.desc) for s in query.sorts if s.key in COLUMNS]
    return GCRunQuery(
        tuple(values),
        tuple(contains),
        tuple(ranges),
        tuple(order) or (("created", True),),
    )


def _number(column: str, value: Scalar) -> float:
    """A bound or a time: times as Unix seconds (Harbor's ``2020-04-09T02:36:00``, or
    ``2020-04-09 02:36:00`` as its documentation writes it), ids as numbers."""
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, int):
        return float(value)
    for layout in ("%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S"):
        try:
            return datetime.strptime(value, layout).replace(tzinfo=UTC).timestamp()
        except ValueError:
            continue
    raise BadRequest(f"invalid query string value: {value} (a {column} is a number or a time)")


def _value(column: str, value: Scalar) -> int | str:
    if column == "id":
        if not isinstance(value, int):
            if not (isinstance(value, str) and value.isdigit()):
                raise BadRequest(f"invalid query string value: {value} (id is a number)")
            return int(value)
        return value
    text = str(value)
    if column == "kind":
        return text.upper()  # Harbor's triggers: MANUAL, SCHEDULE
    return text[:1].upper() + text[1:].lower()  # statuses: Success, Running, ...


def _not_found(request: web.Request, what: str = "execution") -> NotFound:
    return NotFound(f"garbage collection {what} {request.match_info['gc_id']} not found")


@api.operation(
    "getGCHistory",
    "GET",
    "/system/gc",
    summary="The garbage collection runs (newest first by default)",
    params=LISTING,
    replies={200: Reply("The runs", list[GCHistory], PAGE_HEADERS)},
    errors=(400, 403),
)
@authenticated
async def history(request: web.Request, actor: Principal) -> web.StreamResponse:
    service = _service(request, actor)
    query = list_query(request)
    window = query.window
    runs, total = await service.history(run_query(query), window.offset, window.limit)
    return paged(request, [run_doc(run) for run in runs], total, query)


@api.operation(
    "getGCSchedule",
    "GET",
    "/system/gc/schedule",
    summary="The garbage collection schedule",
    replies={200: Reply("The schedule, as a GCHistory", GCHistory)},
    errors=(403,),
)
@authenticated
async def get_schedule(request: web.Request, actor: Principal) -> web.StreamResponse:
    return json_response(schedule_doc(await _service(request, actor).schedule()))


async def _set_schedule(
    request: web.Request, actor: Principal, created: bool
) -> web.StreamResponse:
    """POST (201) and PUT (200) alike, as Harbor: ``Manual`` runs one now (POST answers
    its Location), ``None`` clears the schedule, the other types set it."""
    service = _service(request, actor)
    body = await read_body(request, Schedule)
    if body.schedule is None or body.schedule.type is None:
        raise BadRequest("schedule.type is required")
    kind, cron = body.schedule.type, body.schedule.cron or ""
    parameters = body.parameters or {}
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


@api.operation(
    "createGCSchedule",
    "POST",
    "/system/gc/schedule",
    summary="Run a garbage collection now (type Manual) or set the schedule",
    body=Schedule,
    replies={201: Reply("Started (Location: the run) or scheduled", None, ("Location",))},
    errors=(400, 403, 409),
)
@authenticated
async def create_schedule(request: web.Request, actor: Principal) -> web.StreamResponse:
    return await _set_schedule(request, actor, created=True)


@api.operation(
    "updateGCSchedule",
    "PUT",
    "/system/gc/schedule",
    summary="Set the garbage collection schedule (type Manual: run one now)",
    body=Schedule,
    replies={200: Reply("Scheduled, or started")},
    errors=(400, 403, 409),
)
@authenticated
async def update_schedule(request: web.Request, actor: Principal) -> web.StreamResponse:
    return await _set_schedule(request, actor, created=False)


@api.operation(
    "getGC",
    "GET",
    "/system/gc/{gc_id}",
    summary="One garbage collection run",
    params=(GC_ID,),
    replies={200: Reply("The run", GCHistory)},
    errors=(403, 404),
)
@authenticated
async def one(request: web.Request, actor: Principal) -> web.StreamResponse:
    run = await _service(request, actor).run(int(request.match_info["gc_id"]))
    if run is None:
        raise _not_found(request)
    return json_response(run_doc(run))


@api.operation(
    "stopGC",
    "PUT",
    "/system/gc/{gc_id}",
    summary="Stop a garbage collection run (one that already ended is left as it is)",
    params=(GC_ID,),
    replies={200: Reply("Asked to stop; it stops at its next batch")},
    errors=(403, 404),
)
@authenticated
async def stop(request: web.Request, actor: Principal) -> web.StreamResponse:
    run = await _service(request, actor).stop(int(request.match_info["gc_id"]))
    if run is None:
        raise _not_found(request)
    return ok()


@api.operation(
    "getGCLog",
    "GET",
    "/system/gc/{gc_id}/log",
    summary="The log of a garbage collection run (text/plain)",
    params=(GC_ID,),
    replies={200: text_reply("The log")},
    errors=(400, 403, 404),
)
@authenticated
async def run_log(request: web.Request, actor: Principal) -> web.StreamResponse:
    run = await _service(request, actor).run(int(request.match_info["gc_id"]))
    if run is None:
        raise NotFound(f"garbage collection {request.match_info['gc_id']} log is not found")
    return web.Response(text=run.log, content_type="text/plain")
