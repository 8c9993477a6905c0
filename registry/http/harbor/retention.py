"""Harbor's /retentions (v2.15 swagger: ``RetentionPolicy``, ``RetentionRule``,
``RetentionRuleTrigger``, ``RetentionPolicyScope``, ``RetentionSelector``,
``RetentionMetadata``, ``RetentionExecution``, ``RetentionExecutionTask``): the rule
templates, a project's policy (create, get, update, delete; the project's ``retention_id``
metadata points at it), executions (start, dry run included; list; stop), their
per-repository tasks and each task's log. Access: the project's ``tag-retention``
policies. The work is ``wharf.registry.policy.retention``'s."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from wharf.auth.errors import BadRequest, NotFound
from wharf.auth.models import Project, policy
from wharf.auth.principals import Principal
from wharf.registry.http.harbor.common import (
    auth_of,
    authenticated,
    created,
    event_actor,
    harbor_time,
    json_response,
    ok,
    paged,
    requested_page,
)
from wharf.registry.http.harbor.rules import rule_of, selector_fields
from wharf.registry.http.harbor.spec import (
    PAGE,
    PAGE_HEADERS,
    Api,
    Model,
    Param,
    Reply,
    read_body,
    text_reply,
)
from wharf.registry.http.keys import JOBS, RETENTION
from wharf.registry.policy.models import RetentionExecution, RetentionPolicy, Selector
from wharf.registry.policy.retention import (
    ALGORITHM,
    RETAIN,
    TEMPLATES,
    InvalidPolicy,
    RetentionService,
)
from wharf.registry.policy.store import Conflict

api = Api("Retention")

RETENTION_ID = "retention_id"
SCHEDULE = "Schedule"
ID = Param("id", "path", int, "Retention ID.", required=True)
EID = Param("eid", "path", int, "Retention execution ID.", required=True)
TID = Param("tid", "path", int, "Retention task ID.", required=True)
PAGE_SIZE = Param("page_size", "query", int, "The size of per page.", default=10, maximum=100)
ERRORS = (400, 401, 403, 404)


class RetentionSelector(Model):
    kind: str | None = None
    decoration: str | None = None
    pattern: str | None = None
    extras: str | None = None


class RetentionRule(Model):
    id: int | None = None
    priority: int | None = None
    disabled: bool | None = None
    action: str | None = None
    template: str | None = None
    params: dict[str, Any] | None = None
    tag_selectors: list[RetentionSelector] | None = None
    scope_selectors: dict[str, list[RetentionSelector]] | None = None


class RetentionRuleTrigger(Model):
    kind: str | None = None
    settings: dict[str, Any] | None = None
    references: dict[str, Any] | None = None


class RetentionPolicyScope(Model):
    level: str | None = None
    ref: int | None = None


class RetentionPolicyDoc(Model):
    id: int | None = None
    algorithm: str | None = None
    rules: list[RetentionRule] | None = None
    trigger: RetentionRuleTrigger | None = None
    scope: RetentionPolicyScope | None = None


class RetentionRuleParamMetadata(Model):
    type: str
    unit: str
    required: bool


class RetentionRuleMetadata(Model):
    rule_template: str
    display_text: str
    action: str
    params: list[RetentionRuleParamMetadata]


class RetentionSelectorMetadata(Model):
    display_text: str
    kind: str
    decorations: list[str]


class RetentionMetadata(Model):
    templates: list[RetentionRuleMetadata]
    scope_selectors: list[RetentionSelectorMetadata]
    tag_selectors: list[RetentionSelectorMetadata]


class RetentionExecutionDoc(Model):
    id: int
    policy_id: int
    start_time: str | None
    end_time: str | None
    status: str
    trigger: str
    dry_run: bool


class RetentionExecutionTask(Model):
    id: int
    execution_id: int
    repository: str
    job_id: str
    status: str
    status_code: int
    status_revision: int
    start_time: str | None
    end_time: str | None
    total: int
    retained: int


class ExecutionBody(Model):
    dry_run: bool | None = None


class ActionBody(Model):
    action: str | None = None


METADATA = RetentionMetadata(
    templates=[
        RetentionRuleMetadata(
            rule_template=t.id,
            display_text=t.display_text,
            action=RETAIN,
            params=[RetentionRuleParamMetadata(type="int", unit=t.unit, required=True)]
            if t.unit
            else [],
        )
        for t in TEMPLATES
    ],
    scope_selectors=[
        RetentionSelectorMetadata(
            display_text="Repositories",
            kind="doublestar",
            decorations=["repoMatches", "repoExcludes"],
        )
    ],
    tag_selectors=[
        RetentionSelectorMetadata(
            display_text="Tags", kind="doublestar", decorations=["matches", "excludes"]
        )
    ],
)
# Harbor's task status codes (its job service's): how far a task got
STATUS_CODES = {"Pending": 0, "Scheduled": 1, "Running": 2, "Stopped": 3, "Error": 3, "Succeed": 3}


def _selector_doc(selector: Selector) -> RetentionSelector:
    return RetentionSelector(**selector_fields(selector))


def policy_doc(found: RetentionPolicy) -> RetentionPolicyDoc:
    settings = {"cron": found.trigger_cron}
    return RetentionPolicyDoc(
        id=found.id,
        algorithm=found.algorithm,
        rules=[
            RetentionRule(
                id=rule.id,
                priority=rule.priority,
                disabled=rule.disabled,
                action=rule.action,
                template=rule.template,
                params=rule.params,
                tag_selectors=[_selector_doc(s) for s in rule.tag_selectors],
                scope_selectors={
                    k: [_selector_doc(s) for s in v] for k, v in rule.scope_selectors.items()
                },
            )
            for rule in found.rules
        ],
        trigger=RetentionRuleTrigger(kind=found.trigger_kind, settings=settings, references={}),
        scope=RetentionPolicyScope(level="project", ref=found.project_id),
    )


def execution_doc(execution: RetentionExecution) -> RetentionExecutionDoc:
    return RetentionExecutionDoc(
        id=execution.id,
        policy_id=execution.policy_id,
        start_time=harbor_time(execution.start_time),
        end_time=harbor_time(execution.end_time),
        status=execution.status,
        trigger=execution.trigger,
        dry_run=execution.dry_run,
    )


def _service(request: web.Request) -> RetentionService:
    return request.config_dict[RETENTION]


def _cron_of(sent: RetentionPolicyDoc) -> tuple[str, str]:
    trigger = sent.trigger or RetentionRuleTrigger()
    kind = trigger.kind or SCHEDULE
    if kind != SCHEDULE:
        raise BadRequest(f"trigger kind {kind} is not supported")
    cron = (trigger.settings or {}).get("cron", "")
    if not isinstance(cron, str):
        raise BadRequest("trigger.settings.cron must be a string")
    return kind, cron.strip()


def _policy_of(sent: RetentionPolicyDoc, project: Project) -> RetentionPolicy:
    kind, cron = _cron_of(sent)
    algorithm = sent.algorithm or ALGORITHM
    if algorithm != ALGORITHM:
        raise BadRequest(f"algorithm {algorithm} is not supported")
    rules = tuple(rule_of(r, n, template="", action=RETAIN) for n, r in enumerate(sent.rules or ()))
    return RetentionPolicy(project.id, project.name, algorithm, rules, kind, cron)


async def _policy(
    request: web.Request, actor: Principal, action: str
) -> tuple[RetentionPolicy, Project]:
    """The path's policy and its project, when the caller may ``action`` its retention."""
    policy_id = int(request.match_info["id"])
    found = await _service(request).store.policy(policy_id)
    if found is None:
        raise NotFound(f"retention policy {policy_id} not found")
    project = await auth_of(request).projects.require(
        actor, found.project_id, policy("tag-retention", action)
    )
    if project.metadata.get(RETENTION_ID) not in (None, str(found.id)):
        raise NotFound(f"the retention policy id {found.id} does not match")
    return found, project


