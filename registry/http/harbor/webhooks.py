"""Harbor's project webhooks: /projects/{project_name_or_id}/webhook/policies (CRUD), their
executions, tasks and task logs (Harbor v2.15), the older /webhook/jobs and
/webhook/lasttrigger, and /webhook/events (what this registry can notify). Project admins
manage them, maintainers read them (Harbor's notification-policy permissions); the work is
in ``wharf.webhook.service``, whose deliveries are jobs of the durable queue."""

from __future__ import annotations

import orjson
from aiohttp import web

from wharf.auth.errors import BadRequest
from wharf.auth.principals import Principal
from wharf.jobs.models import Job, JobState
from wharf.registry.http.harbor.common import (
    authenticated,
    created_here,
    harbor_time,
    json_response,
    ok,
    paged,
    project_ref,
)
from wharf.registry.http.harbor.query import (
    AndList,
    Exact,
    Fields,
    Fuzzy,
    OrList,
    Sort,
    list_query,
    page_of,
    select,
)
from wharf.registry.http.harbor.spec import (
    IS_RESOURCE_NAME,
    LISTING,
    PAGE,
    PAGE_HEADERS,
    PAGE_SIZE,
    PROJECT_NAME_OR_ID,
    RESOURCE_NAME_IN_LOCATION,
    SORT,
    Api,
    Model,
    Param,
    Q,
    Reply,
    param_values,
    read_body,
    text_reply,
)
from wharf.registry.http.keys import WEBHOOKS
from wharf.webhook.models import (
    DEFAULT_FORMAT,
    EVENT_TYPES,
    HTTP,
    NOTIFY_TYPES,
    PAYLOAD_FORMATS,
    Policy,
    Target,
)
from wharf.webhook.service import WebhookService

api = Api("webhook")

PROJECT = (IS_RESOURCE_NAME, PROJECT_NAME_OR_ID)
POLICY_ID = Param("webhook_policy_id", "path", int, "The ID of the webhook policy", required=True)
EXECUTION_ID = Param("execution_id", "path", int, "Execution ID", required=True)
TASK_ID = Param("task_id", "path", int, "Task ID", required=True)
ERRORS = (400, 401, 403, 404)
BASE = "/projects/{project_name_or_id}/webhook"

# Harbor's task and execution statuses (its job service's words)
STATUS = {
    JobState.PENDING: "Pending",
    JobState.RUNNING: "Running",
    JobState.SUCCEEDED: "Success",
    JobState.FAILED: "Error",
    JobState.STOPPED: "Stopped",
}
STATE_OF = {v: k for k, v in STATUS.items()}
# the older /webhook/jobs API's statuses
JOB_STATUS = {
    JobState.PENDING: "pending",
    JobState.RUNNING: "running",
    JobState.SUCCEEDED: "finished",
    JobState.FAILED: "error",
    JobState.STOPPED: "stopped",
}
JOB_STATE_OF = {v: k for k, v in JOB_STATUS.items()}
# an array as in Harbor: status=pending&status=error or status=pending,error
JOB_STATUS_PARAM = Param(
    "status", "query", str, "pending, running, finished, error or stopped", many=True
)


class WebhookTargetObject(Model):
    type: str | None = None
    address: str | None = None
    auth_header: str | None = None
    skip_cert_verify: bool | None = None
    payload_format: str | None = None


class WebhookPolicy(Model):
    id: int | None = None
    name: str | None = None
    description: str | None = None
    project_id: int | None = None
    targets: list[WebhookTargetObject] | None = None
    event_types: list[str] | None = None
    creator: str | None = None
    creation_time: str | None = None
    update_time: str | None = None
    enabled: bool | None = None


class PayloadFormat(Model):
    notify_type: str
    formats: list[str]


class SupportedWebhookEventTypes(Model):
    event_type: list[str]
    notify_type: list[str]
    payload_formats: list[PayloadFormat]


class Metrics(Model):
    task_count: int = 0
    success_task_count: int = 0
    error_task_count: int = 0
    pending_task_count: int = 0
    running_task_count: int = 0
    scheduled_task_count: int = 0
    stopped_task_count: int = 0


class Execution(Model):
    id: int
    vendor_type: str
    vendor_id: int
    status: str
    status_message: str
    metrics: Metrics
    trigger: str
    extra_attrs: dict[str, object]
    start_time: str | None
    end_time: str | None


class Task(Model):
    id: int
    execution_id: int
    status: str
    status_message: str
    run_count: int
    extra_attrs: dict[str, object]
    creation_time: str | None
    update_time: str | None
    start_time: str | None
    end_time: str | None


