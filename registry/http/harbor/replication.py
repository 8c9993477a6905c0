"""Harbor's /replication/policies (CRUD) and /replication/executions (start, stop, list,
one, its tasks, a task's log). System admins only; the handlers call the replication core
(``wharf.replication.service``), whose executions run as jobs on whichever replica claims
them."""

from __future__ import annotations

from aiohttp import web

from wharf.auth.access import require_admin
from wharf.auth.errors import BadRequest
from wharf.auth.principals import Principal
from wharf.jobs.models import JobState
from wharf.registry.http.harbor.common import (
    authenticated,
    created,
    created_here,
    event_actor,
    harbor_time,
    json_response,
    ok,
    paged,
)
from wharf.registry.http.harbor.query import Fields, Sort, list_query, page_of, select
from wharf.registry.http.harbor.registries import Registry as RegistryDoc
from wharf.registry.http.harbor.registries import registry_doc
from wharf.registry.http.harbor.spec import (
    LISTING,
    PAGE,
    PAGE_HEADERS,
    PAGE_SIZE,
    RESOURCE_NAME_IN_LOCATION,
    SORT,
    Api,
    Model,
    Param,
    Reply,
    read_body,
    text_reply,
)
from wharf.registry.http.keys import REPLICATION, SETTINGS
from wharf.replication.models import Execution, Filter, Policy
from wharf.replication.registries import RegistryService
from wharf.replication.service import ReplicationService, Task

# Harbor's task statuses (its job service's words)
TASK_STATUS = {
    JobState.PENDING: "Pending",
    JobState.RUNNING: "Running",
    JobState.SUCCEEDED: "Success",
    JobState.FAILED: "Error",
    JobState.STOPPED: "Stopped",
}
STATUS_OF_TASK = {v: k for k, v in TASK_STATUS.items()}


class RegistryRef(Model):
    """A policy's side in a request: a stored registry by id; absent, null or id 0 mean
    this registry."""

    id: int | None = None


class TriggerSettings(Model):
    cron: str | None = None


class Trigger(Model):
    type: str | None = None
    trigger_settings: TriggerSettings | None = None


class FilterDoc(Model):
    type: str | None = None
    value: str | list[str] | None = None
    decoration: str | None = None


class PolicyReq(Model):
    name: str | None = None
    description: str | None = None
    src_registry: RegistryRef | None = None
    dest_registry: RegistryRef | None = None
    dest_namespace: str | None = None
    dest_namespace_replace_count: int | None = None
    trigger: Trigger | None = None
    filters: list[FilterDoc] | None = None
    replicate_deletion: bool | None = None
    deletion: bool | None = None
    override: bool | None = None
    enabled: bool | None = None
    speed: int | None = None
    copy_by_chunk: bool | None = None
    single_active_replication: bool | None = None


class ReplicationPolicy(Model):
    id: int
    name: str
    description: str
    src_registry: RegistryDoc
    dest_registry: RegistryDoc
    dest_namespace: str
    dest_namespace_replace_count: int
    trigger: Trigger
    filters: list[FilterDoc]
    replicate_deletion: bool
    deletion: bool
    override: bool
    enabled: bool
    creation_time: str | None
    update_time: str | None
    speed: int
    copy_by_chunk: bool
    single_active_replication: bool


class StartReplicationExecution(Model):
    policy_id: int | None = None


class ReplicationExecution(Model):
    id: int
    policy_id: int
    status: str
    trigger: str
    start_time: str | None
    end_time: str | None
    status_text: str
    total: int
    failed: int
    succeed: int
    in_progress: int
    stopped: int


class ReplicationTask(Model):
    id: int
    execution_id: int
    status: str
    job_id: str
    operation: str
    resource_type: str
    src_resource: str
    dst_resource: str
    start_time: str | None
    end_time: str | None


def service(request: web.Request, actor: Principal) -> ReplicationService:
    require_admin(actor)
    return request.config_dict[REPLICATION]


def local_registry(request: web.Request) -> RegistryDoc:
    """This registry as a policy's side (Harbor's registry 0)."""
    settings = request.config_dict[SETTINGS]
    return RegistryDoc(
        id=0,
        name="Local",
        url=settings.external_url or "",
        type="wharf",
        description="this registry",
        insecure=False,
        status="healthy",
        creation_time=None,
        update_time=None,
    )