async def _execution(request: web.Request, found: RetentionPolicy) -> RetentionExecution:
    eid = int(request.match_info["eid"])
    execution = await _service(request).store.execution(eid)
    if execution is None or execution.policy_id != found.id:
        raise NotFound(f"project: {found.project_id}, execution id {eid} not found")
    return execution


def _invalid(exc: InvalidPolicy) -> BadRequest:
    return BadRequest(str(exc))


@api.operation(
    "getRentenitionMetadata",
    "GET",
    "/retentions/metadatas",
    summary="Get Retention Metadatas",
    replies={200: Reply("Get Retention Metadatas successfully.", RetentionMetadata)},
    errors=(401,),
)
@authenticated
async def metadatas(request: web.Request, actor: Principal) -> web.StreamResponse:
    return json_response(METADATA)


@api.operation(
    "createRetention",
    "POST",
    "/retentions",
    summary="Create Retention Policy",
    body=RetentionPolicyDoc,
    replies={201: Reply("Created", headers=("Location",))},
    errors=(*ERRORS, 409),
)
@authenticated
async def create_retention(request: web.Request, actor: Principal) -> web.StreamResponse:
    sent = await read_body(request, RetentionPolicyDoc)
    scope = sent.scope or RetentionPolicyScope()
    if scope.level != "project":
        raise BadRequest(f"scope {scope.level} is not support")
    if not scope.ref or scope.ref <= 0:
        raise BadRequest(f"invalid Project id {scope.ref}")
    projects = auth_of(request).projects
    try:
        project = await projects.require(actor, scope.ref, policy("tag-retention", "create"))
    except NotFound:
        raise BadRequest(f"invalid Project id {scope.ref}") from None
    if RETENTION_ID in project.metadata:
        raise BadRequest(
            f"project {project.id} already has retention policy {project.metadata[RETENTION_ID]}"
        )
    try:
        created_policy = await _service(request).create(_policy_of(sent, project))
    except InvalidPolicy as exc:
        raise _invalid(exc) from None
    except Conflict as exc:
        raise BadRequest(str(exc)) from None
    await projects.store_metadata(actor, project, RETENTION_ID, str(created_policy.id))
    return created(f"{request.path.rstrip('/')}/{created_policy.id}")