class WebhookLastTrigger(Model):
    policy_name: str
    event_type: str
    enabled: bool
    creation_time: str | None
    last_trigger_time: str | None


class WebhookJob(Model):
    id: int
    policy_id: int
    event_type: str
    notify_type: str
    status: str
    job_detail: str
    creation_time: str | None
    update_time: str | None


def service(request: web.Request) -> WebhookService:
    return request.config_dict[WEBHOOKS]


def path_int(request: web.Request, name: str) -> int:
    return int(request.match_info[name])


def policy_doc(item: Policy) -> WebhookPolicy:
    return WebhookPolicy(
        id=item.id,
        name=item.name,
        description=item.description,
        project_id=item.project_id,
        targets=[
            WebhookTargetObject(
                type=t.type,
                address=t.address,
                auth_header=t.auth_header,
                skip_cert_verify=t.skip_cert_verify,
                payload_format=t.payload_format,
            )
            for t in item.targets
        ],
        event_types=list(item.event_types),
        creator=item.creator,
        creation_time=harbor_time(item.created),
        update_time=harbor_time(item.updated),
        enabled=item.enabled,
    )


def targets_of(req: WebhookPolicy) -> list[Target]:
    return [
        Target(
            address=(t.address or "").strip(),
            type=t.type or HTTP,
            auth_header=t.auth_header or "",
            skip_cert_verify=bool(t.skip_cert_verify),
            payload_format=t.payload_format or DEFAULT_FORMAT,
        )
        for t in req.targets or []
    ]


def execution_doc(job: Job) -> Execution:
    state = job.state
    event_type = str(job.payload.get("event_type", ""))
    return Execution(
        id=job.id,
        vendor_type="WEBHOOK",
        vendor_id=int(job.payload.get("policy_id", 0)),
        status=STATUS[state],
        status_message=job.error,
        metrics=Metrics(
            task_count=1,
            success_task_count=int(state is JobState.SUCCEEDED),
            error_task_count=int(state is JobState.FAILED),
            pending_task_count=int(state is JobState.PENDING),
            running_task_count=int(state is JobState.RUNNING),
            stopped_task_count=int(state is JobState.STOPPED),
        ),
        trigger="EVENT",
        extra_attrs={
            "event_type": event_type,
            "payload": orjson.dumps(job.payload.get("payload", {})).decode(),
            "event_id": str(job.payload.get("event_id", "")),
        },
        start_time=harbor_time(job.created),
        end_time=harbor_time(job.finished),
    )


def task_doc(job: Job) -> Task:
    return Task(
        id=job.id,
        execution_id=job.id,
        status=STATUS[job.state],
        status_message=job.error,
        run_count=job.attempts,
        extra_attrs={
            "address": str(job.payload.get("address", "")),
            "event_id": str(job.payload.get("event_id", "")),
            "result": job.result or {},
        },
        creation_time=harbor_time(job.created),
        update_time=harbor_time(job.updated),
        start_time=harbor_time(job.started),
        end_time=harbor_time(job.finished),
    )