async def side_doc(
    request: web.Request, registries: RegistryService, registry_id: int | None
) -> RegistryDoc:
    if registry_id is None:
        return local_registry(request)
    return registry_doc(await registries.get(registry_id))


async def policy_doc(
    request: web.Request, replication: ReplicationService, policy: Policy
) -> ReplicationPolicy:
    registries = replication.registries
    return ReplicationPolicy(
        id=policy.id,
        name=policy.name,
        description=policy.description,
        src_registry=await side_doc(request, registries, policy.src_registry_id),
        dest_registry=await side_doc(request, registries, policy.dest_registry_id),
        dest_namespace=policy.dest_namespace,
        dest_namespace_replace_count=policy.dest_namespace_replace_count,
        trigger=Trigger(
            type=policy.trigger_type,
            trigger_settings=TriggerSettings(cron=policy.trigger_cron),
        ),
        filters=[
            FilterDoc(
                type=f.type,
                value=f.value if isinstance(f.value, str) else list(f.value),
                decoration=f.decoration,
            )
            for f in policy.filters
        ],
        replicate_deletion=policy.replicate_deletion,
        deletion=policy.replicate_deletion,
        override=policy.override,
        enabled=policy.enabled,
        creation_time=harbor_time(policy.created),
        update_time=harbor_time(policy.updated),
        speed=policy.speed,
        copy_by_chunk=policy.copy_by_chunk,
        single_active_replication=policy.single_active_replication,
    )


def policy_from(req: PolicyReq) -> Policy:
    filters = []
    for f in req.filters or []:
        value: str | tuple[str, ...] = f.value if isinstance(f.value, str) else ""
        if isinstance(f.value, list):
            if f.type != "label":
                raise BadRequest(f"the {f.type} filter's value must be a string")
            value = tuple(f.value)
        filters.append(Filter(f.type or "", value, f.decoration or "matches"))
    trigger = req.trigger or Trigger()
    settings = trigger.trigger_settings or TriggerSettings()
    replicate_deletion = req.replicate_deletion
    if replicate_deletion is None:
        replicate_deletion = req.deletion
    return Policy(
        name=req.name or "",
        description=req.description or "",
        src_registry_id=(req.src_registry.id or None) if req.src_registry else None,
        dest_registry_id=(req.dest_registry.id or None) if req.dest_registry else None,
        dest_namespace=req.dest_namespace or "",
        dest_namespace_replace_count=(
            -1 if req.dest_namespace_replace_count is None else req.dest_namespace_replace_count
        ),
        trigger_type=trigger.type or "manual",
        trigger_cron=settings.cron or "",
        filters=tuple(filters),
        replicate_deletion=bool(replicate_deletion),
        override=True if req.override is None else req.override,
        enabled=True if req.enabled is None else req.enabled,
        speed=-1 if req.speed is None else req.speed,
        copy_by_chunk=bool(req.copy_by_chunk),
        single_active_replication=bool(req.single_active_replication),
    )


def execution_doc(execution: Execution) -> ReplicationExecution:
    return ReplicationExecution(
        id=execution.id,
        policy_id=execution.policy_id,
        status=execution.status,
        trigger=execution.trigger,
        start_time=harbor_time(execution.start_time),
        end_time=harbor_time(execution.end_time),
        status_text=execution.status_text,
        total=execution.total,
        failed=execution.failed,
        succeed=execution.succeed,
        in_progress=execution.in_progress,
        stopped=execution.stopped,
    )


def task_doc(task: Task) -> ReplicationTask:
    job = task.job
    return ReplicationTask(
        id=job.id,
        execution_id=task.execution_id,
        status=TASK_STATUS[job.state],
        job_id=str(job.id),
        operation=task.operation,
        resource_type=task.resource_type,
        src_resource=task.src_resource,
        dst_resource=task.dst_resource,
        start_time=harbor_time(job.started),
        end_time=harbor_time(job.finished),
    )