@api.operation(
    "getRetention",
    "GET",
    "/retentions/{id}",
    summary="Get Retention Policy",
    params=(ID,),
    replies={200: Reply("Get Retention Policy successfully.", RetentionPolicyDoc)},
    errors=ERRORS,
)
@authenticated
async def get_retention(request: web.Request, actor: Principal) -> web.StreamResponse:
    found, _ = await _policy(request, actor, "read")
    return json_response(policy_doc(found))


@api.operation(
    "updateRetention",
    "PUT",
    "/retentions/{id}",
    summary="Update Retention Policy",
    params=(ID,),
    body=RetentionPolicyDoc,
    replies={200: Reply("Update Retention Policy successfully.")},
    errors=ERRORS,
)
@authenticated
async def update_retention(request: web.Request, actor: Principal) -> web.StreamResponse:
    sent = await read_body(request, RetentionPolicyDoc)
    found, project = await _policy(request, actor, "update")
    try:
        await _service(request).update(found, _policy_of(sent, project))
    except InvalidPolicy as exc:
        raise _invalid(exc) from None
    return ok()


@api.operation(
    "deleteRetention",
    "DELETE",
    "/retentions/{id}",
    summary="Delete Retention Policy",
    params=(ID,),
    replies={200: Reply("Delete Retention Policy successfully.")},
    errors=ERRORS,
)
@authenticated
async def delete_retention(request: web.Request, actor: Principal) -> web.StreamResponse:
    found, project = await _policy(request, actor, "delete")
    await _service(request).store.delete_policy(found.id)
    project.metadata = {k: v for k, v in project.metadata.items() if k != RETENTION_ID}
    await auth_of(request).projects.save(actor, project)
    return ok()


