"""Harbor's audit logs: the whole log (``/audit-logs``; for users other than system
admins, the events of the projects whose log they may read), a project's
(``/projects/{project_name}/logs``), and the newer ``/auditlog-exts`` with their event
types (``create_artifact``, ``delete_project``, ``login_user``, …)."""

from __future__ import annotations

from datetime import datetime

from aiohttp import web

from wharf.auth.errors import BadRequest
from wharf.auth.models import AuditEvent
from wharf.auth.principals import Principal
from wharf.auth.store import AuditQuery, Condition
from wharf.registry.http.harbor.common import (
    auth_of,
    authenticated,
    harbor_time,
    json_response,
    paged,
    project_ref,
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
    PROJECT_NAME,
    Api,
    Model,
    Reply,
)

api = Api("auditlog")

# Harbor's event types (operation_resourcetype), in Harbor's order
EVENT_TYPES = (
    "create_artifact",
    "delete_artifact",
    "pull_artifact",
    "create_project",
    "delete_project",
    "delete_repository",
    "login_user",
    "logout_user",
    "create_user",
    "delete_user",
    "update_user",
    "create_robot",
    "delete_robot",
    "update_configuration",
    "create_member",
    "delete_member",
    "update_member",
    "update_project",
)
# q keys → audit columns
COLUMNS = {
    "username": "username",
    "operation": "operation",
    "resource_type": "resource_type",
    "resource": "resource",
    "op_time": "time",
}


class AuditLog(Model):
    id: int
    username: str
    resource: str
    resource_type: str
    operation: str
    op_time: str | None
    # Wharf's besides Harbor's: where, from where, how it ended, why
    project: str
    client_ip: str
    result: str
    detail: str


class AuditLogExt(Model):
    id: int
    username: str
    resource: str
    resource_type: str
    operation: str
    operation_description: str
    operation_result: bool
    op_time: str | None


class AuditLogEventType(Model):
    event_type: str


def event_doc(event: AuditEvent) -> AuditLog:
    return AuditLog(
        id=event.id,
        username=event.username,
        resource=event.resource,
        resource_type=event.resource_type,
        operation=event.operation,
        op_time=harbor_time(event.time),
        project=event.project,
        client_ip=event.client_ip,
        result=event.result,
        detail=event.detail,
    )


def ext_doc(event: AuditEvent) -> AuditLogExt:
    description = event.detail or f"{event.operation} {event.resource_type} {event.resource}"
    return AuditLogExt(
        id=event.id,
        username=event.username,
        resource=event.resource,
        resource_type=event.resource_type,
        operation=event.operation,
        operation_description=description,
        operation_result=event.result == "success",
        op_time=harbor_time(event.time),
    )


def _scalar(column: str, value: Scalar) -> str | float:
    if column == "time":
        if isinstance(value, datetime):
            return value.timestamp()
        if isinstance(value, int):
            return float(value)
        raise BadRequest(f"op_time must be a time, not {value!r}")
    return str(value)


def conditions(query: ListQuery) -> tuple[Condition, ...]:
    """The ``q`` terms on audit columns as store conditions (other keys are ignored)."""
    found: list[Condition] = []
    for key, term in query.terms.items():
        column = COLUMNS.get(key)
        if column is None:
            continue
        if isinstance(term, Exact):
            if column == "time":
                raise BadRequest("op_time takes a range: op_time=[from~to]")
            found.append(Condition(column, "=", term.value))
        elif isinstance(term, Fuzzy):
            found.append(Condition(column, "like", term.value))
        elif isinstance(term, Range):
            if term.min is not None:
                found.append(Condition(column, ">=", _scalar(column, term.min)))
            if term.max is not None:
                found.append(Condition(column, "<=", _scalar(column, term.max)))
        elif isinstance(term, OrList):
            found.append(Condition(column, "in", tuple(str(v) for v in term.values)))
        elif isinstance(term, AndList):
            # one event has one value per column: all of several values never match
            values = {str(v) for v in term.values}
            if len(values) == 1:
                found.append(Condition(column, "=", values.pop()))
            elif values:
                found.append(Condition(column, "in", ()))
    return tuple(found)


def audit_query(request: web.Request, query: ListQuery, project: str | None) -> AuditQuery:
    return AuditQuery(project=project, conditions=conditions(query))


async def _events(
    request: web.Request, actor: Principal, project: str | None
) -> tuple[ListQuery, list[AuditEvent], int]:
    query = list_query(request)
    auth = auth_of(request)
    events, total = await auth.audit_log.events(
        actor, audit_query(request, query, project), query.window
    )
    return query, events, total


async def _project_name(request: web.Request, actor: Principal) -> str:
    return (await auth_of(request).projects.require(actor, project_ref(request), "logs")).name


@api.operation(
    "listAuditLogs",
    "GET",
    "/audit-logs",
    summary="The audit log (system admins: all of it; others: the projects they administer)",
    params=LISTING,
    replies={200: Reply("The events, newest first", list[AuditLog], PAGE_HEADERS)},
    errors=(400, 401),
)
@authenticated
async def audit_logs(request: web.Request, actor: Principal) -> web.StreamResponse:
    query, events, total = await _events(request, actor, None)
    return paged(request, [event_doc(e) for e in events], total, query)


@api.operation(
    "getLogs",
    "GET",
    "/projects/{project_name}/logs",
    summary="A project's audit log (project admins)",
    params=(PROJECT_NAME, *LISTING),
    replies={200: Reply("The events, newest first", list[AuditLog], PAGE_HEADERS)},
    errors=(400, 401, 403, 404),
)
@authenticated
async def project_logs(request: web.Request, actor: Principal) -> web.StreamResponse:
    name = await _project_name(request, actor)
    query, events, total = await _events(request, actor, name)
    return paged(request, [event_doc(e) for e in events], total, query)


@api.operation(
    "listAuditLogExts",
    "GET",
    "/auditlog-exts",
    summary="The audit log with results and descriptions",
    params=LISTING,
    replies={200: Reply("The events, newest first", list[AuditLogExt], PAGE_HEADERS)},
    errors=(400, 401),
)
@authenticated
async def audit_log_exts(request: web.Request, actor: Principal) -> web.StreamResponse:
    query, events, total = await _events(request, actor, None)
    return paged(request, [ext_doc(e) for e in events], total, query)


@api.operation(
    "listAuditLogEventTypes",
    "GET",
    "/auditlog-exts/events",
    summary="The event types of the audit log (system admins)",
    replies={200: Reply("The event types", list[AuditLogEventType])},
    errors=(401, 403),
)
@authenticated
async def event_types(request: web.Request, actor: Principal) -> web.StreamResponse:
    auth_of(request).audit_log.require_whole_log(actor)
    return json_response([AuditLogEventType(event_type=t) for t in EVENT_TYPES])


@api.operation(
    "getLogExts",
    "GET",
    "/projects/{project_name}/auditlog-exts",
    summary="A project's audit log with results and descriptions (project admins)",
    params=(PROJECT_NAME, *LISTING),
    replies={200: Reply("The events, newest first", list[AuditLogExt], PAGE_HEADERS)},
    errors=(400, 401, 403, 404),
)
@authenticated
async def project_log_exts(request: web.Request, actor: Principal) -> web.StreamResponse:
    name = await _project_name(request, actor)
    query, events, total = await _events(request, actor, name)
    return paged(request, [ext_doc(e) for e in events], total, query)
