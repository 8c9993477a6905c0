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
from wharf.auth.tokens import Claims, InvalidToken, TokenService
from wharf.registry.config import Settings
from wharf.registry.http.keys import AUTH, DATABASE, READABLE
from wharf.registry.http.keys import SETTINGS as SETTINGS_KEY
from wharf.registry.http.v2.routes import Endpoint, NotARoute, Route, parse_route
from wharf.registry.oci.errors import DENIED, UNAUTHORIZED, RegistryError
from wharf.registry.wiring import Database, make_auth_store

log = logging.getLogger("wharf.auth")

TOKEN_PATH = "/service/token"
AUDIT_PURGE_SECONDS = 3600.0


def build_auth(settings: Settings, database: Database) -> AuthService:
    """The auth service on the process's database (the one the metadata store uses)."""
    store = make_auth_store(settings, database)
    cfg = settings.auth
    tokens = TokenService(
        store,
        issuer=cfg.issuer,
        service=cfg.service,
        lifetime=cfg.token_lifetime,
        refresh_lifetime=cfg.refresh_token_lifetime,
        algorithm=cfg.algorithm,
        trusted_keys=cfg.trusted_keys,
        accepted_issuers=cfg.accepted_issuers,
    )
    options = AuthOptions(
        auto_create_projects=cfg.auto_create_projects,
        admin_password=cfg.admin_password,
        public_projects=tuple(cfg.public_projects),
        revalidate_tokens=cfg.revalidate_tokens,
        project_creation=cfg.project_creation,
        audit_retention_days=cfg.audit_retention_days,
    )
    return AuthService(store, tokens, options)


async def bootstrap(settings: Settings, database: Database) -> None:
    """First-start set-up (admin, `library`, signing key); run once before workers fork."""
    if not settings.auth.enabled:
        return
    auth = build_auth(settings, database)
    await auth.store.open()
    try:
        message = await auth.bootstrap(settings.data_dir)
    finally:
        await auth.store.close()
    if message:
        print(f"Wharf: {message}", file=sys.stderr, flush=True)
    print(
        f"Wharf: access control is on; log in with e.g. `docker login {settings.listen} -u admin`",
        file=sys.stderr,
        flush=True,
    )


@dataclass(frozen=True)
class Caller:
    principal: Principal
    claims: Claims | None = None  # set for Bearer callers
    basic: bool = False

    def actions(self, repo: str) -> frozenset[str]:
        """What this request may do on ``repo``: a token's grants (narrowed to the
        subject's current rights when the subject was re-validated), or the rights."""
        if self.claims is None:
            return self.principal.repo_actions(repo)
        granted = self.claims.actions("repository", repo)
        if self.principal.kind != "external":
            granted &= self.principal.repo_actions(repo)
        return granted

    def can_pull(self, repo: str) -> bool:
        if PULL in self.actions(repo):
            return True
        return self.principal.kind != "external" and self.principal.can_pull(repo)


def _client_ip(request: web.Request) -> str:
    return request.remote or ""


def realm(request: web.Request) -> str:
    base = request.app[SETTINGS_KEY].external_url or f"{request.scheme}://{request.host}"
    return base + TOKEN_PATH


def challenge(request: web.Request, scope: str | None, error: str | None = None) -> str:
    service = request.app[SETTINGS_KEY].auth.service
    parts = [f'Bearer realm="{realm(request)}"', f'service="{service}"']
    if scope:
        parts.append(f'scope="{scope}"')
    if error:
        parts.append(f'error="{error}"')
    return ",".join(parts)


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


async def authenticate(request: web.Request, route: Route | None) -> Caller:
    """The caller of an API request; raises UNAUTHORIZED for credentials that don't check out."""
    auth = request.app[AUTH]
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    scheme = scheme.lower()
    if scheme == "bearer" and value.strip():
        try:
            claims = await auth.tokens.verify(value.strip())
        except InvalidToken as exc:
            log.info("token refused", extra={"reason": str(exc), "ip": _client_ip(request)})
            raise _unauthorized(request, route, "invalid_token") from None
        if claims.ours and auth.options.revalidate_tokens:
            principal = await auth.principal_for_subject(claims.subject)
            if principal is None:
                raise _unauthorized(request, route, "invalid_token")
        else:
            principal = Principal("external", claims.subject)
        return Caller(principal, claims)
    if scheme == "basic" and value.strip():
        if not request.app[SETTINGS_KEY].auth.basic_on_v2 and request.path.startswith("/v2"):
            raise _unauthorized(request, route)
        username, password = _basic(value.strip())
        principal_or_none = await auth.login(username, password, _client_ip(request))
        if principal_or_none is None:
            raise _unauthorized(request, route)
        return Caller(principal_or_none, basic=True)
    return Caller(await auth.anonymous())


def _basic(value: str) -> tuple[str, str]:
    try:
        decoded = base64.b64decode(value, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return "", ""
    username, _, password = decoded.partition(":")
    return username, password


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
        auth = build_auth(settings, app[DATABASE])
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