POLICY_FIELDS: Fields[Policy] = Fields(
    filters={
        "id": lambda p: p.id,
        "name": lambda p: p.name,
        "enabled": lambda p: p.enabled,
        "src_registry_id": lambda p: p.src_registry_id or 0,
        "dest_registry_id": lambda p: p.dest_registry_id or 0,
        "creation_time": lambda p: p.created,
        "update_time": lambda p: p.updated,
    },
    sorts={
        "id": lambda p: p.id,
        "name": lambda p: p.name,
        "creation_time": lambda p: p.created,
        "update_time": lambda p: p.updated,
    },
    default=(Sort("creation_time", desc=True), Sort("id", desc=True)),
)

api = Api("replication")
POLICY_ID = Param("id", "path", int, "The policy's id", required=True)
EXECUTION_ID = Param("id", "path", int, "The execution's id", required=True)
TASK_ID = Param("task_id", "path", int, "The task's id", required=True)
ERRORS = (401, 403, 404)


def path_int(request: web.Request, name: str) -> int:
    return int(request.match_info[name])


# --- policies ---------------------------------------------------------------------------


@api.operation(
    "listReplicationPolicies",
    "GET",
    "/replication/policies",
    summary="List the replication policies",
    params=(*LISTING, Param("name", "query", str, "Deprecated, use q instead")),
    replies={200: Reply("The policies", list[ReplicationPolicy], PAGE_HEADERS)},
    errors=(400, 403),
)
@authenticated
async def list_policies(request: web.Request, actor: Principal) -> web.StreamResponse:
    replication = service(request, actor)
    query = list_query(request, fuzzy=("name",))
    found = select(await replication.policies(), query, POLICY_FIELDS)
    docs = [await policy_doc(request, replication, p) for p in page_of(found, query)]
    return paged(request, docs, len(found), query)


@api.operation(
    "createReplicationPolicy",
    "POST",
    "/replication/policies",
    summary="Create a replication policy",
    params=(RESOURCE_NAME_IN_LOCATION,),
    body=PolicyReq,
    replies={201: Reply("Created", headers=("Location",))},
    errors=(400, 403, 404, 409),
)
@authenticated
async def create_policy(request: web.Request, actor: Principal) -> web.StreamResponse:
    replication = service(request, actor)
    req = await read_body(request, PolicyReq)
    policy = await replication.create_policy(event_actor(request, actor), policy_from(req))
    return created_here(request, policy.id, policy.name)


@api.operation(
    "getReplicationPolicy",
    "GET",
    "/replication/policies/{id}",
    summary="One replication policy",
    params=(POLICY_ID,),
    replies={200: Reply("The policy", ReplicationPolicy)},
    errors=ERRORS,
)
@authenticated
async def get_policy(request: web.Request, actor: Principal) -> web.StreamResponse:
    replication = service(request, actor)
    policy = await replication.policy(path_int(request, "id"))
    return json_response(await policy_doc(request, replication, policy))


@api.operation(
    "updateReplicationPolicy",
    "PUT",
    "/replication/policies/{id}",
    summary="Replace a replication policy",
    params=(POLICY_ID,),
    body=PolicyReq,
    replies={200: Reply("Updated")},
    errors=(400, 409, *ERRORS),
)
@authenticated
async def update_policy(request: web.Request, actor: Principal) -> web.StreamResponse:
    replication = service(request, actor)
    req = await read_body(request, PolicyReq)
    await replication.update_policy(
        event_actor(request, actor), path_int(request, "id"), policy_from(req)
    )
    return ok()


@api.operation(
    "deleteReplicationPolicy",
    "DELETE",
    "/replication/policies/{id}",
    summary="Delete a replication policy (and its executions)",
    params=(POLICY_ID,),
    replies={200: Reply("Deleted")},
    errors=(412, *ERRORS),
)
@authenticated
async def delete_policy(request: web.Request, actor: Principal) -> web.StreamResponse:
    replication = service(request, actor)
    await replication.delete_policy(event_actor(request, actor), path_int(request, "id"))
    return ok()


# --- executions -------------------------------------------------------------------------


