"""The /c sub-application: Harbor's browser sign-in, with the form (``POST /c/login``,
local and LDAP users) or through an OpenID provider.

``GET /c/oidc/login`` sends the browser to the provider; the provider sends it back to
``GET /c/oidc/callback``; a user seen for the first time chooses a username at
``/c/oidc/onboard`` (unless ``oidc_auto_onboard``); ``GET /c/log_out`` ends the session.
The session is the ``sid`` cookie (sealed, HttpOnly, SameSite=Lax), which the Harbor API
accepts, with the ``__csrf`` cookie echoed in ``X-Harbor-CSRF-Token`` on changes. The
logic is ``wharf.auth.oidc_login``; this module only speaks HTTP. Errors are Harbor's
``{"errors": [...]}`` bodies.
"""

from __future__ import annotations

import html
import logging
import secrets
import urllib.parse

import orjson
from aiohttp import web
from aiohttp.typedefs import Handler

from wharf.auth.audit import CLIENT_IP
from wharf.auth.errors import AuthError
from wharf.auth.models import OIDC_AUTH, User
from wharf.auth.oidc_login import LOGIN_SECONDS, ONBOARD_SECONDS, SESSION_SECONDS, LoginRefused
from wharf.db.errors import DatabaseUnavailable
from wharf.registry.http.credentials import (
    CSRF_COOKIE,
    SESSION_COOKIE,
    TooManyLogins,
    client_ip,
)
from wharf.registry.http.credentials import login as check_password
from wharf.registry.http.keys import AUTH, SETTINGS

log = logging.getLogger("wharf.oidc")

LOGIN_COOKIE = "wharf_oidc_login"
ONBOARD_COOKIE = "wharf_oidc_onboard"
CALLBACK_PATH = "/c/oidc/callback"


def _error(status: int, code: str, message: str) -> web.Response:
    return web.Response(
        status=status,
        body=orjson.dumps({"errors": [{"code": code, "message": message}]}),
        content_type="application/json",
        headers={"Cache-Control": "no-store"},
    )


def _base(request: web.Request) -> str:
    return request.config_dict[SETTINGS].external_url or f"{request.scheme}://{request.host}"


def _cookie(
    response: web.StreamResponse,
    request: web.Request,
    name: str,
    value: str,
    max_age: int,
    *,
    http_only: bool = True,
    path: str = "/",
) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=path,
        httponly=http_only,
        secure=_base(request).startswith("https://"),
        samesite="Lax",
    )


def _redirect(location: str) -> web.Response:
    return web.Response(status=302, headers={"Location": location, "Cache-Control": "no-store"})


def _signed_in(request: web.Request, user: User, response: web.Response) -> web.Response:
    """``response`` with the session cookies of ``user``."""
    return _with_session(request, user.username, user.id, response)


def _with_session(
    request: web.Request, username: str, user_id: int | None, response: web.Response
) -> web.Response:
    auth = request.config_dict[AUTH]
    sealed = auth.oidc.session_for(username, user_id)
    _cookie(response, request, SESSION_COOKIE, sealed, SESSION_SECONDS)
    _cookie(
        response,
        request,
        CSRF_COOKIE,
        secrets.token_urlsafe(24),
        SESSION_SECONDS,
        http_only=False,  # the page's script echoes it in X-Harbor-CSRF-Token
    )
    response.del_cookie(LOGIN_COOKIE, path="/c/oidc")
    response.del_cookie(ONBOARD_COOKIE, path="/c/oidc")
    return response


async def login(request: web.Request) -> web.StreamResponse:
    auth = request.config_dict[AUTH]
    url, sealed = await auth.oidc.begin(
        _base(request) + CALLBACK_PATH, request.query.get("redirect_url", "")
    )
    response = _redirect(url)
    _cookie(response, request, LOGIN_COOKIE, sealed, LOGIN_SECONDS, path="/c/oidc")
    return response


async def callback(request: web.Request) -> web.StreamResponse:
    auth = request.config_dict[AUTH]
    try:
        outcome = await auth.oidc.callback(
            dict(request.query), request.cookies.get(LOGIN_COOKIE), _base(request) + CALLBACK_PATH
        )
    except LoginRefused as exc:
        return _error(400, "BAD_REQUEST", str(exc))
    if outcome.user is not None:
        return _signed_in(request, outcome.user, _redirect(outcome.redirect_url))
    query = urllib.parse.urlencode(
        {"username": outcome.suggested, "redirect_url": outcome.redirect_url}
    )
    response = _redirect(f"/c/oidc/onboard?{query}")
    _cookie(response, request, ONBOARD_COOKIE, outcome.pending, ONBOARD_SECONDS, path="/c/oidc")
    response.del_cookie(LOGIN_COOKIE, path="/c/oidc")
    return response


