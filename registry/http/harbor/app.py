"""The /api/v2.0 sub-application: Harbor's management API, one module per resource.
Its middleware renders every failure the handlers don't (unknown paths, wrong methods,
our own bugs) in Harbor's error body."""

from __future__ import annotations

import logging
import uuid

from aiohttp import web
from aiohttp.typedefs import Handler

from wharf.db.errors import DatabaseUnavailable
from wharf.registry.http.harbor import (
    artifacts,
    audit,
    configurations,
    gc,
    immutable,
    labels,
    ldap,
    members,
    oidc,
    permissions,
    project_metadata,
    project_summary,
    projects,
    purge,
    quotas,
    registries,
    replication,
    repositories,
    retention,
    robots,
    schedules,
    system,
    tags,
    usergroups,
    users,
    webhooks,
)
from wharf.registry.http.harbor.common import PREFIX, error_response, json_response
from wharf.registry.http.harbor.query import Unprocessable
from wharf.registry.http.harbor.spec import Api, Reply, openapi
from wharf.registry.http.harbor.system import wharf_version

log = logging.getLogger("wharf.harbor")

HARBOR_CODES = {
    400: "BAD_REQUEST",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    409: "CONFLICT",
    412: "PRECONDITION",
    413: "PAYLOAD_TOO_LARGE",
    422: "UNPROCESSABLE_ENTITY",
}

REQUEST_ID = "X-Request-Id"


@web.middleware
async def harbor_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except Unprocessable as exc:
        return error_response(exc.status, exc.code, exc.message)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        headers = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
        code = HARBOR_CODES.get(exc.status, "UNKNOWN")
        return error_response(exc.status, code, exc.reason, headers)
    except DatabaseUnavailable as exc:
        log.warning("database unavailable", extra={"path": request.path, "error": str(exc)})
        return error_response(503, "UNAVAILABLE", "database unavailable", {"Retry-After": "1"})
    except Exception:
        log.exception("unhandled error", extra={"path": request.path, "method": request.method})
        return error_response(500, "UNKNOWN", "internal server error")


async def request_id(request: web.Request, response: web.StreamResponse) -> None:
    """Every answer carries X-Request-Id: the caller's when it sent one, else a new UUID
    (as Harbor's request-id middleware does)."""
    response.headers[REQUEST_ID] = request.headers.get(REQUEST_ID) or str(uuid.uuid4())


# The resource modules; those that declare their operations have an ``api``.
RESOURCES = (
    system,
    users,
    projects,
    project_metadata,
    project_summary,
    members,
    robots,
    repositories,
    artifacts,
    tags,
    labels,
    audit,
    gc,
    purge,
    schedules,
    immutable,
    configurations,
    ldap,
    oidc,
    usergroups,
    registries,
    replication,
    retention,
    webhooks,
    permissions,
    quotas,
)

document_api = Api("openapi")
_DOCUMENT: dict[str, object] = {}


def declared_apis() -> list[Api]:
    """Every declared Api (this module's own included), in the order routes are added."""
    found = [r.api for r in RESOURCES if isinstance(getattr(r, "api", None), Api)]
    return [*found, document_api]


def document() -> dict[str, object]:
    """Wharf's OpenAPI document, built once from the declarations."""
    if not _DOCUMENT:
        _DOCUMENT.update(openapi(declared_apis(), version=wharf_version(), server=PREFIX))
    return _DOCUMENT


@document_api.operation(
    "getOpenAPIDocument",
    "GET",
    "/swagger.json",
    summary="Wharf's OpenAPI 3.1 document of the Harbor API it implements",
    replies={200: Reply("The document")},
)
async def swagger(request: web.Request) -> web.StreamResponse:
    return json_response(document())


def create_harbor_app() -> web.Application:
    """The sub-application to mount at /api/v2.0 (access control on)."""
    app = web.Application(middlewares=[harbor_errors])
    app.on_response_prepare.append(request_id)
    for resource in RESOURCES:
        api = getattr(resource, "api", None)
        if isinstance(api, Api):
            api.add_routes(app.router)
        else:  # modules not declared yet (their routes are not in the document)
            resource.add_routes(app.router)
    document_api.add_routes(app.router)
    return app
