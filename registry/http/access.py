"""Access control for /v2/: who is calling (Bearer token, Basic, anonymous), what the
request needs (scope per endpoint and method), the challenge when it isn't enough, the
READABLE predicate for the core, and audit events for pushes, pulls and deletes."""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import sys
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from aiohttp import web
from aiohttp.typedefs import Handler

from wharf.auth.models import DELETE, PULL, PUSH, AuditEvent, project_of
from wharf.auth.service import AUDIT_FLUSH_SECONDS, AuthOptions, AuthService, Principal
from wharf.auth.sqlite_store import SQLiteAuthStore
from wharf.auth.tokens import Claims, InvalidToken, TokenService
from wharf.registry.config import ConfigError, Settings
from wharf.registry.http.keys import AUTH, READABLE
from wharf.registry.http.keys import SETTINGS as SETTINGS_KEY
from wharf.registry.http.v2.routes import Endpoint, NotARoute, Route, parse_route
from wharf.registry.oci.errors import DENIED, UNAUTHORIZED, RegistryError

log = logging.getLogger("wharf.auth")

TOKEN_PATH = "/service/token"
AUDIT_PURGE_SECONDS = 3600.0


def needs(route: Route, request: web.Request) -> list[tuple[str, frozenset[str]]]:
    """(repository, actions) this request requires; the catalog is ("", {"*"})."""
    method = request.method
    if route.endpoint is Endpoint.BASE:
        return []
    if route.endpoint is Endpoint.CATALOG:
        return [("", frozenset({"*"}))]
    if method in ("GET", "HEAD", "OPTIONS"):
        if route.endpoint in (Endpoint.UPLOAD, Endpoint.UPLOAD_START):
            return [(route.name, frozenset({PULL, PUSH}))]
        return [(route.name, frozenset({PULL}))]
    if method == "DELETE":
        if route.endpoint in (Endpoint.UPLOAD, Endpoint.UPLOAD_START):
            return [(route.name, frozenset({PULL, PUSH}))]
        return [(route.name, frozenset({DELETE}))]
    return [(route.name, frozenset({PULL, PUSH}))]


def scope_string(route: Route, request: web.Request) -> str:
    if route.endpoint is Endpoint.CATALOG:
        return "registry:catalog:*"
    scopes = [f"repository:{name}:{','.join(sorted(a))}" for name, a in needs(route, request)]
    source = request.query.get("from")
    mount = route.endpoint is Endpoint.UPLOAD_START and request.query.get("mount")
    if mount and source and source != route.name:
        scopes.append(f"repository:{source}:pull")
    return " ".join(scopes)


def _unauthorized(request: web.Request, route: Route | None, error: str | None = None) -> Exception:
    scope = scope_string(route, request) if route is not None else None
    return RegistryError(
        UNAUTHORIZED, headers={"WWW-Authenticate": challenge(request, scope or None, error)}
    )


async def _authorize(request: web.Request, route: Route, caller: Caller) -> None:
    principal = caller.principal
    if route.endpoint is Endpoint.BASE:
        if not principal.authenticated and caller.claims is None:
            raise _unauthorized(request, route)
        return
    for repo, wanted in needs(route, request):
        if repo == "":  # the catalog
            if caller.claims is not None:
                ok = "*" in caller.claims.actions("registry", "catalog")
            else:
                ok = principal.authenticated
            if not ok:
                raise _deny(request, route, caller, could_get_it=principal.authenticated)
            continue
        pushing = PUSH in wanted and (PUSH in caller.actions(repo) or principal.sysadmin)
        if pushing and not await request.app[AUTH].ensure_project_for_push(principal, repo):
            raise RegistryError(
                DENIED, {"project": project_of(repo)}, message="project does not exist"
            )
        if wanted - caller.actions(repo):
            could = principal.kind != "external" and wanted <= principal.repo_actions(repo)
            raise _deny(request, route, caller, could_get_it=could)


def _deny(request: web.Request, route: Route, caller: Caller, *, could_get_it: bool) -> Exception:
    if not caller.principal.authenticated:
        return _unauthorized(request, route)
    if caller.claims is not None and could_get_it:
        return _unauthorized(request, route, "insufficient_scope")
    return RegistryError(DENIED)


def _audit_kind(route: Route, method: str) -> str | None:
    if route.endpoint is Endpoint.MANIFEST:
        return {"GET": "pull", "PUT": "push", "DELETE": "delete"}.get(method)
    if route.endpoint is Endpoint.BLOB and method == "DELETE":
        return "delete"
    return None


def _resource(route: Route) -> str:
    sep = "@" if ":" in route.arg else ":"
    return f"{route.name}{sep}{route.arg}" if route.arg else route.name


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    if not request.path.startswith("/v2"):
        return await handler(request)
    try:
        route: Route | None = parse_route(request.raw_path)
    except NotARoute:
        route = None
    caller = await authenticate(request, route)
    if route is None:
        if not caller.principal.authenticated and caller.claims is None:
            raise _unauthorized(request, None)
        return await handler(request)
    kind = _audit_kind(route, request.method)
    try:
        await _authorize(request, route, caller)
    except RegistryError as err:
        denied_kind = kind or ("push" if route.endpoint is Endpoint.UPLOAD_START else None)
        if denied_kind is not None and err.error is DENIED:
            await _record(request, caller, route, denied_kind, "denied")
        raise
    readable: Callable[[str], bool]
    if route.endpoint is Endpoint.CATALOG:
        principal = caller.principal
        if caller.claims is not None and principal.kind == "external":
            claims = caller.claims
            readable = lambda repo: PULL in claims.actions("repository", repo)  # noqa: E731
        else:
            readable = principal.can_list
    else:
        readable = caller.can_pull
    request[READABLE] = readable
    response = await handler(request)
    if kind is not None and response.status < 300:
        await _record(request, caller, route, kind, "success")
    return response


async def _record(
    request: web.Request, caller: Caller, route: Route, kind: str, result: str
) -> None:
    await request.app[AUTH].audit(
        AuditEvent(
            caller.principal.audit_name,
            kind,
            "artifact",
            _resource(route),
            project=project_of(route.name),
            client_ip=_client_ip(request),
            result=result,
            detail=f"{request.method} {route.endpoint.value}",
        ),
        batched=kind == PULL and result == "success",
    )


async def _flush_audit_periodically(auth: AuthService) -> None:
    next_purge = 0.0
    while True:
        await asyncio.sleep(AUDIT_FLUSH_SECONDS)
        await auth.flush_audit()
        now = time.time()
        if now >= next_purge:  # every worker purges; the DELETE is idempotent
            next_purge = now + AUDIT_PURGE_SECONDS
            try:
                purged = await auth.purge_audit(now)
            except Exception:
                log.exception("cannot purge old audit events")
            else:
                if purged:
                    log.info("purged old audit events", extra={"count": purged})


def install(app: web.Application, settings: Settings) -> None:
    """Hook access control into the app (called by create_app when auth is enabled)."""
    from wharf.registry.http import token
    from wharf.registry.http.harbor import api as management_api

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        auth = build_auth(settings)
        await auth.store.open()
        await auth.bootstrap(settings.data_dir)  # idempotent; `wharf serve` did it already
        await auth.tokens.load()
        app[AUTH] = auth
        flusher = asyncio.create_task(_flush_audit_periodically(auth))
        yield
        flusher.cancel()
        await asyncio.gather(flusher, return_exceptions=True)
        await auth.flush_audit()
        await auth.store.close()

    app.cleanup_ctx.append(lifecycle)
    app.middlewares.append(auth_middleware)
    token.add_routes(app)
    management_api.add_routes(app)