@api.operation(
    "listReplicationExecutions",
    "GET",
    "/replication/executions",
    summary="List replication executions, newest first",
    params=(
        SORT,
        PAGE,
        PAGE_SIZE,
        Param("policy_id", "query", int, "Only this policy's"),
        Param("status", "query", str, "InProgress, Succeed, Failed or Stopped"),
        Param("trigger", "query", str, "manual, scheduled or event_based"),
    ),
    replies={200: Reply("The executions", list[ReplicationExecution], PAGE_HEADERS)},
    errors=(403,),
)
@authenticated
async def list_executions(request: web.Request, actor: Principal) -> web.StreamResponse:
    replication = service(request, actor)
    query = list_query(request)
    window = query.window
    policy = request.query.get("policy_id")
    executions, total = await replication.executions(
        policy_id=int(policy) if policy else None,
        status=request.query.get("status") or None,
        trigger=request.query.get("trigger") or None,
        offset=window.offset,
        limit=window.limit,
    )
    return paged(request, [execution_doc(e) for e in executions], total, query)


@api.operation(
    "startReplication",
    "POST",
    "/replication/executions",
    summary="Start an execution of a policy",
    body=StartReplicationExecution,
    replies={201: Reply("Started", headers=("Location",))},
    errors=(400, 403, 404, 412),
)
@authenticated
async def start_execution(request: web.Request, actor: Principal) -> web.StreamResponse:
    replication = service(request, actor)
    req = await read_body(request, StartReplicationExecution)
    if req.policy_id is None:
        raise BadRequest("policy_id is required")
    execution = await replication.start(event_actor(request, actor), req.policy_id)
    return created(f"{request.path.rstrip('/')}/{execution.id}")


@api.operation(
    "getReplicationExecution",
    "GET",
    "/replication/executions/{id}",
    summary="One execution, with its task counts",
    params=(EXECUTION_ID,),
    replies={200: Reply("The execution", ReplicationExecution)},
    errors=ERRORS,
)
@authenticated
async def get_execution(request: web.Request, actor: Principal) -> web.StreamResponse:
    execution = await service(request, actor).execution(path_int(request, "id"))
    return json_response(execution_doc(execution))


@api.operation(
    "stopReplication",
    "PUT",
    "/replication/executions/{id}",
    summary="Stop an execution (its pending tasks at once, running ones soon after)",
    params=(EXECUTION_ID,),
    replies={200: Reply("Stopping")},
    errors=ERRORS,
)
@authenticated
async def stop_execution(request: web.Request, actor: Principal) -> web.StreamResponse:
    await service(request, actor).stop(event_actor(request, actor), path_int(request, "id"))
    return ok()


@api.operation(
    "listReplicationTasks",
    "GET",
    "/replication/executions/{id}/tasks",
    summary="An execution's tasks (one per artifact), newest first",
    params=(
        EXECUTION_ID,
        SORT,
        PAGE,
        PAGE_SIZE,
        Param("status", "query", str, "Pending, Running, Success, Error or Stopped"),
        Param("resource_type", "query", str, "image or artifact"),
    ),
    replies={200: Reply("The tasks", list[ReplicationTask], PAGE_HEADERS)},
    errors=ERRORS,
)
@authenticated
async def list_tasks(request: web.Request, actor: Principal) -> web.StreamResponse:
    replication = service(request, actor)
    query = list_query(request)
    window = query.window
    status = request.query.get("status")
    states: tuple[JobState, ...] = ()
    if status:
        if status not in STATUS_OF_TASK:
            return paged(request, [], 0, query)
        states = (STATUS_OF_TASK[status],)
    tasks, total = await replication.tasks(
        path_int(request, "id"), states=states, offset=window.offset, limit=window.limit
    )
    wanted = request.query.get("resource_type")
    docs = [task_doc(t) for t in tasks if not wanted or t.resource_type == wanted]
    return paged(request, docs, total if not wanted else len(docs), query)


@api.operation(
    "getReplicationLog",
    "GET",
    "/replication/executions/{id}/tasks/{task_id}/log",
    summary="A task's log",
    params=(EXECUTION_ID, TASK_ID),
    replies={200: text_reply("The log")},
    errors=ERRORS,
)
@authenticated
async def task_log(request: web.Request, actor: Principal) -> web.StreamResponse:
    text = await service(request, actor).task_log(
        path_int(request, "id"), path_int(request, "task_id")
    )
    return web.Response(text=text, content_type="text/plain")
