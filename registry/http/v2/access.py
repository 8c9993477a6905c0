"""Access control for /v2: what a request needs (scope per endpoint and method), whether
the caller has it, and the Bearer challenge when not. Sets the caller's READABLE
predicate and ACTOR for the core. Who the caller is comes from http.credentials."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web
from aiohttp.typedefs import Handler

from wharf.auth.models import DELETE, PULL, PUSH, project_of
from wharf.registry.events import Actor, Denied
from wharf.registry.http.credentials import (
    BadCredentials,
    Caller,
    TooManyLogins,
    authenticate,
    bearer_challenge,
    client_ip,
)
from wharf.registry.http.keys import AUTH, CONTENT, READABLE, SETTINGS
from wharf.registry.http.v2.common import ACTOR
from wharf.registry.http.v2.routes import ROUTE, Endpoint, Route
from wharf.registry.oci.errors import DENIED, TOOMANYREQUESTS, UNAUTHORIZED, RegistryError


def needs(route: Route, method: str) -> list[tuple[str, frozenset[str]]]:
    """(repository, actions) this request requires; the catalog is ("", {"*"})."""
    if route.endpoint is Endpoint.BASE:
        return []
    if route.endpoint is Endpoint.CATALOG:
        return [("", frozenset({"*"}))]
    uploads = route.endpoint in (Endpoint.UPLOAD, Endpoint.UPLOAD_START)
    if method in ("GET", "HEAD", "OPTIONS"):
        return [(route.name, frozenset({PULL, PUSH} if uploads else {PULL}))]
    if method == "DELETE":
        return [(route.name, frozenset({PULL, PUSH} if uploads else {DELETE}))]
    return [(route.name, frozenset({PULL, PUSH}))]


def scope_string(route: Route, request: web.Request) -> str:
    if route.endpoint is Endpoint.CATALOG:
        return "registry:catalog:*"
    scopes = [
        f"repository:{name}:{','.join(sorted(a))}" for name, a in needs(route, request.method)
    ]
    source = request.query.get("from")
    mount = route.endpoint is Endpoint.UPLOAD_START and request.query.get("mount")
    if mount and source and source != route.name:
        scopes.append(f"repository:{source}:pull")
    return " ".join(scopes)


def _unauthorized(request: web.Request, route: Route | None, error: str | None = None) -> Exception:
    scope = scope_string(route, request) if route is not None else None
    return RegistryError(
        UNAUTHORIZED,
        headers={"WWW-Authenticate": bearer_challenge(request, scope or None, error)},
    )


def _deny(request: web.Request, route: Route, caller: Caller, *, could_get_it: bool) -> Exception:
    if not caller.principal.authenticated:
        return _unauthorized(request, route)
    if caller.claims is not None and could_get_it:
        return _unauthorized(request, route, "insufficient_scope")
    return RegistryError(DENIED)


async def _authorize(request: web.Request, route: Route, caller: Caller) -> None:
    principal = caller.principal
    if route.endpoint is Endpoint.BASE:
        if not caller.signed_in:
            raise _unauthorized(request, route)
        return
    for repo, wanted in needs(route, request.method):
        if repo == "":  # the catalog
            if caller.claims is not None:
                ok = "*" in caller.claims.actions("registry", "catalog")
            else:
                ok = principal.authenticated
            if not ok:
                raise _deny(request, route, caller, could_get_it=principal.authenticated)
            continue
        pushing = PUSH in wanted and (PUSH in caller.actions(repo) or principal.sysadmin)
        if pushing and not await request.config_dict[AUTH].ensure_project_for_push(principal, repo):
            raise RegistryError(
                DENIED, {"project": project_of(repo)}, message="project does not exist"
            )
        if wanted - caller.actions(repo):
            could = principal.kind != "external" and wanted <= principal.repo_actions(repo)
            raise _deny(request, route, caller, could_get_it=could)


def _denied_operation(route: Route, method: str) -> str | None:
    """The audited operation a refused request attempted (pushes, pulls and deletes)."""
    if route.endpoint is Endpoint.MANIFEST:
        return {"GET": "pull", "PUT": "push", "DELETE": "delete"}.get(method)
    if route.endpoint is Endpoint.BLOB and method == "DELETE":
        return "delete"
    if route.endpoint is Endpoint.UPLOAD_START:
        return "push"
    return None


def _readable(route: Route, caller: Caller) -> Callable[[str], bool]:
    if route.endpoint is not Endpoint.CATALOG:
        return caller.can_pull
    principal = caller.principal
    if caller.claims is not None and principal.kind == "external":
        claims = caller.claims
        return lambda repo: PULL in claims.actions("repository", repo)
    return principal.can_list


@web.middleware
async def access_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    route = request.get(ROUTE)
    settings = request.config_dict[SETTINGS]
    try:
        caller = await authenticate(request, basic_allowed=settings.auth.basic_on_v2)
    except TooManyLogins as exc:
        raise RegistryError(
            TOOMANYREQUESTS,
            message="too many failed logins; try again later",
            headers={"Retry-After": str(exc.retry_after)},
        ) from None
    except BadCredentials as exc:
        raise _unauthorized(request, route, exc.error) from None
    if route is None:
        if not caller.signed_in:
            raise _unauthorized(request, None)
        return await handler(request)
    actor = Actor(caller.principal.audit_name, client_ip(request))
    try:
        await _authorize(request, route, caller)
    except RegistryError as err:
        operation = _denied_operation(route, request.method)
        if operation is not None and err.error is DENIED:
            await request.config_dict[CONTENT].events.publish(
                Denied(actor, operation, route.name, route.arg, err.message)
            )
        raise
    request[READABLE] = _readable(route, caller)
    request[ACTOR] = actor
    return await handler(request)