POLICY_FIELDS: Fields[Policy] = Fields(
    filters={
        "id": lambda p: p.id,
        "name": lambda p: p.name,
        "enabled": lambda p: p.enabled,
        "creator": lambda p: p.creator,
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


def states_of(request: web.Request, table: dict[str, JobState]) -> tuple[JobState, ...] | None:
    """The states a ``q=status=…`` (or the older ``status`` parameters) asks for; None when
    it names none that exists (an empty list)."""
    query = list_query(request)
    wanted = param_values(request, JOB_STATUS_PARAM)
    term = query.term("status")
    if isinstance(term, Exact | Fuzzy):
        wanted.append(term.value)
    elif isinstance(term, OrList | AndList):
        wanted.extend(str(v) for v in term.values)
    elif term is not None:
        raise BadRequest("status takes a value or a list of values")
    if not wanted:
        return ()
    states = tuple(table[w] for w in wanted if w in table)
    return states or None


# --- policies ---------------------------------------------------------------------------


@api.operation(
    "ListWebhookPoliciesOfProject",
    "GET",
    f"{BASE}/policies",
    summary="The project's webhook policies (auth headers masked)",
    params=(*PROJECT, *LISTING),
    replies={200: Reply("The policies", list[WebhookPolicy], PAGE_HEADERS)},
    errors=(400, 401, 403),
)
@authenticated
async def list_policies(request: web.Request, actor: Principal) -> web.StreamResponse:
    query = list_query(request)
    _, found = await service(request).policies(actor, project_ref(request))
    chosen = select(found, query, POLICY_FIELDS)
    return paged(request, [policy_doc(p) for p in page_of(chosen, query)], len(chosen), query)


@api.operation(
    "CreateWebhookPolicyOfProject",
    "POST",
    f"{BASE}/policies",
    summary="Create a webhook policy (project admins)",
    params=(*PROJECT, RESOURCE_NAME_IN_LOCATION),
    body=WebhookPolicy,
    replies={201: Reply("Created", headers=("Location",))},
    errors=(*ERRORS, 409),
)
@authenticated
async def create_policy(request: web.Request, actor: Principal) -> web.StreamResponse:
    req = await read_body(request, WebhookPolicy)
    created = await service(request).create(
        actor,
        project_ref(request),
        name=(req.name or "").strip(),
        description=req.description or "",
        targets=targets_of(req),
        event_types=req.event_types or [],
        enabled=True if req.enabled is None else req.enabled,
    )
    return created_here(request, created.id, created.name)


@api.operation(
    "GetWebhookPolicyOfProject",
    "GET",
    f"{BASE}/policies/{{webhook_policy_id}}",
    summary="One webhook policy (auth headers masked)",
    params=(*PROJECT, POLICY_ID),
    replies={200: Reply("The policy", WebhookPolicy)},
    errors=ERRORS,
)
@authenticated
async def get_policy(request: web.Request, actor: Principal) -> web.StreamResponse:
    found = await service(request).policy(
        actor, project_ref(request), path_int(request, "webhook_policy_id")
    )
    return json_response(policy_doc(found))


@api.operation(
    "UpdateWebhookPolicyOfProject",
    "PUT",
    f"{BASE}/policies/{{webhook_policy_id}}",
    summary="Replace a webhook policy (a masked auth header sent back keeps the stored one)",
    params=(*PROJECT, POLICY_ID),
    body=WebhookPolicy,
    replies={200: Reply("Updated")},
    errors=(*ERRORS, 409),
)
@authenticated
async def update_policy(request: web.Request, actor: Principal) -> web.StreamResponse:
    req = await read_body(request, WebhookPolicy)
    await service(request).update(
        actor,
        project_ref(request),
        path_int(request, "webhook_policy_id"),
        name=(req.name or "").strip(),
        description=req.description or "",
        targets=targets_of(req),
        event_types=req.event_types or [],
        enabled=True if req.enabled is None else req.enabled,
    )
    return ok()


@api.operation(
    "DeleteWebhookPolicyOfProject",
    "DELETE",
    f"{BASE}/policies/{{webhook_policy_id}}",
    summary="Delete a webhook policy (its deliveries not sent yet are stopped)",
    params=(*PROJECT, POLICY_ID),
    replies={200: Reply("Deleted")},
    errors=ERRORS,
)
@authenticated
async def delete_policy(request: web.Request, actor: Principal) -> web.StreamResponse:
    await service(request).delete(
        actor, project_ref(request), path_int(request, "webhook_policy_id")
    )
    return ok()


# --- executions, tasks, logs ---------------------------------------------------------


@api.operation(
    "ListExecutionsOfWebhookPolicy",
    "GET",
    f"{BASE}/policies/{{webhook_policy_id}}/executions",
    summary="The policy's executions (one per event and target), newest first",
    params=(*PROJECT, POLICY_ID, PAGE, PAGE_SIZE, Q, SORT),
    replies={200: Reply("The executions", list[Execution], PAGE_HEADERS)},
    errors=ERRORS,
)
@authenticated
async def list_executions(request: web.Request, actor: Principal) -> web.StreamResponse:
    query = list_query(request)
    states = states_of(request, STATE_OF)
    if states is None:
        return paged(request, [], 0, query)
    window = query.window
    jobs, total = await service(request).executions(
        actor,
        project_ref(request),
        path_int(request, "webhook_policy_id"),
        states=states,
        offset=window.offset,
        limit=window.limit,
    )
    return paged(request, [execution_doc(j) for j in jobs], total, query)


@api.operation(
    "ListTasksOfWebhookExecution",
    "GET",
    f"{BASE}/policies/{{webhook_policy_id}}/executions/{{execution_id}}/tasks",
    summary="An execution's task (the delivery: its status and attempts)",
    params=(*PROJECT, POLICY_ID, EXECUTION_ID, PAGE, PAGE_SIZE, Q, SORT),
    replies={200: Reply("The tasks", list[Task], PAGE_HEADERS)},
    errors=ERRORS,
)
@authenticated
async def list_tasks(request: web.Request, actor: Principal) -> web.StreamResponse:
    query = list_query(request)
    job = await service(request).execution(
        actor,
        project_ref(request),
        path_int(request, "webhook_policy_id"),
        path_int(request, "execution_id"),
    )
    states = states_of(request, STATE_OF)
    tasks = [job] if states is not None and (not states or job.state in states) else []
    return paged(request, [task_doc(t) for t in page_of(tasks, query)], len(tasks), query)


@api.operation(
    "GetLogsOfWebhookTask",
    "GET",
    f"{BASE}/policies/{{webhook_policy_id}}/executions/{{execution_id}}/tasks/{{task_id}}/log",
    summary="A task's log: each attempt, the address and the receiver's answer",
    params=(*PROJECT, POLICY_ID, EXECUTION_ID, TASK_ID),
    replies={200: text_reply("The log")},
    errors=ERRORS,
)
@authenticated
async def task_log(request: web.Request, actor: Principal) -> web.StreamResponse:
    lines = await service(request).task_log(
        actor,
        project_ref(request),
        path_int(request, "webhook_policy_id"),
        path_int(request, "execution_id"),
        path_int(request, "task_id"),
    )
    text = "".join(
        f"{harbor_time(line.time)} [{line.level.upper()}] {line.message}\n" for line in lines
    )
    return web.Response(text=text, content_type="text/plain")


# --- the older views, and what is supported ------------------------------------------


@api.operation(
    "LastTrigger",
    "GET",
    f"{BASE}/lasttrigger",
    summary="When each policy last triggered, per event type (deprecated in Harbor)",
    params=PROJECT,
    replies={200: Reply("The last triggers", list[WebhookLastTrigger])},
    errors=(400, 401, 403),
)
@authenticated
async def last_trigger(request: web.Request, actor: Principal) -> web.StreamResponse:
    triggers = await service(request).last_triggers(actor, project_ref(request))
    return json_response(
        [
            WebhookLastTrigger(
                policy_name=t.policy.name,
                event_type=t.event_type,
                enabled=t.policy.enabled,
                creation_time=harbor_time(t.policy.created),
                last_trigger_time=harbor_time(t.last),
            )
            for t in triggers
        ]
    )


@api.operation(
    "ListWebhookJobs",
    "GET",
    f"{BASE}/jobs",
    summary="A policy's deliveries as Harbor's older webhook jobs (deprecated in Harbor)",
    params=(
        *PROJECT,
        *LISTING,
        Param("policy_id", "query", int, "The policy ID", required=True),
        JOB_STATUS_PARAM,
    ),
    replies={200: Reply("The jobs", list[WebhookJob], PAGE_HEADERS)},
    errors=(400, 401, 403, 404),
)
@authenticated
async def list_jobs(request: web.Request, actor: Principal) -> web.StreamResponse:
    query = list_query(request)
    states = states_of(request, JOB_STATE_OF)
    if states is None:
        return paged(request, [], 0, query)
    window = query.window
    policy_id = int(request.query["policy_id"])
    jobs, total = await service(request).executions(
        actor,
        project_ref(request),
        policy_id,
        states=states,
        offset=window.offset,
        limit=window.limit,
    )
    docs = [
        WebhookJob(
            id=j.id,
            policy_id=policy_id,
            event_type=str(j.payload.get("event_type", "")),
            notify_type=HTTP,
            status=JOB_STATUS[j.state],
            job_detail=orjson.dumps(j.payload.get("payload", {})).decode(),
            creation_time=harbor_time(j.created),
            update_time=harbor_time(j.updated),
        )
        for j in jobs
    ]
    return paged(request, docs, total, query)


@api.operation(
    "GetSupportedEventTypes",
    "GET",
    f"{BASE}/events",
    summary="The event types, notify types and payload formats webhooks support here",
    params=PROJECT,
    replies={200: Reply("What is supported", SupportedWebhookEventTypes)},
    errors=(401, 403),
)
@authenticated
async def supported_events(request: web.Request, actor: Principal) -> web.StreamResponse:
    await service(request).supported(actor, project_ref(request))
    return json_response(
        SupportedWebhookEventTypes(
            event_type=list(EVENT_TYPES),
            notify_type=list(NOTIFY_TYPES),
            payload_formats=[PayloadFormat(notify_type=HTTP, formats=list(PAYLOAD_FORMATS))],
        )
    )
