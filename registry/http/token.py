"""The /service sub-application, the Docker token service: ``GET /service/token`` (Basic
or anonymous), the OAuth2 ``POST /service/token`` form (password and refresh_token
grants) and ``/service/keys``. Every failure is answered in the token format: an OAuth2
``error`` plus the registry-style ``errors`` list."""

from __future__ import annotations

import logging
from typing import Any

import orjson
from aiohttp import web
from aiohttp.typedefs import Handler

from wharf.auth.errors import Unavailable
from wharf.auth.principals import Principal
from wharf.auth.scopes import parse_scopes
from wharf.auth.tokens import InvalidToken
from wharf.db.errors import DatabaseUnavailable
from wharf.registry.http.credentials import TooManyLogins, login, parse_basic
from wharf.registry.http.keys import AUTH, SETTINGS

log = logging.getLogger("wharf.token")

HTTP_CODES = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED", 413: "SIZE_INVALID"}


def _json(
    data: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    return web.Response(
        status=status,
        body=orjson.dumps(data),
        content_type="application/json",
        headers={"Cache-Control": "no-store", **(headers or {})},
    )


def _failure(status: int, oauth_error: str, code: str, message: str) -> web.Response:
    return _json({"error": oauth_error, "errors": [{"code": code, "message": message}]}, status)


def _refused(request: web.Request, message: str) -> web.Response:
    response = _failure(401, "invalid_grant", "UNAUTHORIZED", message)
    service = request.config_dict[SETTINGS].auth.service
    response.headers["WWW-Authenticate"] = f'Basic realm="{service}"'
    return response


def _too_many(exc: TooManyLogins) -> web.Response:
    response = _failure(
        429, "invalid_grant", "TOOMANYREQUESTS", "too many failed logins; try again later"
    )
    response.headers["Retry-After"] = str(exc.retry_after)
    return response


def _bad(message: str) -> web.Response:
    return _failure(400, "invalid_request", "BAD_REQUEST", message)


def _check_service(request: web.Request, service: str | None) -> web.Response | None:
    ours = request.config_dict[SETTINGS].auth.service
    if service and service != ours:
        return _bad(f"unknown service {service[:100]!r}; this registry is {ours!r}")
    return None


async def get_token(request: web.Request) -> web.Response:
    auth = request.config_dict[AUTH]
    refused = _check_service(request, request.query.get("service"))
    if refused is not None:
        return refused
    principal: Principal
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "basic" and value.strip():
        username, password = parse_basic(value.strip())
        try:
            found = await login(request, username, password)
        except TooManyLogins as exc:
            return _too_many(exc)
        if found is None:
            return _refused(request, "invalid username or password")
        principal = found
    else:
        principal = await auth.anonymous()
    scopes = parse_scopes(request.query.getall("scope", []))
    granted = await auth.grant(principal, scopes)
    issued = auth.tokens.issue(principal.name, granted)
    body: dict[str, Any] = {
        "token": issued.token,
        "access_token": issued.token,
        "expires_in": issued.expires_in,
        "issued_at": issued.issued_at,
    }
    if request.query.get("offline_token") == "true" and principal.authenticated:
        body["refresh_token"] = auth.tokens.issue_refresh(principal.name)
    return _json(body)


async def post_token(request: web.Request) -> web.Response:
    auth = request.config_dict[AUTH]
    form = await request.post()

    def field(name: str) -> str | None:
        value = form.get(name)
        return value if isinstance(value, str) else None

    refused = _check_service(request, field("service"))
    if refused is not None:
        return refused
    grant_type = field("grant_type")
    if not field("client_id"):
        return _bad("client_id is required")
    refresh_token: str | None = None
    principal: Principal | None
    if grant_type == "password":
        username, password = field("username"), field("password")
        if not username or password is None:
            return _bad("username and password are required")
        try:
            principal = await login(request, username, password)
        except TooManyLogins as exc:
            return _too_many(exc)
        if principal is None:
            return _refused(request, "invalid username or password")
        if field("access_type") == "offline":
            refresh_token = auth.tokens.issue_refresh(principal.name)
    elif grant_type == "refresh_token":
        presented = field("refresh_token")
        if not presented:
            return _bad("refresh_token is required")
        try:
            claims = await auth.tokens.verify(presented, refresh=True)
        except InvalidToken:
            return _refused(request, "invalid refresh token")
        principal = await auth.principal_for_subject(claims.subject) if claims.ours else None
        if principal is None or not principal.authenticated:
            return _refused(request, "invalid refresh token")
        refresh_token = presented
    else:
        return _bad("grant_type must be password or refresh_token")
    scopes = parse_scopes([field("scope") or ""])
    granted = await auth.grant(principal, scopes)
    issued = auth.tokens.issue(principal.name, granted)
    body: dict[str, Any] = {
        "access_token": issued.token,
        "token": issued.token,
        "scope": " ".join(str(s) for s in granted),
        "expires_in": issued.expires_in,
        "issued_at": issued.issued_at,
    }
    if refresh_token is not None:
        body["refresh_token"] = refresh_token
    return _json(body)


async def jwks(request: web.Request) -> web.Response:
    """The public keys tokens are signed with (for registries that trust this issuer)."""
    return _json(request.config_dict[AUTH].tokens.jwks())


@web.middleware
async def token_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Unknown paths, wrong methods and our own bugs, in the token format too."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = HTTP_CODES.get(exc.status, "BAD_REQUEST")
        response = _failure(exc.status, "invalid_request", code, exc.reason)
        if "Allow" in exc.headers:
            response.headers["Allow"] = exc.headers["Allow"]
        return response
    except DatabaseUnavailable as exc:
        log.warning("database unavailable", extra={"path": request.path, "error": str(exc)})
        response = _failure(503, "temporarily_unavailable", "UNAVAILABLE", "database unavailable")
        response.headers["Retry-After"] = "1"
        return response
    except Unavailable as exc:
        # the LDAP directory or OIDC provider is down (its module logged why)
        response = _failure(503, "temporarily_unavailable", "UNAVAILABLE", exc.message)
        response.headers["Retry-After"] = "1"
        return response
    except Exception:
        log.exception("unhandled error", extra={"path": request.path, "method": request.method})
        return _failure(500, "server_error", "UNKNOWN", "internal server error")


def create_token_app() -> web.Application:
    """The sub-application to mount at /service (access control on)."""
    app = web.Application(middlewares=[token_errors])
    app.router.add_get("/token", get_token)
    app.router.add_post("/token", post_token)
    app.router.add_get("/keys", jwks)
    return app
