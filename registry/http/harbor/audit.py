"""Harbor's audit logs: the whole log (``/audit-logs``, system admins) and a project's
(``/projects/{project}/logs``)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from wharf.auth.models import AuditEvent
from wharf.auth.principals import Principal
from wharf.auth.store import AuditQuery
from wharf.registry.http.harbor.common import (
    auth_of,
    authenticated,
    harbor_time,
    paged,
    project_ref,
    requested_page,
)


def event_doc(event: AuditEvent) -> dict[str, Any]:
    return {
        "id": event.id,
        "username": event.username,
        "operation": event.operation,
        "resource_type": event.resource_type,
        "resource": event.resource,
        "project": event.project,
        "client_ip": event.client_ip,
        "result": event.result,
        "detail": event.detail,
        "op_time": harbor_time(event.time),
    }


def audit_query(request: web.Request, project: str | None) -> AuditQuery:
    """Harbor's ``q=operation=push,username=bob,resource=~nginx`` plus plain parameters."""
    fields: dict[str, str] = {}
    for part in request.query.get("q", "").split(","):
        key, sep, value = part.partition("=")
        if sep:
            fields[key.strip().lower()] = value.strip().lstrip("~")
    for key in ("operation", "username", "resource"):
        if key in request.query:
            fields[key] = request.query[key]
    return AuditQuery(
        project=project,
        username=fields.get("username"),
        operation=fields.get("operation"),
        resource=fields.get("resource"),
    )


@authenticated
async def audit_logs(request: web.Request, actor: Principal) -> web.StreamResponse:
    page = requested_page(request)
    query = audit_query(request, request.query.get("project"))
    events, total = await auth_of(request).audit_log.events(actor, query, page)
    return paged(request, [event_doc(e) for e in events], total, page)


@authenticated
async def project_logs(request: web.Request, actor: Principal) -> web.StreamResponse:
    auth = auth_of(request)
    found = await auth.projects.get(actor, project_ref(request))
    page = requested_page(request)
    events, total = await auth.audit_log.events(actor, audit_query(request, found.name), page)
    return paged(request, [event_doc(e) for e in events], total, page)


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/audit-logs", audit_logs)
    router.add_get("/projects/{project}/logs", project_logs)