ONBOARD_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>Choose a username</title></head>
<body><h1>Welcome</h1>
<p>You signed in through {provider}. Choose the username you will use with the registry
(<code>docker login</code>).</p>
<form method="post" action="/c/oidc/onboard">
<label>Username <input name="username" value="{username}" required maxlength="255"></label>
<button type="submit">Continue</button></form></body></html>
"""


async def onboard_page(request: web.Request) -> web.StreamResponse:
    """The form of Harbor's onboarding page (Wharf has no web UI of its own yet)."""
    auth = request.config_dict[AUTH]
    settings = await auth.oidc.settings()
    page = ONBOARD_PAGE.format(
        provider=html.escape(settings.oidc_name or "your identity provider"),
        username=html.escape(request.query.get("username", "")),
    )
    return web.Response(text=page, content_type="text/html", headers={"Cache-Control": "no-store"})


async def onboard(request: web.Request) -> web.StreamResponse:
    """Harbor's ``POST /c/oidc/onboard`` with ``{"username": …}`` (or the page's form)."""
    auth = request.config_dict[AUTH]
    as_json = request.content_type == "application/json"
    if as_json:
        try:
            body = orjson.loads(await request.read())
        except orjson.JSONDecodeError:
            return _error(400, "BAD_REQUEST", "the body must be JSON")
        username = body.get("username") if isinstance(body, dict) else None
    else:
        username = (await request.post()).get("username")
    if not isinstance(username, str):
        return _error(400, "BAD_REQUEST", "username is required")
    try:
        user, target = await auth.oidc.onboard(request.cookies.get(ONBOARD_COOKIE), username)
    except LoginRefused as exc:
        return _error(409, "CONFLICT", str(exc))
    # Harbor's UI posts JSON and navigates itself; the page's form follows a redirect
    return _signed_in(request, user, web.Response(status=200) if as_json else _redirect(target))


async def form_login(request: web.Request) -> web.StreamResponse:
    """Harbor's ``POST /c/login`` (form fields ``principal`` and ``password``): a local or
    LDAP user's browser session; 200 with the ``sid`` and ``__csrf`` cookies, else 401
    (429 with Retry-After after too many failures). Robot accounts sign in to the registry
    only; in the OIDC mode, as in Harbor, only system admins use the form (everyone else
    signs in through the provider: an OIDC user's CLI secret is for registry clients)."""
    form = await request.post()
    principal, password = form.get("principal"), form.get("password")
    if not isinstance(principal, str) or not isinstance(password, str) or not principal:
        return _error(400, "BAD_REQUEST", "principal and password are required")
    try:
        found = await check_password(request, principal, password)
    except TooManyLogins as exc:
        response = _error(429, "TOO_MANY_REQUESTS", "too many failed sign-ins; try again later")
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    if found is None or found.kind != "user":
        return _error(401, "UNAUTHORIZED", "wrong username or password")
    mode = (await request.config_dict[AUTH].configuration.current()).mode
    if mode == OIDC_AUTH and not found.sysadmin:
        return _error(403, "FORBIDDEN", "sign in through the OIDC provider")
    return _with_session(request, found.name, found.user_id, web.Response(status=200))


async def log_out(request: web.Request) -> web.StreamResponse:
    response = web.Response(status=200)
    response.del_cookie(SESSION_COOKIE, path="/")
    response.del_cookie(CSRF_COOKIE, path="/")
    return response


@web.middleware
async def oidc_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    CLIENT_IP.set(client_ip(request))
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return _error(exc.status, "NOT_FOUND" if exc.status == 404 else "BAD_REQUEST", exc.reason)
    except AuthError as exc:  # mode not oidc (412), provider down (503), bad input (400)
        return _error(exc.status, exc.code, exc.message)
    except DatabaseUnavailable as exc:
        log.warning("database unavailable", extra={"path": request.path, "error": str(exc)})
        return _error(503, "UNAVAILABLE", "database unavailable")
    except Exception:
        log.exception("unhandled error", extra={"path": request.path, "method": request.method})
        return _error(500, "UNKNOWN", "internal server error")


def create_login_app() -> web.Application:
    """The sub-application to mount at /c (access control on)."""
    app = web.Application(middlewares=[oidc_errors])
    app.router.add_get("/oidc/login", login)
    app.router.add_get("/oidc/callback", callback)
    app.router.add_get("/oidc/onboard", onboard_page)
    app.router.add_post("/oidc/onboard", onboard)
    app.router.add_post("/login", form_login)
    app.router.add_get("/log_out", log_out)
    return app
