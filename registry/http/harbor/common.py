"""What every Harbor handler shares: JSON answers in Harbor's shapes, request parsing
(bodies, numbers, paging, the project reference), and the wrapper that authenticates the
caller, runs the handler and renders the auth and content errors it raises."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

import orjson
from aiohttp import web
from pydantic import BaseModel

from wharf.auth.audit import CLIENT_IP
from wharf.auth.errors import AuthError, BadRequest, Forbidden
from wharf.auth.principals import Principal
from wharf.auth.service import AuthService
from wharf.auth.store import Page
from wharf.registry.content.service import ContentService
from wharf.registry.events import Actor
from wharf.registry.http.credentials import (
    BadCredentials,
    TooManyLogins,
    authenticate,
    client_ip,
)
from wharf.registry.http.harbor.query import ListQuery, Unprocessable, list_query, page_headers
from wharf.registry.http.harbor.spec import (
    IS_RESOURCE_NAME,
    RESOURCE_NAME_IN_LOCATION,
    header_flag,
)
from wharf.registry.http.keys import AUTH, CONTENT, SETTINGS
from wharf.registry.oci.errors import RegistryError

# Where the sub-application is mounted: Location headers carry full paths.
PREFIX = "/api/v2.0"

T = TypeVar("T")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
PrincipalHandler = Callable[[web.Request, Principal], Awaitable[web.StreamResponse]]


def harbor_time(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def plain(data: Any) -> Any:
    """Models (and lists of them) as JSON-ready data; anything else as it is."""
    if isinstance(data, BaseModel):
        return data.model_dump(mode="json")
    if isinstance(data, list):
        return [plain(item) for item in data]
    return data


def json_response(
    data: Any, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    return web.Response(
        status=status,
        body=orjson.dumps(plain(data)),
        content_type="application/json",
        headers=headers,
    )


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> web.Response:
    return json_response({"errors": [{"code": code, "message": message}]}, status, headers)


def created(location: str) -> web.Response:
    return web.Response(status=201, headers={"Location": location})


def created_here(request: web.Request, resource_id: int, name: str) -> web.Response:
    """201 with Harbor's Location: the request's path and the new id, or its name when
    ``X-Resource-Name-In-Location`` is true."""
    last = name if header_flag(request, RESOURCE_NAME_IN_LOCATION) else str(resource_id)
    return created(f"{request.path.rstrip('/')}/{last}")


def ok() -> web.Response:
    return web.Response(status=200)


async def json_body(request: web.Request) -> dict[str, Any]:
    try:
        data = orjson.loads(await request.read())
    except orjson.JSONDecodeError:
        raise BadRequest("the body must be JSON") from None
    if not isinstance(data, dict):
        raise BadRequest("the body must be a JSON object")
    return data


def parse_int(value: str, what: str) -> int:
    if not value.isdigit():
        raise BadRequest(f"{what} must be a number")
    return int(value)


def body_bool(body: dict[str, Any], key: str) -> bool:
    value = body.get(key)
    if not isinstance(value, bool):
        raise BadRequest(f"{key} must be true or false")
    return value


def requested_page(request: web.Request) -> Page:
    """The page a list asks for (422 for page_size > 100, as Harbor)."""
    return list_query(request).window


def paged(
    request: web.Request, items: list[Any], total: int, page: Page | ListQuery
) -> web.Response:
    """One page of a list with Harbor's X-Total-Count and Link (prev/next) headers."""
    if isinstance(page, Page):
        query = ListQuery(page=page.offset // page.limit + 1, page_size=page.limit)
    else:
        query = page
    return json_response(items, headers=page_headers(request, total, query))


def page_slice(items: Sequence[T], page: Page) -> list[T]:
    return list(items[page.offset : page.offset + page.limit])


INT64_RE = re.compile(r"[+-]?[0-9]+")
PROJECT_PATH_PARAMS = ("project_name_or_id", "project_name", "project")


def project_ref(request: web.Request) -> str | int:
    """The project of the path: ``{project_name_or_id}`` is an id when all digits, unless
    ``X-Is-Resource-Name`` says it is a name; ``{project_name}`` is always a name."""
    info = request.match_info
    if "project_name" in info:
        return info["project_name"]
    ref = next(info[k] for k in PROJECT_PATH_PARAMS if k in info)
    if header_flag(request, IS_RESOURCE_NAME):
        return ref
    return int64_or(ref)


def int64_or(text: str) -> str | int:
    """``text`` as an int64 when Go's ParseInt would take it, else the text itself."""
    if INT64_RE.fullmatch(text):
        value = int(text)
        if -(2**63) <= value < 2**63:
            return value
    return text


def auth_of(request: web.Request) -> AuthService:
    return request.config_dict[AUTH]


def content_of(request: web.Request) -> ContentService:
    return request.config_dict[CONTENT]


def event_actor(request: web.Request, principal: Principal) -> Actor:
    """The actor the content core records for a change made by ``principal``."""
    return Actor(principal.audit_name, client_ip(request))


def authenticated(fn: PrincipalHandler) -> Handler:
    """Authenticate, run, and turn auth and content errors into Harbor's error body."""

    async def wrapped(request: web.Request) -> web.StreamResponse:
        CLIENT_IP.set(client_ip(request))
        try:
            caller = await authenticate(request, cookie_allowed=True)
        except TooManyLogins as exc:
            return error_response(
                429,
                "TOO_MANY_REQUEST",  # Harbor's code for 429
                "too many failed logins; try again later",
                {"Retry-After": str(exc.retry_after)},
            )
        except BadCredentials:
            realm = request.config_dict[SETTINGS].auth.service
            return error_response(
                401,
                "UNAUTHORIZED",
                "invalid credentials",
                {"WWW-Authenticate": f'Basic realm="{realm}"'},
            )
        except AuthError as exc:  # the directory or provider a login needs is down
            return error_response(exc.status, exc.code, exc.message, {"Retry-After": "1"})
        principal = caller.principal
        try:
            return await fn(request, principal)
        except Forbidden as exc:
            if not principal.authenticated:
                return error_response(401, "UNAUTHORIZED", "authentication required")
            return error_response(exc.status, exc.code, exc.message)
        except AuthError as exc:
            headers = {"Retry-After": "1"} if exc.status == 503 else None
            return error_response(exc.status, exc.code, exc.message, headers)
        except Unprocessable as exc:
            return error_response(exc.status, exc.code, exc.message)
        except RegistryError as exc:
            return error_response(exc.status, exc.error.code, exc.message)

    return wrapped