@api.operation(
    "triggerRetentionExecution",
    "POST",
    "/retentions/{id}/executions",
    summary="Trigger a Retention Execution",
    params=(ID,),
    body=ExecutionBody,
    replies={201: Reply("Created", headers=("Location",))},
    errors=ERRORS,
)
@authenticated
async def trigger_execution(request: web.Request, actor: Principal) -> web.StreamResponse:
    sent = await read_body(request, ExecutionBody)
    found, _ = await _policy(request, actor, "update")  # as Harbor
    execution = await _service(request).start(
        found, dry_run=bool(sent.dry_run), trigger="MANUAL", actor=event_actor(request, actor)
    )
    return created(f"{request.path.rstrip('/')}/{execution.id}")


@api.operation(
    "listRetentionExecutions",
    "GET",
    "/retentions/{id}/executions",
    summary="Get Retention executions",
    params=(ID, PAGE, PAGE_SIZE),
    replies={
        200: Reply(
            "Get a Retention execution successfully.", list[RetentionExecutionDoc], PAGE_HEADERS
        )
    },
    errors=ERRORS,
)
@authenticated
async def list_executions(request: web.Request, actor: Principal) -> web.StreamResponse:
    found, _ = await _policy(request, actor, "list")
    page = requested_page(request)
    executions, total = await _service(request).store.executions(found.id, page.offset, page.limit)
    return paged(request, [execution_doc(e) for e in executions], total, page)


@api.operation(
    "operateRetentionExecution",
    "PATCH",
    "/retentions/{id}/executions/{eid}",
    summary="Stop a Retention execution",
    params=(ID, EID),
    body=ActionBody,
    replies={200: Reply("Stop a Retention job successfully.")},
    errors=ERRORS,
)
@authenticated
async def operate_execution(request: web.Request, actor: Principal) -> web.StreamResponse:
    sent = await read_body(request, ActionBody)
    if sent.action != "stop":
        raise BadRequest("action should be 'stop'")
    found, _ = await _policy(request, actor, "update")  # as Harbor
    execution = await _execution(request, found)
    await _service(request).stop(execution)
    return ok()


@api.operation(
    "listRetentionTasks",
    "GET",
    "/retentions/{id}/executions/{eid}/tasks",
    summary="Get Retention tasks",
    params=(ID, EID, PAGE, PAGE_SIZE),
    replies={
        200: Reply(
            "Get Retention job tasks successfully.", list[RetentionExecutionTask], PAGE_HEADERS
        )
    },
    errors=ERRORS,
)
@authenticated
async def list_tasks(request: web.Request, actor: Principal) -> web.StreamResponse:
    found, _ = await _policy(request, actor, "list")
    execution = await _execution(request, found)
    page = requested_page(request)
    tasks, total = await _service(request).store.tasks(execution.id, page.offset, page.limit)
    docs = [
        RetentionExecutionTask(
            id=t.id,
            execution_id=t.execution_id,
            repository=t.repository,
            job_id=str(t.job_id) if t.job_id else "",
            status=t.status,
            status_code=STATUS_CODES.get(t.status, 0),
            status_revision=int(t.start_time or 0),
            start_time=harbor_time(t.start_time),
            end_time=harbor_time(t.end_time),
            total=t.total,
            retained=t.retained,
        )
        for t in tasks
    ]
    return paged(request, docs, total, page)


@api.operation(
    "getRetentionTaskLog",
    "GET",
    "/retentions/{id}/executions/{eid}/tasks/{tid}",
    summary="Get Retention job task log",
    params=(ID, EID, TID),
    replies={200: text_reply("Get Retention job task log successfully.")},
    errors=ERRORS,
)
@authenticated
async def task_log(request: web.Request, actor: Principal) -> web.StreamResponse:
    found, _ = await _policy(request, actor, "read")
    execution = await _execution(request, found)
    tid = int(request.match_info["tid"])
    task = await _service(request).store.task(tid)
    if task is None or task.execution_id != execution.id:
        raise NotFound(f"project: {found.project_id}, task id {tid} not found")
    lines = await request.config_dict[JOBS].store.logs(task.job_id) if task.job_id else []
    text = "".join(
        f"{harbor_time(line.time)} [{line.level.upper()}] {line.message}\n" for line in lines
    )
    return web.Response(text=text, content_type="text/plain")
